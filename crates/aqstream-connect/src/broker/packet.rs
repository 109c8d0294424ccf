//! Just enough of MQTT 3.1.1 framing for the access gate: packet boundaries, and the
//! fields of CONNECT, PUBLISH and SUBSCRIBE that authentication and the ACL need.

use tokio::io::{AsyncRead, AsyncReadExt};

/// Packet types the gate looks into.
pub const CONNECT: u8 = 1;
/// PUBLISH.
pub const PUBLISH: u8 = 3;
/// PUBREL.
pub const PUBREL: u8 = 6;
/// SUBSCRIBE.
pub const SUBSCRIBE: u8 = 8;

/// A whole packet: fixed-header byte, and the bytes after the remaining length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawPacket {
    /// The first byte (type in the high nibble, flags in the low one).
    pub header: u8,
    /// The variable header and payload.
    pub body: Vec<u8>,
}

impl RawPacket {
    /// The packet type (1 = CONNECT … 14 = DISCONNECT).
    pub fn kind(&self) -> u8 {
        self.header >> 4
    }

    /// The packet as bytes on the wire.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + 5);
        out.push(self.header);
        let mut n = self.body.len();
        loop {
            let mut b = (n % 128) as u8;
            n /= 128;
            if n > 0 {
                b |= 0x80;
            }
            out.push(b);
            if n == 0 {
                break;
            }
        }
        out.extend_from_slice(&self.body);
        out
    }
}

/// Why a packet could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PacketError {
    /// The connection failed or closed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The remaining length is malformed or above the limit.
    #[error("packet too large or malformed length")]
    Length,
    /// A field could not be parsed.
    #[error("malformed {0}")]
    Malformed(&'static str),
}

/// Reads one packet of at most `max` body bytes.
pub async fn read_packet<R: AsyncRead + Unpin>(
    r: &mut R,
    max: usize,
) -> Result<RawPacket, PacketError> {
    let header = r.read_u8().await?;
    let mut len = 0usize;
    for i in 0..4 {
        let b = r.read_u8().await?;
        len |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            if len > max {
                return Err(PacketError::Length);
            }
            let mut body = vec![0; len];
            r.read_exact(&mut body).await?;
            return Ok(RawPacket { header, body });
        }
    }
    Err(PacketError::Length)
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn u8(&mut self, what: &'static str) -> Result<u8, PacketError> {
        let v = *self.b.get(self.i).ok_or(PacketError::Malformed(what))?;
        self.i += 1;
        Ok(v)
    }
    fn u16(&mut self, what: &'static str) -> Result<u16, PacketError> {
        Ok(u16::from(self.u8(what)?) << 8 | u16::from(self.u8(what)?))
    }
    fn bytes(&mut self, what: &'static str) -> Result<&'a [u8], PacketError> {
        let n = usize::from(self.u16(what)?);
        let s = self
            .b
            .get(self.i..self.i + n)
            .ok_or(PacketError::Malformed(what))?;
        self.i += n;
        Ok(s)
    }
    fn str(&mut self, what: &'static str) -> Result<&'a str, PacketError> {
        std::str::from_utf8(self.bytes(what)?).map_err(|_| PacketError::Malformed(what))
    }
}

/// The fields of a CONNECT the gate needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    /// Protocol level (4 = MQTT 3.1.1, 3 = MQTT 3.1; 0 = a protocol not spoken here).
    pub level: u8,
    /// Connect flags.
    pub flags: u8,
    /// Keep-alive, seconds.
    pub keep_alive: u16,
    /// Will message, if a will is set.
    pub will_message: Option<Vec<u8>>,
    /// Client id.
    pub client_id: String,
    /// Will topic, if a will is set.
    pub will_topic: Option<String>,
    /// User name.
    pub username: Option<String>,
    /// Password.
    pub password: Option<Vec<u8>>,
}

/// Parses a CONNECT body.
pub fn parse_connect(body: &[u8]) -> Result<Connect, PacketError> {
    let mut c = Cursor { b: body, i: 0 };
    let name = c.str("protocol name")?;
    let level = c.u8("protocol level")?;
    if !matches!((name, level), ("MQTT", 4) | ("MQIsdp", 3)) {
        return Ok(Connect {
            level: 0,
            flags: 0,
            keep_alive: 0,
            will_message: None,
            client_id: String::new(),
            will_topic: None,
            username: None,
            password: None,
        });
    }
    let flags = c.u8("connect flags")?;
    let keep_alive = c.u16("keep alive")?;
    let client_id = c.str("client id")?.to_string();
    let (will_topic, will_message) = if flags & 0x04 != 0 {
        let t = c.str("will topic")?.to_string();
        let m = c.bytes("will message")?.to_vec();
        (Some(t), Some(m))
    } else {
        (None, None)
    };
    let username = (flags & 0x80 != 0)
        .then(|| c.str("user name").map(str::to_string))
        .transpose()?;
    let password = (flags & 0x40 != 0)
        .then(|| c.bytes("password").map(<[u8]>::to_vec))
        .transpose()?;
    Ok(Connect {
        level,
        flags,
        keep_alive,
        will_message,
        client_id,
        will_topic,
        username,
        password,
    })
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len().min(usize::from(u16::MAX)) as u16).to_be_bytes());
    out.extend_from_slice(&b[..b.len().min(usize::from(u16::MAX))]);
}

/// The CONNECT packet of `c` (MQTT 3.1.1) with other credentials.
pub fn encode_connect(c: &Connect, username: &str, password: &str) -> Vec<u8> {
    let mut body = Vec::with_capacity(64);
    put_bytes(&mut body, b"MQTT");
    body.push(4);
    body.push((c.flags & 0x3f) | 0xC0);
    body.extend_from_slice(&c.keep_alive.to_be_bytes());
    put_bytes(&mut body, c.client_id.as_bytes());
    if let (Some(t), Some(m)) = (&c.will_topic, &c.will_message) {
        put_bytes(&mut body, t.as_bytes());
        put_bytes(&mut body, m);
    }
    put_bytes(&mut body, username.as_bytes());
    put_bytes(&mut body, password.as_bytes());
    RawPacket { header: 0x10, body }.encode()
}

/// Topic, QoS and packet id of a PUBLISH.
pub fn parse_publish(p: &RawPacket) -> Result<(String, u8, u16), PacketError> {
    let qos = (p.header >> 1) & 3;
    let mut c = Cursor { b: &p.body, i: 0 };
    let topic = c.str("topic")?.to_string();
    let pkid = if qos > 0 { c.u16("packet id")? } else { 0 };
    Ok((topic, qos, pkid))
}

/// Packet id and filters of a SUBSCRIBE.
pub fn parse_subscribe(p: &RawPacket) -> Result<(u16, Vec<String>), PacketError> {
    let mut c = Cursor { b: &p.body, i: 0 };
    let pkid = c.u16("packet id")?;
    let mut filters = Vec::new();
    while c.i < p.body.len() {
        filters.push(c.str("filter")?.to_string());
        let _qos = c.u8("requested QoS")?;
    }
    if filters.is_empty() {
        return Err(PacketError::Malformed("empty SUBSCRIBE"));
    }
    Ok((pkid, filters))
}

/// CONNACK with a return code (0 accepted, 1 bad protocol, 4 bad credentials, 5 not
/// authorized).
pub fn connack(code: u8) -> Vec<u8> {
    vec![0x20, 2, 0, code]
}

/// A two-byte acknowledgement (`PUBACK` 0x40, `PUBREC` 0x50, `PUBCOMP` 0x70).
pub fn ack(header: u8, pkid: u16) -> Vec<u8> {
    let [a, b] = pkid.to_be_bytes();
    vec![header, 2, a, b]
}

/// SUBACK refusing `n` filters.
pub fn suback_failure(pkid: u16, n: usize) -> Vec<u8> {
    let mut body = pkid.to_be_bytes().to_vec();
    body.extend(std::iter::repeat_n(0x80, n));
    RawPacket { header: 0x90, body }.encode()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(out: &mut Vec<u8>, v: &str) {
        out.extend_from_slice(&(v.len() as u16).to_be_bytes());
        out.extend_from_slice(v.as_bytes());
    }

    #[tokio::test]
    async fn frames_and_fields() {
        let mut body = Vec::new();
        s(&mut body, "MQTT");
        body.extend([4, 0xC6, 0, 30]); // user, password, will (QoS 0), clean session
        s(&mut body, "client-1");
        s(&mut body, "aq/v1/gw-1/status");
        s(&mut body, "offline");
        s(&mut body, "gw-1");
        s(&mut body, "secret");
        let connect = RawPacket { header: 0x10, body };
        let mut publish_body = Vec::new();
        s(&mut publish_body, "aq/v1/gw-1/TZ-0001");
        publish_body.extend([0x12, 0x34]);
        publish_body.extend_from_slice(&[b'x'; 300]);
        let publish = RawPacket {
            header: 0x32,
            body: publish_body,
        };
        let mut wire = connect.encode();
        wire.extend(publish.encode());
        let mut r = &wire[..];
        let c = read_packet(&mut r, 1000).await.unwrap();
        assert_eq!(c.kind(), CONNECT);
        let c = parse_connect(&c.body).unwrap();
        assert_eq!(c.level, 4);
        assert_eq!(c.client_id, "client-1");
        assert_eq!(c.will_topic.as_deref(), Some("aq/v1/gw-1/status"));
        assert_eq!(c.username.as_deref(), Some("gw-1"));
        assert_eq!(c.password.as_deref(), Some(&b"secret"[..]));
        assert_eq!(c.will_message.as_deref(), Some(&b"offline"[..]));
        let rewritten = encode_connect(&c, "gate", "internal");
        let mut rr = &rewritten[..];
        let back = parse_connect(&read_packet(&mut rr, 1000).await.unwrap().body).unwrap();
        assert_eq!(back.username.as_deref(), Some("gate"));
        assert_eq!(back.password.as_deref(), Some(&b"internal"[..]));
        assert_eq!(
            (back.client_id.as_str(), back.keep_alive, back.flags),
            ("client-1", 30, 0xC6)
        );
        assert_eq!(back.will_topic, c.will_topic);
        let p = read_packet(&mut r, 1000).await.unwrap();
        assert_eq!(p, publish, "a 2-byte remaining length round-trips");
        assert_eq!(
            parse_publish(&p).unwrap(),
            ("aq/v1/gw-1/TZ-0001".to_string(), 1, 0x1234)
        );
        let mut again = &wire[..];
        let _ = read_packet(&mut again, 1000).await.unwrap();
        assert!(matches!(
            read_packet(&mut again, 100).await,
            Err(PacketError::Length)
        ));
    }

    #[test]
    fn subscribe_and_replies() {
        let mut body = vec![0, 7];
        s(&mut body, "$share/aqstream/aq/v1/#");
        body.push(1);
        s(&mut body, "other/#");
        body.push(0);
        let p = RawPacket { header: 0x82, body };
        let (pkid, filters) = parse_subscribe(&p).unwrap();
        assert_eq!(pkid, 7);
        assert_eq!(filters, ["$share/aqstream/aq/v1/#", "other/#"]);
        assert_eq!(suback_failure(7, 2), [0x90, 4, 0, 7, 0x80, 0x80]);
        assert_eq!(ack(0x40, 0x0102), [0x40, 2, 1, 2]);
        assert_eq!(connack(5), [0x20, 2, 0, 5]);
        let mut bad = Vec::new();
        s(&mut bad, "MQTT");
        bad.push(5);
        assert_eq!(
            parse_connect(&bad).unwrap().level,
            0,
            "MQTT 5 is not spoken here"
        );
    }
}
