// Side panels: KPIs, the 24 h chart, counts per rule, unit ranking and the situation map.
import { detectorName, SEVERITY_KEYS, t } from "./i18n.js";
import { drawPlaces } from "./findings_typologies.js";
import { clear, el, fmtTime, niceStep, projector, svg } from "./util.js";

export function renderKpis(s) {
  document.getElementById("kpi-unresolved").textContent = s.unresolved;
  document.getElementById("kpi-critical").textContent = s.critical_open;
  document.getElementById("kpi-hour").textContent = s.last_hour;
  document.getElementById("kpi-total").textContent = s.total;
}

export function renderChart(s) {
  const root = clear(document.getElementById("chart"));
  const W = 600, H = 170, L = 28, B = 18, T = 8;
  const buckets = s.chart || [];
  const max = Math.max(1, ...buckets.map((b) => SEVERITY_KEYS.reduce((n, k) => n + b[k], 0)));
  const step = niceStep(max, 3);
  const top = Math.ceil(max / step) * step;
  const bw = (W - L - 4) / Math.max(1, buckets.length);
  const yOf = (v) => H - B - (v / top) * (H - B - T);
  for (let v = 0; v <= top; v += step) {
    root.append(svg("line", { class: "axis", x1: L, x2: W, y1: yOf(v), y2: yOf(v) }),
      svg("text", { x: L - 4, y: yOf(v) + 3, "text-anchor": "end", text: String(v) }));
  }
  buckets.forEach((b, i) => {
    let acc = 0;
    const x = L + i * bw + 1;
    for (const k of ["low", "medium", "high", "critical"]) {
      if (!b[k]) continue;
      const y0 = yOf(acc), y1 = yOf(acc + b[k]);
      root.append(svg("rect", { class: `b-${k}`, x, y: y1, width: bw - 2, height: y0 - y1 },
        svg("title", { text: `${fmtTime(b.start_ms, "hm")} ${k}: ${b[k]}` })));
      acc += b[k];
    }
    if (i % 3 === 0) {
      root.append(svg("text", { x: x + bw / 2, y: H - 4, "text-anchor": "middle",
        text: fmtTime(b.start_ms, "hm") }));
    }
  });
}

export function renderDetectors(s, active, onPick) {
  const root = clear(document.getElementById("by-detector"));
  const entries = Object.entries(s.by_detector || {});
  const max = Math.max(1, ...entries.map(([, n]) => n));
  for (const [det, n] of entries) {
    root.append(el("div", { class: `bar-row${det === active ? " active" : ""}`, title: det,
      onclick: () => onPick(det === active ? "" : det) },
    el("span", { class: "lbl", text: detectorName(det) }), el("span", { class: "n", text: n }),
    el("div", { class: "track" }, el("div", { class: "fill", style: `width:${(100 * n) / max}%` }))));
  }
  if (!entries.length) root.append(el("div", { class: "empty", text: t("empty") }));
}

export function renderRanking(s, by) {
  const body = clear(document.getElementById("rank-body"));
  const rows = (s.ranking && s.ranking[by]) || [];
  const max = Math.max(1, ...rows.map((r) => r.score));
  rows.forEach((r, i) => {
    body.append(el("tr", {}, el("td", { text: i + 1 }), el("td", { text: r.name }),
      el("td", { class: "score" }, el("div", { class: "score-bar" },
        el("i", { style: `width:${Math.max(2, (70 * r.score) / max)}%` }), el("span", { text: r.score }))),
      el("td", { text: r.open }), el("td", { text: `${r.critical}/${r.high}` })));
  });
}

export function renderMap(layers, onPick) {
  const root = clear(document.getElementById("map"));
  const W = 600, H = 380;
  const pts = [...layers.vehicles, ...layers.stations, ...layers.markers, ...(layers.places || [])]
    .map((p) => [p.lat, p.lon]);
  const P = projector(pts, W, H, 28);
  const b = P.bounds;
  const stepLon = niceStep(b.maxLon - b.minLon, 6), stepLat = niceStep(b.maxLat - b.minLat, 4);
  const digits = Math.max(0, -Math.floor(Math.log10(Math.min(stepLon, stepLat))));
  for (let lon = Math.ceil(b.minLon / stepLon) * stepLon; lon <= b.maxLon; lon += stepLon) {
    root.append(svg("line", { class: "grid-line", x1: P.x(lon), x2: P.x(lon), y1: 0, y2: H }),
      svg("text", { class: "grid-label", x: P.x(lon) + 3, y: H - 4, text: `${lon.toFixed(digits)}°E` }));
  }
  for (let lat = Math.ceil(b.minLat / stepLat) * stepLat; lat <= b.maxLat; lat += stepLat) {
    root.append(svg("line", { class: "grid-line", x1: 0, x2: W, y1: P.y(lat), y2: P.y(lat) }),
      svg("text", { class: "grid-label", x: 3, y: P.y(lat) - 3, text: `${lat.toFixed(digits)}°N` }));
  }
  drawPlaces(root, P, layers.places);
  for (const s of layers.stations) {
    root.append(svg("rect", { class: "sta", x: P.x(s.lon) - 4, y: P.y(s.lat) - 4, width: 8, height: 8 },
      svg("title", { text: `${t("station")} ${s.id}` })));
  }
  for (const v of layers.vehicles) {
    root.append(svg("circle", { class: "veh", cx: P.x(v.lon), cy: P.y(v.lat), r: 3 },
      svg("title", { text: `${v.id} ${fmtTime(v.ts_ms)}` })));
  }
  for (const m of layers.markers) {
    const done = m.status === "confirmed" || m.status === "dismissed";
    const x = P.x(m.lon), y = P.y(m.lat);
    if (!done && (m.severity === "critical" || m.severity === "high")) {
      root.append(svg("circle", { class: `halo ${m.severity}`, cx: x, cy: y, r: 6 }));
    }
    root.append(svg("circle", { class: `mk ${m.severity}${done ? " done" : ""}`, cx: x, cy: y, r: 5,
      "data-alert-id": m.alert_id, onclick: () => onPick(m.alert_id) },
    svg("title", { text: `${detectorName(m.detector)} · ${m.alert_id}` })));
  }
  // scale bar
  const km = niceStep(P.kmPerPx * 120, 1);
  const px = km / P.kmPerPx;
  root.append(svg("line", { class: "axis", x1: W - 20 - px, x2: W - 20, y1: 14, y2: 14,
    stroke: "#7d8ca3", "stroke-width": 2 }),
  svg("text", { class: "grid-label", x: W - 20, y: 28, "text-anchor": "end", text: `${km} km` }));
}
