// Boot, login, the live feed, filters and the server-sent event stream.
import { closeDetail, openDetail, shownAlertId } from "./detail.js";
import {
  alertTitle, applyStatic, detectorName, DETECTOR_KEYS, getLang, roleName, setLang,
  SEVERITY_KEYS, severityName, STATUS_KEYS, statusName, t,
} from "./i18n.js";
import { renderChart, renderDetectors, renderKpis, renderMap, renderRanking } from "./panels.js";
import { api, clear, debounce, el, fmtTime, state } from "./util.js";
import { loadFleet, onFleet, onFleetAlert, wireFleet } from "./fleet.js";

const $ = (id) => document.getElementById(id);
const FILTERS = ["detector", "severity", "status", "district", "unit", "since", "q", "queue"];
let alerts = [];
let matched = 0;  // alerts the filter matches in all (the feed shows a page of them)
let stats = null;
let options = { detector: [], district: [], unit: [] };
let rankBy = "unit";
let source = null;

function filterQuery() {
  const p = new URLSearchParams();
  for (const f of FILTERS) {
    const v = $(`f-${f}`).value;
    if (v) p.set(f === "since" ? "since_hours" : f, v);
  }
  return p.toString();
}

function matches(a) {
  if ($("f-queue").value) return false;  // queues are kept by the server; reload shows them
  for (const f of ["detector", "severity", "status", "district", "unit"]) {
    const v = $(`f-${f}`).value;
    if (v && a[f] !== v) return false;
  }
  const q = $("f-q").value.trim().toLowerCase();
  if (q && ![a.alert_id, a.subject, a.title, a.title_en, (a.entity || {}).id]
    .some((s) => String(s ?? "").toLowerCase().includes(q))) return false;
  return true;
}

function fillSelect(id, allKey, values, label) {
  const sel = $(id);
  const keep = sel.value;
  clear(sel).append(el("option", { value: "", text: t(allKey) }),
    ...values.map((v) => el("option", { value: v, text: label ? label(v) : v })));
  sel.value = values.includes(keep) ? keep : "";
}

function fillFilters() {
  const dets = [...new Set([...DETECTOR_KEYS, ...options.detector])];
  fillSelect("f-detector", "all_detectors", dets, detectorName);
  fillSelect("f-severity", "all_severities", SEVERITY_KEYS, severityName);
  fillSelect("f-status", "all_statuses", STATUS_KEYS, statusName);
  fillSelect("f-district", "all_districts", options.district);
  fillSelect("f-unit", "all_units", options.unit);
  fillSelect("f-since", "since_all", ["1", "24", "168"], (v) => t(`since_${v}`));
  fillSelect("f-queue", "queue_all", ["mine", "overdue"], (v) => t(`queue_${v}`));
}

function row(a, fresh = false) {
  const ent = a.entity || {};
  return el("tr", { class: `sev-${a.severity}${fresh ? " fresh" : ""}`, "data-alert-id": a.alert_id,
    onclick: () => openDetail(a.alert_id) },
  el("td", { class: "t", text: fmtTime(a.raised_at) }),
  el("td", {}, el("span", { class: `sev ${a.severity}`, text: severityName(a.severity) })),
  el("td", {}, el("div", { class: "title", text: alertTitle(a) }),
    el("div", { class: "sub", text: `${detectorName(a.detector)} · ${a.subject}` })),
  el("td", { class: "mono", text: ent.id ?? "" }),
  el("td", {}, el("div", { text: a.unit ?? "" }), el("div", { class: "sub", text: a.district ?? "" })),
  el("td", {}, el("span", { class: `status ${a.status}`, "data-status": a.status, text: statusName(a.status) })));
}

function renderFeed() {
  const body = clear($("feed-body"));
  body.append(...alerts.map((a) => row(a)));
  $("feed-empty").classList.toggle("hidden", alerts.length > 0);
  $("feed-count").textContent = `${Math.max(matched, alerts.length)} ${t("matched")}`;
  $("feed-more").classList.toggle("hidden", alerts.length >= matched);
}

async function loadMore() {
  const data = await api(`/api/alerts?${filterQuery()}&offset=${alerts.length}`);
  const known = new Set(alerts.map((a) => a.alert_id));
  alerts.push(...data.alerts.filter((a) => !known.has(a.alert_id)));
  matched = data.matched;
  renderFeed();
}

function renderPanels() {
  if (!stats) return;
  renderKpis(stats);
  renderChart(stats);
  renderDetectors(stats, $("f-detector").value, (det) => { $("f-detector").value = det; reload(); });
  renderRanking(stats, rankBy);
}

async function loadStats() {
  const q = filterQuery();
  const [s, layers] = await Promise.all([api(`/api/stats?${q}`), api(`/api/map?${q}`)]);
  stats = s;
  options = s.options;
  renderPanels();
  renderMap(layers, openDetail);
}
const refreshStats = debounce(() => loadStats().catch(console.error), 300);

async function reload() {
  const data = await api(`/api/alerts?${filterQuery()}`);
  alerts = data.alerts;
  matched = data.matched;
  renderFeed();
  await loadStats();
  fillFilters();
}

function onAlert(a) {
  if (alerts.some((x) => x.alert_id === a.alert_id) || !matches(a)) return;
  alerts.unshift(a);
  matched += 1;
  $("feed-body").prepend(row(a, true));
  $("feed-empty").classList.add("hidden");
  $("feed-count").textContent = `${matched} ${t("matched")}`;
  refreshStats();
}

function onCase(c) {
  const a = alerts.find((x) => x.alert_id === c.alert_id);
  if (a) Object.assign(a, { status: c.status, updated_at: c.updated_at, note: c.note });
  document.querySelectorAll(`tr[data-alert-id="${CSS.escape(c.alert_id)}"] .status`).forEach((b) => {
    b.className = `status ${c.status}`;
    b.dataset.status = c.status;
    b.textContent = statusName(c.status);
  });
  if (shownAlertId() === c.alert_id) openDetail(c.alert_id);
  refreshStats();
}

function connectLive() {
  if (source) source.close();
  source = new EventSource("/api/events");
  let dropped = false;
  source.addEventListener("hello", () => {
    setLive(true);
    if (dropped) {  // catch up after a gap
      dropped = false; reload().catch(console.error); loadFleet().catch(console.error);
    }
  });
  source.addEventListener("alert", (ev) => { const a = JSON.parse(ev.data); onAlert(a); onFleetAlert(a); });
  source.addEventListener("fleet", (ev) => onFleet(JSON.parse(ev.data)));
  source.addEventListener("case", (ev) => onCase(JSON.parse(ev.data)));
  source.addEventListener("bye", (ev) => {
    // The server ended the stream: a dropped (slow) stream reconnects and catches up;
    // an ended session goes back to the login.
    const reason = JSON.parse(ev.data).reason;
    if (reason !== "dropped" && reason !== "shutdown") { source.close(); source = null; showLogin(); }
  });
  source.onerror = () => { dropped = true; setLive(false); };
}

function setLive(on) {
  $("live").classList.toggle("on", on);
  $("live").classList.toggle("off", !on);
  $("live-text").dataset.i18n = on ? "live_on" : "live_off";
  $("live-text").textContent = t(on ? "live_on" : "live_off");
}

function applyLang() {
  applyStatic();
  if (!state.me) return;
  $("who").textContent = `${state.me.display} · ${roleName(state.me.role)}`;
  fillFilters();
  renderFeed();
  renderPanels();
  if (shownAlertId()) openDetail(shownAlertId());
}

async function start(me) {
  state.me = me;
  state.zone = me.zone || state.zone;
  $("login").classList.add("hidden");
  $("app").classList.remove("hidden");
  applyLang();
  connectLive();
  loadFleet(openDetail).catch(console.error);
  await reload();
  const m = location.hash.match(/^#\/alert\/(.+)$/);
  if (m) openDetail(decodeURIComponent(m[1]));
}

function showLogin() {
  state.me = null;
  if (source) { source.close(); source = null; }
  $("app").classList.add("hidden");
  closeDetail();
  $("login").classList.remove("hidden");
  applyStatic();
  $("login-user").focus();
}

function wire() {
  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("login-error").textContent = "";
    try {
      const me = await api("/api/login", { method: "POST",
        body: { user: $("login-user").value, password: $("login-pass").value } });
      $("login-pass").value = "";
      await start(me);
    } catch (err) {
      $("login-error").textContent = err.status === 401 ? t("bad_credentials") : err.message;
    }
  });
  document.querySelectorAll(".lang-toggle").forEach((b) => b.addEventListener("click", () => {
    setLang(getLang() === "en" ? "zh" : "en");
    applyLang();
  }));
  $("logout").addEventListener("click", async () => {
    try { await api("/api/logout", { method: "POST" }); } finally { showLogin(); }
  });
  $("detail-close").addEventListener("click", closeDetail);
  $("feed-more").addEventListener("click", () => loadMore().catch(console.error));
  wireFleet();
  document.addEventListener("keydown", (ev) => { if (ev.key === "Escape") closeDetail(); });
  for (const f of FILTERS) {
    $(`f-${f}`).addEventListener(f === "q" ? "input" : "change", debounce(() => reload(), 250));
  }
  document.querySelectorAll(".tab[data-rank]").forEach((b) => b.addEventListener("click", () => {
    rankBy = b.dataset.rank;
    document.querySelectorAll(".tab[data-rank]").forEach((x) => x.classList.toggle("active", x === b));
    renderPanels();
  }));
  setInterval(() => { $("clock").textContent = fmtTime(Date.now(), "full"); }, 1000);
}

async function boot() {
  setLang(getLang());
  wire();
  fillFilters();
  try {
    await start(await api("/api/me"));
  } catch {
    showLogin();
  }
}

boot();
