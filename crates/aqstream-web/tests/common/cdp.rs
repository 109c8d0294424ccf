//! Headless Chromium driven over the Chrome DevTools Protocol (a WebSocket of JSON
//! commands), without any browser download: Debian's `/usr/bin/chromium`.

use base64::Engine as _;
use serde_json::{Value, json};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tungstenite::{Message, WebSocket, stream::MaybeTlsStream};

/// Where Debian puts Chromium (`AQSTREAM_CHROMIUM` overrides).
pub fn chromium_path() -> PathBuf {
    std::env::var_os("AQSTREAM_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// A running headless Chromium; killed on drop.
pub struct Browser {
    child: Child,
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.ws.close(None);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One tab, attached with a flat session.
pub struct Tab {
    pub session: String,
}

impl Browser {
    /// Starts Chromium with the flags that keep it off the network.
    pub fn launch() -> Browser {
        let exe = chromium_path();
        assert!(
            exe.exists(),
            "{} is missing: run scripts/install-deps (installs Debian's chromium)",
            exe.display()
        );
        let profile = tempfile::tempdir().unwrap();
        let child = Command::new(&exe)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--disable-dev-shm-usage",
                "--hide-scrollbars",
                "--font-render-hinting=none",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {}: {e}; run scripts/install-deps",
                    exe.display()
                )
            });
        let url = devtools_url(profile.path());
        let (ws, _) = tungstenite::connect(url.as_str()).expect("DevTools WebSocket");
        if let MaybeTlsStream::Plain(s) = ws.get_ref() {
            s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        }
        Browser {
            child,
            ws,
            next_id: 1,
            _profile: profile,
        }
    }

    /// Sends a command (to the browser, or to a tab's session) and waits for its result.
    pub fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        self.ws.send(Message::text(msg.to_string())).unwrap();
        loop {
            let m = self.ws.read().expect("DevTools connection");
            let Message::Text(t) = m else { continue };
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if v["id"].as_u64() == Some(id) {
                if let Some(e) = v.get("error") {
                    panic!("{method}: {e}");
                }
                return v["result"].clone();
            }
        }
    }

    /// A new tab of `width` × `height` CSS pixels, with `language` as the browser's
    /// language.
    pub fn tab(&mut self, width: u32, height: u32, mobile: bool, language: &str) -> Tab {
        let target = self.call(None, "Target.createTarget", json!({ "url": "about:blank" }));
        let r = self.call(
            None,
            "Target.attachToTarget",
            json!({ "targetId": target["targetId"], "flatten": true }),
        );
        let tab = Tab {
            session: r["sessionId"].as_str().unwrap().to_string(),
        };
        let s = Some(tab.session.as_str());
        self.call(s, "Page.enable", json!({}));
        self.call(s, "Runtime.enable", json!({}));
        self.metrics(&tab, width, height, mobile);
        let ua = self.call(None, "Browser.getVersion", json!({}))["userAgent"].clone();
        self.call(
            s,
            "Emulation.setUserAgentOverride",
            json!({ "userAgent": ua, "acceptLanguage": language }),
        );
        self.call(
            s,
            "Emulation.setLocaleOverride",
            json!({ "locale": language }),
        );
        self.call(
            s,
            "Emulation.setTimezoneOverride",
            json!({ "timezoneId": "Asia/Shanghai" }),
        );
        tab
    }

    pub fn metrics(&mut self, tab: &Tab, width: u32, height: u32, mobile: bool) {
        self.call(
            Some(&tab.session),
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile }),
        );
    }

    /// Lets `origin` read the (emulated) position.
    pub fn geolocation(&mut self, tab: &Tab, origin: &str, lat: f64, lon: f64) {
        self.call(
            None,
            "Browser.grantPermissions",
            json!({ "origin": origin, "permissions": ["geolocation"] }),
        );
        self.call(
            Some(&tab.session),
            "Emulation.setGeolocationOverride",
            json!({ "latitude": lat, "longitude": lon, "accuracy": 10 }),
        );
    }

    /// Evaluates `expr` in the page (promises awaited) and returns its JSON value.
    pub fn eval(&mut self, tab: &Tab, expr: &str) -> Value {
        let r = self.call(
            Some(&tab.session),
            "Runtime.evaluate",
            json!({ "expression": expr, "returnByValue": true, "awaitPromise": true }),
        );
        if let Some(ex) = r.get("exceptionDetails") {
            panic!("`{expr}` threw: {ex}");
        }
        r["result"]["value"].clone()
    }

    /// Opens `url` and waits until `document.body.dataset.state` is `ready`.
    pub fn open(&mut self, tab: &Tab, url: &str) {
        self.call(Some(&tab.session), "Page.navigate", json!({ "url": url }));
        self.wait_for(tab, "document.readyState === 'complete' && document.body && document.body.dataset.state === 'ready'", url);
    }

    /// Polls `cond` (a JS boolean expression) for up to 20 s.
    pub fn wait_for(&mut self, tab: &Tab, cond: &str, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if self.eval(tab, &format!("!!({cond})")) == json!(true) {
                return;
            }
            if Instant::now() > deadline {
                let state = self.eval(tab, "document.body ? document.body.dataset.state + ' ' + (document.getElementById('error')||{}).textContent : 'no body'");
                panic!("{what}: `{cond}` not true after 20 s (page state: {state})");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A real mouse click at page coordinates.
    pub fn click_at(&mut self, tab: &Tab, x: f64, y: f64) {
        for t in ["mousePressed", "mouseReleased"] {
            self.call(
                Some(&tab.session),
                "Input.dispatchMouseEvent",
                json!({ "type": t, "x": x, "y": y, "button": "left", "clickCount": 1 }),
            );
        }
    }

    /// Clicks the centre of the first element matching `selector`.
    pub fn click(&mut self, tab: &Tab, selector: &str) {
        let r = self.eval(
            tab,
            &format!(
                "(() => {{ const e = document.querySelector({sel}); if (!e) return null; e.scrollIntoView({{block: 'center'}}); \
                 const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }})()",
                sel = json!(selector)
            ),
        );
        let (x, y) = (r[0].as_f64(), r[1].as_f64());
        let (Some(x), Some(y)) = (x, y) else {
            panic!("no element `{selector}` to click");
        };
        self.click_at(tab, x, y);
    }

    /// Saves a PNG of the whole page (the viewport grown to the page's height).
    pub fn screenshot(&mut self, tab: &Tab, width: u32, mobile: bool, path: &Path) {
        let h = self
            .eval(tab, "document.documentElement.scrollHeight")
            .as_f64()
            .unwrap_or(800.0);
        self.metrics(tab, width, (h as u32).clamp(200, 4000), mobile);
        std::thread::sleep(Duration::from_millis(300));
        let r = self.call(
            Some(&tab.session),
            "Page.captureScreenshot",
            json!({ "format": "png", "optimizeForSpeed": false }),
        );
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }
}

/// Waits for Chromium to write the DevTools port into its profile directory.
fn devtools_url(profile: &Path) -> String {
    let file = profile.join("DevToolsActivePort");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(text) = std::fs::read_to_string(&file) {
            let mut lines = text.lines();
            if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                return format!("ws://127.0.0.1:{port}{path}");
            }
        }
        assert!(
            Instant::now() < deadline,
            "Chromium did not open its DevTools port in 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
