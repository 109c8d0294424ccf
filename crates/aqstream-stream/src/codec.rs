//! A small, deterministic binary encoding for checkpoints and internal messages:
//! little-endian integers, f64 as bits, length-prefixed strings and bytes.

use crate::error::{Result, StreamError};
use crate::partial::{NS, Partial};
use crate::window::{WindowId, WindowKind};

/// An encoder appending to a byte vector.
#[derive(Debug, Default)]
pub struct Enc {
    /// The bytes written so far.
    pub buf: Vec<u8>,
}

impl Enc {
    /// An empty encoder.
    pub fn new() -> Enc {
        Enc::default()
    }

    /// One byte.
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    /// A boolean as one byte.
    pub fn bool(&mut self, v: bool) {
        self.buf.push(u8::from(v));
    }

    /// A u32.
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// An i32.
    pub fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// A u64.
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// An i64.
    pub fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// An f64, bit for bit.
    pub fn f64(&mut self, v: f64) {
        self.u64(v.to_bits());
    }

    /// An optional f64.
    pub fn opt_f64(&mut self, v: Option<f64>) {
        match v {
            Some(v) => {
                self.u8(1);
                self.f64(v);
            }
            None => self.u8(0),
        }
    }

    /// A length (u32).
    pub fn len(&mut self, n: usize) {
        self.u32(u32::try_from(n).unwrap_or(u32::MAX));
    }

    /// Bytes with their length.
    pub fn bytes(&mut self, b: &[u8]) {
        self.len(b.len());
        self.buf.extend_from_slice(b);
    }

    /// A string with its length.
    pub fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
}

/// A decoder over a byte slice.
#[derive(Debug)]
pub struct Dec<'a> {
    b: &'a [u8],
    at: usize,
    what: &'static str,
}

impl<'a> Dec<'a> {
    /// A decoder of `what` (named in errors).
    pub fn new(b: &'a [u8], what: &'static str) -> Dec<'a> {
        Dec { b, at: 0, what }
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.b.len() - self.at
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.remaining() < n {
            return Err(StreamError::corrupt(
                self.what,
                format!("truncated at byte {} (need {n} more)", self.at),
            ));
        }
        let s = &self.b[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    /// One byte.
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    /// A boolean.
    pub fn bool(&mut self) -> Result<bool> {
        Ok(self.u8()? != 0)
    }

    /// A u32.
    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// An i32.
    pub fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_le_bytes(self.array()?))
    }

    /// A u64.
    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// An i64.
    pub fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    /// An f64.
    pub fn f64(&mut self) -> Result<f64> {
        Ok(f64::from_bits(self.u64()?))
    }

    /// An optional f64.
    pub fn opt_f64(&mut self) -> Result<Option<f64>> {
        Ok(if self.bool()? {
            Some(self.f64()?)
        } else {
            None
        })
    }

    /// A length, checked against the bytes left (each element needs `min` bytes).
    pub fn len(&mut self, min: usize) -> Result<usize> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min.max(1)) > self.remaining() && min > 0 {
            return Err(StreamError::corrupt(
                self.what,
                format!("length {n} exceeds the data"),
            ));
        }
        Ok(n)
    }

    /// Bytes with their length.
    pub fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.len(1)?;
        self.take(n)
    }

    /// A string with its length.
    pub fn str(&mut self) -> Result<&'a str> {
        let what = self.what;
        std::str::from_utf8(self.bytes()?).map_err(|e| StreamError::corrupt(what, e.to_string()))
    }
}

/// Encodes a partial aggregate.
pub fn put_partial(e: &mut Enc, p: &Partial) {
    e.u32(p.n);
    for i in 0..NS {
        e.f64(p.sum[i]);
        e.u32(p.cnt[i]);
    }
    e.f64(p.pm_min);
    e.f64(p.pm_max);
    e.f64(p.wx);
    e.f64(p.wy);
    e.u32(p.wn);
    e.u8(p.problems);
}

/// Decodes a partial aggregate.
pub fn get_partial(d: &mut Dec<'_>) -> Result<Partial> {
    let mut p = Partial {
        n: d.u32()?,
        ..Partial::default()
    };
    for i in 0..NS {
        p.sum[i] = d.f64()?;
        p.cnt[i] = d.u32()?;
    }
    p.pm_min = d.f64()?;
    p.pm_max = d.f64()?;
    p.wx = d.f64()?;
    p.wy = d.f64()?;
    p.wn = d.u32()?;
    p.problems = d.u8()?;
    Ok(p)
}

/// Encodes a window id.
pub fn put_window(e: &mut Enc, id: WindowId) {
    e.u8(id.kind as u8);
    e.i64(id.start);
}

/// Decodes a window id.
pub fn get_window(d: &mut Dec<'_>) -> Result<WindowId> {
    let kind = WindowKind::from_index(d.u8()?)
        .ok_or_else(|| StreamError::corrupt("checkpoint", "bad window kind"))?;
    Ok(WindowId {
        kind,
        start: d.i64()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let mut e = Enc::new();
        e.u8(7);
        e.bool(true);
        e.i32(-5);
        e.u64(u64::MAX);
        e.i64(-1);
        e.f64(f64::from_bits(0x7ff8_0000_0000_0001));
        e.opt_f64(None);
        e.opt_f64(Some(0.1));
        e.str("Tongzhou-中心");
        let mut d = Dec::new(&e.buf, "test");
        assert_eq!(d.u8().unwrap(), 7);
        assert!(d.bool().unwrap());
        assert_eq!(d.i32().unwrap(), -5);
        assert_eq!(d.u64().unwrap(), u64::MAX);
        assert_eq!(d.i64().unwrap(), -1);
        assert_eq!(d.f64().unwrap().to_bits(), 0x7ff8_0000_0000_0001);
        assert_eq!(d.opt_f64().unwrap(), None);
        assert_eq!(d.opt_f64().unwrap(), Some(0.1));
        assert_eq!(d.str().unwrap(), "Tongzhou-中心");
        assert_eq!(d.remaining(), 0);
        assert!(d.u8().is_err());
        let mut short = Dec::new(&e.buf[..e.buf.len() - 3], "test");
        for _ in 0..8 {
            let _ = short.u64();
        }
        assert!(short.str().is_err());
    }
}
