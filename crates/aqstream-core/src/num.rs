//! Decimal number parsing shared by the JSON and HJ 212 decoders.
//!
//! Most values in readings are short decimals (`24.82`, `1032.5`, `0.968`). For those
//! the exact result is one correctly rounded IEEE operation: an integer mantissa below
//! 2^53 times or divided by a power of ten up to 10^22 (both exactly representable; this
//! is Clinger's fast path). Anything longer falls back to the standard library parser,
//! so every result is correctly rounded.

const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Grammar accepted by [`scan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Grammar {
    /// RFC 8259: no leading `+`, no leading zeros, digits on both sides of `.`.
    Json,
    /// What terminals send: an optional sign, digits with an optional fraction
    /// (`.5` and `5.` are accepted), an optional exponent.
    Lenient,
}

/// Scans a number starting at `b[i]`. Returns the value and the index just past it,
/// or the index where the grammar failed.
pub(crate) fn scan(b: &[u8], mut i: usize, g: Grammar) -> Result<(f64, usize), usize> {
    let start = i;
    let neg = match b.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') if g == Grammar::Lenient => {
            i += 1;
            false
        }
        _ => false,
    };
    let mut mantissa: u64 = 0;
    let mut digits = 0usize; // digits folded into the mantissa
    let int_start = i;
    while let Some(d) = b.get(i).filter(|c| c.is_ascii_digit()) {
        if digits < 19 {
            mantissa = mantissa * 10 + u64::from(d - b'0');
        }
        digits += 1;
        i += 1;
    }
    let int_digits = i - int_start;
    if g == Grammar::Json && (int_digits == 0 || (int_digits > 1 && b[int_start] == b'0')) {
        return Err(i);
    }
    let mut frac_digits = 0usize;
    if b.get(i) == Some(&b'.') {
        i += 1;
        while let Some(d) = b.get(i).filter(|c| c.is_ascii_digit()) {
            if digits < 19 {
                mantissa = mantissa * 10 + u64::from(d - b'0');
            }
            digits += 1;
            frac_digits += 1;
            i += 1;
        }
        if g == Grammar::Json && frac_digits == 0 {
            return Err(i);
        }
    }
    if int_digits + frac_digits == 0 {
        return Err(i);
    }
    let mut exp: i64 = 0;
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        let eneg = match b.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let e_start = i;
        while let Some(d) = b.get(i).filter(|c| c.is_ascii_digit()) {
            exp = (exp * 10 + i64::from(d - b'0')).min(100_000);
            i += 1;
        }
        if i == e_start {
            return Err(i);
        }
        if eneg {
            exp = -exp;
        }
    }
    let e10 = exp - frac_digits as i64;
    if digits <= 19 && mantissa < (1u64 << 53) && e10.abs() <= 22 {
        let m = mantissa as f64;
        let v = if e10 >= 0 {
            m * POW10[e10 as usize]
        } else {
            m / POW10[(-e10) as usize]
        };
        return Ok((if neg { -v } else { v }, i));
    }
    // Slow path: the span is ASCII by construction; std parses it correctly rounded.
    let text = std::str::from_utf8(&b[start..i]).map_err(|_| start)?;
    let text = text.strip_prefix('+').unwrap_or(text);
    text.parse::<f64>().map(|v| (v, i)).map_err(|_| start)
}

/// Parses a whole byte string as a lenient decimal number (HJ 212 values).
pub(crate) fn parse_lenient(s: &[u8]) -> Option<f64> {
    match scan(s, 0, Grammar::Lenient) {
        Ok((v, end)) if end == s.len() => Some(v),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn examples() {
        let j = |s: &str| scan(s.as_bytes(), 0, Grammar::Json).map(|(v, e)| (v, e == s.len()));
        assert_eq!(j("24.82"), Ok((24.82, true)));
        assert_eq!(j("-0"), Ok((-0.0, true)));
        assert_eq!(j("1e3"), Ok((1000.0, true)));
        assert_eq!(j("0.968"), Ok((0.968, true)));
        assert!(j("01").is_err() || j("01") == Ok((0.0, false)));
        assert!(j(".5").is_err());
        assert!(j("5.").is_err());
        assert!(j("+5").is_err());
        assert!(j("1e").is_err());
        assert_eq!(parse_lenient(b"+5"), Some(5.0));
        assert_eq!(parse_lenient(b".5"), Some(0.5));
        assert_eq!(parse_lenient(b"007"), Some(7.0));
        assert_eq!(parse_lenient(b"1.2.3"), None);
        assert_eq!(parse_lenient(b""), None);
        assert_eq!(parse_lenient(b"-"), None);
        assert_eq!(parse_lenient(b"NaN"), None);
        assert_eq!(parse_lenient(b"1e400"), Some(f64::INFINITY));
        assert_eq!(
            parse_lenient(b"12345678901234567890123"),
            Some(12345678901234567890123.0)
        );
        assert_eq!(parse_lenient(b"0.1e-400"), Some(0.0));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]
        #[test]
        fn agrees_with_std(s in r"-?(0|[1-9][0-9]{0,20})(\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?") {
            let (v, end) = scan(s.as_bytes(), 0, Grammar::Json).unwrap();
            prop_assert_eq!(end, s.len());
            let want: f64 = s.parse().unwrap();
            prop_assert_eq!(v.to_bits(), want.to_bits(), "{}", s);
        }

        #[test]
        fn round_trips_display(x in any::<f64>().prop_filter("finite", |x| x.is_finite())) {
            let s = format!("{x}");
            prop_assert_eq!(parse_lenient(s.as_bytes()).map(f64::to_bits), Some(x.to_bits()));
        }
    }
}
