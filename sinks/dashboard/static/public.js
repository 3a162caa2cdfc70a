// The public page: aggregated statistics, published grants, citizen reports. No login.
const S = {
  zh: { title: "阳光公示", lang: "English", search: "搜索单位、区域、项目", stats: "预警统计（按单位、区域汇总）",
    unit: "单位", district: "区域", open: "未办结", confirmed: "已确认问题", classes: "按补贴类别",
    class: "类别", alerts: "预警", grants: "已公示项目与资金", date: "日期", project: "项目",
    org: "单位/企业", department: "主管部门", amount: "金额(元)", none: "暂无公示", report: "一键举报",
    kind: "举报对象", k_vehicle: "公务车辆", k_project: "项目", k_grant: "资金拨付", k_program: "补贴项目",
    k_other: "其他", entity: "编号（车牌/项目号）", text: "问题描述", contact: "联系方式（选填，不公开）",
    submit: "提交", lookup: "查询办理进度（回执号）", query: "查询", receipt: "已受理，回执号",
    unknown: "未收录的补贴名称", total: "预警总数", st_received: "已受理", st_under_review: "已并案核查中",
    st_closed: "已办结", not_found: "未找到该回执号", failed: "提交失败" },
  en: { title: "Sunlight public", lang: "中文", search: "Search units, districts, projects",
    stats: "Alerts by unit and district", unit: "Unit", district: "District", open: "Open",
    confirmed: "Confirmed", classes: "By subsidy class", class: "Class", alerts: "Alerts",
    grants: "Published projects and funds", date: "Date", project: "Project", org: "Organisation",
    department: "Department", amount: "Amount (CNY)", none: "Nothing published", report: "Report a problem",
    kind: "About", k_vehicle: "Official vehicle", k_project: "Project", k_grant: "Grant",
    k_program: "Subsidy programme", k_other: "Other", entity: "Id (plate / project no.)",
    text: "What is wrong", contact: "Contact (optional, never published)", submit: "Submit",
    lookup: "Check progress (receipt no.)", query: "Check", receipt: "Received, receipt",
    unknown: "Subsidy names not in the catalogue", total: "Alerts in all", st_received: "Received",
    st_under_review: "Joined to a case under review", st_closed: "Closed", not_found: "No such receipt",
    failed: "Failed" },
};
let lang = localStorage.getItem("sunlight.lang") === "en" ? "en" : "zh";
let data = null;
const $ = (id) => document.getElementById(id);
const t = (k) => S[lang][k] ?? k;

function cell(text) { const td = document.createElement("td"); td.textContent = text ?? ""; return td; }
function rowOf(...cells) { const tr = document.createElement("tr"); tr.append(...cells.map(cell)); return tr; }
function fill(id, rows) { const body = $(id).querySelector("tbody"); body.replaceChildren(...rows); }

function applyLang() {
  document.documentElement.lang = lang === "en" ? "en" : "zh-CN";
  document.querySelectorAll("[data-p]").forEach((e) => { e.textContent = t(e.dataset.p); });
  document.querySelectorAll("[data-p-ph]").forEach((e) => { e.placeholder = t(e.dataset.pPh); });
  document.title = lang === "en" ? "Sunlight · public" : "阳光公示 · 一键举报";
  const receipt = $("report-receipt").dataset.receipt, status = $("lookup-status").dataset.status;
  if (receipt) $("report-receipt").textContent = `${t("receipt")} ${receipt}`;
  if (status) $("lookup-status").textContent = t(`st_${status}`);
  render();
}

function render() {
  if (!data) return;
  const q = $("pub-q").value.trim().toLowerCase();
  const keep = (r) => !q || r.name.toLowerCase().includes(q);
  $("pub-total").textContent = `${t("total")} ${data.total}`;
  fill("pub-units", data.units.filter(keep).map((r) => rowOf(r.name, r.open, r.confirmed)));
  fill("pub-districts", data.districts.filter(keep).map((r) => rowOf(r.name, r.open, r.confirmed)));
  const cls = data.alerts_by_class;
  fill("pub-classes", cls.classes.map((c) => rowOf(lang === "en" ? c.name_en : c.name, c.count)));
  const unknown = { ...cls.unknown, ...data.grants.unknown_programs };
  $("pub-unknown").textContent = Object.keys(unknown).length
    ? `${t("unknown")}: ${Object.entries(unknown).map(([k, n]) => `${k} (${n})`).join(", ")}` : "";
  const grants = data.grants.items;
  fill("pub-grants", grants.map((g) => rowOf(String(g.ts || "").slice(0, 10), g.title || g.project_id,
    g.org_name, g.department, (lang === "en" ? g.class_name_en : g.class_name) || g.program,
    Number(g.amount_cny || 0).toLocaleString())));
  $("pub-grants-empty").classList.toggle("hidden", grants.length > 0);
}

async function load() {
  const q = $("pub-q").value.trim();
  const resp = await fetch(`/api/public/stats?q=${encodeURIComponent(q)}`);
  data = await resp.json();
  render();
}

async function post(path, body) {
  const resp = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body) });
  return [resp.status, await resp.json()];
}

function wire() {
  $("pub-lang").addEventListener("click", () => {
    lang = lang === "en" ? "zh" : "en"; localStorage.setItem("sunlight.lang", lang); applyLang();
  });
  let timer = null;
  $("pub-q").addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => load().catch(console.error), 250); });
  $("report-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const [status, body] = await post("/api/public/reports", { kind: $("report-kind").value,
      entity_id: $("report-entity").value, text: $("report-text").value, contact: $("report-contact").value });
    $("report-receipt").textContent = status === 201 ? `${t("receipt")} ${body.receipt}`
      : `${t("failed")}: ${body.reason || body.error}`;
    if (status === 201) { $("report-receipt").dataset.receipt = body.receipt; $("lookup-receipt").value = body.receipt; }
  });
  $("lookup-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const resp = await fetch(`/api/public/reports/${encodeURIComponent($("lookup-receipt").value.trim())}`);
    const body = await resp.json();
    $("lookup-status").textContent = resp.ok ? t(`st_${body.status}`) : t("not_found");
    $("lookup-status").dataset.status = resp.ok ? body.status : "";
  });
}

wire();
applyLang();
load().catch(console.error);
