//! A small, strict JSON lexer over bytes: just what reading payloads need, with byte
//! offsets in every error and no allocation for strings without escapes.

use std::borrow::Cow;

/// Maximum nesting depth of values that are skipped (unknown fields).
pub(crate) const MAX_DEPTH: usize = 64;

/// A syntax error at a byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub at: usize,
    pub message: &'static str,
}

pub(crate) type Result<T> = std::result::Result<T, SyntaxError>;

/// What the next value is, judged from its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Object,
    Array,
    String,
    Number,
    Bool,
    Null,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Object => "object",
            Kind::Array => "array",
            Kind::String => "string",
            Kind::Number => "number",
            Kind::Bool => "boolean",
            Kind::Null => "null",
        }
    }
}

pub(crate) struct Lexer<'a> {
    pub b: &'a [u8],
    pub i: usize,
}

impl<'a> Lexer<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Lexer { b, i: 0 }
    }

    pub fn err<T>(&self, message: &'static str) -> Result<T> {
        Err(SyntaxError {
            at: self.i,
            message,
        })
    }

    #[inline]
    pub fn ws(&mut self) {
        while let Some(c) = self.b.get(self.i) {
            if matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    /// Next non-whitespace byte, not consumed.
    #[inline]
    pub fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    /// Consumes `c` (after whitespace) or fails.
    #[inline]
    pub fn expect(&mut self, c: u8, message: &'static str) -> Result<()> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            self.err(message)
        }
    }

    pub fn kind(&mut self) -> Result<Kind> {
        match self.peek() {
            Some(b'{') => Ok(Kind::Object),
            Some(b'[') => Ok(Kind::Array),
            Some(b'"') => Ok(Kind::String),
            Some(b'-' | b'0'..=b'9') => Ok(Kind::Number),
            Some(b't' | b'f') => Ok(Kind::Bool),
            Some(b'n') => Ok(Kind::Null),
            Some(_) => self.err("expected a JSON value"),
            None => self.err("unexpected end of input"),
        }
    }

    fn literal(&mut self, word: &'static [u8]) -> Result<()> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            self.err("invalid literal")
        }
    }

    pub fn null(&mut self) -> Result<()> {
        self.literal(b"null")
    }

    /// A string value; borrowed when it has no escapes.
    pub fn string(&mut self) -> Result<Cow<'a, str>> {
        self.expect(b'"', "expected a string")?;
        let start = self.i;
        // Fast path: scan to the closing quote.
        loop {
            match self.b.get(self.i) {
                None => return self.err("unterminated string"),
                Some(b'"') => {
                    let s =
                        std::str::from_utf8(&self.b[start..self.i]).map_err(|_| SyntaxError {
                            at: start,
                            message: "string is not valid UTF-8",
                        })?;
                    self.i += 1;
                    return Ok(Cow::Borrowed(s));
                }
                Some(b'\\') => break,
                Some(c) if *c < 0x20 => return self.err("control character in string"),
                Some(_) => self.i += 1,
            }
        }
        let mut out: Vec<u8> = self.b[start..self.i].to_vec();
        loop {
            match self.b.get(self.i) {
                None => return self.err("unterminated string"),
                Some(b'"') => {
                    self.i += 1;
                    return String::from_utf8(out)
                        .map(Cow::Owned)
                        .map_err(|_| SyntaxError {
                            at: start,
                            message: "string is not valid UTF-8",
                        });
                }
                Some(b'\\') => {
                    self.i += 1;
                    let Some(&e) = self.b.get(self.i) else {
                        return self.err("unterminated escape");
                    };
                    self.i += 1;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let c = self.unicode_escape()?;
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => return self.err("invalid escape"),
                    }
                }
                Some(c) if *c < 0x20 => return self.err("control character in string"),
                Some(c) => {
                    out.push(*c);
                    self.i += 1;
                }
            }
        }
    }

    fn hex4(&mut self) -> Result<u32> {
        let Some(h) = self.b.get(self.i..self.i + 4) else {
            return self.err("truncated \\u escape");
        };
        let mut v = 0u32;
        for &c in h {
            let d = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                _ => return self.err("invalid \\u escape"),
            };
            v = v * 16 + u32::from(d);
        }
        self.i += 4;
        Ok(v)
    }

    fn unicode_escape(&mut self) -> Result<char> {
        let hi = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&hi) {
            if self.b.get(self.i..self.i + 2) != Some(b"\\u") {
                return self.err("unpaired surrogate");
            }
            self.i += 2;
            let lo = self.hex4()?;
            if !(0xDC00..0xE000).contains(&lo) {
                return self.err("unpaired surrogate");
            }
            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
        } else {
            hi
        };
        char::from_u32(code).map_or_else(|| self.err("unpaired surrogate"), Ok)
    }

    /// A number in strict JSON grammar, as f64 (overflow gives ±inf).
    pub fn number(&mut self) -> Result<f64> {
        self.ws();
        match crate::num::scan(self.b, self.i, crate::num::Grammar::Json) {
            Ok((v, end)) => {
                self.i = end;
                Ok(v)
            }
            Err(at) => Err(SyntaxError {
                at,
                message: "invalid number",
            }),
        }
    }

    pub fn boolean(&mut self) -> Result<bool> {
        if self.peek() == Some(b't') {
            self.literal(b"true").map(|_| true)
        } else {
            self.literal(b"false").map(|_| false)
        }
    }

    /// Skips any value, nested at most [`MAX_DEPTH`] deep.
    pub fn skip(&mut self, depth: usize) -> Result<()> {
        if depth > MAX_DEPTH {
            return self.err("nesting too deep");
        }
        match self.kind()? {
            Kind::String => self.string().map(drop),
            Kind::Number => self.number().map(drop),
            Kind::Bool => self.boolean().map(drop),
            Kind::Null => self.null(),
            Kind::Array => {
                self.i += 1;
                if self.peek() == Some(b']') {
                    self.i += 1;
                    return Ok(());
                }
                loop {
                    self.skip(depth + 1)?;
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(());
                        }
                        _ => return self.err("expected ',' or ']'"),
                    }
                }
            }
            Kind::Object => {
                self.i += 1;
                if self.peek() == Some(b'}') {
                    self.i += 1;
                    return Ok(());
                }
                loop {
                    self.string()?;
                    self.expect(b':', "expected ':'")?;
                    self.skip(depth + 1)?;
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(());
                        }
                        _ => return self.err("expected ',' or '}'"),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_with_and_without_escapes() {
        let mut l = Lexer::new(br#" "TZ-0001" "a\"b\\c\u00e9\ud83d\ude00\n" "#);
        assert!(matches!(l.string().unwrap(), Cow::Borrowed("TZ-0001")));
        assert_eq!(l.string().unwrap(), "a\"b\\cé😀\n");
        for bad in [
            &br#""abc"#[..],
            br#""\x""#,
            br#""\ud800""#,
            b"\"a\x01\"",
            br#""\u12""#,
        ] {
            assert!(
                Lexer::new(bad).string().is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn numbers_are_strict() {
        for (t, v) in [
            ("0", 0.0),
            ("-1.5", -1.5),
            ("24.82", 24.82),
            ("1e3", 1000.0),
            ("2E-2", 0.02),
        ] {
            assert_eq!(Lexer::new(t.as_bytes()).number().unwrap(), v, "{t}");
        }
        for t in ["01x", "-", ".5", "1.", "1e", "+1", "NaN", "Infinity"] {
            let mut l = Lexer::new(t.as_bytes());
            let ok = l.number().is_ok() && l.i == t.len();
            assert!(!ok, "{t}");
        }
        assert!(Lexer::new(b"1e999").number().unwrap().is_infinite());
    }

    #[test]
    fn skip_nested_and_depth_limit() {
        let mut l = Lexer::new(br#"{"a":[1,{"b":null},true,"x"],"c":{}} 7"#);
        l.skip(0).unwrap();
        assert_eq!(l.peek(), Some(b'7'));
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert!(Lexer::new(deep.as_bytes()).skip(0).is_err());
        assert!(Lexer::new(b"[1,]").skip(0).is_err());
        assert!(Lexer::new(b"{\"a\" 1}").skip(0).is_err());
    }
}
