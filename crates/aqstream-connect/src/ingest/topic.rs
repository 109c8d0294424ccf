//! MQTT topics of field terminals: `aq/v1/{gateway_id}/{sensor_id}`,
//! `aq/v1/{gateway_id}/batch` and `aq/v1/{gateway_id}/hj212`.

use aqstream_core::{Reject, RejectReason};

/// The topic filter that covers every reading topic.
pub const FILTER: &str = "aq/v1/#";
/// The default shared subscription: ingesters in group `aqstream` split the load.
pub const SHARED_FILTER: &str = "$share/aqstream/aq/v1/#";

/// What a reading topic says about its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicKind<'a> {
    /// One JSON reading of `sensor_id`.
    Single {
        /// The publishing gateway.
        gateway_id: &'a str,
        /// The sensor the payload must be about.
        sensor_id: &'a str,
    },
    /// A JSON array of readings of any sensor of the gateway.
    Batch {
        /// The publishing gateway.
        gateway_id: &'a str,
    },
    /// One or more CRLF-separated HJ 212 frames.
    Hj212 {
        /// The publishing gateway.
        gateway_id: &'a str,
    },
}

impl<'a> TopicKind<'a> {
    /// The gateway named by the topic.
    pub fn gateway_id(&self) -> &'a str {
        match *self {
            TopicKind::Single { gateway_id, .. }
            | TopicKind::Batch { gateway_id }
            | TopicKind::Hj212 { gateway_id } => gateway_id,
        }
    }
}

fn valid_level(s: &str) -> bool {
    !s.is_empty() && !s.contains(['+', '#', '\0'])
}

/// Parses a reading topic. Anything else is a `bad_topic` reject.
pub fn parse(topic: &str) -> Result<TopicKind<'_>, Reject> {
    let bad = |why: &str| Reject::new(RejectReason::BadTopic, format!("topic `{topic}`: {why}"));
    let rest = topic
        .strip_prefix("aq/v1/")
        .ok_or_else(|| bad("does not start with `aq/v1/`"))?;
    let mut levels = rest.split('/');
    let (Some(gateway_id), Some(last), None) = (levels.next(), levels.next(), levels.next()) else {
        return Err(bad("expected aq/v1/{gateway_id}/{sensor_id|batch|hj212}"));
    };
    if !valid_level(gateway_id) || !valid_level(last) {
        return Err(bad("empty level or wildcard character"));
    }
    Ok(match last {
        "batch" => TopicKind::Batch { gateway_id },
        "hj212" => TopicKind::Hj212 { gateway_id },
        sensor_id => TopicKind::Single {
            gateway_id,
            sensor_id,
        },
    })
}

/// The gateway a topic claims to come from, even when the topic is malformed (for the
/// dead-letter header): the level after `aq/v1/`, or empty.
pub fn claimed_gateway(topic: &str) -> &str {
    topic
        .strip_prefix("aq/v1/")
        .and_then(|r| r.split('/').next())
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_kinds() {
        assert_eq!(
            parse("aq/v1/gw-1/TZ-0001").unwrap(),
            TopicKind::Single {
                gateway_id: "gw-1",
                sensor_id: "TZ-0001"
            }
        );
        assert_eq!(
            parse("aq/v1/gw-1/batch").unwrap(),
            TopicKind::Batch { gateway_id: "gw-1" }
        );
        assert_eq!(parse("aq/v1/gw-1/hj212").unwrap().gateway_id(), "gw-1");
    }

    #[test]
    fn rejects_everything_else() {
        for t in [
            "aq/v2/gw/s",
            "aq/v1/gw",
            "aq/v1/gw/s/extra",
            "aq/v1//s",
            "aq/v1/gw/",
            "x/aq/v1/gw/s",
            "",
        ] {
            let e = parse(t).unwrap_err();
            assert_eq!(e.reason, RejectReason::BadTopic, "{t}");
        }
        assert_eq!(claimed_gateway("aq/v1/gw-9/a/b"), "gw-9");
        assert_eq!(claimed_gateway("other"), "");
    }
}
