//! The record frame: encoding and checked decoding, no I/O.
//!
//! ```text
//! frame   = body_len u32 | crc u32 | body            (little-endian throughout)
//! body    = offset i64 | timestamp_ms i64 | version u8 (= 1)
//!         | key_len i32 (-1: no key) | key
//!         | header_count u32 | (name_len u32 | name UTF-8 | value_len u32 | value)*
//!         | payload_len u32 | payload
//! crc     = CRC-32C of body
//! ```
//!
//! `body_len` must equal the parsed length exactly. A frame is valid only if its length
//! is plausible, all its bytes are present and the CRC matches, so a write torn at any
//! byte is detected.

use super::crc32c::crc32c;
use crate::log::Record;

/// Bytes before the body: length and CRC.
pub(crate) const HEADER_LEN: usize = 8;
/// Format version written into every body.
pub(crate) const VERSION: u8 = 1;
/// Smallest possible body: offset, timestamp, version, key length, header count,
/// payload length.
pub(crate) const MIN_BODY: usize = 8 + 8 + 1 + 4 + 4 + 4;
/// Largest body accepted when reading (whatever `max_record_bytes` was when written).
pub(crate) const MAX_BODY: usize = 256 << 20;

/// What is wrong with the bytes at a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameError {
    /// The frame continues past the available bytes; `need` is its full length
    /// (or [`HEADER_LEN`] when even the header is cut).
    Incomplete {
        /// Bytes needed for the whole frame.
        need: usize,
    },
    /// Not a valid frame.
    Corrupt(&'static str),
}

/// Encodes a frame with offset, timestamp and CRC left zero; [`seal`] fills them in
/// when the writer assigns the offset.
pub(crate) fn encode(key: &[u8], headers: &[(&str, &[u8])], payload: &[u8]) -> Vec<u8> {
    let body_len = MIN_BODY
        + key.len()
        + headers
            .iter()
            .map(|(n, v)| 8 + n.len() + v.len())
            .sum::<usize>()
        + payload.len();
    let mut f = Vec::with_capacity(HEADER_LEN + body_len);
    f.extend_from_slice(&(body_len as u32).to_le_bytes());
    f.extend_from_slice(&[0; 4 + 8 + 8]);
    f.push(VERSION);
    if key.is_empty() {
        f.extend_from_slice(&(-1i32).to_le_bytes());
    } else {
        f.extend_from_slice(&(key.len() as i32).to_le_bytes());
        f.extend_from_slice(key);
    }
    f.extend_from_slice(&(headers.len() as u32).to_le_bytes());
    for (name, value) in headers {
        f.extend_from_slice(&(name.len() as u32).to_le_bytes());
        f.extend_from_slice(name.as_bytes());
        f.extend_from_slice(&(value.len() as u32).to_le_bytes());
        f.extend_from_slice(value);
    }
    f.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    f.extend_from_slice(payload);
    debug_assert_eq!(f.len(), HEADER_LEN + body_len);
    f
}

/// Writes the offset and timestamp into an encoded frame and computes its CRC.
pub(crate) fn seal(frame: &mut [u8], offset: i64, timestamp_ms: i64) {
    frame[8..16].copy_from_slice(&offset.to_le_bytes());
    frame[16..24].copy_from_slice(&timestamp_ms.to_le_bytes());
    let crc = crc32c(&frame[HEADER_LEN..]);
    frame[4..8].copy_from_slice(&crc.to_le_bytes());
}

/// Checks the frame at the start of `buf`: returns its total length and offset.
pub(crate) fn check(buf: &[u8]) -> Result<(usize, i64), FrameError> {
    if buf.len() < HEADER_LEN {
        return Err(FrameError::Incomplete { need: HEADER_LEN });
    }
    let body_len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if !(MIN_BODY..=MAX_BODY).contains(&body_len) {
        return Err(FrameError::Corrupt("implausible record length"));
    }
    let total = HEADER_LEN + body_len;
    if buf.len() < total {
        return Err(FrameError::Incomplete { need: total });
    }
    let crc = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]);
    let body = &buf[HEADER_LEN..total];
    if crc32c(body) != crc {
        return Err(FrameError::Corrupt("CRC mismatch"));
    }
    if body[16] != VERSION {
        return Err(FrameError::Corrupt("unknown record format version"));
    }
    Ok((total, i64::from_le_bytes(take8(body, 0))))
}

fn take8(b: &[u8], at: usize) -> [u8; 8] {
    let mut a = [0; 8];
    a.copy_from_slice(&b[at..at + 8]);
    a
}

/// A little reader over a checked body.
struct Fields<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Fields<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], FrameError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or(FrameError::Corrupt("field runs past the record"))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u32(&mut self) -> Result<u32, FrameError> {
        let s = self.bytes(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
}

/// Decodes a frame that passed [`check`] (`frame` is exactly the frame) into a record.
pub(crate) fn decode(topic: &str, partition: i32, frame: &[u8]) -> Result<Record, FrameError> {
    let body = &frame[HEADER_LEN..];
    let offset = i64::from_le_bytes(take8(body, 0));
    let timestamp_ms = i64::from_le_bytes(take8(body, 8));
    let mut f = Fields { b: body, at: 17 };
    let key_len = f.u32()? as i32;
    let key = match key_len {
        -1 => None,
        n if n >= 0 => Some(f.bytes(n as usize)?.to_vec()),
        _ => return Err(FrameError::Corrupt("negative key length")),
    };
    let count = f.u32()? as usize;
    // Every header takes at least 8 bytes: bound the allocation by what is there.
    if count > (body.len() - f.at) / 8 {
        return Err(FrameError::Corrupt("header count runs past the record"));
    }
    let mut headers = Vec::with_capacity(count);
    for _ in 0..count {
        let n = f.u32()? as usize;
        let name = std::str::from_utf8(f.bytes(n)?)
            .map_err(|_| FrameError::Corrupt("header name is not UTF-8"))?;
        let v = f.u32()? as usize;
        headers.push((name.to_owned(), f.bytes(v)?.to_vec()));
    }
    let p = f.u32()? as usize;
    let payload = f.bytes(p)?.to_vec();
    if f.at != body.len() {
        return Err(FrameError::Corrupt("trailing bytes in record"));
    }
    Ok(Record {
        topic: topic.to_owned(),
        partition,
        offset,
        key,
        payload,
        headers,
        timestamp_ms: Some(timestamp_ms),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_torn_prefix_is_detected() {
        let headers: [(&str, &[u8]); 2] = [("reason", b"bad_crc"), ("topic", b"")];
        let mut f = encode(b"TZ-0001", &headers, b"{\"pm25\":12.5}\xff\x00");
        seal(&mut f, 42, 1_795_334_580_123);
        assert_eq!(check(&f), Ok((f.len(), 42)));
        let r = decode("t", 2, &f).unwrap();
        assert_eq!(r.offset, 42);
        assert_eq!(r.partition, 2);
        assert_eq!(r.key.as_deref(), Some(&b"TZ-0001"[..]));
        assert_eq!(r.header("reason"), Some(&b"bad_crc"[..]));
        assert_eq!(r.header("topic"), Some(&b""[..]));
        assert_eq!(r.payload, b"{\"pm25\":12.5}\xff\x00");
        assert_eq!(r.timestamp_ms, Some(1_795_334_580_123));
        for cut in 0..f.len() {
            assert!(
                matches!(check(&f[..cut]), Err(FrameError::Incomplete { .. })),
                "prefix {cut}"
            );
        }
        for i in 0..f.len() {
            let mut g = f.clone();
            g[i] ^= 0x40;
            assert!(check(&g).is_err(), "flipped byte {i}");
        }
    }

    #[test]
    fn empty_key_means_no_key() {
        let mut f = encode(b"", &[], b"");
        seal(&mut f, 0, 0);
        assert_eq!(f.len(), HEADER_LEN + MIN_BODY);
        let r = decode("t", 0, &f).unwrap();
        assert_eq!(r.key, None);
        assert!(r.headers.is_empty() && r.payload.is_empty());
    }
}
