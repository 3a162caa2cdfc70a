// Strings of the fleet map, case management, queues (merged into i18n.js's tables).
export const CONTROL_STRINGS = {
  zh: {
    fleet: "车队实时", alert_map: "预警分布", fleet_vehicles: "辆", fleet_moving: "行驶",
    fleet_alert: "有预警", fleet_track: "当日轨迹", fleet_points: "点", fleet_open_alerts: "未办结预警",
    fleet_state_moving: "行驶中", fleet_state_parked: "停放", fleet_state_off_hours: "非工作时间行驶",
    lg_moving: "行驶", lg_parked: "停放", lg_off_hours: "非工作时间", lg_alerting: "有预警",
    lg_stations: "加油站", lg_places: "重点场所",
    queue_all: "全部队列", queue_mine: "我的案件", queue_overdue: "逾期督办",
    assignee: "承办人", queue: "队列", escalated: "逾期督办于", proposed_by: "提请人",
    proposal_note: "提请意见", approved_by: "批准人", reassign_to: "改派给", more: "加载更多",
    four_eyes: "确认须两名核查员：一人提请，另一人批准", citizen_reports: "群众举报",
  },
  en: {
    fleet: "Live fleet", alert_map: "Alert map", fleet_vehicles: "vehicles", fleet_moving: "moving",
    fleet_alert: "with alerts", fleet_track: "Track today", fleet_points: "points",
    fleet_open_alerts: "Open alerts", fleet_state_moving: "moving", fleet_state_parked: "parked",
    fleet_state_off_hours: "moving off-hours", lg_moving: "Moving", lg_parked: "Parked",
    lg_off_hours: "Off-hours", lg_alerting: "Alert open", lg_stations: "Fuel stations",
    lg_places: "Configured places",
    queue_all: "All queues", queue_mine: "My cases", queue_overdue: "Overdue",
    assignee: "Assignee", queue: "Queue", escalated: "Escalated", proposed_by: "Proposed by",
    proposal_note: "Proposal", approved_by: "Approved by", reassign_to: "Re-assign to",
    more: "Load more", citizen_reports: "Citizen reports", four_eyes: "Confirming takes two investigators: one proposes, another approves",
  },
};
export const CONTROL_ACTIONS = {
  propose: ["提请确认", "Propose to confirm"], approve: ["批准确认", "Approve"],
  reassign: ["改派", "Re-assign"], assign: ["分派", "Assigned"], escalate: ["逾期督办", "Escalated"],
  recuse: ["回避", "Recusal"],
};
export const CONTROL_DETECTORS = { case_overdue: ["案件逾期未处置", "Case overdue"] };
