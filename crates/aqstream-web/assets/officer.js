// The officer page: live alerts on the sensor map, the evidence of the selected alert,
// the history. `/officer?alert=<id>` (the Alertmanager link, with `&lat=&lon=`) opens
// one alert.
"use strict";

const REFRESH_MS = 30000;

const st = {
  aqi: null, city: null, alerts: null, map: null,
  selected: null, detail: null, missing: null, notFound: false,
};

function counts() {
  document.getElementById("counts").textContent =
    I18N.t("officer.counts", { a: st.alerts.active.length, h: st.alerts.history.length });
  document.getElementById("as-of").textContent =
    st.city.as_of ? I18N.t("common.as_of", { t: Fmt.dateTime(st.city.as_of) }) : I18N.t("common.no_data");
}

function alertsOnMap() {
  const shown = st.alerts.active.slice();
  if (st.detail && !shown.some((a) => a.alert_id === st.detail.alert.alert_id)) shown.push(st.detail.alert);
  return shown;
}

function renderMap() {
  const extra = alertsOnMap().filter((a) => a.source).map((a) => [a.source.lat, a.source.lon]);
  if (st.missing) extra.push(st.missing);
  st.map.fit(st.city.sensors, extra);
  st.map.draw({
    sensors: st.city.sensors,
    districts: st.city.districts,
    wind: st.city.wind,
    alerts: alertsOnMap(),
    selected: st.selected,
    here: st.missing,
    colour: (s) => {
      const c = categoryOf(st.aqi.cn, s.aqi_cn);
      return c ? c.color : "#bbb";
    },
    onAlert: (a) => select(a.alert_id),
  });
}

function alertCard(a) {
  return el("li", { "data-alert": a.alert_id, class: a.alert_id === st.selected ? "selected" : "", onclick: () => select(a.alert_id) },
    el("div", { class: "alert-title" },
      el("span", { class: "type type-" + a.source_type }, I18N.t("type." + a.source_type)), " ", a.district),
    el("div", { class: "small" },
      a.alert_id + " · " + I18N.t("officer.confidence") + " " + Fmt.percent(a.confidence) + " · " +
      I18N.t("officer.peak") + " " + Fmt.number(a.peak_ugm3, 0) + " " + I18N.t("common.ugm3")),
    el("div", { class: "small" }, I18N.t("officer.detected") + " " + Fmt.dateTime(a.detected_at)));
}

function renderLists() {
  const act = document.getElementById("active-list");
  act.replaceChildren();
  if (st.alerts.active.length === 0) act.append(el("li", { class: "none" }, I18N.t("officer.none_active")));
  for (const a of st.alerts.active) act.append(alertCard(a));
  const body = document.getElementById("history");
  body.replaceChildren();
  for (const a of st.alerts.history) {
    body.append(el("tr", { "data-alert": a.alert_id, class: a.alert_id === st.selected ? "selected" : "", onclick: () => select(a.alert_id) },
      el("td", {}, a.alert_id),
      el("td", { class: "state-" + a.state }, I18N.t("state." + a.state)),
      el("td", {}, a.district),
      el("td", {}, I18N.t("type." + a.source_type)),
      el("td", {}, Fmt.dateTime(a.detected_at)),
      el("td", {}, Fmt.dateTime(a.resolved_at)),
      el("td", { class: "num" }, Fmt.number(a.peak_ugm3, 1)),
      el("td", { class: "num" }, Fmt.percent(a.confidence))));
  }
}

function row(label, value) {
  return el("tr", {}, el("th", {}, label), el("td", {}, value));
}

function renderDetail() {
  const box = document.getElementById("detail");
  box.replaceChildren();
  if (!st.detail) {
    box.append(el("p", { class: "small" }, st.notFound && st.selected
      ? I18N.t("officer.not_found", { id: st.selected }) : I18N.t("officer.select")));
    document.getElementById("evidence-chart").replaceChildren();
    document.getElementById("evidence-legend").replaceChildren();
    return;
  }
  const a = st.detail.alert;
  const src = a.source
    ? `${a.source.lat.toFixed(5)}, ${a.source.lon.toFixed(5)} · ` + I18N.t("officer.uncertainty", { m: Fmt.distance(a.source.uncertainty_m) })
    : "–";
  const wind = a.wind ? I18N.t("officer.wind_from", { dir: I18N.direction(a.wind.from_deg), s: Fmt.number(a.wind.speed_ms, 1) }) : "–";
  box.append(
    el("h2", { id: "detail-title" }, a.alert_id),
    el("table", { class: "facts" },
      row(I18N.t("officer.state"), I18N.t("state." + a.state)),
      row(I18N.t("officer.type"), I18N.t("type." + a.source_type)),
      row(I18N.t("officer.source"), src),
      row(I18N.t("officer.confidence"), Fmt.percent(a.confidence)),
      row(I18N.t("officer.peak"), Fmt.number(a.peak_ugm3, 1) + " " + I18N.t("common.ugm3")),
      row(I18N.t("officer.district"), a.district),
      row(I18N.t("officer.started"), Fmt.dateTime(a.started_at)),
      row(I18N.t("officer.detected"), Fmt.dateTime(a.detected_at)),
      row(I18N.t("officer.resolved"), Fmt.dateTime(a.resolved_at)),
      row(I18N.t("officer.sensors"), a.sensors.join(", ")),
      row(I18N.t("officer.wind"), wind)));
  renderEvidence();
}

function renderEvidence() {
  const ev = st.detail.evidence, a = st.detail.alert;
  const series = ev.sensors.map((s, i) => ({
    values: s.values, label: s.id,
    cls: s.role === "saw" ? "saw c" + (i % 6) : "quiet",
  }));
  const marks = [{ t: Date.parse(a.started_at), label: I18N.t("officer.started") },
    { t: Date.parse(a.detected_at), label: I18N.t("officer.detected") }];
  if (a.resolved_at) marks.push({ t: Date.parse(a.resolved_at), label: I18N.t("officer.resolved") });
  lineChart(document.getElementById("evidence-chart"), ev.start_ms, ev.step_s, series, marks, I18N.t("common.ugm3"));
  const legend = document.getElementById("evidence-legend");
  legend.replaceChildren();
  ev.sensors.forEach((s, i) => {
    legend.append(el("li", { "data-sensor": s.id, "data-role": s.role },
      el("span", { class: "swatch " + (s.role === "saw" ? "saw c" + (i % 6) : "quiet") }),
      `${s.id} · ${I18N.t(s.role === "saw" ? "officer.saw" : "officer.quiet")} · ${Fmt.distance(s.distance_m)}`));
  });
}

async function select(id) {
  st.selected = id;
  const u = new URL(location.href);
  u.searchParams.set("alert", id);
  u.searchParams.delete("lat");
  u.searchParams.delete("lon");
  history.replaceState(null, "", u.pathname + u.search);
  await loadDetail();
  render();
}

async function loadDetail() {
  st.detail = null;
  st.notFound = false;
  if (!st.selected) return;
  try {
    st.detail = await Api.get("/api/v1/alerts/" + encodeURIComponent(st.selected));
    st.missing = null;
  } catch (e) {
    // a fresh alert may reach Alertmanager before the history: show where it points
    const q = new URLSearchParams(location.search);
    const lat = parseFloat(q.get("lat")), lon = parseFloat(q.get("lon"));
    st.missing = Number.isFinite(lat) && Number.isFinite(lon) ? [lat, lon] : null;
    st.notFound = true;
  }
}

function render() {
  I18N.apply();
  if (!st.city) return;
  counts();
  renderLists();
  renderDetail();
  renderMap();
  document.body.dataset.state = "ready";
}

async function load() {
  const [aqi, city, alerts] = await Promise.all([
    Api.get("/api/v1/aqi"), Api.get("/api/v1/city"), Api.get("/api/v1/alerts?days=30"),
  ]);
  Object.assign(st, { aqi, city, alerts });
  if (!st.selected && alerts.active.length > 0) st.selected = alerts.active[0].alert_id;
  await loadDetail();
}

async function start() {
  I18N.detect();
  st.selected = new URLSearchParams(location.search).get("alert");
  st.map = new CityMap(document.getElementById("officer-map"), null);
  document.getElementById("lang-toggle").addEventListener("click", () => {
    I18N.set(I18N.lang === "zh" ? "en" : "zh");
    render();
  });
  I18N.apply();
  try {
    await load();
  } catch (e) {
    showError("error", e);
    document.body.dataset.state = "error";
    return;
  }
  render();
  setInterval(() => load().then(render).catch((e) => showError("error", e)), REFRESH_MS);
}

start();
