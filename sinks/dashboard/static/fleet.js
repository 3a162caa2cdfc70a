// The live fleet map: every vehicle's latest position on a canvas (no tile server), moved
// by `fleet` server-sent events, coloured by state, over the registry's fuel stations
// (diamonds) and configured places (dashed circles of their radius); a click shows the
// day's track and the vehicle's open alerts.
import { t } from "./i18n.js";
import { api, clear, el, fmtTime } from "./util.js";

const COLORS = { moving: "#3ddc84", parked: "#7d8da3", off_hours: "#ffb020", alert: "#ff4d4f" };
const SITE_COLORS = { station: "#4ea1ff", place: "#c77dff" };
const vehicles = new Map();  // id -> {id, ts, lat, lon, state, alerts}
let sites = [];  // {kind: station|place, id, name, lat, lon, category?, radius_m?}
let drawnSites = [];  // [kind, id, x, y] of the last frame, for tests and consoles
let bounds = null;
let selected = null;  // {id, track, alerts}
let dirty = false;
let animUntil = 0;  // vehicles glide to each new fix over TWEEN_MS, drawn every frame
const TWEEN_MS = 1000;
let onOpenAlert = () => {};
const frames = [];

export function fleetStats() {
  const now = performance.now();
  while (frames.length && frames[0] < now - 2000) frames.shift();
  return { vehicles: vehicles.size, fps: frames.length / 2 };
}
window.__fleet = fleetStats;
// For tests and operators' consoles: positions as drawn, and where a vehicle is on screen.
window.__fleetSnapshot = () => [...vehicles.values()].map((v) => [v.id, v.ts, v.lat, v.lon, v.state]);
window.__fleetSites = () => drawnSites.map((d) => [...d]);
window.__fleetPixel = (id) => {
  const v = vehicles.get(id), c = canvas();
  if (!v || !bounds) return null;
  const P = projector(c), r = c.getBoundingClientRect(), [lat, lon] = drawnAt(v, performance.now());
  return [r.left + P.x(lon), r.top + P.y(lat)];
};

function drawnAt(v, now) {
  if (v.from === undefined) return [v.lat, v.lon];
  const k = Math.min(1, (now - v.t0) / TWEEN_MS);
  return [v.from[0] + (v.lat - v.from[0]) * k, v.from[1] + (v.lon - v.from[1]) * k];
}

function canvas() { return document.getElementById("fleet"); }

function colour(v) { return v.alerts > 0 ? COLORS.alert : (COLORS[v.state] || COLORS.parked); }

function fitBounds() {
  let minLat = Infinity, maxLat = -Infinity, minLon = Infinity, maxLon = -Infinity;
  for (const v of [...vehicles.values(), ...sites]) {
    minLat = Math.min(minLat, v.lat); maxLat = Math.max(maxLat, v.lat);
    minLon = Math.min(minLon, v.lon); maxLon = Math.max(maxLon, v.lon);
  }
  if (!Number.isFinite(minLat)) return null;
  const padLat = Math.max(0.005, (maxLat - minLat) * 0.08), padLon = Math.max(0.005, (maxLon - minLon) * 0.08);
  return { minLat: minLat - padLat, maxLat: maxLat + padLat, minLon: minLon - padLon, maxLon: maxLon + padLon };
}

function projector(c) {
  const w = c.width, h = c.height, b = bounds;
  const kx = w / (b.maxLon - b.minLon), ky = h / (b.maxLat - b.minLat);
  const k = Math.min(kx, ky);
  const ox = (w - k * (b.maxLon - b.minLon)) / 2, oy = (h - k * (b.maxLat - b.minLat)) / 2;
  return { x: (lon) => ox + (lon - b.minLon) * k, y: (lat) => h - oy - (lat - b.minLat) * k };
}

function draw() {
  dirty = false;
  const now = performance.now();
  const c = canvas();
  if (!c || !c.offsetParent) return;
  const rect = c.getBoundingClientRect();
  if (c.width !== Math.round(rect.width) || c.height !== Math.round(rect.height)) {
    c.width = Math.round(rect.width); c.height = Math.round(rect.height);
  }
  frames.push(performance.now());
  const g = c.getContext("2d");
  g.clearRect(0, 0, c.width, c.height);
  if (!bounds) { bounds = fitBounds(); if (!bounds) return; }
  const P = projector(c);
  drawSites(g, P, c);
  if (selected && selected.track.length > 1) {
    g.strokeStyle = "#35d0e0"; g.lineWidth = 2; g.beginPath();
    selected.track.forEach(([, lat, lon], i) => (i ? g.lineTo(P.x(lon), P.y(lat)) : g.moveTo(P.x(lon), P.y(lat))));
    g.stroke();
  }
  const byColour = new Map();
  for (const v of vehicles.values()) {
    const col = colour(v);
    if (!byColour.has(col)) byColour.set(col, []);
    byColour.get(col).push(v);
  }
  for (const [col, list] of byColour) {  // squares, one fill style per colour: cheap
    g.fillStyle = col;                    // even in software rendering at 100k dots
    for (const v of list) {
      const [lat, lon] = drawnAt(v, now);
      g.fillRect(P.x(lon) - 2, P.y(lat) - 2, 4, 4);
    }
  }
  if (selected) {
    const v = vehicles.get(selected.id);
    if (v) {
      const [lat, lon] = drawnAt(v, now);
      g.strokeStyle = "#fff"; g.lineWidth = 2; g.beginPath(); g.arc(P.x(lon), P.y(lat), 7, 0, 6.2832); g.stroke();
    }
  }
  const counts = { moving: 0, parked: 0, off_hours: 0, alert: 0 };
  for (const v of vehicles.values()) counts[v.alerts > 0 ? "alert" : v.state] = (counts[v.alerts > 0 ? "alert" : v.state] || 0) + 1;
  const legend = document.getElementById("fleet-count");
  if (legend) legend.textContent = `${vehicles.size} ${t("fleet_vehicles")} · ${t("fleet_moving")} ${counts.moving} · ${t("fleet_alert")} ${counts.alert}`;
}

function drawSites(g, P, c) {
  // places: a dashed circle of the place's radius (at least 4 px); stations: a diamond
  const pxPerDeg = Math.abs(P.y(bounds.minLat) - P.y(bounds.minLat + 1));
  const drawn = [];
  g.save();
  g.setLineDash([4, 3]); g.lineWidth = 1.5; g.strokeStyle = SITE_COLORS.place;
  for (const s of sites) {
    if (s.kind !== "place") continue;
    const x = P.x(s.lon), y = P.y(s.lat), r = Math.max(4, ((s.radius_m || 0) / 111320) * pxPerDeg);
    if (x < -r || y < -r || x > c.width + r || y > c.height + r) continue;
    g.beginPath(); g.arc(x, y, r, 0, 6.2832); g.stroke();
    drawn.push(["place", s.id, x, y]);
  }
  g.setLineDash([]); g.fillStyle = SITE_COLORS.station;
  for (const s of sites) {
    if (s.kind !== "station") continue;
    const x = P.x(s.lon), y = P.y(s.lat);
    if (x < 0 || y < 0 || x > c.width || y > c.height) continue;
    g.beginPath(); g.moveTo(x, y - 5); g.lineTo(x + 4, y); g.lineTo(x, y + 5); g.lineTo(x - 4, y); g.closePath(); g.fill();
    drawn.push(["station", s.id, x, y]);
  }
  g.restore();
  drawnSites = drawn;
  c.dataset.stations = String(drawn.filter((d) => d[0] === "station").length);
  c.dataset.places = String(drawn.filter((d) => d[0] === "place").length);
}

function frame() {
  draw();
  if (performance.now() < animUntil) { dirty = true; requestAnimationFrame(frame); }
}

function schedule() { if (!dirty) { dirty = true; requestAnimationFrame(frame); } }

export async function loadFleet(openAlert) {
  if (openAlert) onOpenAlert = openAlert;
  const data = await api("/api/fleet");
  vehicles.clear();
  for (const v of data.vehicles) vehicles.set(v.id, v);
  sites = (data.sites || []).filter((x) => Number.isFinite(x.lat) && Number.isFinite(x.lon));
  bounds = fitBounds();
  schedule();
}

export function onFleet(msg) {
  const now = performance.now();
  for (const v of msg.v) {
    const old = vehicles.get(v.id);
    const from = old ? drawnAt(old, now) : undefined;
    vehicles.set(v.id, { ...v, alerts: old ? old.alerts : 0, from, t0: now });
    if (bounds && (v.lat < bounds.minLat || v.lat > bounds.maxLat || v.lon < bounds.minLon || v.lon > bounds.maxLon)) bounds = null;
  }
  animUntil = now + TWEEN_MS;
  if (selected && msg.v.some((v) => v.id === selected.id)) {
    const v = vehicles.get(selected.id);
    selected.track.push([v.ts, v.lat, v.lon]);
  }
  schedule();
}

export function onFleetAlert(a) {
  const vid = (a.details || {}).vehicle_id || ((a.entity || {}).kind === "vehicle" ? a.entity.id : null);
  const v = vid && vehicles.get(vid);
  if (v && (a.status === "open" || !a.status)) { v.alerts += 1; schedule(); }
}

async function pick(ev) {
  const c = canvas();
  if (!bounds) return;
  const rect = c.getBoundingClientRect();
  const P = projector(c);
  const x = ev.clientX - rect.left, y = ev.clientY - rect.top;
  let best = null, bestD = 12 * 12;
  for (const v of vehicles.values()) {
    const d = (P.x(v.lon) - x) ** 2 + (P.y(v.lat) - y) ** 2;
    if (d < bestD) { best = v; bestD = d; }
  }
  if (!best) { selected = null; showInfo(null); schedule(); return; }
  const data = await api(`/api/fleet/${encodeURIComponent(best.id)}`);
  selected = { id: best.id, track: data.track, alerts: data.alerts };
  showInfo(data);
  schedule();
}

function showInfo(data) {
  const box = clear(document.getElementById("fleet-info"));
  box.classList.toggle("hidden", !data);
  if (!data) return;
  const v = data.vehicle || {};
  box.append(
    el("div", { class: "fleet-info-head" }, el("b", { id: "fleet-vehicle", text: selected.id }),
      el("span", { class: "muted", text: ` ${t(`fleet_state_${v.state || "parked"}`)} · ${fmtTime(v.ts, "full")}` })),
    el("div", { id: "fleet-track", class: "muted", text: `${t("fleet_track")}: ${data.track.length} ${t("fleet_points")} (${data.day})` }),
    el("div", { class: "muted", text: `${t("fleet_open_alerts")}: ${data.alerts.length}` }),
    el("ul", { id: "fleet-alerts", class: "fleet-alerts" }, data.alerts.map((a) => el("li", {},
      el("a", { href: `#/alert/${a.alert_id}`, "data-alert-id": a.alert_id, text: `${a.title}`,
        onclick: (e) => { e.preventDefault(); onOpenAlert(a.alert_id); } })))),
  );
}

export function wireFleet() {
  canvas().addEventListener("click", (ev) => pick(ev).catch(console.error));
  window.addEventListener("resize", schedule);
  document.querySelectorAll(".tab[data-map]").forEach((b) => b.addEventListener("click", () => {
    const which = b.dataset.map;
    document.querySelectorAll(".tab[data-map]").forEach((x) => x.classList.toggle("active", x === b));
    document.getElementById("fleet-wrap").classList.toggle("hidden", which !== "fleet");
    document.getElementById("map").classList.toggle("hidden", which !== "alerts");
    schedule();
  }));
}
