// Small SVG charts: bars (the citizen's 24 hours) and lines (an alert's evidence).
"use strict";

// Axis layout shared by both charts.
function frame(svgEl, n, maxY, startMs, stepS) {
  const vb = svgEl.viewBox.baseVal;
  const f = { w: vb.width, h: vb.height, l: 38, r: 8, t: 10, b: 22 };
  f.pw = f.w - f.l - f.r;
  f.ph = f.h - f.t - f.b;
  f.maxY = niceMax(maxY);
  f.x = (i) => f.l + (i / Math.max(1, n)) * f.pw;
  f.y = (v) => f.t + f.ph - (v / f.maxY) * f.ph;
  svgEl.replaceChildren();
  for (let k = 0; k <= 4; k++) {
    const v = (f.maxY * k) / 4, y = f.y(v);
    svgEl.append(svg("line", { class: "grid", x1: f.l, x2: f.w - f.r, y1: y, y2: y }));
    svgEl.append(svg("text", { class: "tick", x: f.l - 4, y: y + 4, "text-anchor": "end" }, Math.round(v)));
  }
  // time ticks at round hours, about six of them
  const totalH = (n * stepS) / 3600;
  const every = [1, 2, 3, 4, 6, 12, 24].find((e) => totalH / e <= 7) || 24;
  const firstHour = Math.ceil(startMs / 3600e3) * 3600e3;
  for (let t = firstHour; t <= startMs + n * stepS * 1000; t += 3600e3) {
    const d = new Date(t);
    if (d.getHours() % every !== 0) continue;
    const x = f.l + ((t - startMs) / (n * stepS * 1000)) * f.pw;
    svgEl.append(svg("line", { class: "grid-v", x1: x, x2: x, y1: f.t, y2: f.t + f.ph }));
    svgEl.append(svg("text", { class: "tick", x, y: f.h - 6, "text-anchor": "middle" },
      String(d.getHours()).padStart(2, "0") + ":00"));
  }
  return f;
}

function niceMax(v) {
  if (!(v > 0)) return 50;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

// Bars: `values` per step, each coloured by `colour(i)`.
function barChart(svgEl, startMs, stepS, values, colour, unit) {
  const n = values.length;
  const f = frame(svgEl, n, Math.max(0, ...values.filter((v) => v !== null)), startMs, stepS);
  const bw = f.pw / Math.max(1, n);
  values.forEach((v, i) => {
    if (v === null) return;
    svgEl.append(svg("rect", {
      class: "bar", x: f.x(i) + 1, y: f.y(v), width: Math.max(1, bw - 2), height: f.t + f.ph - f.y(v),
      fill: colour(i), "data-value": v.toFixed(1),
    }, svg("title", {}, v.toFixed(1) + " " + unit)));
  });
  svgEl.append(svg("text", { class: "unit", x: 4, y: 10 }, unit));
}

// Lines: `series` = [{values, cls, label}], `marks` = [{t (ms), label}] as vertical lines.
function lineChart(svgEl, startMs, stepS, series, marks, unit) {
  const n = series.length ? series[0].values.length : 0;
  const all = series.flatMap((s) => s.values.filter((v) => v !== null));
  const f = frame(svgEl, n, Math.max(0, ...all), startMs, stepS);
  for (const m of marks || []) {
    const x = f.l + ((m.t - startMs) / (n * stepS * 1000)) * f.pw;
    if (x < f.l || x > f.w - f.r) continue;
    svgEl.append(svg("line", { class: "mark", x1: x, x2: x, y1: f.t, y2: f.t + f.ph }));
    svgEl.append(svg("text", { class: "mark-label", x: x + 3, y: f.t + 10 }, m.label));
  }
  for (const s of series) {
    let d = "", pen = false;
    s.values.forEach((v, i) => {
      if (v === null) { pen = false; return; }
      d += (pen ? "L" : "M") + f.x(i + 0.5).toFixed(1) + " " + f.y(v).toFixed(1);
      pen = true;
    });
    svgEl.append(svg("path", { class: "line " + s.cls, d, "data-sensor": s.label }, svg("title", {}, s.label)));
  }
  svgEl.append(svg("text", { class: "unit", x: 4, y: 10 }, unit));
}
