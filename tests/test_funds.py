"""The project-funds detectors, each trap of the contract: deadlines to the second and
over National Day, reports before the grant, tax versions in either order, totals either
side of the tolerance, late uploads and payments, lower-case codes, normalised titles,
364 vs 366 days, and state that is forgotten."""

from __future__ import annotations

from funds_support import ORG, SELLER, application, bank, followup, grant, invoice, tax
from support import engine, run, subjects

UNTIL = "2027-06-30T00:00:00+08:00"
INV = "26211000000000000001"


def of(alerts: list[dict], detector: str) -> list[dict]:
    return [a for a in alerts if a["detector"] == detector]


# --- working-day deadlines ---------------------------------------------------------------


def test_inspection_one_second_before_and_exactly_at_the_deadline() -> None:
    # Granted Mon 2026-05-11: the 20th working day is Mon 06-08, the deadline 06-09 00:00.
    g = grant("G1", "P1", "2026-05-11T10:00:00+08:00")
    before = followup("F1", "P1", "inspection", "2026-06-08T23:59:59+08:00")
    at = followup("F1", "P1", "inspection", "2026-06-09T00:00:00+08:00")
    assert subjects(run([g, before], UNTIL), "inspection_overdue") == []
    alerts = of(run([g, at], UNTIL), "inspection_overdue")
    assert subjects(alerts) == ["G1"]
    assert alerts[0]["event_ts"] == "2026-06-09T00:00:00+08:00"
    assert alerts[0]["details"]["deadline_date"] == "2026-06-08"


def test_deadline_fires_only_once_the_clock_reaches_it() -> None:
    eng = engine()
    g = grant("G1", "P1", "2026-05-11T10:00:00+08:00")
    assert run([g], "2026-06-08T23:59:59+08:00", eng) == []
    assert subjects(run([], "2026-06-09T00:00:00+08:00", eng)) == ["G1"]


def test_grant_before_national_day() -> None:
    # Granted Tue 09-29: 09-30, then 10-01..10-07 off, 10-08, 10-09, Sat 10-10 (调休) ...
    # the 20th working day is 11-02; counting weekdays only would have ended 10-27.
    g = grant("G9", "P9", "2026-09-29T15:00:00+08:00")
    late_looking = followup("F9", "P9", "inspection", "2026-10-30T10:00:00+08:00")
    assert subjects(run([g, late_looking], UNTIL), "inspection_overdue") == []
    alerts = of(run([g], UNTIL), "inspection_overdue")
    d = alerts[0]["details"]
    assert d["deadline_date"] == "2026-11-02"
    assert "2026-10-01" in d["skipped_days"] and "2026-10-10" not in d["skipped_days"]


def test_report_dated_before_the_grant_does_not_count() -> None:
    g = grant("G1", "P1", "2026-05-11T10:00:00+08:00")
    early = followup("F0", "P1", "report", "2026-05-11T09:59:59+08:00")
    after = followup("F1", "P1", "completion", "2026-05-11T10:00:00+08:00")
    alerts = of(run([early, g], UNTIL), "funds_idle")
    assert subjects(alerts) == ["G1"]
    assert alerts[0]["details"]["deadline_date"] == "2026-08-04"  # the 60th working day
    assert [t["in_window"] for t in alerts[0]["details"]["timeline"]] == [False]
    assert of(run([early, g, after], UNTIL), "funds_idle") == []


def test_an_inspection_is_not_use_and_an_invoice_upload_is() -> None:
    g = grant("G1", "P1", "2026-05-11T10:00:00+08:00")
    insp = followup("F1", "P1", "inspection", "2026-05-20T10:00:00+08:00")
    assert subjects(run([g, insp], UNTIL)) == ["G1"]  # funds_idle only
    upload = invoice(INV, "P1", "2026-06-01T10:00:00+08:00")
    found = run([g, insp, upload, tax(INV, "2026-06-01T11:00:00+08:00"),
                 bank("B1", INV, "P1", "2026-06-02T10:00:00+08:00")], UNTIL)
    assert found == []


def test_each_grant_of_a_project_is_decided_on_its_own() -> None:
    events = [grant("G1", "P1", "2026-03-02T10:00:00+08:00"),
              followup("F1", "P1", "inspection", "2026-03-03T10:00:00+08:00"),
              followup("F2", "P1", "report", "2026-03-20T10:00:00+08:00"),
              grant("G2", "P1", "2026-05-11T10:00:00+08:00")]
    alerts = run(events, UNTIL)
    assert [(a["detector"], a["subject"]) for a in alerts] == [
        ("inspection_overdue", "G2"), ("funds_idle", "G2")]
    assert alerts[0]["entity"] == {"kind": "project", "id": "P1"}
    assert alerts[0]["unit"] == "发改委投资处" and alerts[0]["district"] == "沈北新区"


# --- the invoice's three flows -----------------------------------------------------------


def test_tax_record_before_and_at_the_deadline() -> None:
    # Uploaded Tue 09-29: 5 working days end Mon 10-12, the deadline 10-13 00:00.
    up = invoice(INV, "P1", "2026-09-29T10:00:00+08:00", issued="2026-09-28")
    paid = bank("B1", INV, "P1", "2026-09-30T10:00:00+08:00")
    on_time = tax(INV, "2026-10-12T23:59:59+08:00", issued="2026-09-28")
    at = tax(INV, "2026-10-13T00:00:00+08:00", issued="2026-09-28")
    assert run([up, paid, on_time], UNTIL) == []
    alerts = run([up, paid, at], UNTIL)
    assert subjects(alerts) == [INV]
    assert alerts[0]["details"]["deadline_date"] == "2026-10-12"
    assert alerts[0]["entity"] == {"kind": "invoice", "id": INV}


def test_void_version_before_the_normal_one() -> None:
    up = invoice(INV, "P1", "2026-05-09T10:00:00+08:00")
    normal = tax(INV, "2026-05-08T18:00:00+08:00")
    void = tax(INV, "2026-05-12T09:00:00+08:00", status="void")
    pay = bank("B1", INV, "P1", "2026-05-10T10:00:00+08:00")
    assert run([normal, up, pay], UNTIL) == []
    in_order = of(run([normal, up, pay, void], UNTIL), "invoice_mismatch")
    void_first = of(run([void, normal, up, pay], UNTIL), "invoice_mismatch")
    upload_last = of(run([void, normal, pay, up], UNTIL), "invoice_mismatch")
    assert [a["alert_id"] for a in in_order] == [a["alert_id"] for a in void_first] == [
        a["alert_id"] for a in upload_last]
    assert len(in_order) == 1
    assert in_order[0]["details"]["fields"] == ["status"]
    assert [v["status"] for v in in_order[0]["details"]["tax_versions"]] == ["normal", "void"]


def test_totals_half_a_yuan_and_one_and_a_half_apart() -> None:
    up = invoice(INV, "P1", "2026-05-09T10:00:00+08:00", total=10_000.00)
    pay = bank("B1", INV, "P1", "2026-05-10T10:00:00+08:00", amount=10_000.00)
    close = tax(INV, "2026-05-08T18:00:00+08:00", total=10_000.50)
    exact = tax(INV, "2026-05-08T18:00:00+08:00", total=9_999.00)
    far = tax(INV, "2026-05-08T18:00:00+08:00", total=10_001.50)
    assert run([close, up, pay], UNTIL) == []
    assert run([exact, up, pay], UNTIL) == []  # 1.00 apart is not "more than 1.00"
    alerts = run([far, up, pay], UNTIL)
    assert subjects(alerts, "invoice_mismatch") == [INV]
    assert alerts[0]["details"]["mismatches"] == [
        {"field": "total_cny", "upload": 10_000.0, "tax": 10_001.5, "project_id": "P1",
         "tax_ts": "2026-05-08T18:00:00+08:00"}]


def test_every_disagreeing_field_is_named() -> None:
    up = invoice(INV, "P1", "2026-05-09T10:00:00+08:00")
    wrong = tax(INV, "2026-05-08T18:00:00+08:00", seller=ORG, buyer=SELLER, issued="2026-05-07",
                total=2000.0, status="red")
    (alert,) = of(run([up, wrong], UNTIL), "invoice_mismatch")
    assert alert["details"]["fields"] == ["buyer_id", "issued", "seller_id", "status",
                                          "total_cny"]


def test_same_invoice_for_two_projects_the_earlier_upload_late() -> None:
    second = invoice(INV, "P-B", "2026-05-20T10:00:00+08:00")
    first = invoice(INV, "P-A", "2026-05-11T10:00:00+08:00")
    noise = followup("F1", "P-X", "report", "2026-05-21T10:00:00+08:00")  # moves the clock
    alerts = of(run([second, noise, first], UNTIL), "invoice_reused")
    assert subjects(alerts) == [f"{INV}/P-B"]
    assert alerts[0]["details"]["first_project_id"] == "P-A"
    assert alerts[0]["severity"] == "critical"
    assert subjects(of(run([first, second], UNTIL), "invoice_reused")) == [f"{INV}/P-B"]


def test_same_instant_reuse_raises_the_larger_project_id() -> None:
    both = [invoice(INV, "P-2", "2026-05-11T10:00:00+08:00"),
            invoice(INV, "P-1", "2026-05-11T10:00:00+08:00")]
    assert subjects(of(run(both, UNTIL), "invoice_reused")) == [f"{INV}/P-2"]


def test_unpaid_per_project_and_a_payment_naming_another_project() -> None:
    up = invoice(INV, "P1", "2026-05-11T10:00:00+08:00")
    ok = tax(INV, "2026-05-11T11:00:00+08:00", issued="2026-05-08")
    elsewhere = bank("B1", INV, "P9", "2026-05-12T10:00:00+08:00")
    alerts = run([up, ok, elsewhere], UNTIL)
    assert subjects(alerts) == [f"{INV}/P1"]
    assert alerts[0]["detector"] == "invoice_unpaid"
    assert alerts[0]["event_ts"] == "2026-06-09T00:00:00+08:00"
    on_time = bank("B2", INV, "P1", "2026-06-08T23:59:59+08:00")
    assert run([up, ok, on_time], UNTIL) == []


def test_split_payments_passing_the_total_out_of_order() -> None:
    up = invoice(INV, "P1", "2026-05-11T10:00:00+08:00", total=100.0)
    ok = tax(INV, "2026-05-11T11:00:00+08:00")
    p1 = bank("B1", INV, "P1", "2026-05-12T10:00:00+08:00", amount=40.0)
    p2 = bank("B2", INV, "P1", "2026-05-13T10:00:00+08:00", amount=40.0)
    p3 = bank("B3", INV, "P1", "2026-05-14T10:00:00+08:00", amount=21.01)
    p4 = bank("B4", INV, "P1", "2026-05-15T10:00:00+08:00", amount=5.0)
    in_order = of(run([up, ok, p1, p2, p3, p4], UNTIL), "payment_invoice_mismatch")
    assert subjects(in_order) == ["B3", "B4"]
    assert in_order[0]["details"]["paid_so_far_cny"] == 101.01
    reversed_ = of(run([up, ok, p4, p3, p2, p1], UNTIL), "payment_invoice_mismatch")
    assert subjects(reversed_) == ["B3", "B4"]
    payments_first = of(run([p3, p1, p4, p2, ok, up], UNTIL), "payment_invoice_mismatch")
    assert subjects(payments_first) == ["B3", "B4"]
    exactly = bank("B3", INV, "P1", "2026-05-14T10:00:00+08:00", amount=21.0)
    assert of(run([up, ok, p1, p2, exactly], UNTIL), "payment_invoice_mismatch") == []


def test_payment_to_someone_else_and_from_another_account() -> None:
    up = invoice(INV, "P1", "2026-05-11T10:00:00+08:00")
    ok = tax(INV, "2026-05-11T11:00:00+08:00")
    wrong_payee = bank("B1", INV, "P1", "2026-05-12T10:00:00+08:00", amount=500.0, payee=ORG)
    wrong_payer = bank("B2", INV, "P1", "2026-05-13T10:00:00+08:00", amount=500.0,
                       payer=SELLER)
    alerts = of(run([wrong_payee, wrong_payer, up, ok], UNTIL), "payment_invoice_mismatch")
    assert [a["details"]["fields"] for a in alerts] == [["payee_id"], ["payer_id"]]
    assert alerts[0]["details"]["faults"] == [
        {"field": "payee_id", "payment": ORG, "upload": SELLER}]


def test_the_same_upload_twice_the_earliest_stands() -> None:
    later = invoice(INV, "P1", "2026-05-12T00:03:00+08:00")
    earlier = invoice(INV, "P1", "2026-05-11T23:58:00+08:00")  # within the lateness
    ok = tax(INV, "2026-05-12T11:00:00+08:00")
    alerts = run([later, earlier, ok], UNTIL)
    assert subjects(alerts) == [f"{INV}/P1"]  # unpaid, from the earlier upload's deadline
    assert alerts[0]["event_ts"] == "2026-06-09T00:00:00+08:00"


# --- duplicate applications --------------------------------------------------------------


def test_lower_case_credit_code_is_the_same_enterprise() -> None:
    a = application("A1", "2026-03-02T10:00:00+08:00")
    b = application("A2", "2026-04-02T10:00:00+08:00", org=ORG.lower(), department="科技局")
    alerts = run([a, b], UNTIL)
    assert subjects(alerts) == ["A2"]
    assert alerts[0]["entity"] == {"kind": "org", "id": ORG}
    assert alerts[0]["details"]["channel"] == "multi"


def test_titles_equal_after_nfkc_and_punctuation_removal() -> None:
    a = application("A1", "2026-03-02T10:00:00+08:00", title="沈北新区年处理3万吨冷链物流仓储中心")
    b = application("A2", "2026-03-09T10:00:00+08:00",
                    title="沈北新区 （年处理３万） 吨冷链物流仓储中心。")
    (alert,) = run([a, b], UNTIL)
    assert alert["details"]["similarity"] == 1.0
    assert alert["details"]["channel"] == "repeat"


def test_364_and_366_days() -> None:
    a = application("A1", "2025-03-02T10:00:00+08:00")
    b364 = application("A2", "2026-03-01T10:00:00+08:00")
    b366 = application("A2", "2026-03-03T10:00:00+08:00")
    assert subjects(run([a, b364], UNTIL)) == ["A2"]
    assert run([a, b366], UNTIL) == []


def test_dissimilar_titles_and_other_enterprises_do_not_pair() -> None:
    a = application("A1", "2026-03-02T10:00:00+08:00", title="沈阳市冷链物流仓储中心建设项目")
    other = application("A2", "2026-03-03T10:00:00+08:00", org=SELLER)
    unlike = application("A3", "2026-03-04T10:00:00+08:00", title="浑南区集成电路封装测试示范工程")
    assert run([a, other, unlike], UNTIL) == []


def test_earlier_application_delivered_late_raises_the_later_once() -> None:
    later = application("A2", "2026-04-02T10:00:00+08:00")
    noise = application("A9", "2026-05-02T10:00:00+08:00", org=SELLER)
    earlier = application("A1", "2026-03-02T10:00:00+08:00")
    alerts = run([later, noise, earlier, earlier, later], UNTIL)
    assert subjects(alerts) == ["A2"]
    assert alerts[0]["details"]["other_application_id"] == "A1"


def test_three_of_a_kind_and_the_most_similar_other() -> None:
    a = application("A1", "2026-03-02T10:00:00+08:00", title="沈阳市冷链物流仓储中心建设项目一期")
    b = application("A2", "2026-03-03T10:00:00+08:00", title="沈阳市冷链物流仓储中心建设项目")
    c = application("A3", "2026-03-04T10:00:00+08:00", title="沈阳市冷链物流仓储中心建设项目")
    alerts = run([a, b, c], UNTIL)
    assert subjects(alerts) == ["A2", "A3"]
    third = next(x for x in alerts if x["subject"] == "A3")
    assert third["details"]["other_application_id"] == "A2"  # 1.0 beats A1's 0.94
    assert third["details"]["similarity"] == 1.0
    # Out of order, the same two are raised, each once (details: what was known then).
    assert subjects(run([c, a, b, c], UNTIL)) == ["A2", "A3"]


# --- bounded state -----------------------------------------------------------------------


def test_closed_things_are_forgotten() -> None:
    eng = engine()
    run([application("A1", "2026-01-05T10:00:00+08:00"),
         grant("G1", "P1", "2026-01-05T10:00:00+08:00"),
         followup("F1", "P1", "inspection", "2026-01-06T10:00:00+08:00"),
         invoice(INV, "P1", "2026-01-07T10:00:00+08:00"),
         tax(INV, "2026-01-07T11:00:00+08:00"),
         bank("B1", INV, "P1", "2026-01-08T10:00:00+08:00")], "2026-06-30T00:00:00+08:00", eng)
    names = [d.name for d in eng.detectors]
    held = {n: len(eng.states[names.index(n)]) for n in ("org", "project", "invoice")}
    assert held == {"org": 1, "project": 1, "invoice": 1}
    run([], "2027-01-09T00:00:00+08:00", eng)
    held = {n: len(eng.states[names.index(n)]) for n in ("org", "project", "invoice")}
    assert held == {"org": 0, "project": 0, "invoice": 0}
