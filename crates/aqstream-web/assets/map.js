// An SVG map of the city drawn from the sensors' coordinates alone (no tiles, works
// offline): district areas and labels, sensors coloured by AQI, alert sources with their
// uncertainty circles, a scale bar, a north arrow and the wind.
"use strict";

// Convex hull (monotone chain) of [x, y] points.
function hull(points) {
  const p = points.slice().sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  if (p.length < 3) return p;
  const cross = (o, a, b) => (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
  const lower = [], upper = [];
  for (const q of p) {
    while (lower.length >= 2 && cross(lower[lower.length - 2], lower[lower.length - 1], q) <= 0) lower.pop();
    lower.push(q);
  }
  for (const q of p.slice().reverse()) {
    while (upper.length >= 2 && cross(upper[upper.length - 2], upper[upper.length - 1], q) <= 0) upper.pop();
    upper.push(q);
  }
  return lower.slice(0, -1).concat(upper.slice(0, -1));
}

const M_PER_DEG = 111320;

class CityMap {
  // `svgEl`: an <svg> with a viewBox; `onPick(lat, lon)` is called on a click/tap.
  constructor(svgEl, onPick) {
    this.svg = svgEl;
    const vb = svgEl.viewBox.baseVal;
    this.w = vb.width;
    this.h = vb.height;
    this.pad = 28;
    if (onPick) {
      svgEl.addEventListener("click", (ev) => {
        const pt = svgEl.createSVGPoint();
        pt.x = ev.clientX;
        pt.y = ev.clientY;
        const p = pt.matrixTransform(svgEl.getScreenCTM().inverse());
        const [lat, lon] = this.unproject(p.x, p.y);
        onPick(lat, lon, ev);
      });
    }
  }

  // Fits the view to the sensors (and any extra [lat, lon] points).
  fit(sensors, extra) {
    const pts = sensors.map((s) => [s.lat, s.lon]).concat(extra || []);
    if (pts.length === 0) pts.push([0, 0]);
    const lats = pts.map((p) => p[0]), lons = pts.map((p) => p[1]);
    const [la0, la1, lo0, lo1] = [Math.min(...lats), Math.max(...lats), Math.min(...lons), Math.max(...lons)];
    this.lat0 = (la0 + la1) / 2;
    this.lon0 = (lo0 + lo1) / 2;
    this.kx = Math.cos(Geo.rad(this.lat0)) * M_PER_DEG; // metres per degree of longitude
    const wm = Math.max((lo1 - lo0) * this.kx, 500), hm = Math.max((la1 - la0) * M_PER_DEG, 500);
    this.scale = Math.min((this.w - 2 * this.pad) / wm, (this.h - 2 * this.pad) / hm); // px per metre
  }

  project(lat, lon) {
    return [
      this.w / 2 + (lon - this.lon0) * this.kx * this.scale,
      this.h / 2 - (lat - this.lat0) * M_PER_DEG * this.scale,
    ];
  }

  unproject(x, y) {
    return [
      this.lat0 - (y - this.h / 2) / this.scale / M_PER_DEG,
      this.lon0 + (x - this.w / 2) / this.scale / this.kx,
    ];
  }

  // Draws everything. `o`: {sensors, districts, wind, alerts, colour(sensor),
  // selected (alert id), here ([lat, lon]), onAlert(alert)}.
  draw(o) {
    const s = this.svg;
    s.replaceChildren();
    s.append(svg("rect", { class: "map-bg", x: 0, y: 0, width: this.w, height: this.h }));
    this.drawDistricts(o.sensors, o.districts || []);
    for (const a of o.alerts || []) this.drawAlert(a, a.alert_id === o.selected, o.onAlert);
    for (const x of o.sensors) {
      const [cx, cy] = this.project(x.lat, x.lon);
      const fill = o.colour ? o.colour(x) : "#999";
      const c = svg("circle", {
        class: "sensor" + (x.kind === "reference" ? " reference" : ""),
        cx, cy, r: x.kind === "met" ? 4 : 6, fill, "data-sensor": x.id,
      }, svg("title", {}, x.id + " · " + x.district + (x.pm25 !== null ? " · PM2.5 " + Fmt.number(x.pm25, 1) : "")));
      s.append(c);
    }
    if (o.here) {
      const [hx, hy] = this.project(o.here[0], o.here[1]);
      s.append(svg("g", { class: "here", transform: `translate(${hx},${hy})` },
        svg("circle", { r: 11, class: "here-halo" }),
        svg("circle", { r: 5, class: "here-dot" })));
    }
    this.drawNorth();
    this.drawScale();
    if (o.wind) this.drawWind(o.wind);
  }

  drawDistricts(sensors, districts) {
    const by = new Map();
    for (const x of sensors) {
      if (!by.has(x.district)) by.set(x.district, []);
      by.get(x.district).push(this.project(x.lat, x.lon));
    }
    for (const [, pts] of by) {
      const h = hull(pts);
      if (h.length >= 3) {
        this.svg.append(svg("polygon", { class: "district", points: h.map((p) => p.join(",")).join(" ") }));
      }
    }
    for (const d of districts) {
      const [x, y] = this.project(d.lat, d.lon);
      this.svg.append(svg("text", { class: "district-label", x, y: y - 12, "text-anchor": "middle" }, d.name));
    }
  }

  drawAlert(a, selected, onAlert) {
    if (!a.source) return;
    const [x, y] = this.project(a.source.lat, a.source.lon);
    const r = Math.max(4, (a.source.uncertainty_m || 0) * this.scale);
    const g = svg("g", { class: "alert-mark" + (selected ? " selected" : "") + (a.active === false ? " past" : ""), "data-alert": a.alert_id });
    g.append(svg("circle", { class: "uncertainty", cx: x, cy: y, r }));
    g.append(svg("path", { class: "source", d: `M${x} ${y - 8}L${x + 8} ${y}L${x} ${y + 8}L${x - 8} ${y}Z` }));
    g.append(svg("text", { class: "alert-label", x: x + 11, y: y - 9 }, I18N.t("type." + a.source_type)));
    g.append(svg("title", {}, a.alert_id));
    if (onAlert) {
      g.addEventListener("click", (ev) => { ev.stopPropagation(); onAlert(a); });
    }
    this.svg.append(g);
  }

  drawNorth() {
    const x = this.w - 24, y = 30;
    this.svg.append(svg("g", { class: "north", transform: `translate(${x},${y})` },
      svg("path", { d: "M0 -16L7 8L0 3L-7 8Z" }),
      svg("text", { y: 22, "text-anchor": "middle" }, I18N.lang === "zh" ? "北" : "N")));
  }

  drawScale() {
    const target = (this.w - 2 * this.pad) * 0.22 / this.scale;
    const nice = [100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000, 20000, 50000];
    const m = nice.reduce((best, n) => (Math.abs(n - target) < Math.abs(best - target) ? n : best), nice[0]);
    const px = m * this.scale, x = 12, y = this.h - 14;
    this.svg.append(svg("g", { class: "scale" },
      svg("path", { d: `M${x} ${y - 5}V${y}H${x + px}V${y - 5}` }),
      svg("text", { x: x + px / 2, y: y - 7, "text-anchor": "middle" }, Fmt.distance(m))));
  }

  drawWind(w) {
    const cx = 34, cy = 34, to = (w.from_deg + 180) % 360;
    this.svg.append(svg("g", { class: "wind" },
      svg("circle", { cx, cy, r: 22 }),
      svg("g", { transform: `translate(${cx},${cy}) rotate(${to})` },
        svg("path", { d: "M0 15V-9M-6 -5L0 -15L6 -5" })),
      svg("text", { x: cx, y: cy + 36, "text-anchor": "middle" },
        Fmt.number(w.speed_ms, 1) + (I18N.lang === "zh" ? " 米/秒" : " m/s"))));
  }
}
