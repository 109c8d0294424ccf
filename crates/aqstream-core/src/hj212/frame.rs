//! HJ 212 framing: `##` + 4-digit length + data segment + 4 hex CRC + CRLF, and the
//! header fields of the data segment (`QN`, `ST`, `CN`, `PW`, `MN`, `Flag`, `CP`).

use super::crc::crc16;
use crate::reject::{Reject, RejectReason};

/// Largest data segment the 4-digit length field can describe.
pub const MAX_DATA_LEN: usize = 9999;

/// A frame whose structure, length and CRC are correct. Fields borrow the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Request id, `yyyyMMddHHmmssSSS`, if present.
    pub qn: Option<&'a str>,
    /// System code (`22` = ambient air quality, `91` = system interaction).
    pub st: &'a str,
    /// Command code (`2011` real-time data, `2051` minute, `2061` hour, `2031` day, …).
    pub cn: &'a str,
    /// Access password, if present.
    pub pw: Option<&'a str>,
    /// Device id (the sensor id).
    pub mn: &'a str,
    /// The numeric `Flag` field (bit 0: acknowledgement requested; bit 1: packetized).
    pub flag: Option<u8>,
    /// Content of `CP=&&…&&`, without the delimiters.
    pub cp: &'a str,
}

impl Frame<'_> {
    /// Did the terminal ask for a reply (bit A of `Flag`)?
    pub fn needs_ack(&self) -> bool {
        self.flag.is_some_and(|f| f & 1 == 1)
    }
}

fn frame_err(detail: impl Into<String>) -> Reject {
    Reject::new(RejectReason::BadFrame, detail)
}

/// Checks the envelope of one frame (`line`, with or without the trailing CRLF) and
/// returns its data segment.
pub fn check_envelope(line: &[u8]) -> Result<&str, Reject> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if !line.starts_with(b"##") {
        return Err(frame_err("frame does not start with `##`"));
    }
    if line.len() < 10 {
        return Err(frame_err(format!(
            "frame of {} bytes is shorter than the 10-byte envelope",
            line.len()
        )));
    }
    let len_field = &line[2..6];
    if !len_field.iter().all(u8::is_ascii_digit) {
        return Err(Reject::new(
            RejectReason::BadLength,
            format!(
                "length field `{}` is not 4 decimal digits",
                String::from_utf8_lossy(len_field)
            ),
        ));
    }
    let declared = len_field
        .iter()
        .fold(0usize, |a, d| a * 10 + usize::from(d - b'0'));
    let data = &line[6..line.len() - 4];
    if declared != data.len() {
        return Err(Reject::new(
            RejectReason::BadLength,
            format!(
                "length field says {declared} bytes, data segment has {}",
                data.len()
            ),
        ));
    }
    let crc_field = &line[line.len() - 4..];
    let given = std::str::from_utf8(crc_field)
        .ok()
        .filter(|s| s.bytes().all(|b| b.is_ascii_hexdigit()))
        .and_then(|s| u16::from_str_radix(s, 16).ok())
        .ok_or_else(|| {
            Reject::new(
                RejectReason::BadCrc,
                format!(
                    "CRC field `{}` is not 4 hex digits",
                    String::from_utf8_lossy(crc_field)
                ),
            )
        })?;
    let computed = crc16(data);
    if given != computed {
        let hint = if given == computed.swap_bytes() {
            " (bytes swapped)"
        } else {
            ""
        };
        return Err(Reject::new(
            RejectReason::BadCrc,
            format!("CRC is {given:04X}, data segment gives {computed:04X}{hint}"),
        ));
    }
    std::str::from_utf8(data).map_err(|e| {
        Reject::new(
            RejectReason::BadEncoding,
            format!("data segment is not UTF-8 at byte {}", e.valid_up_to()),
        )
    })
}

/// Parses one frame: envelope, length, CRC, then the header fields.
pub fn parse_frame(line: &[u8]) -> Result<Frame<'_>, Reject> {
    let data = check_envelope(line)?;
    parse_data_segment(data)
}

/// Parses the header fields of a data segment whose envelope was already checked.
pub fn parse_data_segment(data: &str) -> Result<Frame<'_>, Reject> {
    let cp_at = data
        .find("CP=&&")
        .ok_or_else(|| Reject::new(RejectReason::MissingField, "field `CP=&&…&&` is missing"))?;
    let rest = &data[cp_at + 5..];
    let cp_end = rest
        .rfind("&&")
        .ok_or_else(|| frame_err("`CP=&&` is not closed by `&&`"))?;
    let cp = &rest[..cp_end];
    let trailer = &rest[cp_end + 2..];
    if !trailer.trim_matches(';').is_empty() {
        return Err(frame_err(format!(
            "unexpected text after the CP field: `{}`",
            trailer.chars().take(20).collect::<String>()
        )));
    }
    let mut qn = None;
    let mut st = None;
    let mut cn = None;
    let mut pw = None;
    let mut mn = None;
    let mut flag_text = None;
    for item in data[..cp_at].split(';').filter(|s| !s.is_empty()) {
        let (k, v) = item
            .split_once('=')
            .ok_or_else(|| frame_err(format!("header item `{item}` is not `key=value`")))?;
        let slot = match k {
            "QN" => &mut qn,
            "ST" => &mut st,
            "CN" => &mut cn,
            "PW" => &mut pw,
            "MN" => &mut mn,
            "Flag" => &mut flag_text,
            // PNUM / PNO (packetized) and vendor extensions are ignored.
            _ => continue,
        };
        if slot.replace(v).is_some() {
            return Err(Reject::new(
                RejectReason::DuplicateField,
                format!("header field `{k}` appears twice"),
            ));
        }
    }
    fn required<'s>(v: Option<&'s str>, name: &str) -> Result<&'s str, Reject> {
        v.filter(|s| !s.is_empty()).ok_or_else(|| {
            Reject::new(
                RejectReason::MissingField,
                format!("header field `{name}` is missing"),
            )
        })
    }
    let flag = match flag_text {
        None => None,
        Some(t) => Some(t.parse::<u8>().map_err(|_| {
            Reject::new(
                RejectReason::BadValue,
                format!("`Flag={t}` is not a number 0-255"),
            )
        })?),
    };
    Ok(Frame {
        qn,
        st: required(st, "ST")?,
        cn: required(cn, "CN")?,
        pw,
        mn: required(mn, "MN")?,
        flag,
        cp,
    })
}

/// Wraps a data segment into a complete frame with length, CRC and CRLF.
pub fn wrap(data: &str) -> Result<String, Reject> {
    if data.len() > MAX_DATA_LEN {
        return Err(Reject::new(
            RejectReason::Oversize,
            format!(
                "data segment of {} bytes exceeds {MAX_DATA_LEN}",
                data.len()
            ),
        ));
    }
    Ok(format!(
        "##{:04}{data}{:04X}\r\n",
        data.len(),
        crc16(data.as_bytes())
    ))
}

/// Splits a payload of CRLF- (or LF-) separated frames into lines, skipping blank ones.
/// Each item is `(line_number, bytes_without_line_end)`.
pub fn lines(payload: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    payload
        .split(|b| *b == b'\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix(b"\r").unwrap_or(l)))
        .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATA: &str = "QN=20261122160300000;ST=22;CN=2051;PW=123456;MN=TZ-0001;Flag=5;CP=&&DataTime=20261122160200;a34004-Avg=35.2,a34004-Flag=N&&";

    #[test]
    fn wrap_then_parse() {
        let frame = wrap(DATA).unwrap();
        assert!(frame.starts_with("##0123QN="), "{frame}");
        assert!(frame.ends_with("\r\n"));
        let f = parse_frame(frame.as_bytes()).unwrap();
        assert_eq!(f.qn, Some("20261122160300000"));
        assert_eq!((f.st, f.cn, f.mn), ("22", "2051", "TZ-0001"));
        assert_eq!(f.pw, Some("123456"));
        assert_eq!(f.flag, Some(5));
        assert!(f.needs_ack());
        assert_eq!(
            f.cp,
            "DataTime=20261122160200;a34004-Avg=35.2,a34004-Flag=N"
        );
    }

    #[test]
    fn envelope_errors_are_typed() {
        let good = wrap(DATA).unwrap();
        let reason = |s: &str| parse_frame(s.as_bytes()).unwrap_err().reason;
        // CRC with its two bytes swapped (a common vendor bug)
        let crc = &good[good.len() - 6..good.len() - 2];
        let swapped = format!("{}{}{}\r\n", &good[..good.len() - 6], &crc[2..], &crc[..2]);
        let e = parse_frame(swapped.as_bytes()).unwrap_err();
        assert_eq!(e.reason, RejectReason::BadCrc);
        assert!(e.detail.contains("swapped"), "{e}");
        // wrong length field
        assert_eq!(
            reason(&good.replacen("##0123", "##0122", 1)),
            RejectReason::BadLength
        );
        assert_eq!(
            reason(&good.replacen("##0123", "##01x3", 1)),
            RejectReason::BadLength
        );
        // truncated frame
        assert_eq!(reason(&good[..good.len() - 20]), RejectReason::BadLength);
        assert_eq!(reason("##01"), RejectReason::BadFrame);
        // lower-case CRC is accepted
        let lower = format!("{}{}\r\n", &good[..good.len() - 6], crc.to_lowercase());
        assert!(parse_frame(lower.as_bytes()).is_ok());
        assert_eq!(
            reason(&good.replacen("MN=TZ", "MN=TX", 1)),
            RejectReason::BadCrc
        );
        assert_eq!(reason("GET / HTTP/1.1"), RejectReason::BadFrame);
        let mut binary = b"##0002\xff\xfe".to_vec();
        binary.extend_from_slice(format!("{:04X}", crc16(b"\xff\xfe")).as_bytes());
        assert_eq!(
            parse_frame(&binary).unwrap_err().reason,
            RejectReason::BadEncoding
        );
    }

    #[test]
    fn header_errors_are_typed() {
        let reason = |d: &str| parse_frame(wrap(d).unwrap().as_bytes()).unwrap_err().reason;
        assert_eq!(
            reason("ST=22;CN=2011;CP=&&DataTime=20261122160200&&"),
            RejectReason::MissingField
        );
        assert_eq!(reason("ST=22;CN=2011;MN=a"), RejectReason::MissingField);
        assert_eq!(
            reason("ST=22;ST=22;CN=2011;MN=a;CP=&&&&"),
            RejectReason::DuplicateField
        );
        assert_eq!(
            reason("ST=22;CN=2011;MN=a;Flag=x;CP=&&&&"),
            RejectReason::BadValue
        );
        assert_eq!(reason("ST=22;CN;MN=a;CP=&&&&"), RejectReason::BadFrame);
        assert_eq!(reason("ST=22;CN=2011;MN=a;CP=&&x"), RejectReason::BadFrame);
        // packet fields are tolerated
        assert!(
            parse_frame(
                wrap("ST=22;CN=2011;MN=a;PNUM=2;PNO=1;CP=&&&&")
                    .unwrap()
                    .as_bytes()
            )
            .is_ok()
        );
    }

    #[test]
    fn lines_skip_blanks() {
        let v: Vec<_> = lines(b"a\r\n\r\nb\n  \nc").collect();
        assert_eq!(v, vec![(1, &b"a"[..]), (3, &b"b"[..]), (5, &b"c"[..])]);
    }
}
