// UI strings, Chinese first. t(key) reads the current language.
import { FUNDS_DETECTORS, FUNDS_STRINGS } from "./i18n_funds.js";

import { CONTROL_ACTIONS, CONTROL_DETECTORS, CONTROL_STRINGS } from "./i18n_control.js";
const STRINGS = {
  zh: {
    brand: "阳光 实时监督", motto: "阳光是最好的防腐剂", username: "用户名", password: "密码",
    login: "登录", logout: "退出", lang_switch: "English", bad_credentials: "用户名或密码错误",
    kpi_unresolved: "未办结", kpi_critical: "严重未办结", kpi_hour: "近1小时", kpi_total: "预警总数",
    live_on: "实时", live_off: "连接中", feed: "实时预警", map: "态势图",
    chart: "24小时预警趋势", by_detector: "按规则统计", ranking: "单位“体检”排名",
    by_unit: "单位", by_district: "区域", rank_name: "名称", rank_score: "风险分",
    rank_open: "未办结", rank_severe: "严重/高", col_time: "时间", col_severity: "级别",
    col_alert: "预警", col_entity: "对象", col_where: "单位 / 区域", col_status: "状态",
    empty: "暂无预警", search: "搜索编号/对象", close: "关闭", matched: "条",
    all_detectors: "全部规则", all_severities: "全部级别", all_statuses: "全部状态",
    all_districts: "全部区域", all_units: "全部单位", since_all: "全部时间",
    since_1: "近1小时", since_24: "近24小时", since_168: "近7天",
    lg_vehicle: "车辆", lg_station: "加油站", lg_alert: "预警",
    facts: "基本信息", finding: "研判依据", evidence: "证据", case: "处置", history: "处置记录",
    note: "处置意见", note_ph: "填写处置意见（必填）", note_required: "请填写处置意见",
    viewer_readonly: "只读账号：无处置权限", action_failed: "操作失败",
    alert_id: "预警编号", subject: "事项", entity: "对象", unit: "单位", district: "区域",
    event_ts: "发生时间", raised_at: "预警时间", rule: "规则", status: "状态",
    updated_at: "更新时间", who: "处置人",
    path_km: "窗口内行驶里程", gaps: "GPS 断点", gap_total: "断点总时长", distance: "最近定位距油站",
    window: "核验窗口", station: "加油站", nearest_fix: "最近定位", txn_time: "加油时间",
    threshold_1km: "阈值 1 km", off_hours_km: "非工作时间里程", date: "日期",
    date_of_death: "死亡日期", payment_date: "发放日期", days_after_death: "死亡后天数",
    grace_end: "宽限期截止(+30天)", program: "项目", period: "期间", amount: "金额(元)",
    death_recorded: "死亡登记日期", payee: "领取人", other_payment: "另一笔发放",
    this_payment: "本笔发放", node: "审批节点", sla: "时限(工作日)", entered: "进入节点",
    deadline: "截止时间", skipped: "跳过的非工作日", timeline: "流转记录",
    liters: "加油量(升)", tank_liters: "油箱容量(升)", ratio: "比例",
    fuel_type: "所加油品", fuel_family: "油品类别", vehicle_fuel_type: "车辆油品",
    card_id: "油卡", bound_vehicle: "绑定车辆", plate_keyed: "录入车牌", binding_status: "绑定状态",
    minutes: "分钟", none: "无", kind: "类型", id: "编号", ts: "时间", track_fixes: "定位点",
  },
  en: {
    brand: "Sunlight Supervision", motto: "Sunlight is the best disinfectant",
    username: "User", password: "Password", login: "Sign in", logout: "Sign out",
    lang_switch: "中文", bad_credentials: "Wrong user name or password",
    kpi_unresolved: "Unresolved", kpi_critical: "Critical open", kpi_hour: "Last hour",
    kpi_total: "Alerts", live_on: "Live", live_off: "Connecting", feed: "Live alerts",
    map: "Situation map", chart: "Alerts, last 24 hours", by_detector: "By rule",
    ranking: "Unit health check", by_unit: "Unit", by_district: "District", rank_name: "Name",
    rank_score: "Risk score", rank_open: "Open", rank_severe: "Crit/High", col_time: "Time",
    col_severity: "Severity", col_alert: "Alert", col_entity: "Entity",
    col_where: "Unit / district", col_status: "Status", empty: "No alerts",
    search: "Search id / entity", close: "Close", matched: "alerts",
    all_detectors: "All rules", all_severities: "All severities", all_statuses: "All statuses",
    all_districts: "All districts", all_units: "All units", since_all: "Any time",
    since_1: "Last hour", since_24: "Last 24 h", since_168: "Last 7 days",
    lg_vehicle: "Vehicle", lg_station: "Station", lg_alert: "Alert",
    facts: "Facts", finding: "Finding", evidence: "Evidence", case: "Case handling",
    history: "Case history", note: "Note", note_ph: "Write a note (required)",
    note_required: "A note is required", viewer_readonly: "Read-only account: no case actions",
    action_failed: "Action failed", alert_id: "Alert id", subject: "Subject", entity: "Entity",
    unit: "Unit", district: "District", event_ts: "Happened", raised_at: "Raised",
    rule: "Rule", status: "Status", updated_at: "Updated", who: "By",
    path_km: "Path in window", gaps: "GPS gaps", gap_total: "Gap total",
    distance: "Nearest fix to station", window: "Window", station: "Station",
    nearest_fix: "Nearest fix", txn_time: "Refuel time", threshold_1km: "threshold 1 km",
    off_hours_km: "Off-hours distance", date: "Date", date_of_death: "Date of death",
    payment_date: "Payment date", days_after_death: "Days after death",
    grace_end: "Grace ends (+30 d)", program: "Programme", period: "Period",
    amount: "Amount (CNY)", death_recorded: "Death recorded", payee: "Payee",
    other_payment: "Other payment", this_payment: "This payment", node: "Node",
    sla: "SLA (working days)", entered: "Entered", deadline: "Deadline",
    skipped: "Non-working days skipped", timeline: "Timeline", liters: "Litres",
    tank_liters: "Tank (litres)", ratio: "Ratio", fuel_type: "Fuel", fuel_family: "Fuel family",
    vehicle_fuel_type: "Vehicle fuel", card_id: "Card", bound_vehicle: "Bound vehicle",
    plate_keyed: "Plate keyed in", binding_status: "Binding", minutes: "min", none: "none",
    kind: "Kind", id: "Id", ts: "Time", track_fixes: "fixes",
  },
};

const DETECTORS = {
  refuel_without_trip: ["加油无行驶轨迹", "Refuel without trip"],
  refuel_location_mismatch: ["加油地点不符", "Refuel location mismatch"],
  refuel_unverifiable: ["加油轨迹无法核验", "Refuel unverifiable (GPS gap)"],
  tank_overfill: ["加油量超油箱容量", "Tank overfill"],
  fuel_type_mismatch: ["油品与车型不符", "Fuel type mismatch"],
  card_vehicle_mismatch: ["油卡与车辆不符", "Card / vehicle mismatch"],
  off_hours_use: ["非工作时间用车", "Off-hours vehicle use"],
  payment_after_death: ["死亡后仍发放", "Payment after death"],
  duplicate_payment: ["重复发放", "Duplicate payment"],
  review_overdue: ["审批超期", "Review overdue"],
  ...FUNDS_DETECTORS,
  refuel_repeat: ["短时重复加油", "Repeated refuel"],
  restricted_place_stay: ["公车违规场所停留", "Stay at a restricted place"],
  fuel_economy_anomaly: ["油耗与里程不符", "Fuel economy anomaly"],
  welfare_ineligible: ["低保对象名下有车/企业", "Ineligible welfare recipient"],
};
Object.assign(STRINGS.zh, FUNDS_STRINGS.zh);
Object.assign(STRINGS.en, FUNDS_STRINGS.en);
const SEVERITIES = { critical: ["严重", "Critical"], high: ["高", "High"],
  medium: ["中", "Medium"], low: ["低", "Low"] };
const STATUSES = { open: ["待处理", "Open"], acknowledged: ["已受理", "Acknowledged"],
  confirmed: ["已确认问题", "Confirmed"], dismissed: ["已排除", "Dismissed"] };
const ACTIONS = { acknowledge: ["受理", "Acknowledge"], confirm: ["确认问题", "Confirm"],
  dismiss: ["排除", "Dismiss"], reopen: ["重新打开", "Reopen"] };
const ROLES = { viewer: ["值班员(只读)", "Viewer"], investigator: ["核查员", "Investigator"],
  admin: ["管理员", "Admin"] };

Object.assign(STRINGS.zh, CONTROL_STRINGS.zh);
Object.assign(STRINGS.en, CONTROL_STRINGS.en);
Object.assign(ACTIONS, CONTROL_ACTIONS);
Object.assign(DETECTORS, CONTROL_DETECTORS);

let lang = localStorage.getItem("sunlight.lang") === "en" ? "en" : "zh";

export function getLang() { return lang; }
export function setLang(next) {
  lang = next === "en" ? "en" : "zh";
  localStorage.setItem("sunlight.lang", lang);
  document.documentElement.lang = lang === "en" ? "en" : "zh-CN";
}
export function t(key) { return STRINGS[lang][key] ?? STRINGS.zh[key] ?? key; }
const pick = (table, key) => (table[key] ? table[key][lang === "en" ? 1 : 0] : key);
export const detectorName = (k) => pick(DETECTORS, k);
export const severityName = (k) => pick(SEVERITIES, k);
export const statusName = (k) => pick(STATUSES, k);
export const actionName = (k) => pick(ACTIONS, k);
export const roleName = (k) => pick(ROLES, k);
export const alertTitle = (a) => (lang === "en" ? a.title_en || a.title : a.title || a.title_en);
export const DETECTOR_KEYS = Object.keys(DETECTORS);
export const SEVERITY_KEYS = ["critical", "high", "medium", "low"];
export const STATUS_KEYS = Object.keys(STATUSES);

export function applyStatic(root = document) {
  root.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  root.querySelectorAll("[data-i18n-placeholder]").forEach((el) => {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  });
  document.title = lang === "en" ? "Sunlight · Control room" : "阳光 · 实时监督指挥台";
}
