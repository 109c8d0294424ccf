//! Users, their SCRAM-SHA-256 verifiers and the tables each may read.
//!
//! Every user is kept as a PostgreSQL-style verifier (salt, iterations, StoredKey,
//! ServerKey): configured directly (`scram = "SCRAM-SHA-256$…"`, as found in
//! `pg_authid.rolpassword`) or derived at start-up from a password given in the
//! environment or the file. The PostgreSQL surface runs the SCRAM exchange against the
//! verifier; HTTP Basic authentication derives the StoredKey from the presented password
//! and compares.

use crate::QueryError;
use crate::config::UserConfig;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use pgwire::api::auth::sasl::scram::{ScramSecret, gen_salted_password};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// Iterations of verifiers derived from passwords (PostgreSQL's default).
pub const SCRAM_ITERATIONS: usize = 4096;

/// Name of the built-in user of the one-machine default.
pub const DEFAULT_USER: &str = "aqstream";

/// Which tables a user may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableAccess {
    /// Every table.
    All,
    /// Only these (lower-case names).
    Only(BTreeSet<String>),
}

impl TableAccess {
    /// May the user read `table`?
    pub fn allows(&self, table: &str) -> bool {
        match self {
            TableAccess::All => true,
            TableAccess::Only(t) => t.contains(&table.to_ascii_lowercase()),
        }
    }

    fn from_list(list: &[String]) -> TableAccess {
        if list.iter().any(|t| t == "*") {
            TableAccess::All
        } else {
            TableAccess::Only(list.iter().map(|t| t.to_ascii_lowercase()).collect())
        }
    }
}

/// Who runs a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user name.
    pub user: String,
    /// The tables the user may read.
    pub access: TableAccess,
}

impl Principal {
    /// The local user of the command line: reads everything.
    pub fn local() -> Principal {
        Principal {
            user: DEFAULT_USER.into(),
            access: TableAccess::All,
        }
    }
}

/// A SCRAM-SHA-256 verifier.
#[derive(Clone, PartialEq, Eq)]
pub struct Verifier {
    /// The salt.
    pub salt: Vec<u8>,
    /// PBKDF2 iterations.
    pub iterations: usize,
    /// `SHA-256(HMAC(SaltedPassword, "Client Key"))`.
    pub stored_key: Vec<u8>,
    /// `HMAC(SaltedPassword, "Server Key")`.
    pub server_key: Vec<u8>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// Derives a verifier from a password with a fresh random salt.
    pub fn from_password(password: &str, iterations: usize) -> Verifier {
        let mut salt = vec![0u8; 16];
        let rng = ring::rand::SystemRandom::new();
        if ring::rand::SecureRandom::fill(&rng, &mut salt).is_err() {
            // the system RNG is unavailable: fall back to a salt from the clock and pid
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default();
            salt = [
                t.to_le_bytes(),
                u128::from(std::process::id()).to_le_bytes(),
            ]
            .concat();
        }
        Verifier::from_password_and_salt(password, salt, iterations)
    }

    /// Derives a verifier from a password and salt (deterministic; for tests).
    pub fn from_password_and_salt(password: &str, salt: Vec<u8>, iterations: usize) -> Verifier {
        let salted = gen_salted_password(password, &salt, iterations);
        match ScramSecret::verifier_from_salted_password(salt.clone(), salted, iterations) {
            ScramSecret::Verifier {
                salt,
                iterations,
                stored_key,
                server_key,
            } => Verifier {
                salt,
                iterations,
                stored_key,
                server_key,
            },
            ScramSecret::SaltedPassword { .. } => unreachable_verifier(salt, iterations),
        }
    }

    /// Parses PostgreSQL's form `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`.
    pub fn parse(text: &str) -> Result<Verifier, String> {
        let rest = text
            .trim()
            .strip_prefix("SCRAM-SHA-256$")
            .ok_or("a SCRAM verifier starts with `SCRAM-SHA-256$`")?;
        let (params, keys) = rest.split_once('$').ok_or("missing `$` before the keys")?;
        let (iter, salt) = params
            .split_once(':')
            .ok_or("missing `:` between iterations and salt")?;
        let (stored, server) = keys
            .split_once(':')
            .ok_or("missing `:` between StoredKey and ServerKey")?;
        let b64 = |s: &str, what: &str| {
            STANDARD
                .decode(s)
                .map_err(|e| format!("{what} is not base64: {e}"))
        };
        let v = Verifier {
            iterations: iter
                .parse()
                .map_err(|_| format!("iterations `{iter}` is not a number"))?,
            salt: b64(salt, "salt")?,
            stored_key: b64(stored, "StoredKey")?,
            server_key: b64(server, "ServerKey")?,
        };
        if v.stored_key.len() != 32 || v.server_key.len() != 32 || v.iterations == 0 {
            return Err("keys must be 32 bytes and iterations positive".into());
        }
        Ok(v)
    }

    /// PostgreSQL's text form of the verifier.
    pub fn to_pg_string(&self) -> String {
        format!(
            "SCRAM-SHA-256${}:{}${}:{}",
            self.iterations,
            STANDARD.encode(&self.salt),
            STANDARD.encode(&self.stored_key),
            STANDARD.encode(&self.server_key)
        )
    }

    /// Does `password` match? (Derives the StoredKey and compares in constant time.)
    pub fn check_password(&self, password: &str) -> bool {
        let other = Verifier::from_password_and_salt(password, self.salt.clone(), self.iterations);
        constant_time_eq(&other.stored_key, &self.stored_key)
    }

    /// As pgwire's SCRAM secret.
    pub fn to_scram_secret(&self) -> ScramSecret {
        ScramSecret::Verifier {
            salt: self.salt.clone(),
            iterations: self.iterations,
            stored_key: self.stored_key.clone(),
            server_key: self.server_key.clone(),
        }
    }
}

fn unreachable_verifier(salt: Vec<u8>, iterations: usize) -> Verifier {
    // `verifier_from_salted_password` always returns the verifier form; an empty
    // verifier matches no password.
    Verifier {
        salt,
        iterations,
        stored_key: vec![0; 32],
        server_key: vec![0; 32],
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A configured user.
#[derive(Debug, Clone)]
pub struct User {
    /// Who this is, and what they may read.
    pub principal: Principal,
    /// The SCRAM verifier.
    pub verifier: Verifier,
}

/// The users of a server.
#[derive(Debug, Clone, Default)]
pub struct UserDb {
    users: HashMap<String, Arc<User>>,
    builtin: bool,
}

impl UserDb {
    /// Users from configuration (passwords from the environment are read now).
    pub fn from_config(users: &[UserConfig]) -> Result<UserDb, QueryError> {
        if users.is_empty() {
            return Ok(UserDb::builtin());
        }
        let mut db = UserDb::default();
        for u in users {
            let bad = |m: String| QueryError::Config(format!("user `{}`: {m}", u.name));
            if u.name.is_empty() {
                return Err(QueryError::Config("a user has no name".into()));
            }
            let verifier = match (&u.scram, &u.password_env, &u.password) {
                (Some(v), None, None) => Verifier::parse(v).map_err(bad)?,
                (None, Some(var), None) => {
                    let pw = std::env::var(var)
                        .map_err(|_| bad(format!("environment variable {var} is not set")))?;
                    Verifier::from_password(&pw, SCRAM_ITERATIONS)
                }
                (None, None, Some(pw)) => Verifier::from_password(pw, SCRAM_ITERATIONS),
                _ => {
                    return Err(bad(
                        "give exactly one of `scram`, `password_env`, `password`".into(),
                    ));
                }
            };
            if u.tables.is_empty() {
                return Err(bad("`tables` is empty (use [\"*\"] for all tables)".into()));
            }
            let user = User {
                principal: Principal {
                    user: u.name.clone(),
                    access: TableAccess::from_list(&u.tables),
                },
                verifier,
            };
            if db.users.insert(u.name.clone(), Arc::new(user)).is_some() {
                return Err(bad("defined twice".into()));
            }
        }
        Ok(db)
    }

    /// The one-machine default: user `aqstream`, password `aqstream`, all tables.
    pub fn builtin() -> UserDb {
        let user = User {
            principal: Principal {
                user: DEFAULT_USER.into(),
                access: TableAccess::All,
            },
            verifier: Verifier::from_password(DEFAULT_USER, SCRAM_ITERATIONS),
        };
        UserDb {
            users: HashMap::from([(DEFAULT_USER.to_string(), Arc::new(user))]),
            builtin: true,
        }
    }

    /// Is this the built-in default (no users configured)?
    pub fn is_builtin(&self) -> bool {
        self.builtin
    }

    /// The user called `name`.
    pub fn get(&self, name: &str) -> Option<Arc<User>> {
        self.users.get(name).cloned()
    }

    /// The principal of `name` if `password` is theirs.
    pub fn authenticate(&self, name: &str, password: &str) -> Option<Principal> {
        let u = self.users.get(name)?;
        u.verifier
            .check_password(password)
            .then(|| u.principal.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifiers_round_trip_and_check_passwords() {
        let v = Verifier::from_password_and_salt("pencil", b"salt-1234".to_vec(), 4096);
        let text = v.to_pg_string();
        assert!(text.starts_with("SCRAM-SHA-256$4096:"), "{text}");
        let back = Verifier::parse(&text).unwrap();
        assert_eq!(back, v);
        assert!(back.check_password("pencil"));
        assert!(!back.check_password("pencil "));
        assert!(Verifier::parse("md5abc").is_err());
        assert!(Verifier::parse("SCRAM-SHA-256$4096:c2FsdA==$AAAA:AAAA").is_err());
    }

    #[test]
    fn users_need_exactly_one_secret_and_some_tables() {
        let mk = |scram: Option<&str>, pw: Option<&str>, tables: &[&str]| UserConfig {
            name: "u".into(),
            scram: scram.map(String::from),
            password_env: None,
            password: pw.map(String::from),
            tables: tables.iter().map(|s| s.to_string()).collect(),
        };
        let db = UserDb::from_config(&[mk(None, Some("pw"), &["Readings"])]).unwrap();
        let p = db.authenticate("u", "pw").unwrap();
        assert!(p.access.allows("readings") && !p.access.allows("alerts"));
        assert!(db.authenticate("u", "nope").is_none());
        assert!(db.authenticate("v", "pw").is_none());
        assert!(UserDb::from_config(&[mk(None, None, &["*"])]).is_err());
        assert!(UserDb::from_config(&[mk(Some("x"), Some("pw"), &["*"])]).is_err());
        assert!(UserDb::from_config(&[mk(None, Some("pw"), &[])]).is_err());
        assert!(UserDb::from_config(&[]).unwrap().is_builtin());
    }
}
