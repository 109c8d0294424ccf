//! Mosquitto ACL files, so the embedded broker enforces the same topic rules as a
//! Mosquitto deployment.
//!
//! Supported lines (as in `mosquitto.conf(5)`, `acl_file`):
//!
//! ```text
//! topic [read|write|readwrite|deny] <filter>    # anonymous clients, or the last `user`
//! user <username>
//! pattern [read|write|readwrite|deny] <filter>  # every client; %u = user name, %c = client id
//! ```
//!
//! A request is denied when a matching `deny` rule applies, granted when a matching rule
//! grants the access, and denied otherwise.

/// What a client wants to do with a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Publish to a topic.
    Write,
    /// Subscribe to a filter.
    Read,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grant {
    Read,
    Write,
    ReadWrite,
    Deny,
}

impl Grant {
    fn allows(self, a: Access) -> bool {
        matches!(
            (self, a),
            (Grant::ReadWrite, _) | (Grant::Read, Access::Read) | (Grant::Write, Access::Write)
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    grant: Grant,
    filter: String,
}

/// The rules of an ACL file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Acl {
    anonymous: Vec<Rule>,
    users: Vec<(String, Vec<Rule>)>,
    patterns: Vec<Rule>,
}

fn parse_rule(rest: &str, line: usize) -> Result<Rule, String> {
    let rest = rest.trim();
    let (grant, filter) = match rest.split_once(char::is_whitespace) {
        Some((g @ ("read" | "write" | "readwrite" | "deny"), f)) => (g, f.trim()),
        _ => ("readwrite", rest),
    };
    if filter.is_empty() {
        return Err(format!("ACL line {line}: missing topic"));
    }
    let grant = match grant {
        "read" => Grant::Read,
        "write" => Grant::Write,
        "deny" => Grant::Deny,
        _ => Grant::ReadWrite,
    };
    Ok(Rule {
        grant,
        filter: filter.to_string(),
    })
}

/// Does ACL filter `acl` cover `requested` (a topic, or a subscription filter whose
/// wildcards must be covered by wildcards of the rule)?
pub fn covers(acl: &str, requested: &str) -> bool {
    let mut a = acl.split('/');
    let mut r = requested.split('/');
    loop {
        match (a.next(), r.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(x)) if x != "#" => {}
            (Some(x), Some(y)) if x == y && x != "+" && x != "#" => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

impl Acl {
    /// Parses the file's text.
    pub fn parse(text: &str) -> Result<Acl, String> {
        let mut acl = Acl::default();
        let mut current: Option<usize> = None;
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (kw, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            match kw {
                "user" => {
                    let u = rest.trim();
                    if u.is_empty() {
                        return Err(format!("ACL line {n}: `user` without a name"));
                    }
                    acl.users.push((u.to_string(), Vec::new()));
                    current = Some(acl.users.len() - 1);
                }
                "topic" => {
                    let r = parse_rule(rest, n)?;
                    match current {
                        Some(u) => acl.users[u].1.push(r),
                        None => acl.anonymous.push(r),
                    }
                }
                "pattern" => acl.patterns.push(parse_rule(rest, n)?),
                other => return Err(format!("ACL line {n}: unknown keyword `{other}`")),
            }
        }
        Ok(acl)
    }

    /// May `user` (None: anonymous) with `client_id` do `access` on `topic`? A shared
    /// subscription `$share/{group}/{filter}` is checked as `filter`.
    pub fn check(&self, user: Option<&str>, client_id: &str, topic: &str, access: Access) -> bool {
        let topic = match topic.strip_prefix("$share/") {
            Some(rest) => rest.split_once('/').map_or(rest, |(_, f)| f),
            None => topic,
        };
        let own: Vec<&Rule> = match user {
            None => self.anonymous.iter().collect(),
            Some(u) => self
                .users
                .iter()
                .filter(|(name, _)| name == u)
                .flat_map(|(_, rules)| rules.iter())
                .collect(),
        };
        let mut granted = false;
        let mut consider = |grant: Grant, filter: &str| {
            if covers(filter, topic) {
                if grant == Grant::Deny {
                    return false;
                }
                granted |= grant.allows(access);
            }
            true
        };
        for r in own {
            if !consider(r.grant, &r.filter) {
                return false;
            }
        }
        for r in &self.patterns {
            if user.is_none() && r.filter.contains("%u") {
                continue;
            }
            let f = r
                .filter
                .replace("%u", user.unwrap_or(""))
                .replace("%c", client_id);
            // A substituted name containing wildcards or separators must not widen
            // the rule (a user called `#` would otherwise match everything).
            if user.is_some_and(|u| u.contains(['+', '#', '/']) && r.filter.contains("%u"))
                || (client_id.contains(['+', '#', '/']) && r.filter.contains("%c"))
            {
                continue;
            }
            if !consider(r.grant, &f) {
                return false;
            }
        }
        granted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# the ingester reads everything
user aqstream
topic read aq/v1/#
topic deny aq/v1/secret/#

# each gateway writes under its own id
pattern write aq/v1/%u/#
pattern read status/%c
";

    #[test]
    fn filters_cover_topics_and_filters() {
        assert!(covers("aq/v1/#", "aq/v1/gw/s"));
        assert!(covers("aq/v1/#", "aq/v1"));
        assert!(covers("aq/+/x", "aq/v1/x"));
        assert!(!covers("aq/+/x", "aq/v1/y"));
        assert!(covers("aq/v1/#", "aq/v1/+/s"));
        assert!(
            !covers("aq/v1/gw/#", "aq/v1/+/s"),
            "a literal level does not cover +"
        );
        assert!(!covers("aq/v1/+", "aq/v1/#"));
        assert!(!covers("aq/v1", "aq/v1/x"));
    }

    #[test]
    fn gateways_write_only_their_own_topics() {
        let acl = Acl::parse(FILE).unwrap();
        let w = |u: &str, t: &str| acl.check(Some(u), "c", t, Access::Write);
        assert!(w("gw-1", "aq/v1/gw-1/TZ-0001"));
        assert!(w("gw-1", "aq/v1/gw-1/batch"));
        assert!(!w("gw-1", "aq/v1/gw-2/TZ-0004"));
        assert!(!w("gw-1", "aq/v1/gw-10/x"));
        assert!(!acl.check(Some("gw-1"), "c", "aq/v1/#", Access::Read));
        assert!(!w("aqstream", "aq/v1/gw-1/x"), "the ingester only reads");
        assert!(
            !acl.check(None, "c", "aq/v1/gw-1/x", Access::Write),
            "anonymous"
        );
        // Wildcard user names do not widen the pattern.
        assert!(!w("#", "aq/v1/gw-1/x"));
        assert!(!w("+", "aq/v1/gw-1/x"));
    }

    #[test]
    fn reads_shared_subscriptions_and_denies() {
        let acl = Acl::parse(FILE).unwrap();
        let r = |u: &str, t: &str| acl.check(Some(u), "ingest-1", t, Access::Read);
        assert!(r("aqstream", "$share/aqstream/aq/v1/#"));
        assert!(r("aqstream", "aq/v1/+/batch"));
        assert!(!r("aqstream", "aq/v1/secret/x"), "deny wins");
        assert!(!r("aqstream", "#"));
        assert!(r("anyone", "status/ingest-1"), "%c");
        assert!(!r("anyone", "status/other"));
        assert!(Acl::parse("bogus line\n").is_err());
        assert!(Acl::parse("user\n").is_err());
        assert!(Acl::parse("topic\n").is_err());
    }
}
