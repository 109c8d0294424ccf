//! Mosquitto password files (`mosquitto_passwd`), so the embedded broker and a
//! Mosquitto deployment share one credential store.
//!
//! Lines are `user:$7$iterations$salt$hash` (PBKDF2-HMAC-SHA512, Mosquitto ≥ 2.0) or
//! `user:$6$salt$hash` (salted SHA-512, older files); salt and hash are base64.

use ring::{digest, pbkdf2};
use std::collections::HashMap;
use std::num::NonZeroU32;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Hash {
    Pbkdf2Sha512 {
        iterations: NonZeroU32,
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
    Sha512 {
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
}

/// The users of a password file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PasswordFile {
    users: HashMap<String, Hash>,
}

/// Decodes standard base64 (with or without padding).
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let s = s.trim_end_matches('=').as_bytes();
    if s.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    for chunk in s.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= val(c)? << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

fn parse_hash(h: &str) -> Result<Hash, String> {
    let parts: Vec<&str> = h.split('$').collect();
    let b64 = |s: &str| base64_decode(s).ok_or_else(|| "bad base64".to_string());
    match parts.as_slice() {
        ["", "7", it, salt, hash] => Ok(Hash::Pbkdf2Sha512 {
            iterations: it
                .parse::<u32>()
                .ok()
                .and_then(NonZeroU32::new)
                .ok_or("bad iteration count")?,
            salt: b64(salt)?,
            hash: b64(hash)?,
        }),
        ["", "6", salt, hash] => Ok(Hash::Sha512 {
            salt: b64(salt)?,
            hash: b64(hash)?,
        }),
        _ => Err("not a `$7$` or `$6$` hash (plain-text passwords are refused)".into()),
    }
}

impl PasswordFile {
    /// Parses the file's text. Blank lines and `#` comments are skipped.
    pub fn parse(text: &str) -> Result<PasswordFile, String> {
        let mut users = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (user, hash) = line
                .split_once(':')
                .ok_or_else(|| format!("password file line {}: expected user:hash", i + 1))?;
            let hash = parse_hash(hash)
                .map_err(|e| format!("password file line {} (user {user}): {e}", i + 1))?;
            users.insert(user.to_string(), hash);
        }
        Ok(PasswordFile { users })
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// No users?
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Is `password` the password of `user`?
    pub fn verify(&self, user: &str, password: &[u8]) -> bool {
        match self.users.get(user) {
            Some(Hash::Pbkdf2Sha512 {
                iterations,
                salt,
                hash,
            }) => pbkdf2::verify(
                pbkdf2::PBKDF2_HMAC_SHA512,
                *iterations,
                salt,
                password,
                hash,
            )
            .is_ok(),
            Some(Hash::Sha512 { salt, hash }) => {
                let mut ctx = digest::Context::new(&digest::SHA512);
                ctx.update(password);
                ctx.update(salt);
                let d = ctx.finish();
                let d = d.as_ref();
                // No early exit: the time taken does not reveal a matching prefix.
                d.len() == hash.len()
                    && d.iter().zip(hash).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64() {
        assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64_decode("aGVsbG8").unwrap(), b"hello");
        assert_eq!(base64_decode("").unwrap(), b"");
        assert_eq!(base64_decode("+/+/").unwrap(), [0xfb, 0xff, 0xbf]);
        assert!(base64_decode("a").is_none());
        assert!(base64_decode("a*==").is_none());
    }

    #[test]
    fn verifies_both_hash_kinds() {
        // Built with the same algorithms as mosquitto_passwd (salt "salt-12bytes").
        let salt = b"salt-12bytes";
        let mut hash = [0u8; 64];
        pbkdf2::derive(
            pbkdf2::PBKDF2_HMAC_SHA512,
            NonZeroU32::new(101).unwrap(),
            salt,
            b"pw-a",
            &mut hash,
        );
        let enc = |b: &[u8]| {
            const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            let mut s = String::new();
            for c in b.chunks(3) {
                let n = (u32::from(c[0]) << 16)
                    | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
                    | u32::from(*c.get(2).unwrap_or(&0));
                for i in 0..=c.len() {
                    s.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
                }
            }
            s
        };
        let mut d = digest::Context::new(&digest::SHA512);
        d.update(b"pw-b");
        d.update(salt);
        let text = format!(
            "# demo\nuser-a:$7$101${}${}\nuser-b:$6${}${}\n",
            enc(salt),
            enc(&hash),
            enc(salt),
            enc(d.finish().as_ref())
        );
        let f = PasswordFile::parse(&text).unwrap();
        assert_eq!(f.len(), 2);
        assert!(f.verify("user-a", b"pw-a"));
        assert!(!f.verify("user-a", b"pw-b"));
        assert!(f.verify("user-b", b"pw-b"));
        assert!(!f.verify("user-b", b""));
        assert!(!f.verify("nobody", b"pw-a"));
        assert!(PasswordFile::parse("user:plaintext\n").is_err());
        assert!(PasswordFile::parse("no-colon\n").is_err());
    }
}
