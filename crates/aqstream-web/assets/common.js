// Shared by both pages: API calls, AQI categories, geometry and interpolation, formats.
// Everything the citizen page computes from a position happens here, on the device.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";

const Api = {
  async get(path) {
    const r = await fetch(path, { headers: { Accept: "application/json" } });
    const body = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(body.error || r.status + " " + r.statusText);
    return body;
  },
};

// The AQI category of `aqi` in a table of /api/v1/aqi (`cn` or `us`).
function categoryOf(table, aqi) {
  if (aqi === null || aqi === undefined || !table) return null;
  for (const c of table) {
    if (aqi >= c.aqi_min && (c.aqi_max === null || aqi <= c.aqi_max)) return c;
  }
  return table[table.length - 1];
}

// Black or white text on a category colour.
function inkOn(hex) {
  const n = parseInt(hex.slice(1), 16);
  const [r, g, b] = [(n >> 16) & 255, (n >> 8) & 255, n & 255];
  return 0.299 * r + 0.587 * g + 0.114 * b > 150 ? "#111" : "#fff";
}

const Geo = {
  R: 6371008.8,
  rad: (d) => (d * Math.PI) / 180,

  // Great-circle distance in metres.
  distance(lat1, lon1, lat2, lon2) {
    const p1 = Geo.rad(lat1), p2 = Geo.rad(lat2);
    const dp = p2 - p1, dl = Geo.rad(lon2 - lon1);
    const a = Math.sin(dp / 2) ** 2 + Math.cos(p1) * Math.cos(p2) * Math.sin(dl / 2) ** 2;
    return 2 * Geo.R * Math.asin(Math.min(1, Math.sqrt(a)));
  },

  // Initial bearing from point 1 to point 2, degrees clockwise from north.
  bearing(lat1, lon1, lat2, lon2) {
    const p1 = Geo.rad(lat1), p2 = Geo.rad(lat2), dl = Geo.rad(lon2 - lon1);
    const y = Math.sin(dl) * Math.cos(p2);
    const x = Math.cos(p1) * Math.sin(p2) - Math.sin(p1) * Math.cos(p2) * Math.cos(dl);
    return ((Math.atan2(y, x) * 180) / Math.PI + 360) % 360;
  },
};

// Inverse-distance weighting (power 2) of `value(sensor)` over the `k` nearest sensors
// that have a value. Returns {value, used, nearest_m} or null.
function idw(sensors, lat, lon, value, k) {
  const near = sensors
    .map((s) => ({ s, v: value(s), d: Geo.distance(lat, lon, s.lat, s.lon) }))
    .filter((x) => x.v !== null && x.v !== undefined && Number.isFinite(x.v))
    .sort((a, b) => a.d - b.d)
    .slice(0, k || 4);
  if (near.length === 0) return null;
  if (near[0].d < 1) return { value: near[0].v, used: 1, nearest_m: near[0].d };
  let num = 0, den = 0;
  for (const x of near) {
    const w = 1 / (x.d * x.d);
    num += w * x.v;
    den += w;
  }
  return { value: num / den, used: near.length, nearest_m: near[0].d };
}

const Fmt = {
  distance(m) {
    if (m < 1000) return Math.round(m / 10) * 10 + (I18N.lang === "zh" ? " 米" : " m");
    const km = m / 1000;
    return (km < 10 ? km.toFixed(1) : Math.round(km)) + (I18N.lang === "zh" ? " 公里" : " km");
  },
  time(iso) {
    if (!iso) return "–";
    const d = new Date(iso);
    return d.toLocaleTimeString(I18N.lang === "zh" ? "zh-CN" : "en-GB", { hour: "2-digit", minute: "2-digit" });
  },
  dateTime(iso) {
    if (!iso) return "–";
    const d = new Date(iso);
    return d.toLocaleString(I18N.lang === "zh" ? "zh-CN" : "en-GB", {
      month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    });
  },
  number(v, digits) {
    return v === null || v === undefined ? "–" : Number(v).toFixed(digits || 0);
  },
  percent(v) {
    return v === null || v === undefined ? "–" : Math.round(v * 100) + "%";
  },
};

// Element helpers: el("div", {class: "x"}, "text", child…).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined) e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function svg(tag, attrs, ...children) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined) e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function showError(where, e) {
  const box = document.getElementById(where);
  if (box) {
    box.hidden = false;
    box.textContent = I18N.t("common.error", { e: e.message || e });
  }
}
