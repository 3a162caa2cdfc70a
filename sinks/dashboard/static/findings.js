// "Why was this raised": one explanation per detector family, drawn in SVG.
import { FUNDS_RENDERERS } from "./findings_funds.js";
import { TYPOLOGY_RENDERERS } from "./findings_typologies.js";
import { t } from "./i18n.js";
import { el, fmtNum, fmtTime, isoDate, niceStep, projector, svg, toMs } from "./util.js";

const chip = (label, value, bad = false) =>
  el("div", { class: `chip${bad ? " bad" : ""}` }, el("b", { text: value }), el("span", { text: label }));
const kv = (pairs) => el("dl", { class: "kv" },
  pairs.filter(([, v]) => v !== undefined).flatMap(([k, v]) => [el("dt", { text: t(k) }),
    el("dd", {}, v instanceof Node ? v : String(v ?? "—"))]));
const DAY = 86400000;

function trackMap(track, station, nearest) {
  const W = 640, H = 300;
  const pts = track.map((p) => [p[1], p[2]]);
  if (station) pts.push([station.lat, station.lon]);
  const P = projector(pts, W, H, 30);
  const root = svg("svg", { class: "viz", viewBox: `0 0 ${W} ${H}` });
  if (station) {
    const r = 1 / P.kmPerPx;  // 1 km decision radius
    root.append(svg("circle", { class: "radius", cx: P.x(station.lon), cy: P.y(station.lat), r }));
  }
  if (track.length > 1) {
    const d = track.map((p, i) => `${i ? "L" : "M"}${P.x(p[2]).toFixed(1)},${P.y(p[1]).toFixed(1)}`).join("");
    root.append(svg("path", { class: "trk", d }));
  }
  track.forEach((p, i) => {
    const last = i === track.length - 1;
    root.append(svg("circle", { class: i === 0 ? "start" : last ? "end" : "fix",
      cx: P.x(p[2]), cy: P.y(p[1]), r: i === 0 || last ? 4 : 2 }, svg("title", { text: fmtTime(p[0]) })));
  });
  if (station && nearest) {
    const x1 = P.x(nearest.lon), y1 = P.y(nearest.lat), x2 = P.x(station.lon), y2 = P.y(station.lat);
    root.append(svg("line", { class: "near", x1, y1, x2, y2 }),
      svg("text", { class: "lbl", x: (x1 + x2) / 2 + 6, y: (y1 + y2) / 2 - 6,
        text: `${fmtNum(nearest.distance_km)} km` }));
  }
  if (station) {
    root.append(svg("rect", { class: "station", x: P.x(station.lon) - 6, y: P.y(station.lat) - 6,
      width: 12, height: 12 }), svg("text", { class: "lbl", x: P.x(station.lon) + 9,
      y: P.y(station.lat) + 4, text: `⛽ ${station.id ?? ""}` }));
  }
  const km = niceStep(P.kmPerPx * 120, 1);
  root.append(svg("line", { x1: W - 20 - km / P.kmPerPx, x2: W - 20, y1: H - 14, y2: H - 14,
    stroke: "#7d8ca3", "stroke-width": 2 }), svg("text", { x: W - 20, y: H - 20,
    "text-anchor": "end", text: `${km} km · ${track.length} ${t("track_fixes")}` }));
  return root;
}

function timeStrip(startMs, endMs, { gaps = [], fixes = [], marks = [], shade = [] }) {
  const W = 640, H = 64, L = 10, R = 10;
  const x = (ms) => L + ((ms - startMs) / Math.max(1, endMs - startMs)) * (W - L - R);
  const root = svg("svg", { class: "viz", viewBox: `0 0 ${W} ${H}` });
  root.append(svg("rect", { class: "win", x: L, y: 14, width: W - L - R, height: 22 }));
  for (const [a, b] of shade) root.append(svg("rect", { class: "off", x: x(a), y: 14, width: x(b) - x(a), height: 22 }));
  for (const [a, b] of gaps) {
    root.append(svg("rect", { class: "gap", x: x(a), y: 14, width: Math.max(1, x(b) - x(a)), height: 22 },
      svg("title", { text: `${fmtTime(a)} – ${fmtTime(b)}` })));
  }
  for (const f of fixes) root.append(svg("line", { class: "tick", x1: x(f), x2: x(f), y1: 30, y2: 36 }));
  for (const m of marks) {
    root.append(svg("line", { class: "txn", x1: x(m.ms), x2: x(m.ms), y1: 8, y2: 42 }),
      svg("text", { class: "lbl", x: x(m.ms), y: 8, "text-anchor": "middle", text: m.label }));
  }
  root.append(svg("text", { x: L, y: 56, text: fmtTime(startMs) }),
    svg("text", { x: W - R, y: 56, "text-anchor": "end", text: fmtTime(endMs) }));
  return root;
}

function fuelGps(a) {
  const d = a.details || {};
  const track = d.track || [];
  const gaps = (d.gaps || []).map(([s, e]) => [toMs(s), toMs(e)]);
  const gapMin = gaps.reduce((n, [s, e]) => n + (e - s) / 60000, 0);
  const win = (d.window || []).map(toMs);
  const txn = (a.evidence || []).find((e) => e.kind === "fuel");
  const txnMs = txn ? toMs(txn.ts) : toMs(a.event_ts);
  const chips = el("div", { class: "chips" },
    chip(`${t("path_km")} (${t("threshold_1km")})`, `${fmtNum(d.path_km)} km`, d.path_km < 1),
    chip(t("gaps"), String(gaps.length), gaps.length > 0),
    chip(t("gap_total"), `${fmtNum(gapMin, 0)} ${t("minutes")}`, gapMin > 0));
  if (d.nearest_fix) {
    chips.append(chip(t("distance"), `${fmtNum(d.nearest_fix.distance_km)} km`, d.nearest_fix.distance_km > 1));
  }
  const parts = [chips, trackMap(track, d.station, d.nearest_fix)];
  if (win.length === 2) {
    parts.push(timeStrip(win[0], win[1], { gaps, fixes: track.map((p) => p[0]),
      marks: [{ ms: txnMs, label: t("txn_time") }] }));
  }
  parts.push(kv([["window", d.window ? `${fmtTime(d.window[0])} – ${fmtTime(d.window[1])}` : "—"],
    ["station", d.station ? `${d.station.id} (${d.station.lat}, ${d.station.lon})` : t("none")],
    ["nearest_fix", d.nearest_fix ? `${fmtTime(d.nearest_fix.ts)} · ${fmtNum(d.nearest_fix.distance_km)} km` : t("none")],
    ["gaps", gaps.length ? gaps.map(([s, e]) => `${fmtTime(s)}–${fmtTime(e, "hm")}`).join("；") : t("none")]]));
  return parts;
}

function offHours(a) {
  const d = a.details || {};
  const track = d.track || [];
  const dayStart = toMs(`${d.date}T00:00:00+08:00`);
  const shade = [[dayStart, dayStart + 6 * 3600000], [dayStart + 22 * 3600000, dayStart + DAY]];
  return [el("div", { class: "chips" }, chip(t("off_hours_km"), `${fmtNum(d.off_hours_km)} km`, true),
    chip(t("date"), d.date ?? "—")), trackMap(track, null, null),
  timeStrip(dayStart, dayStart + DAY, { shade, fixes: track.map((p) => p[0]) })];
}

function dateLine(points) {
  const W = 640, H = 90, L = 40, R = 40;
  const ms = points.map((p) => p.ms).filter((v) => !Number.isNaN(v));
  const lo = Math.min(...ms) - 5 * DAY, hi = Math.max(...ms) + 5 * DAY;
  const x = (v) => L + ((v - lo) / (hi - lo)) * (W - L - R);
  const root = svg("svg", { class: "viz", viewBox: `0 0 ${W} ${H}` });
  root.append(svg("line", { x1: L, x2: W - R, y1: 45, y2: 45, stroke: "#22324a", "stroke-width": 3 }));
  points.forEach((p, i) => {
    if (Number.isNaN(p.ms)) return;
    const up = i % 2 === 0;
    root.append(svg("circle", { class: `pt ${p.cls}`, cx: x(p.ms), cy: 45, r: 7 }),
      svg("text", { class: "lbl", x: x(p.ms), y: up ? 28 : 70, "text-anchor": "middle", text: p.label }),
      svg("text", { x: x(p.ms), y: up ? 15 : 83, "text-anchor": "middle", text: fmtTime(p.ms, "date") }));
  });
  return root;
}

function afterDeath(a) {
  const d = a.details || {};
  const death = toMs(`${d.date_of_death}T00:00:00+08:00`);
  const pay = toMs(d.payment_date?.length === 10 ? `${d.payment_date}T00:00:00+08:00` : d.payment_date);
  const recorded = d.death_recorded ? toMs(d.death_recorded.length === 10 ? `${d.death_recorded}T00:00:00+08:00` : d.death_recorded) : NaN;
  return [el("div", { class: "chips" }, chip(t("days_after_death"), String(d.days_after_death ?? "—"), true),
    chip(t("amount"), fmtNum(d.amount_cny)), chip(t("program"), d.program ?? "—")),
  dateLine([{ ms: death, label: t("date_of_death"), cls: "bad" },
    { ms: death + 30 * DAY, label: t("grace_end"), cls: "warn" },
    { ms: pay, label: t("payment_date"), cls: "bad" },
    { ms: recorded, label: t("death_recorded"), cls: "okc" }]),
  kv([["payee", d.payee_id], ["date_of_death", d.date_of_death], ["payment_date", d.payment_date],
    ["program", d.program], ["period", d.period], ["amount", fmtNum(d.amount_cny)],
    ["death_recorded", d.death_recorded ?? "—"]])];
}

function duplicate(a) {
  const d = a.details || {};
  const card = (title, id, ts) => el("div", { class: "chip" }, el("span", { text: title }),
    el("b", { class: "mono", text: id }), el("span", { text: fmtTime(ts) }));
  return [el("div", { class: "chips" }, card(t("this_payment"), a.subject, a.event_ts),
    card(t("other_payment"), d.other_payment_id, d.other_ts), chip(t("amount"), fmtNum(d.amount_cny), true)),
  kv([["payee", d.payee_id], ["program", d.program], ["period", d.period]])];
}

function overdue(a) {
  const d = a.details || {};
  const first = toMs(d.entered), last = toMs(d.deadline);
  const skipped = new Set(d.skipped_days || []);
  const days = [];
  for (let v = first - (first % DAY); v <= last + DAY && days.length < 60; v += DAY) days.push(v);
  const W = 640, cw = Math.min(36, (W - 20) / Math.max(1, days.length)), H = 70;
  const root = svg("svg", { class: "viz", viewBox: `0 0 ${W} ${H}` });
  days.forEach((v, i) => {
    const iso = isoDate(v + 12 * 3600000);
    const off = skipped.has(iso);
    const isDeadline = isoDate(last - 1) === iso;
    root.append(svg("rect", { class: `day${off ? " offday" : ""}${isDeadline ? " deadline" : ""}`,
      x: 10 + i * cw, y: 12, width: cw - 2, height: 34 }, svg("title", { text: iso })),
    svg("text", { x: 10 + i * cw + cw / 2 - 1, y: 33, "text-anchor": "middle", text: iso.slice(8, 10) }));
    if (off) root.append(svg("text", { class: "lbl", x: 10 + i * cw + cw / 2 - 1, y: 60, "text-anchor": "middle", text: "休" }));
  });
  const tl = el("ol", { class: "timeline" }, (d.timeline || []).map((e) =>
    el("li", {}, el("b", { text: e.action }), " · ", fmtTime(e.ts, "full"))));
  return [el("div", { class: "chips" }, chip(t("node"), d.node ?? "—"), chip(t("sla"), String(d.sla_working_days ?? "—")),
    chip(t("deadline"), fmtTime(d.deadline, "full"), true), chip(t("skipped"), String(skipped.size))),
  root, kv([["entered", fmtTime(d.entered, "full")], ["deadline", fmtTime(d.deadline, "full")],
    ["skipped", [...skipped].join("、") || t("none")]]), el("h3", { text: t("timeline") }), tl];
}

function overfill(a) {
  const d = a.details || {};
  const W = 640, H = 60, max = Math.max(d.liters || 0, (d.tank_liters || 0) * 1.05) * 1.1 || 1;
  const x = (v) => 10 + (v / max) * (W - 20);
  const root = svg("svg", { class: "viz", viewBox: `0 0 ${W} ${H}` },
    svg("rect", { class: "win", x: 10, y: 10, width: x(d.tank_liters) - 10, height: 16 }),
    svg("rect", { class: "bad", x: 10, y: 30, width: x(d.liters) - 10, height: 16 }),
    svg("line", { class: "txn", x1: x(d.tank_liters * 1.05), x2: x(d.tank_liters * 1.05), y1: 4, y2: 52 }),
    svg("text", { class: "lbl", x: x(d.tank_liters) + 4, y: 22, text: `${t("tank_liters")} ${d.tank_liters}` }),
    svg("text", { class: "lbl", x: 14, y: 42, text: `${t("liters")} ${d.liters}` }));
  return [el("div", { class: "chips" }, chip(t("ratio"), `${fmtNum((d.ratio ?? 0) * 100, 0)}%`, true)), root];
}

function table(keys) { return (a) => [kv(keys.map((k) => [k, (a.details || {})[k]]))]; }

const RENDERERS = {
  refuel_without_trip: fuelGps, refuel_location_mismatch: fuelGps, refuel_unverifiable: fuelGps,
  off_hours_use: offHours, payment_after_death: afterDeath, duplicate_payment: duplicate,
  review_overdue: overdue, tank_overfill: overfill,
  fuel_type_mismatch: table(["fuel_type", "fuel_family", "vehicle_fuel_type"]),
  card_vehicle_mismatch: table(["card_id", "bound_vehicle", "plate_keyed", "binding_status"]),
  ...FUNDS_RENDERERS,
  ...TYPOLOGY_RENDERERS,
};

export function renderFinding(a) {
  const fn = RENDERERS[a.detector];
  if (fn) {
    try { return fn(a); } catch (err) { console.error("finding view failed", err); }
  }
  return [el("pre", { class: "mono", text: JSON.stringify(a.details, null, 2) })];
}
