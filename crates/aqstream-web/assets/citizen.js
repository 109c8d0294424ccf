// The citizen page. The server sends the whole city; the position (from the browser or
// a tap on the map) stays in this page and in the URL fragment, which browsers never
// send to a server.
"use strict";

const NEAREST = 4;          // sensors used for the estimate
const FAR_M = 5000;         // beyond this the estimate is flagged unreliable
const SOURCES_WITHIN_M = 15000;

const state = {
  aqi: null, city: null, history: null, alerts: null,
  here: null, standard: "cn", map: null,
};

function standardLabel(std) {
  return I18N.t(std === "cn" ? "common.cn" : "common.us");
}

function hereFromFragment() {
  const m = /(?:^#|&)at=(-?[\d.]+),(-?[\d.]+)/.exec(location.hash);
  return m ? [parseFloat(m[1]), parseFloat(m[2])] : null;
}

function setHere(lat, lon) {
  state.here = [lat, lon];
  history.replaceState(null, "", "#at=" + lat.toFixed(5) + "," + lon.toFixed(5));
  render();
}

function locate() {
  if (!navigator.geolocation) return showNote(I18N.t("citizen.denied"));
  showNote(I18N.t("citizen.locating"));
  navigator.geolocation.getCurrentPosition(
    (p) => setHere(p.coords.latitude, p.coords.longitude),
    () => showNote(I18N.t("citizen.denied")),
    { enableHighAccuracy: false, timeout: 10000, maximumAge: 300000 });
}

function showNote(text) {
  document.getElementById("estimate").textContent = text;
}

// Value at the position of a per-sensor quantity.
function at(value) {
  return idw(state.city.sensors, state.here[0], state.here[1], value, NEAREST);
}

function renderNow() {
  const tables = state.aqi;
  const cnR = at((s) => s.aqi_cn), usR = at((s) => s.aqi_us), pmR = at((s) => s.pm25);
  const main = state.standard === "cn" ? cnR : usR, other = state.standard === "cn" ? usR : cnR;
  const otherStd = state.standard === "cn" ? "us" : "cn";
  const aqi = main ? Math.round(main.value) : null;
  const cat = categoryOf(tables[state.standard], aqi);
  const box = document.getElementById("now");
  document.getElementById("aqi-value").textContent = aqi === null ? "–" : aqi;
  document.getElementById("aqi-category").textContent = cat ? I18N.categoryName(cat) : I18N.t("common.no_data");
  document.getElementById("aqi-standard").textContent = I18N.t("common.aqi") + " · " + standardLabel(state.standard);
  box.style.background = cat ? cat.color : "";
  box.style.color = cat ? inkOn(cat.color) : "";
  box.dataset.category = cat ? cat.slug : "";
  document.getElementById("pm25-value").textContent = pmR ? Fmt.number(pmR.value, 1) : "–";
  const oAqi = other ? Math.round(other.value) : null;
  const oCat = categoryOf(tables[otherStd], oAqi);
  document.getElementById("aqi-other-label").textContent = standardLabel(otherStd);
  document.getElementById("aqi-other").textContent = oAqi === null ? "–" : oAqi;
  document.getElementById("aqi-other-category").textContent = oCat ? I18N.categoryName(oCat) : "";
  const ref = pmR || main;
  if (ref) {
    const key = ref.nearest_m > FAR_M ? "citizen.far" : "citizen.estimate";
    showNote(I18N.t(key, { n: ref.used, d: Fmt.distance(ref.nearest_m) }));
  } else {
    showNote(I18N.t("common.no_data"));
  }
  document.getElementById("as-of").textContent =
    state.city.as_of ? I18N.t("common.as_of", { t: Fmt.dateTime(state.city.as_of) }) : "";
  renderAdvice(cnR ? categoryOf(tables.cn, Math.round(cnR.value)) : null,
    usR ? categoryOf(tables.us, Math.round(usR.value)) : null);
}

// Health texts: HJ 633's in both languages; in English the EPA's cautionary statement
// follows when the US standard is selected.
function renderAdvice(cn, us) {
  const zh = I18N.lang === "zh";
  document.getElementById("health").textContent = cn ? (zh ? cn.health_effect_zh : cn.health_effect_en) : "";
  let advice = cn ? (zh ? cn.advice_zh : cn.advice_en) : "";
  if (!zh && us && state.standard === "us") advice = us.cautionary_en;
  document.getElementById("advice").textContent = advice;
}

function renderDay() {
  const h = state.history, svgEl = document.getElementById("day-chart");
  const sensors = state.city.sensors;
  const values = [], cats = [];
  const series = state.standard === "cn" ? h.aqi_cn : h.aqi_us;
  for (let i = 0; i < h.len; i++) {
    const pm = idw(sensors, state.here[0], state.here[1], (s) => (h.sensors[s.id] || [])[i] ?? null, NEAREST);
    const q = idw(sensors, state.here[0], state.here[1], (s) => (series[s.id] || [])[i] ?? null, NEAREST);
    values.push(pm ? pm.value : null);
    cats.push(q ? categoryOf(state.aqi[state.standard], Math.round(q.value)) : null);
  }
  barChart(svgEl, h.start_ms, h.step_s, values, (i) => (cats[i] ? cats[i].color : "#bbb"), I18N.t("common.ugm3"));
}

function renderSources() {
  const list = document.getElementById("sources");
  list.replaceChildren();
  const [lat, lon] = state.here;
  const near = state.alerts.active
    .filter((a) => a.source)
    .map((a) => ({ a, d: Geo.distance(lat, lon, a.source.lat, a.source.lon) }))
    .filter((x) => x.d <= SOURCES_WITHIN_M)
    .sort((x, y) => x.d - y.d);
  if (near.length === 0) {
    list.append(el("li", { class: "none" }, I18N.t("citizen.no_sources")));
    return;
  }
  for (const { a, d } of near) {
    const brg = Geo.bearing(lat, lon, a.source.lat, a.source.lon);
    const line = I18N.t("citizen.source_line", {
      type: I18N.t("type." + a.source_type), dist: Fmt.distance(d), dir: I18N.direction(brg),
    });
    let wind = null;
    if (a.wind) {
      // the wind blows towards from_deg + 180; it reaches us if that points from the source to us
      const toUs = Geo.bearing(a.source.lat, a.source.lon, lat, lon);
      const diff = Math.abs((((a.wind.from_deg + 180 - toUs) % 360) + 540) % 360 - 180);
      wind = I18N.t(diff <= 45 ? "citizen.toward" : "citizen.away");
    }
    const arrow = svg("svg", { class: "arrow", viewBox: "-10 -10 20 20", width: 28, height: 28 },
      svg("path", { d: "M0 -9L6 6L0 2L-6 6Z", transform: `rotate(${brg.toFixed(0)})` }));
    list.append(el("li", { "data-alert": a.alert_id, "data-type": a.source_type, "data-bearing": brg.toFixed(0), "data-distance": d.toFixed(0) },
      arrow,
      el("div", {},
        el("div", { class: "source-line" }, line),
        el("div", { class: "small" },
          [I18N.t("citizen.since", { t: Fmt.time(a.started_at) }),
            I18N.t("citizen.confidence", { c: Fmt.percent(a.confidence) }), wind].filter(Boolean).join(" · ")))));
  }
}

function renderMap() {
  const tables = state.aqi;
  state.map.fit(state.city.sensors);
  state.map.draw({
    sensors: state.city.sensors,
    districts: state.city.districts,
    wind: state.city.wind,
    alerts: state.alerts.active,
    here: state.here,
    colour: (s) => {
      const c = categoryOf(tables[state.standard], state.standard === "cn" ? s.aqi_cn : s.aqi_us);
      return c ? c.color : "#bbb";
    },
  });
}

function render() {
  I18N.apply();
  document.getElementById("std-toggle").textContent = state.standard === "cn" ? "CN" : "US";
  if (!state.city) return;
  if (!state.here) {
    showNote(I18N.t("citizen.no_location"));
    renderMap();
    return;
  }
  renderNow();
  renderDay();
  renderSources();
  renderMap();
  document.body.dataset.state = "ready";
}

async function load() {
  const [aqi, city, hist, alerts] = await Promise.all([
    Api.get("/api/v1/aqi"), Api.get("/api/v1/city"), Api.get("/api/v1/history?hours=24"), Api.get("/api/v1/alerts"),
  ]);
  Object.assign(state, { aqi, city, history: hist, alerts });
}

async function start() {
  I18N.detect();
  const std = new URLSearchParams(location.search).get("standard");
  state.standard = std === "us" || std === "cn" ? std : "cn";
  state.here = hereFromFragment();
  state.map = new CityMap(document.getElementById("map"), (lat, lon) => setHere(lat, lon));
  document.getElementById("locate").addEventListener("click", locate);
  document.getElementById("lang-toggle").addEventListener("click", () => {
    I18N.set(I18N.lang === "zh" ? "en" : "zh");
    render();
  });
  document.getElementById("std-toggle").addEventListener("click", () => {
    state.standard = state.standard === "cn" ? "us" : "cn";
    render();
  });
  render();
  try {
    await load();
  } catch (e) {
    showError("error", e);
    document.body.dataset.state = "error";
    return;
  }
  if (!state.here && navigator.permissions) {
    // locate at once only where the visitor already allowed it
    const p = await navigator.permissions.query({ name: "geolocation" }).catch(() => null);
    if (p && p.state === "granted") locate();
  }
  render();
  setInterval(() => load().then(render).catch((e) => showError("error", e)), 60000);
}

start();
