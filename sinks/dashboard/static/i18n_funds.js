// UI strings of the project-funds views (contract/funds.md), Chinese first; merged into
// i18n.js's tables so that filters, counts and rankings know the eight new rules.
export const FUNDS_DETECTORS = {
  duplicate_application: ["多口/重复申报", "Duplicate application"],
  funds_idle: ["资金拨付后未使用", "Funds idle after grant"],
  inspection_overdue: ["未按期现场核查", "Inspection overdue"],
  invoice_unverified: ["发票税务查无记录", "Invoice not in tax records"],
  invoice_mismatch: ["发票与税务记录不符", "Invoice / tax record mismatch"],
  invoice_reused: ["一票多用", "Invoice claimed twice"],
  invoice_unpaid: ["发票无专户付款", "Invoice never paid"],
  payment_invoice_mismatch: ["付款与发票不符", "Payment / invoice mismatch"],
};

export const FUNDS_STRINGS = {
  zh: {
    this_application: "本次申报", other_application: "此前申报", similarity: "标题相似度",
    channel: "申报渠道", channel_multi: "多口申报(不同部门)", channel_repeat: "重复申报(同一部门)",
    days_apart: "间隔天数", department: "申报部门", title: "项目名称", org: "企业",
    common_marked: "高亮为两标题的最长公共子序列", granted: "拨付时间", working_days: "时限(工作日)",
    signs_in_window: "期限内的使用/核查记录", looked_for: "认可的记录类型", grant: "拨付",
    in_window: "期限内", outside_window: "期限外", upload: "企业上传", tax_version: "税务记录",
    bank_payments: "专户付款", invoice_no: "发票号码", project: "项目", seller_id: "销售方",
    buyer_id: "购买方", org_id: "购买方(上传企业)", issued: "开票日期", total_cny: "价税合计",
    status_tax: "发票状态", payer_id: "付款方", payee_id: "收款方", amount_cny: "金额",
    paid_so_far: "累计付款", disagree: "不一致字段", first_project: "首次上传项目",
    uploaded: "上传时间", txn: "交易", no_tax_record: "截止前无税务记录", tolerance: "容差(元)",
    txn_id: "交易号", project_id: "项目编号", paid_so_far_cny: "累计付款",
  },
  en: {
    this_application: "This application", other_application: "Earlier application",
    similarity: "Title similarity", channel: "Channel",
    channel_multi: "Multi-channel (another department)", channel_repeat: "Repeat (same department)",
    days_apart: "Days apart", department: "Department", title: "Project title", org: "Enterprise",
    common_marked: "Marked: the longest common subsequence of the two titles",
    granted: "Granted", working_days: "Limit (working days)",
    signs_in_window: "Records before the deadline", looked_for: "Records that count",
    grant: "Grant", in_window: "before deadline", outside_window: "outside window",
    upload: "Upload", tax_version: "Tax record", bank_payments: "Project-account payments",
    invoice_no: "Invoice", project: "Project", seller_id: "Seller", buyer_id: "Buyer",
    org_id: "Buyer (uploader)", issued: "Issued", total_cny: "Total", status_tax: "Status",
    payer_id: "Payer", payee_id: "Payee", amount_cny: "Amount", paid_so_far: "Paid so far",
    disagree: "Fields that disagree", first_project: "First uploaded for", uploaded: "Uploaded",
    txn: "Transaction", no_tax_record: "No tax record before the deadline",
    tolerance: "Tolerance (CNY)", txn_id: "Transaction", project_id: "Project",
    paid_so_far_cny: "Paid so far",
  },
};
