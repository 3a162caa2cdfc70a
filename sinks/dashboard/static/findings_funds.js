// "Why was this raised" for the project-funds rules (contract/funds.md): the two titles with
// their common characters marked; the grant's timeline against its working-day deadline;
// the invoice's upload, tax record versions and bank payments side by side.
import { t } from "./i18n.js";
import { el, fmtNum, fmtTime, isoDate, svg, toMs } from "./util.js";

const DAY = 86400000;
const chip = (label, value, bad = false) =>
  el("div", { class: `chip${bad ? " bad" : ""}` }, el("b", { text: value }), el("span", { text: label }));
const kv = (pairs) => el("dl", { class: "kv" },
  pairs.flatMap(([k, v]) => [el("dt", { text: t(k) }),
    el("dd", {}, v instanceof Node ? v : String(v ?? "—"))]));

// Which positions of a and b belong to one longest common subsequence (the contract's
// similarity is 2 × LCS / (len a + len b)).
export function lcsMarks(a, b) {
  const A = [...a], B = [...b];
  const n = A.length, m = B.length;
  const L = Array.from({ length: n + 1 }, () => new Uint16Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      L[i][j] = A[i] === B[j] ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
    }
  }
  const inA = new Set(), inB = new Set();
  for (let i = 0, j = 0; i < n && j < m;) {
    if (A[i] === B[j]) { inA.add(i); inB.add(j); i++; j++; } else if (L[i + 1][j] >= L[i][j + 1]) i++; else j++;
  }
  return { A, B, inA, inB, lcs: L[0][0] };
}

function markedTitle(chars, marks) {
  return el("div", { class: "title-cmp" }, chars.map((c, i) =>
    el("span", { class: marks.has(i) ? "common" : "only", text: c })));
}

function duplicateApplication(a) {
  const d = a.details || {};
  const { A, B, inA, inB } = lcsMarks(d.title_normalised || "", d.other_title_normalised || "");
  const side = (key, id, title, norm, marks, dept, amount, ts) => el("div", { class: "side" },
    el("h4", { text: `${t(key)} · ${id}` }), el("div", { class: "muted", text: title }),
    markedTitle(norm, marks), kv([["department", dept], ["amount", fmtNum(amount)],
      ["ts", fmtTime(ts, "full")]]));
  return [
    el("div", { class: "chips" },
      chip(t("similarity"), fmtNum(d.similarity, 3), true),
      chip(t("channel"), t(d.channel === "multi" ? "channel_multi" : "channel_repeat"), true),
      chip(t("days_apart"), fmtNum(d.days_apart, 1))),
    el("div", { class: "side-by-side" },
      side("this_application", d.application_id, d.title, A, inA, d.department, d.amount_cny, d.ts),
      side("other_application", d.other_application_id, d.other_title, B, inB, d.other_department,
        d.other_amount_cny, d.other_ts)),
    el("p", { class: "muted", text: t("common_marked") }),
    kv([["org", `${d.org_name ?? ""} ${d.org_id ?? ""}`]]),
  ];
}

function grantTimeline(a) {
  const d = a.details || {};
  const first = toMs(d.granted), last = toMs(d.deadline);
  const skipped = new Set(d.skipped_days || []);
  const signs = (d.timeline || []).map((s) => ({ ...s, ms: toMs(s.ts) }));
  const lo = first - 3 * DAY;
  const hi = Math.max(last, ...signs.map((s) => s.ms).filter((v) => !Number.isNaN(v))) + 3 * DAY;
  const W = 640, H = 110, L = 10, R = 10;
  const x = (ms) => L + ((ms - lo) / Math.max(1, hi - lo)) * (W - L - R);
  const root = svg("svg", { class: "viz", viewBox: `0 0 ${W} ${H}` });
  for (let v = lo - (lo % DAY); v <= hi; v += DAY) {
    const iso = isoDate(v + 12 * 3600000);
    root.append(svg("rect", { class: `day${skipped.has(iso) ? " offday" : ""}`, x: x(v), y: 30,
      width: Math.max(1, x(v + DAY) - x(v) - 0.5), height: 30 }, svg("title", { text: iso })));
  }
  root.append(svg("line", { class: "txn", x1: x(first), x2: x(first), y1: 18, y2: 72 }),
    svg("text", { class: "lbl", x: x(first), y: 14, "text-anchor": "middle", text: t("grant") }),
    svg("line", { class: "txn deadline", x1: x(last), x2: x(last), y1: 18, y2: 72,
      stroke: "#e5484d", "stroke-width": 2 }),
    svg("text", { class: "lbl", x: x(last), y: 14, "text-anchor": "middle", text: t("deadline") }));
  for (const s of signs) {
    if (Number.isNaN(s.ms)) continue;
    root.append(svg("circle", { class: `pt ${s.in_window ? "okc" : "warn"}`, cx: x(s.ms), cy: 84, r: 5 },
      svg("title", { text: `${s.type} ${s.id} ${fmtTime(s.ts, "full")}` })));
  }
  root.append(svg("text", { x: L, y: 104, text: fmtTime(lo, "date") }),
    svg("text", { x: W - R, y: 104, "text-anchor": "end", text: fmtTime(hi, "date") }));
  const inWindow = signs.filter((s) => s.in_window).length;
  return [
    el("div", { class: "chips" }, chip(t("working_days"), String(d.working_days ?? "—")),
      chip(t("deadline"), fmtTime(d.deadline, "full"), true), chip(t("skipped"), String(skipped.size)),
      chip(t("signs_in_window"), String(inWindow), true)),
    root,
    kv([["granted", fmtTime(d.granted, "full")], ["deadline", fmtTime(d.deadline, "full")],
      ["looked_for", (d.looked_for || []).join(", ")], ["amount", fmtNum(d.amount_cny)],
      ["department", d.department], ["skipped", [...skipped].join("、") || t("none")]]),
    el("h3", { text: t("timeline") }),
    el("ol", { class: "timeline" }, signs.map((s) => el("li", {}, el("b", { text: s.type }),
      ` · ${s.id} · ${fmtTime(s.ts, "full")} · ${t(s.in_window ? "in_window" : "outside_window")}`))),
  ];
}

// The disagreeing cells: {row key -> Set(field)} for uploads (by project), tax versions
// (by ts) and payments (by txn).
function badCells(a) {
  const d = a.details || {};
  const bad = { upload: {}, tax: {}, pay: {} };
  const add = (table, key, field) => { (table[key] ||= new Set()).add(field); };
  for (const m of d.mismatches || []) {
    const upField = m.field === "buyer_id" ? "org_id" : m.field;
    add(bad.upload, m.project_id, upField);
    add(bad.tax, m.tax_ts, m.field);
  }
  if (a.detector === "payment_invoice_mismatch") {
    for (const f of d.faults || []) {
      add(bad.pay, d.txn_id, f.field === "amount_cny" ? "paid_so_far_cny" : f.field);
      const upField = { payee_id: "seller_id", payer_id: "org_id", amount_cny: "total_cny" }[f.field];
      add(bad.upload, d.project_id, upField);
    }
  }
  if (a.detector === "invoice_reused") add(bad.upload, d.project_id, "project_id");
  if (a.detector === "invoice_unpaid") add(bad.upload, d.project_id, "project_id");
  return bad;
}

function flowTable(titleKey, rows, cols, marks, keyOf) {
  const fmtCell = (c, v) => (typeof v === "number" ? fmtNum(v) : c === "ts" ? fmtTime(v, "full") : v);
  return el("div", { class: "flow" }, el("h4", { text: t(titleKey) }),
    rows.length ? el("table", { class: "small flow-table" },
      el("thead", {}, el("tr", {}, cols.map((c) => el("th", { text: t(c) })))),
      el("tbody", {}, rows.map((r) => {
        const bad = marks[keyOf(r)] || new Set();
        return el("tr", {}, cols.map((c) => el("td", {
          class: `${bad.has(c) ? "diff" : ""} ${c.endsWith("_id") || c === "project_id" ? "mono" : ""}`,
          text: fmtCell(c, r[c]) ?? "—" })));
      })))
      : el("div", { class: "muted", text: t("none") }));
}

function invoiceFlows(a) {
  const d = a.details || {};
  const bad = badCells(a);
  const chips = el("div", { class: "chips" }, chip(t("invoice_no"), d.invoice_no ?? a.subject));
  if (d.fields) chips.append(chip(t("disagree"), d.fields.map((f) => t(f)).join("、"), true));
  if (d.deadline) chips.append(chip(t("deadline"), fmtTime(d.deadline, "full"), true));
  if (d.first_project_id) chips.append(chip(t("first_project"), d.first_project_id));
  if (a.detector === "payment_invoice_mismatch") {
    chips.append(chip(t("paid_so_far"), fmtNum(d.paid_so_far_cny)), chip(t("total_cny"), fmtNum(d.total_cny)));
  }
  return [
    chips,
    el("div", { class: "flows" },
      flowTable("upload", d.uploads || [],
        ["project_id", "ts", "org_id", "seller_id", "issued", "total_cny"], bad.upload, (r) => r.project_id),
      flowTable("tax_version", d.tax_versions || [],
        ["ts", "buyer_id", "seller_id", "issued", "total_cny", "status"], bad.tax, (r) => r.ts),
      flowTable("bank_payments", d.payments || [],
        ["txn_id", "ts", "project_id", "payer_id", "payee_id", "amount_cny", "paid_so_far_cny"],
        bad.pay, (r) => r.txn_id)),
  ];
}

export const FUNDS_RENDERERS = {
  duplicate_application: duplicateApplication,
  funds_idle: grantTimeline,
  inspection_overdue: grantTimeline,
  invoice_unverified: invoiceFlows,
  invoice_mismatch: invoiceFlows,
  invoice_reused: invoiceFlows,
  invoice_unpaid: invoiceFlows,
  payment_invoice_mismatch: invoiceFlows,
};
