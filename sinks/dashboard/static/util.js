// Small helpers: DOM building (never innerHTML with data), API calls, time formatting.
import { getLang } from "./i18n.js";

export const state = { me: null, zone: "Asia/Shanghai" };
const SVGNS = "http://www.w3.org/2000/svg";

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  setAttrs(node, attrs);
  append(node, children);
  return node;
}

export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVGNS, tag);
  setAttrs(node, attrs);
  append(node, children);
  return node;
}

function setAttrs(node, attrs) {
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.setAttribute("class", v);
    else if (k === "text") node.textContent = v;
    else if (k === "style") node.style.cssText = v;  // CSSOM: allowed by the strict CSP
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v);
  }
}

function append(node, children) {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }

export async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && state.me) headers["X-CSRF-Token"] = state.me.csrf;
  const resp = await fetch(path, { method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body) });
  let data = {};
  try { data = await resp.json(); } catch { /* empty body */ }
  if (!resp.ok) {
    const err = new Error(data.error || `HTTP ${resp.status}`);
    err.status = resp.status;
    throw err;
  }
  return data;
}

const formatters = new Map();
function fmt(kind) {
  const key = `${getLang()}:${kind}:${state.zone}`;
  if (!formatters.has(key)) {
    const base = { timeZone: state.zone, hour12: false };
    const opts = {
      full: { ...base, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit",
        minute: "2-digit", second: "2-digit" },
      short: { ...base, month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
        second: "2-digit" },
      hm: { ...base, hour: "2-digit", minute: "2-digit" },
      date: { ...base, year: "numeric", month: "2-digit", day: "2-digit" },
    }[kind];
    formatters.set(key, new Intl.DateTimeFormat(getLang() === "en" ? "en-GB" : "zh-CN", opts));
  }
  return formatters.get(key);
}

export function toMs(v) {
  if (v === null || v === undefined || v === "") return NaN;
  if (typeof v === "number") return v;
  return Date.parse(v);
}
export function fmtTime(v, kind = "short") {
  const ms = toMs(v);
  return Number.isNaN(ms) ? String(v ?? "") : fmt(kind).format(new Date(ms));
}
export function fmtNum(n, digits = 2) {
  return typeof n === "number" ? n.toLocaleString(undefined, { maximumFractionDigits: digits }) : "—";
}
export function debounce(fn, ms) {
  let timer = null;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}

// Equirectangular projection of lat/lon points into a w x h box with padding.
export function projector(points, w, h, pad = 24) {
  let [minLat, maxLat, minLon, maxLon] = [Infinity, -Infinity, Infinity, -Infinity];
  for (const [lat, lon] of points) {
    minLat = Math.min(minLat, lat); maxLat = Math.max(maxLat, lat);
    minLon = Math.min(minLon, lon); maxLon = Math.max(maxLon, lon);
  }
  if (!Number.isFinite(minLat)) { [minLat, maxLat, minLon, maxLon] = [41.7, 41.9, 123.3, 123.55]; }
  const k = Math.cos(((minLat + maxLat) / 2) * Math.PI / 180);
  let spanX = Math.max((maxLon - minLon) * k, 0.004);
  let spanY = Math.max(maxLat - minLat, 0.004);
  const scale = Math.min((w - 2 * pad) / spanX, (h - 2 * pad) / spanY);
  spanX = (w - 2 * pad) / scale; spanY = (h - 2 * pad) / scale;
  const cx = (minLon + maxLon) / 2, cy = (minLat + maxLat) / 2;
  const x = (lon) => w / 2 + (lon - cx) * k * scale;
  const y = (lat) => h / 2 - (lat - cy) * scale;
  const kmPerPx = 111.195 / scale;
  return { x, y, kmPerPx, bounds: { minLon: cx - spanX / k / 2, maxLon: cx + spanX / k / 2,
    minLat: cy - spanY / 2, maxLat: cy + spanY / 2 } };
}

export function niceStep(span, target = 6) {
  const raw = span / target;
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (raw <= m * p) return m * p;
  return 10 * p;
}

const isoFmt = new Map();
export function isoDate(ms) {
  if (!isoFmt.has(state.zone)) {
    isoFmt.set(state.zone, new Intl.DateTimeFormat("en-CA", { timeZone: state.zone,
      year: "numeric", month: "2-digit", day: "2-digit" }));
  }
  return isoFmt.get(state.zone).format(new Date(ms));
}
