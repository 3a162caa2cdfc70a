// "Why was this raised" for the typologies (contract/typologies.md): the two refuels
// against the tank and the 120-minute window, the stay on the map (the place's circle,
// the run's fixes, arrival and departure), the month's litres against its km day by day,
// and the payment dates against the asset's holding interval. zh/en.
import { getLang } from "./i18n.js";
import { el, fmtNum, fmtTime, niceStep, projector, svg, toMs } from "./util.js";

const WORDS = {
  zh: {
    total_liters: "两次合计(升)", tank_limit: "油箱容量×1.05", apart: "间隔", window_120: "120分钟窗口",
    this_fill: "本次加油", earlier_fill: "前一次加油", stay: "停留时长", place: "场所",
    category: "类别", arrival: "到达", departure: "离开", radius: "半径", month_liters: "当月加油(升)",
    month_km: "当月里程(km)", l100: "百公里油耗", rated: "额定油耗", limit: "预警线",
    per_day: "逐日：柱=里程(km)，点=加油(升)", asset: "资产", held: "持有期间", payment: "发放日期",
    recorded: "资产登记", still_held: "至今", program: "项目", minutes: "分钟", liters: "升",
    fixes: "定位点",
    scenic: "风景名胜区", entertainment: "娱乐场所", golf: "高尔夫球场", private_club: "私人会所",
    luxury_dining: "高档餐饮", hotel: "酒店", residence: "住宅", other: "其他",
    vehicle: "车辆", company: "企业", property: "房产", housing_fund: "公积金",
  },
  en: {
    total_liters: "Together (L)", tank_limit: "Tank × 1.05", apart: "Apart", window_120: "120-min window",
    this_fill: "This refuel", earlier_fill: "Earlier refuel", stay: "Stay", place: "Place",
    category: "Category", arrival: "Arrival", departure: "Departure", radius: "Radius",
    month_liters: "Month's fuel (L)", month_km: "Month's km", l100: "L/100 km", rated: "Rated",
    limit: "Limit", per_day: "Day by day: bars = km, dots = litres", asset: "Asset",
    held: "Held", payment: "Payment date", recorded: "Asset recorded", still_held: "still held",
    program: "Programme", minutes: "min", liters: "L", fixes: "fixes",
    scenic: "scenic spot", entertainment: "entertainment", golf: "golf course",
    private_club: "private club", luxury_dining: "luxury dining", hotel: "hotel",
    residence: "residence", other: "other",
    vehicle: "vehicle", company: "company", property: "property", housing_fund: "housing fund",
  },
};
const w = (k) => WORDS[getLang()][k] ?? WORDS.zh[k] ?? k;
const DAY = 86400000;
const chip = (label, value, bad = false) =>
  el("div", { class: `chip${bad ? " bad" : ""}` }, el("b", { text: value }), el("span", { text: label }));
const kv = (pairs) => el("dl", { class: "kv" }, pairs.flatMap(([k, v]) =>
  [el("dt", { text: w(k) }), el("dd", { text: String(v ?? "—") })]));
const dayMs = (iso) => toMs(`${iso}T00:00:00+08:00`);
// a label kept inside the drawing: anchored at its end near the right edge
const anchor = (x, W) => (x > W - 150 ? "end" : x < 150 ? "start" : "middle");

function refuelRepeat(a) {
  const d = a.details || {};
  const win = (d.window || []).map(toMs);
  const limit = (d.tank_liters || 0) * (d.limit_ratio || 1.05);
  const W = 640, H = 150, L = 10, R = 10;
  const root = svg("svg", { class: "viz", viewBox: `0 0 ${W} ${H}` });
  // the window: the earlier refuel inside it, the later at its end
  if (win.length === 2) {
    const x = (ms) => L + ((ms - win[0]) / Math.max(1, win[1] - win[0])) * (W - L - R);
    root.append(svg("rect", { class: "win", x: L, y: 16, width: W - L - R, height: 20 }),
      svg("text", { class: "lbl", x: L + 4, y: 12, text: w("window_120") }));
    for (const [ts, label] of [[toMs(d.other_ts), w("earlier_fill")], [toMs(d.ts), w("this_fill")]]) {
      root.append(svg("line", { class: "txn", x1: x(ts), x2: x(ts), y1: 14, y2: 40 }),
        svg("text", { class: "lbl", x: x(ts), y: 52, "text-anchor": anchor(x(ts), W),
          text: `${label} ${fmtTime(ts)}` }));
    }
  }
  // the two fills stacked against the tank
  const max = Math.max(limit, d.total_liters || 0) * 1.1 || 1;
  const bx = (v) => L + (v / max) * (W - L - R);
  root.append(svg("rect", { class: "win", x: L, y: 70, width: bx(d.tank_liters) - L, height: 18 }),
    svg("text", { class: "lbl", x: L + 4, y: 83, text: `${w("tank_limit")} ${fmtNum(limit, 1)}` }),
    svg("rect", { class: "warn", x: L, y: 96, width: bx(d.other_liters) - L, height: 18 }),
    svg("rect", { class: "bad", x: bx(d.other_liters), y: 96, width: bx(d.liters) - L, height: 18 }),
    svg("line", { class: "txn", x1: bx(limit), x2: bx(limit), y1: 64, y2: 120 }),
    svg("text", { class: "lbl", x: L + 4, y: 136,
      text: `${d.other_txn_id} ${d.other_liters} ${w("liters")} + ${d.txn_id} ${d.liters} ${w("liters")}` }));
  return [el("div", { class: "chips" }, chip(w("total_liters"), fmtNum(d.total_liters, 1), true),
    chip(w("tank_limit"), fmtNum(limit, 1)), chip(w("apart"), `${d.minutes_apart} ${w("minutes")}`)), root];
}

function placeStay(a) {
  const d = a.details || {};
  const place = d.place || {};
  const track = d.track || [];
  const W = 640, H = 300;
  const pts = track.map((p) => [p[1], p[2]]).concat([[place.lat, place.lon]]);
  const P = projector(pts, W, H, 40);
  const root = svg("svg", { class: "viz", viewBox: `0 0 ${W} ${H}` });
  const r = Math.max(4, (place.radius_m || 0) / 1000 / P.kmPerPx);
  root.append(svg("circle", { class: "radius", cx: P.x(place.lon), cy: P.y(place.lat), r }),
    svg("text", { class: "lbl", x: P.x(place.lon) + r + 4, y: P.y(place.lat),
      text: `${place.name ?? place.id} · ${w(place.category)}` }));
  if (track.length > 1) {
    const path = track.map((p, i) => `${i ? "L" : "M"}${P.x(p[2]).toFixed(1)},${P.y(p[1]).toFixed(1)}`).join("");
    root.append(svg("path", { class: "trk", d: path }));
  }
  track.forEach((p, i) => {
    const ends = i === 0 || i === track.length - 1;
    root.append(svg("circle", { class: i === 0 ? "start" : ends ? "end" : "fix", cx: P.x(p[2]),
      cy: P.y(p[1]), r: ends ? 4 : 2 }, svg("title", { text: fmtTime(p[0]) })));
  });
  const km = niceStep(P.kmPerPx * 120, 1);
  root.append(svg("text", { x: W - 20, y: H - 12, "text-anchor": "end",
    text: `${km} km / ${fmtNum(km / P.kmPerPx, 0)} px · ${track.length} ${w("fixes")}` }));
  return [el("div", { class: "chips" }, chip(w("stay"), `${d.minutes} ${w("minutes")}`, true),
    chip(w("place"), place.name ?? place.id ?? "—"), chip(w("category"), w(place.category))), root,
  kv([["arrival", fmtTime(d.arrival, "full")], ["departure", fmtTime(d.departure, "full")],
    ["radius", `${place.radius_m} m`]])];
}

function fuelEconomy(a) {
  const d = a.details || {};
  const days = d.days || [];
  const W = 640, H = 160, L = 30, R = 30, B = 130;
  const root = svg("svg", { class: "viz", viewBox: `0 0 ${W} ${H}` });
  const maxKm = Math.max(1, ...days.map((x) => x.km)), maxL = Math.max(1, ...days.map((x) => x.liters));
  const cw = (W - L - R) / Math.max(1, days.length);
  days.forEach((x, i) => {
    const left = L + i * cw;
    const hk = (x.km / maxKm) * 100;
    root.append(svg("rect", { class: "win", x: left + 1, y: B - hk, width: Math.max(1, cw - 2), height: hk },
      svg("title", { text: `${x.date}: ${x.km} km, ${x.liters} L` })),
    svg("text", { x: left + cw / 2, y: B + 14, "text-anchor": "middle", text: x.date.slice(8, 10) }));
    if (x.liters > 0) {
      root.append(svg("circle", { class: "pt bad", cx: left + cw / 2, cy: B - (x.liters / maxL) * 100, r: 5 }),
        svg("text", { class: "lbl", x: left + cw / 2, y: B - (x.liters / maxL) * 100 - 8,
          "text-anchor": "middle", text: `${fmtNum(x.liters, 1)}` }));
    }
  });
  root.append(svg("text", { x: L, y: 12, text: w("per_day") }));
  return [el("div", { class: "chips" }, chip(w("month_liters"), fmtNum(d.liters, 1), true),
    chip(w("month_km"), fmtNum(d.km, 1)), chip(w("l100"), fmtNum(d.l_per_100km, 1), true),
    chip(w("limit"), `${fmtNum(d.limit_l_per_100km, 1)} (${w("rated")} ${d.rated_l_per_100km})`)), root];
}

function welfare(a) {
  const d = a.details || {};
  const from = dayMs(d.asset_from), pay = dayMs(d.payment_date);
  const to = d.asset_to ? dayMs(d.asset_to) + DAY : NaN;
  const recorded = toMs(d.asset_recorded);
  const known = [from, pay, recorded].concat(Number.isNaN(to) ? [] : [to]);
  const lo = Math.min(...known) - 10 * DAY, hi = Math.max(...known) + 10 * DAY;
  const W = 640, H = 112, L = 20, R = 20;
  const x = (v) => L + ((v - lo) / (hi - lo)) * (W - L - R);
  const root = svg("svg", { class: "viz", viewBox: `0 0 ${W} ${H}` });
  root.append(svg("line", { x1: L, x2: W - R, y1: 50, y2: 50, stroke: "#22324a", "stroke-width": 3 }),
    svg("rect", { class: "warn", x: x(from), y: 42, width: (Number.isNaN(to) ? W - R : x(to)) - x(from),
      height: 16, opacity: 0.5 }, svg("title", { text: w("held") })),
    svg("text", { class: "lbl", x: x(from), y: 36,
      text: `${w("held")}: ${d.asset_from} – ${d.asset_to ?? w("still_held")}` }));
  for (const [ms, label, cls, y] of [[pay, w("payment"), "bad", 80], [recorded, w("recorded"), "okc", 100]]) {
    root.append(svg("circle", { class: `pt ${cls}`, cx: x(ms), cy: 50, r: 7 }),
      svg("text", { class: "lbl", x: x(ms), y, "text-anchor": anchor(x(ms), W),
        text: `${label} ${fmtTime(ms, "date")}` }));
  }
  return [el("div", { class: "chips" }, chip(w("asset"), `${w(d.asset_kind)} ${d.asset_id}`, true),
    chip(w("program"), d.program ?? "—"), chip(w("payment"), d.payment_date ?? "—")), root];
}

export const TYPOLOGY_RENDERERS = {
  refuel_repeat: refuelRepeat, restricted_place_stay: placeStay,
  fuel_economy_anomaly: fuelEconomy, welfare_ineligible: welfare,
};

// Places on the situation map: the circle of each place an alert names.
export function drawPlaces(root, P, places) {
  for (const p of places || []) {
    const r = Math.max(3, (p.radius_m || 0) / 1000 / P.kmPerPx);
    root.append(svg("circle", { class: "place", cx: P.x(p.lon), cy: P.y(p.lat), r },
      svg("title", { text: `${p.name ?? p.id} · ${w(p.category)}` })));
  }
}
