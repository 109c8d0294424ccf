//! Both pages in headless Chromium against a server over the fixture city: the values,
//! categories, alerts and texts the pages show, in Chinese and English; screenshots go
//! to `docs/screenshots/`.

mod common;

use aqstream_core::aqi::{cn, us};
use aqstream_core::geo::{bearing_deg, haversine_m};
use aqstream_core::time::{HOUR_MS, MINUTE_MS};
use common::cdp::{Browser, Tab};
use common::fixture::{self, ACTIVE_ID, RESOLVED_ID, SOURCE};
use common::{Server, screenshot_path};
use serde_json::{Value, json};

fn sensor(id: &str) -> fixture::Sensor {
    fixture::sensors().into_iter().find(|s| s.id == id).unwrap()
}

fn text(b: &mut Browser, tab: &Tab, selector: &str) -> String {
    let v = b.eval(
        tab,
        &format!(
            "(document.querySelector({}) || {{}}).textContent",
            json!(selector)
        ),
    );
    v.as_str()
        .unwrap_or_else(|| panic!("no `{selector}`"))
        .trim()
        .to_string()
}

const DIR_EN: [&str; 8] = [
    "north",
    "north-east",
    "east",
    "south-east",
    "south",
    "south-west",
    "west",
    "north-west",
];
const DIR_ZH: [&str; 8] = ["北", "东北", "东", "东南", "南", "西南", "西", "西北"];

fn compass(deg: f64) -> usize {
    (deg / 45.0).round() as usize % 8
}

/// What the citizen page must show standing exactly at sensor `id`.
struct Expected {
    pm25: String,
    aqi_cn: u32,
    aqi_us: u32,
}

fn expected_at(id: &str) -> Expected {
    let s = sensor(id);
    let t = fixture::as_of();
    let hour = fixture::mean(&s, t - HOUR_MS, HOUR_MS).unwrap();
    Expected {
        pm25: format!(
            "{:.1}",
            fixture::mean(&s, t - 5 * MINUTE_MS, 5 * MINUTE_MS).unwrap()
        ),
        aqi_cn: fixture::aqi_cn(hour),
        aqi_us: fixture::aqi_us(hour),
    }
}

#[test]
fn citizen_page_shows_the_air_where_i_stand() {
    let server = Server::start();
    let mut b = Browser::launch();

    // 1. Chinese browser, position from the (emulated) browser geolocation
    let here = sensor("TZ-0021");
    let want = expected_at("TZ-0021");
    let tab = b.tab(390, 844, true, "zh-CN");
    b.geolocation(&tab, &server.origin(), here.lat, here.lon);
    b.open(&tab, &server.url("/"));
    assert_eq!(text(&mut b, &tab, "h1"), "我身边的空气");
    assert_eq!(text(&mut b, &tab, "#aqi-value"), want.aqi_cn.to_string());
    let cat = cn::category(want.aqi_cn);
    assert_eq!(text(&mut b, &tab, "#aqi-category"), cat.name_zh);
    assert_eq!(
        b.eval(&tab, "document.getElementById('now').dataset.category"),
        json!(cat.slug())
    );
    assert_eq!(text(&mut b, &tab, "#pm25-value"), want.pm25);
    assert_eq!(text(&mut b, &tab, "#aqi-other"), want.aqi_us.to_string());
    assert_eq!(text(&mut b, &tab, "#health"), cat.health_effect_zh);
    assert_eq!(text(&mut b, &tab, "#advice"), cat.advice_zh);
    assert!(text(&mut b, &tab, "#estimate").starts_with("由 1 个附近监测点估算"));
    // the active source: direction and distance from here
    let src = b.eval(
        &tab,
        "[...document.querySelectorAll('#sources li[data-alert]')].map(li => ({id: li.dataset.alert, type: li.dataset.type, \
         bearing: +li.dataset.bearing, distance: +li.dataset.distance, text: li.textContent}))",
    );
    let src = src.as_array().unwrap();
    assert_eq!(src.len(), 1, "{src:?}");
    assert_eq!(src[0]["id"], ACTIVE_ID);
    assert_eq!(src[0]["type"], "combustion");
    let brg = bearing_deg(here.lat, here.lon, SOURCE.0, SOURCE.1);
    let dist = haversine_m(here.lat, here.lon, SOURCE.0, SOURCE.1);
    assert!(
        (src[0]["bearing"].as_f64().unwrap() - brg).abs() <= 1.0,
        "{src:?} vs {brg}"
    );
    assert!(
        (src[0]["distance"].as_f64().unwrap() - dist).abs() <= 1.0,
        "{src:?} vs {dist}"
    );
    let line = src[0]["text"].as_str().unwrap();
    assert!(
        line.contains("燃烧") && line.contains(&format!("{}方向", DIR_ZH[compass(brg)])),
        "{line}"
    );
    // west wind (from 270°) and the source lies to the east: it blows away from here
    assert!(line.contains("风向背离您"), "{line}");
    // 24 hourly bars
    let bars = b.eval(
        &tab,
        "document.querySelectorAll('#day-chart rect.bar').length",
    );
    assert_eq!(bars, json!(24));
    assert_eq!(
        b.eval(
            &tab,
            "document.querySelectorAll('#map circle.sensor').length"
        ),
        json!(30)
    );
    b.screenshot(&tab, 390, true, &screenshot_path("citizen-zh.png"));

    // 2. English and the US standard from the address; the position from the fragment
    let far = sensor("TZ-0008");
    let want = expected_at("TZ-0008");
    let tab = b.tab(390, 844, true, "en-US");
    b.open(
        &tab,
        &server.url(&format!("/?lang=en&standard=us#at={},{}", far.lat, far.lon)),
    );
    assert_eq!(text(&mut b, &tab, "h1"), "The air where I stand");
    assert_eq!(text(&mut b, &tab, "#aqi-value"), want.aqi_us.to_string());
    let ucat = us::category(want.aqi_us);
    assert_eq!(text(&mut b, &tab, "#aqi-category"), ucat.name);
    assert_eq!(
        text(&mut b, &tab, "#aqi-standard"),
        "Air quality index · US EPA"
    );
    assert_eq!(text(&mut b, &tab, "#aqi-other"), want.aqi_cn.to_string());
    assert_eq!(text(&mut b, &tab, "#advice"), ucat.cautionary);
    assert_eq!(text(&mut b, &tab, "#pm25-value"), want.pm25);
    let line = text(&mut b, &tab, "#sources li");
    let brg = bearing_deg(far.lat, far.lon, SOURCE.0, SOURCE.1);
    assert!(
        line.starts_with("Combustion: ")
            && line.contains(&format!("to the {}", DIR_EN[compass(brg)])),
        "{line}"
    );
    // west wind (from 270°): the plume reaches this place only if it lies within 45° of
    // due east of the source
    let to_here = bearing_deg(SOURCE.0, SOURCE.1, far.lat, far.lon);
    let off_axis = ((90.0 - to_here) % 360.0 + 540.0) % 360.0 - 180.0;
    let expected = if off_axis.abs() <= 45.0 {
        "the wind carries it towards you"
    } else {
        "the wind carries it away from you"
    };
    assert!(
        line.ends_with(expected),
        "{line} (bearing from the source {to_here:.0}°)"
    );
    b.screenshot(&tab, 390, true, &screenshot_path("citizen-en.png"));

    // 3. the language switch
    b.metrics(&tab, 390, 844, true);
    b.click(&tab, "#lang-toggle");
    b.wait_for(
        &tab,
        "document.querySelector('h1').textContent === '我身边的空气'",
        "switch to Chinese",
    );
    assert_eq!(text(&mut b, &tab, "#aqi-category"), ucat.name_zh);

    // 4. a tap on the map moves "here" to the tapped sensor
    let target = sensor("TZ-0015");
    b.click(&tab, "#map circle[data-sensor='TZ-0015']");
    b.wait_for(
        &tab,
        "location.hash.startsWith('#at=39.90')",
        "tap on the map",
    );
    let hash = b.eval(&tab, "location.hash");
    let (lat, lon) = parse_at(hash.as_str().unwrap());
    assert!(
        haversine_m(lat, lon, target.lat, target.lon) < 60.0,
        "tapped {lat},{lon}, sensor at {},{}",
        target.lat,
        target.lon
    );
    let shown: u32 = text(&mut b, &tab, "#aqi-value").parse().unwrap();
    let near = expected_at("TZ-0015").aqi_us;
    assert!(shown.abs_diff(near) <= 3, "shown {shown}, sensor {near}");

    // 5. the position never reached the server
    let reqs = server.requests.lock().unwrap().clone();
    assert!(!reqs.is_empty());
    for r in &reqs {
        let path = r.split_once(' ').unwrap().1;
        assert!(
            path == "/"
                || path.starts_with("/?lang=en")
                || path.starts_with("/assets/")
                || [
                    "/api/v1/aqi",
                    "/api/v1/city",
                    "/api/v1/history?hours=24",
                    "/api/v1/alerts"
                ]
                .contains(&path)
                || path == "/favicon.ico",
            "unexpected request {r}"
        );
        assert!(
            !r.contains("39.9") && !r.contains("116.6") && !r.contains("at="),
            "position sent: {r}"
        );
    }
}

fn parse_at(hash: &str) -> (f64, f64) {
    let (a, b) = hash.trim_start_matches("#at=").split_once(',').unwrap();
    (a.parse().unwrap(), b.parse().unwrap())
}

fn facts(b: &mut Browser, tab: &Tab) -> Value {
    b.eval(
        tab,
        "Object.fromEntries([...document.querySelectorAll('#detail .facts tr')].map(r => [r.cells[0].textContent, r.cells[1].textContent]))",
    )
}

#[test]
fn officer_page_shows_alerts_evidence_and_history() {
    let server = Server::start();
    let mut b = Browser::launch();

    // 1. the Alertmanager link, English
    let tab = b.tab(1280, 900, false, "en-US");
    b.open(
        &tab,
        &server.url(&format!(
            "/officer?alert={ACTIVE_ID}&lat=39.90710&lon=116.66120"
        )),
    );
    b.wait_for(
        &tab,
        "document.getElementById('detail-title')",
        "alert detail",
    );
    assert_eq!(text(&mut b, &tab, "#detail-title"), ACTIVE_ID);
    let f = facts(&mut b, &tab);
    assert_eq!(f["State"], "updated");
    assert_eq!(f["Type"], "Combustion");
    assert_eq!(f["Confidence"], "82%");
    assert_eq!(f["Peak"], "312.4 µg/m³");
    assert_eq!(f["District"], "Tongzhou-Center");
    assert_eq!(
        f["Estimated source"],
        "39.90710, 116.66120 · uncertainty radius 180 m"
    );
    assert_eq!(f["Wind"], "wind from west 2.4 m/s");
    assert_eq!(
        text(&mut b, &tab, "#counts"),
        "1 active · 2 in the last 30 days"
    );
    // the map: every sensor, five district labels, the source with its circle, the furniture
    let map = b.eval(
        &tab,
        "({sensors: document.querySelectorAll('#officer-map circle.sensor').length, \
          districts: [...document.querySelectorAll('#officer-map .district-label')].map(t => t.textContent).sort(), \
          alert: !!document.querySelector(`#officer-map [data-alert='a-20261122-0007'].selected circle.uncertainty`), \
          r: +document.querySelector('#officer-map .selected circle.uncertainty').getAttribute('r'), \
          north: !!document.querySelector('#officer-map .north'), scale: document.querySelector('#officer-map .scale text').textContent, \
          wind: document.querySelector('#officer-map .wind text').textContent})",
    );
    assert_eq!(map["sensors"], 30);
    assert_eq!(
        map["districts"],
        json!([
            "Tongzhou-Center",
            "Tongzhou-East",
            "Tongzhou-North",
            "Tongzhou-South",
            "Tongzhou-West"
        ])
    );
    assert_eq!(map["alert"], true);
    assert!(map["r"].as_f64().unwrap() > 4.0, "{map}");
    assert_eq!(map["north"], true);
    assert_eq!(map["wind"], "2.4 m/s");
    assert!(
        map["scale"].as_str().unwrap().ends_with(" m")
            || map["scale"].as_str().unwrap().ends_with(" km")
    );
    // sensors coloured by their CN category
    let s21 = expected_at("TZ-0021");
    assert_eq!(
        b.eval(&tab, "document.querySelector(\"#officer-map circle[data-sensor='TZ-0021']\").getAttribute('fill')"),
        json!(cn::category(s21.aqi_cn).color)
    );
    // the evidence: the sensors that saw it, then quiet neighbours, as lines
    let legend = b.eval(
        &tab,
        "[...document.querySelectorAll('#evidence-legend li')].map(li => [li.dataset.sensor, li.dataset.role])",
    );
    let legend = legend.as_array().unwrap();
    let saw = fixture::episode_sensors();
    assert_eq!(legend.len(), saw.len() + 3, "{legend:?}");
    for (i, l) in legend.iter().enumerate() {
        let role = if i < saw.len() { "saw" } else { "quiet" };
        assert_eq!(l[1], role, "{legend:?}");
        if i < saw.len() {
            assert!(saw.contains(&l[0].as_str().unwrap().to_string()));
        }
    }
    let paths = b.eval(
        &tab,
        "[...document.querySelectorAll('#evidence-chart path.line')].filter(p => p.getAttribute('d').length > 100).length",
    );
    assert_eq!(paths, json!(saw.len() + 3));
    let marks = b.eval(
        &tab,
        "[...document.querySelectorAll('#evidence-chart .mark-label')].map(t => t.textContent)",
    );
    assert_eq!(marks, json!(["Started", "Detected"]));
    let rows = b.eval(
        &tab,
        "[...document.querySelectorAll('#history tr')].map(r => r.dataset.alert)",
    );
    assert_eq!(rows, json!([ACTIVE_ID, RESOLVED_ID]));
    b.screenshot(&tab, 1280, false, &screenshot_path("officer-en.png"));

    // 2. Chinese, no link: the active alert is selected; a click opens a past one
    let tab = b.tab(1280, 900, false, "zh-CN");
    b.open(&tab, &server.url("/officer"));
    assert_eq!(text(&mut b, &tab, "h1"), "污染告警 · 执法终端");
    b.wait_for(
        &tab,
        "document.getElementById('detail-title')",
        "first active alert",
    );
    assert_eq!(text(&mut b, &tab, "#detail-title"), ACTIVE_ID);
    assert_eq!(facts(&mut b, &tab)["类型"], "燃烧");
    assert_eq!(text(&mut b, &tab, "#active-list li .type"), "燃烧");
    b.click(&tab, &format!("#history tr[data-alert='{RESOLVED_ID}']"));
    b.wait_for(
        &tab,
        &format!("document.getElementById('detail-title').textContent === '{RESOLVED_ID}'"),
        "select a past alert",
    );
    let f = facts(&mut b, &tab);
    assert_eq!(f["状态"], "已结束");
    assert_eq!(f["类型"], "扬尘");
    assert_eq!(
        b.eval(&tab, "location.search"),
        json!(format!("?alert={RESOLVED_ID}"))
    );
    let marks = b.eval(
        &tab,
        "[...document.querySelectorAll('#evidence-chart .mark-label')].map(t => t.textContent)",
    );
    assert_eq!(marks, json!(["开始", "发现", "结束"]));
    b.screenshot(&tab, 1280, false, &screenshot_path("officer-zh.png"));

    // 3. an alert the history does not have yet: the link's position is still shown
    let tab = b.tab(1280, 900, false, "en-US");
    b.open(
        &tab,
        &server.url("/officer?alert=a-20261122-0099&lat=39.89500&lon=116.64000"),
    );
    assert_eq!(
        text(&mut b, &tab, "#detail"),
        "Alert a-20261122-0099 is not in the history yet."
    );
    assert_eq!(
        b.eval(&tab, "!!document.querySelector('#officer-map .here')"),
        json!(true)
    );
}
