// The alert detail drawer: facts, the finding, evidence, case handling and its history.
import { renderFinding } from "./findings.js";
import { actionName, alertTitle, detectorName, severityName, statusName, t } from "./i18n.js";
import { api, clear, el, fmtTime, state } from "./util.js";

let current = null;  // alert id shown

const statusBadge = (s) => el("span", { class: `status ${s}`, "data-status": s, text: statusName(s) });

export function shownAlertId() { return current; }

export function closeDetail() {
  current = null;
  document.getElementById("detail").classList.add("hidden");
  if (location.hash.startsWith("#/alert/")) history.replaceState(null, "", "#/");
}

export async function openDetail(alertId) {
  current = alertId;
  document.getElementById("detail").classList.remove("hidden");
  if (location.hash !== `#/alert/${alertId}`) history.replaceState(null, "", `#/alert/${alertId}`);
  let data;
  try {
    data = await api(`/api/alerts/${encodeURIComponent(alertId)}`);
  } catch (err) {
    clear(document.getElementById("detail-body")).append(el("div", { class: "error", text: err.message }));
    return;
  }
  if (current === alertId) render(data);
}

function render({ alert: a, history, actions, assignable, reports }) {
  const head = clear(document.getElementById("detail-title"));
  head.append(el("span", { class: `sev ${a.severity}`, text: severityName(a.severity) }),
    el("span", { id: "detail-heading", text: alertTitle(a) }), statusBadge(a.status));
  const body = clear(document.getElementById("detail-body"));
  const ent = a.entity || {};
  body.append(
    section("facts", el("dl", { class: "kv" }, ...[
      ["rule", `${detectorName(a.detector)} (${(a.rule || {}).name}@${(a.rule || {}).version})`],
      ["alert_id", a.alert_id], ["subject", a.subject], ["entity", `${ent.kind}: ${ent.id}`],
      ["unit", a.unit], ["district", a.district], ["event_ts", fmtTime(a.event_ts, "full")],
      ["raised_at", fmtTime(a.raised_at, "full")],
    ].flatMap(([k, v]) => [el("dt", { text: t(k) }), el("dd", { class: k.endsWith("id") || k === "entity" ? "mono" : "", text: v ?? "—" })]))),
    section("finding", ...renderFinding(a)),
    section("evidence", el("table", { class: "small" },
      el("thead", {}, el("tr", {}, el("th", { text: t("kind") }), el("th", { text: t("id") }), el("th", { text: t("ts") }))),
      el("tbody", {}, (a.evidence || []).map((e) => el("tr", {}, el("td", { text: e.kind }),
        el("td", { class: "mono", text: e.id }), el("td", { text: fmtTime(e.ts, "full") })))))),
    section("case", caseMeta(a), caseBox(a, actions, assignable || [])),
    reports && reports.length ? section("citizen_reports", el("ul", { id: "reports", class: "timeline" },
      reports.map((r) => el("li", { "data-receipt": r.receipt }, el("b", { class: "mono", text: r.receipt }),
        ` · ${fmtTime(r.created_ms, "full")}`, r.text ? el("div", { class: "muted", text: r.text }) : null)))) : null,
    section("history", historyList(history)),
  );
}

function section(key, ...children) {
  return el("div", { class: "section" }, el("h3", { text: t(key) }), ...children);
}

function caseMeta(a) {
  const c = a.case || {};
  const rows = [["assignee", c.assignee], ["queue", c.queue],
    ["deadline", c.deadline ? fmtTime(c.deadline, "full") : ""],
    ["escalated", c.escalated ? fmtTime(c.escalated, "full") : ""],
    ["proposed_by", c.proposed_by], ["proposal_note", c.proposal_note], ["approved_by", c.approved_by]]
    .filter(([, v]) => v);
  if (!rows.length) return null;
  return el("dl", { class: "kv case-meta", id: "case-meta" }, ...rows.flatMap(([k, v]) => [
    el("dt", { text: t(k) }),
    el("dd", { id: `case-${k}`, class: k === "escalated" ? "overdue" : "", text: v })]));
}

function caseBox(a, actions, assignable = []) {
  const box = el("div", { class: "case-box" },
    el("dl", { class: "kv" }, el("dt", { text: t("status") }), el("dd", {}, statusBadge(a.status)),
      el("dt", { text: t("updated_at") }), el("dd", { text: a.updated_at ? fmtTime(a.updated_at, "full") : "—" }),
      el("dt", { text: t("note") }), el("dd", { id: "case-note", text: a.note || "—" })));
  if (!state.me || !state.me.can_act) {
    box.append(el("p", { id: "readonly", class: "readonly", text: t("viewer_readonly") }));
    return box;
  }
  if (!actions.length) return box;
  const note = el("textarea", { id: "note-input", placeholder: t("note_ph"), maxlength: "2000" });
  const target = el("select", { id: "reassign-to" },
    ...assignable.map((u) => el("option", { value: `user:${u}`, text: u })));
  const msg = el("div", { class: "error", id: "action-error" });
  const buttons = actions.map((act) => el("button", {
    class: `btn act-${act}`, id: `act-${act}`, "data-action": act, text: actionName(act),
    onclick: async (ev) => {
      if (!note.value.trim()) { msg.textContent = t("note_required"); return; }
      ev.target.disabled = true;
      try {
        await api(`/api/alerts/${encodeURIComponent(a.alert_id)}/action`,
          { method: "POST", body: { action: act, note: note.value, to: act === "reassign" ? target.value : undefined } });
        await openDetail(a.alert_id);
      } catch (err) {
        msg.textContent = `${t("action_failed")}: ${err.message}`;
        ev.target.disabled = false;
      }
    },
  }));
  box.append(el("label", { text: t("note") }), note,
    actions.includes("reassign") ? el("label", { text: t("reassign_to") }, target) : null,
    el("div", { class: "case-actions" }, buttons),
    actions.includes("propose") || actions.includes("approve") ? el("p", { class: "muted", text: t("four_eyes") }) : null,
    msg);
  return box;
}

function historyList(history) {
  if (!history.length) return el("div", { class: "muted", text: t("none") });
  return el("ol", { class: "timeline", id: "history" }, history.map((h) => el("li", {},
    el("b", { text: actionName(h.action) }), ` · ${h.who} · ${fmtTime(h.ts, "full")}`,
    h.note ? el("div", { class: "muted", text: h.note }) : null,
    el("div", { class: "mono muted", text: `#${h.seq} ${String(h.hash).slice(0, 16)}…` }))));
}
