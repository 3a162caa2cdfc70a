"""`review_overdue`: working-day deadlines with holidays, 调休, suspend/resume, re-entry."""

from __future__ import annotations

from support import review, run, subjects


def test_national_day_holiday_is_skipped() -> None:
    # Entered Tue 09-29 with 3 working days: 09-30, 10-08, 10-09 -> deadline end of 10-09.
    events = [review("H0", "acceptance", "enter", "2026-09-29T16:00:00+08:00", sla=3),
              review("H0", "acceptance", "complete", "2026-10-09T23:30:00+08:00")]
    assert run(events, until="2026-10-31T00:00:00+08:00") == []
    alerts = run(events[:1], until="2026-10-31T00:00:00+08:00")
    assert subjects(alerts) == ["H0/acceptance"]
    assert alerts[0]["event_ts"] == "2026-10-10T00:00:00+08:00"
    assert "2026-10-01" in alerts[0]["details"]["skipped_days"]


def test_make_up_saturday_counts() -> None:
    # Entered Wed 09-30 with 3: 10-08, 10-09, Sat 10-10 (调休) -> deadline end of 10-10.
    late = [review("H1", "acceptance", "enter", "2026-09-30T16:00:00+08:00", sla=3),
            review("H1", "acceptance", "complete", "2026-10-11T09:30:00+08:00")]
    alerts = run(late, until="2026-10-31T00:00:00+08:00")
    assert subjects(alerts) == ["H1/acceptance"]
    assert alerts[0]["details"]["deadline_date"] == "2026-10-10"
    on_time = [late[0], review("H1", "acceptance", "complete", "2026-10-10T18:00:00+08:00")]
    assert run(on_time, until="2026-10-31T00:00:00+08:00") == []


def test_fires_only_once_the_clock_passes_the_deadline() -> None:
    enter = review("C1", "n", "enter", "2026-09-07T10:00:00+08:00", sla=1)  # deadline 09-08 24:00
    assert run([enter], until="2026-09-08T23:59:59+08:00") == []
    assert subjects(run([enter], until="2026-09-09T00:00:00+08:00")) == ["C1/n"]


def test_suspend_and_resume() -> None:
    # Mon 09-07 + 5 -> 09-14. Suspended Wed 09-09: 3 left (10, 11, 14).
    # Resumed Wed 09-16: 17, 18, Sun 09-20 (调休) -> deadline end of 09-20.
    steps = [
        review("C2", "n", "enter", "2026-09-07T10:00:00+08:00", sla=5),
        review("C2", "n", "suspend", "2026-09-09T10:00:00+08:00"),
        review("C2", "n", "resume", "2026-09-16T10:00:00+08:00"),
    ]
    on_time = steps + [review("C2", "n", "complete", "2026-09-20T18:00:00+08:00")]
    assert run(on_time, until="2026-10-31T00:00:00+08:00") == []
    late = steps + [review("C2", "n", "complete", "2026-09-21T09:00:00+08:00")]
    alerts = run(late, until="2026-10-31T00:00:00+08:00")
    assert subjects(alerts) == ["C2/n"]
    assert alerts[0]["details"]["deadline_date"] == "2026-09-20"


def test_suspended_node_never_fires() -> None:
    steps = [review("C3", "n", "enter", "2026-09-07T10:00:00+08:00", sla=2),
             review("C3", "n", "suspend", "2026-09-08T10:00:00+08:00")]
    assert run(steps, until="2026-12-31T00:00:00+08:00") == []


def test_withdraw_cancels() -> None:
    steps = [review("C4", "n", "enter", "2026-09-07T10:00:00+08:00", sla=2),
             review("C4", "n", "withdraw", "2026-09-08T10:00:00+08:00")]
    assert run(steps, until="2026-12-31T00:00:00+08:00") == []


def test_re_entered_node_starts_over_as_number_two() -> None:
    steps = [
        review("C5", "fund", "enter", "2026-10-09T10:00:00+08:00", sla=5),
        review("C5", "fund", "complete", "2026-10-10T10:00:00+08:00"),
        review("C5", "fund", "enter", "2026-10-12T04:40:51+08:00", sla=5),
    ]
    alerts = run(steps, until="2026-10-31T00:00:00+08:00")
    assert subjects(alerts) == ["C5/fund#2"]
    assert alerts[0]["details"]["entry"] == 2


def test_steps_out_of_order_within_the_lateness() -> None:
    # The completion (before the deadline) arrives after a step of another node that
    # carries the clock 5 minutes past the deadline: still on time.
    steps = [
        review("C6", "n", "enter", "2026-09-07T10:00:00+08:00", sla=1),
        review("C6", "other", "enter", "2026-09-09T00:05:00+08:00", sla=1),
        review("C6", "n", "complete", "2026-09-08T23:58:00+08:00"),
    ]
    assert subjects(run(steps, until="2026-09-09T00:06:00+08:00")) == []
