"""Project funds: enterprises apply, projects are granted, inspected, report, upload the
invoices they paid with the funds; the tax authority records them and the project account
pays them. Every funds rule's fraud pattern is injected with its ground truth, next to
look-alikes that must not alert (a last-second inspection, totals 0.50 apart, split
payments within the total, a different project of the same enterprise)."""

from __future__ import annotations

import random
from datetime import date, timedelta

from detectors.calendar import WorkCalendar
from detectors.funds_events import CODE_CHARSET, check_character
from streams.tools.simulator.city import DAY_MS, DISTRICTS, MINUTE_MS, City, date_ms, local_date
from streams.tools.simulator.writer import Stream

FUNDS_FRAUDS = ["dup_multi", "dup_repeat", "idle", "no_inspection", "unverified",
                "mismatch_total", "voided", "reused", "unpaid", "wrong_payee", "split_overpay"]
FUNDS_LOOKALIKES = ["dup_dissimilar", "inspection_last_second", "total_within_tolerance",
                    "split_within_total"]
PLACES = ["沈阳市浑南区", "沈北新区", "于洪区", "铁西区", "苏家屯区", "新民市", "法库县", "辽中区"]
SCALES = ["年产5万吨", "年处理3万吨", "年产20万套", "一期", "二期扩建", "新建"]
THINGS = ["冷链物流仓储中心", "光伏组件生产线", "集成电路封装测试", "机器人减速器研发",
          "数字农业示范园", "智慧园区数据中心", "生物医药中试基地", "鹅业养殖屠宰加工一体化"]
KINDS = ["建设项目", "产业化项目", "技术改造项目", "示范工程"]
DEPARTMENTS = ["发改委投资处", "发改委高技术产业处", "工业和信息化局", "科技局", "农业农村局"]
IDLE_DAYS, INSPECTION_DAYS, VERIFY_DAYS, PAY_DAYS = 60, 20, 5, 20  # the shipped rules


def credit_code(rng: random.Random) -> str:
    first = "912101" + "".join(rng.choice(CODE_CHARSET) for _ in range(11))
    return first + check_character(first)


class Funds:
    def __init__(self, city: City, rng: random.Random, out: Stream, calendar: WorkCalendar,
                 plan: dict[int, str], projects: int) -> None:
        self.city, self.rng, self.out, self.cal, self.plan = city, rng, out, calendar, plan
        self.projects = projects
        self.first = local_date(city.config.history_ms)
        self.until = city.config.until_ms
        self.sellers = [credit_code(rng) for _ in range(max(4, projects // 4))]
        self.n_invoice = 0
        self.n_txn = 0

    # --- helpers -----------------------------------------------------------------------

    def _at(self, d: date, lo: int = 9 * 60, hi: int = 17 * 60) -> int:
        return date_ms(d) + self.rng.randint(lo, hi) * MINUTE_MS + self.rng.randint(0, 59) * 1000

    def _end(self, ts: int, working_days: int) -> int:
        """The deadline: the end of the N-th working day after the local date of ts."""
        last = self.cal.add_working_days(local_date(ts), working_days)
        return date_ms(last + timedelta(days=1))

    def _emit(self, kind: str, ts: int, fields: dict[str, object]) -> bool:
        if ts >= self.until:
            return False
        self.out.emit(kind, ts, fields)
        return True

    def _due(self, detector: str, subject: str, deadline_ms: int, note: str) -> None:
        if deadline_ms <= self.until:
            self.out.truth(detector, subject, note)
        else:
            self.out.skipped.append(f"{detector} {subject} (deadline after the period)")

    def _title(self, avoid: str | None = None) -> str:
        while True:
            parts = [self.rng.choice(x) for x in (PLACES, SCALES, THINGS, KINDS)]
            if avoid is None or not any(p in avoid for p in parts):
                return "".join(parts)

    # --- the enterprises and their projects -----------------------------------------

    def run(self) -> None:
        for i in range(self.projects):
            self._enterprise(i, self.plan.get(i))

    def _enterprise(self, i: int, scenario: str | None) -> None:
        rng = self.rng
        org = credit_code(rng)
        district = rng.choice(DISTRICTS)
        dept = rng.choice(DEPARTMENTS)
        title = self._title()
        a = self._at(self.first + timedelta(days=rng.randint(0, 6 if scenario else 30)))
        app = f"APP-{i:05d}"
        base = {"org_id": org, "org_name": f"{district}企业{i}有限公司", "district": district,
                "amount_cny": float(rng.choice([500_000, 1_200_000, 3_000_000, 7_870_000]))}
        self._emit("application", a, {"application_id": app, "title": title,
                                      "department": dept, **base})
        if scenario in ("dup_multi", "dup_repeat", "dup_dissimilar"):
            later = a + rng.randint(10, 40) * DAY_MS
            other = rng.choice([d for d in DEPARTMENTS if d != dept])
            second = {"dup_multi": (title, other), "dup_repeat": (title + "（续建）", dept),
                      "dup_dissimilar": (self._title(avoid=title), dept)}[scenario]
            if self._emit("application", later, {"application_id": f"{app}-B",
                                                 "title": second[0], "department": second[1],
                                                 **base}):
                if scenario == "dup_dissimilar":
                    self.out.lookalike(scenario, f"{app}-B", "same enterprise, another project")
                else:
                    self.out.truth("duplicate_application", f"{app}-B",
                                   f"{scenario}: {second[0]} to {second[1]}")
        self._project(i, org, dept, district, a + rng.randint(1, 3) * DAY_MS, scenario)

    def _project(self, i: int, org: str, dept: str, district: str, g: int,
                 scenario: str | None) -> None:
        rng = self.rng
        project, grant = f"PRJ-{i:05d}", f"GR-{i:05d}"
        self._emit("grant", g, {"grant_id": grant, "project_id": project, "org_id": org,
                                "amount_cny": 3_000_000.0, "department": dept,
                                "district": district})
        gd = local_date(g)
        inspect_end = self._end(g, INSPECTION_DAYS)
        if scenario == "no_inspection":
            self._due("inspection_overdue", grant, inspect_end, "no inspection")
        elif scenario == "inspection_last_second":
            if self._emit("followup", inspect_end - 1000, {"followup_id": f"FU-{i:05d}-I",
                                                          "project_id": project,
                                                          "type": "inspection"}):
                self.out.lookalike(scenario, grant, "inspected one second before the deadline")
        else:
            k = rng.randint(1, INSPECTION_DAYS - 5)
            self._emit("followup", self._at(self.cal.add_working_days(gd, k)),
                       {"followup_id": f"FU-{i:05d}-I", "project_id": project,
                        "type": "inspection", "inspector": "王芳"})
        if scenario == "idle":
            self._due("funds_idle", grant, self._end(g, IDLE_DAYS), "no invoice, report or "
                      "completion after the grant")
            return
        k = rng.randint(25, IDLE_DAYS - 5)
        self._emit("followup", self._at(self.cal.add_working_days(gd, k)),
                   {"followup_id": f"FU-{i:05d}-R", "project_id": project, "type": "report"})
        self._invoice(i, org, project, gd, scenario)

    def _invoice(self, i: int, org: str, project: str, gd: date, scenario: str | None) -> None:
        rng = self.rng
        self.n_invoice += 1
        number = f"2621{self.n_invoice:016d}"
        seller = rng.choice(self.sellers)
        total = round(rng.uniform(10_000, 900_000), 2)
        issued = gd + timedelta(days=rng.randint(1, 4))
        up = self._at(issued + timedelta(days=2), 14 * 60, 17 * 60)
        upload = {"invoice_no": number, "org_id": org, "seller_id": seller,
                  "total_cny": total, "issued": issued.isoformat()}
        if not self._emit("invoice", up, {**upload, "project_id": project}):
            return
        tax_total = {"mismatch_total": total + 1.5, "total_within_tolerance": total + 0.5}.get(
            scenario, total)
        record = {"invoice_no": number, "seller_id": seller, "buyer_id": org,
                  "total_cny": round(tax_total, 2), "issued": issued.isoformat()}
        if scenario == "unverified":
            self._due("invoice_unverified", number, self._end(up, VERIFY_DAYS), "no tax record")
        else:
            self._emit("tax_invoice", self._at(issued + timedelta(days=1), 9 * 60, 11 * 60),
                       {**record, "status": "normal"})
        if scenario == "mismatch_total":
            self.out.truth("invoice_mismatch", number, "totals 1.50 apart")
        elif scenario == "total_within_tolerance":
            self.out.lookalike(scenario, number, "totals 0.50 apart")
        elif scenario == "voided" and self._emit(
                "tax_invoice", up + DAY_MS, {**record, "status": "void"}):
            self.out.truth("invoice_mismatch", number, "voided after the upload")
        if scenario == "reused":
            other = f"PRJ-{i:05d}-B"
            later = up + 3 * DAY_MS
            if self._emit("invoice", later, {**upload, "project_id": other}):
                self.out.truth("invoice_reused", f"{number}/{other}",
                               "uploaded again for another project")
                self._due("invoice_unpaid", f"{number}/{other}", self._end(later, PAY_DAYS),
                          "no payment for the second project")
        pay = {"project_id": project, "payer_id": org, "payee_id": seller,
               "invoice_no": number}
        if scenario == "unpaid":
            self._due("invoice_unpaid", f"{number}/{project}", self._end(up, PAY_DAYS),
                      "no payment")
            return
        first = up + rng.randint(1, 4) * DAY_MS
        if scenario in ("split_overpay", "split_within_total"):
            share = 0.6 if scenario == "split_overpay" else 0.5
            amounts = [round(total * share, 2), round(total - round(total * share, 2), 2)]
            if scenario == "split_overpay":
                amounts[1] = round(total * share, 2)
            for k, amount in enumerate(amounts):
                txn = self._txn()
                if self._emit("bank_payment", first + k * DAY_MS,
                              {**pay, "txn_id": txn, "amount_cny": amount}) and k == 1:
                    if scenario == "split_overpay":
                        self.out.truth("payment_invoice_mismatch", txn, "second payment passes "
                                       "the total")
                    else:
                        self.out.lookalike(scenario, txn, "two halves of the total")
            return
        txn = self._txn()
        payee = rng.choice([s for s in self.sellers if s != seller]) \
            if scenario == "wrong_payee" else seller
        if self._emit("bank_payment", first, {**pay, "txn_id": txn, "amount_cny": total,
                                              "payee_id": payee}) and scenario == "wrong_payee":
            self.out.truth("payment_invoice_mismatch", txn, "paid to someone other than "
                           "the seller")

    def _txn(self) -> str:
        self.n_txn += 1
        return f"BK-{self.n_txn:07d}"
