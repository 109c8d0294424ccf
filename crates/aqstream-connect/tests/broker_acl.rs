//! Logins and per-gateway topic ACLs, with the files of `deploy/mosquitto/`, on both
//! brokers: a real Mosquitto and the embedded broker.

use aqstream_connect::broker::{BrokerConfig, EmbeddedBroker};
use aqstream_connect::testkit::Mosquitto;
use aqstream_runtime::Shutdown;
use rumqttc::{
    AsyncClient, ConnectionError, Event, EventLoop, MqttOptions, Packet, QoS, SubscribeReasonCode,
};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;

fn deploy(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/mosquitto")
        .join(file)
}

/// Connects; `Err` carries the refusal.
async fn connect(
    port: u16,
    id: &str,
    login: Option<(&str, &str)>,
) -> Result<(AsyncClient, EventLoop), String> {
    let mut o = MqttOptions::new(id, "127.0.0.1", port);
    o.set_keep_alive(Duration::from_secs(10));
    if let Some((u, p)) = login {
        o.set_credentials(u, p);
    }
    let (c, mut el) = AsyncClient::new(o, 100);
    match tokio::time::timeout(Duration::from_secs(10), el.poll()).await {
        Ok(Ok(Event::Incoming(Packet::ConnAck(a))))
            if a.code == rumqttc::ConnectReturnCode::Success =>
        {
            Ok((c, el))
        }
        Ok(Ok(other)) => Err(format!("unexpected {other:?}")),
        Ok(Err(ConnectionError::ConnectionRefused(code))) => Err(format!("refused: {code:?}")),
        Ok(Err(e)) => Err(format!("error: {e}")),
        Err(_) => Err("timeout".into()),
    }
}

/// Drives an event loop in the background; returns received publishes and SUBACKs.
fn drive(
    mut el: EventLoop,
) -> (
    mpsc::UnboundedReceiver<String>,
    mpsc::UnboundedReceiver<bool>,
) {
    let (ptx, prx) = mpsc::unbounded_channel();
    let (stx, srx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            match el.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let _ = ptx.send(p.topic.clone());
                }
                Ok(Event::Incoming(Packet::SubAck(s))) => {
                    let ok = s
                        .return_codes
                        .iter()
                        .all(|c| !matches!(c, SubscribeReasonCode::Failure));
                    let _ = stx.send(ok);
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    (prx, srx)
}

async fn check_rules(port: u16, refuses_subscriptions: bool) {
    // Wrong password, unknown user, anonymous: refused.
    assert!(
        connect(port, "x1", Some(("gw-tz-01", "wrong")))
            .await
            .is_err()
    );
    assert!(
        connect(port, "x2", Some(("nobody", "demo-gw-tz-01")))
            .await
            .is_err()
    );
    assert!(connect(port, "x3", None).await.is_err());

    // The ingester reads everything through the shared subscription.
    let (ingest, el) = connect(port, "ingest", Some(("aqstream", "demo-aqstream")))
        .await
        .expect("ingester login");
    let (mut received, mut subacks) = drive(el);
    ingest
        .subscribe("$share/aqstream/aq/v1/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    assert_eq!(
        subacks.recv().await,
        Some(true),
        "ingester subscription accepted"
    );

    // gw-tz-01 may publish its own topics only; the foreign publish is acknowledged
    // and dropped, the connection stays up.
    let (gw, el) = connect(port, "gw1", Some(("gw-tz-01", "demo-gw-tz-01")))
        .await
        .expect("gateway login");
    let (mut gw_received, mut gw_subacks) = drive(el);
    gw.publish("aq/v1/gw-tz-02/TZ-0005", QoS::AtLeastOnce, false, "forged")
        .await
        .unwrap();
    gw.publish("aq/v1/gw-tz-01/TZ-0001", QoS::AtLeastOnce, false, "own")
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), received.recv())
        .await
        .expect("the allowed publish arrives");
    assert_eq!(got.as_deref(), Some("aq/v1/gw-tz-01/TZ-0001"));
    // Nothing else arrives (the forged one was published first, on the same
    // connection, so it would have come before).
    assert!(
        tokio::time::timeout(Duration::from_millis(500), received.recv())
            .await
            .is_err()
    );
    // A gateway may not read others' readings: the embedded broker refuses the
    // subscription, Mosquitto accepts it for MQTT 3.1.1 clients but delivers nothing
    // the ACL does not let the gateway read.
    gw.subscribe("aq/v1/#", QoS::AtLeastOnce).await.unwrap();
    let granted = gw_subacks.recv().await.unwrap();
    assert_eq!(granted, !refuses_subscriptions);
    // gw-tz-02 publishes its own.
    let (gw2, el) = connect(port, "gw2", Some(("gw-tz-02", "demo-gw-tz-02")))
        .await
        .unwrap();
    let _keep = drive(el);
    gw2.publish("aq/v1/gw-tz-02/batch", QoS::AtLeastOnce, false, "[]")
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), received.recv())
        .await
        .unwrap();
    assert_eq!(got.as_deref(), Some("aq/v1/gw-tz-02/batch"));
    assert!(
        tokio::time::timeout(Duration::from_millis(500), gw_received.recv())
            .await
            .is_err(),
        "gw-tz-01 must not read gw-tz-02's readings"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_enforces_the_deploy_acl() {
    let m = Mosquitto::start(&format!(
        "allow_anonymous false\npassword_file {}\nacl_file {}\n",
        deploy("passwd").display(),
        deploy("acl").display()
    ));
    check_rules(m.port(), false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_broker_enforces_the_same_files() {
    let stop = Shutdown::new();
    let cfg = BrokerConfig {
        enabled: true,
        listen: "127.0.0.1:0".parse().unwrap(),
        password_file: Some(deploy("passwd")),
        acl_file: Some(deploy("acl")),
        ..BrokerConfig::default()
    };
    let b = EmbeddedBroker::start(&cfg, stop.clone()).await.unwrap();
    check_rules(b.local_addr().port(), true).await;
    assert_eq!(b.denied_publishes(), 1);
    stop.trigger();
    b.wait().await;
}
