"""The invoice detectors, one key per invoice number (三流合一): `invoice_unverified`,
`invoice_mismatch`, `invoice_reused`, `invoice_unpaid`, `payment_invoice_mismatch`.

An invoice's state keeps its uploads (one per project: the earliest by `ts` stands), the
tax authority's versions (one per `ts`) and the payments naming it (one per `txn_id`).
The comparisons are made on arrival, over everything present, so arrival order does not
matter; the two deadlines are decided once the clock reaches them. An invoice is
forgotten `keep_days` after the last thing that happened to it.
"""

from __future__ import annotations

from typing import Any

from detectors.base import Context, State
from detectors.deadlines import days_off, deadline
from detectors.events import Event
from detectors.invoice_checks import cents, cumulative, disagreements, payment_faults
from detectors.projects import routed_to
from detectors.timeutil import DAY_MS

UNVERIFIED = "invoice_unverified"
MISMATCH = "invoice_mismatch"
REUSED = "invoice_reused"
UNPAID = "invoice_unpaid"
PAYMENT = "payment_invoice_mismatch"


def _first(uploads: dict[str, Any]) -> str:
    """The project of the earliest upload (by ts; ties: the smaller project_id)."""
    return min(uploads, key=lambda p: (uploads[p]["ts"], p))


class InvoiceDetector:
    name = "invoice"
    kinds = frozenset({"invoice", "tax_invoice", "bank_payment"})

    def key(self, event: Event, ctx: Context) -> str | None:
        if event["kind"] == "invoice" and not routed_to(event, "invoice"):
            return None
        invoice: str = event["invoice_no"]
        return invoice

    def on_event(
        self, key: str, state: State | None, event: Event, ctx: Context
    ) -> State | None:
        if state is None:
            state = {"uploads": {}, "tax": {}, "pays": {}, "last": 0,
                     "raised": {UNVERIFIED: False, MISMATCH: False, REUSED: [], UNPAID: [],
                                PAYMENT: []}}
        kind, ts = event["kind"], event["ts_ms"]
        if kind == "invoice":
            pid = event["project_id"]
            known = state["uploads"].get(pid)
            if known is not None and known["ts"] <= ts:
                return state  # the same upload again: the earliest stands
            state["uploads"][pid] = {
                "ts": ts, "org": event["org_id"], "seller": event["seller_id"],
                "total": event["total_cny"], "issued": event["issued"],
                "unverified_due": deadline(ts, self._days(UNVERIFIED, ctx), ctx)[0],
                "unpaid_due": deadline(ts, self._days(UNPAID, ctx), ctx)[0],
            }
            self._check_reuse(key, state, ctx)
            self._check_mismatch(key, state, ctx)
            self._check_payments(key, state, ctx)
        elif kind == "tax_invoice":
            version = str(ts)
            if version in state["tax"]:
                return state
            state["tax"][version] = {
                "ts": ts, "seller": event["seller_id"], "buyer": event["buyer_id"],
                "total": event["total_cny"], "issued": event["issued"],
                "status": event["status"],
            }
            self._check_mismatch(key, state, ctx)
        else:
            txn = event["txn_id"]
            if txn in state["pays"]:
                return state
            state["pays"][txn] = {
                "ts": ts, "project": event["project_id"], "payer": event["payer_id"],
                "payee": event["payee_id"], "amount": event["amount_cny"],
            }
            self._check_payments(key, state, ctx)
        state["last"] = max(state["last"], ts)
        return state

    # --- deadlines ----------------------------------------------------------------------

    def on_timer(self, key: str, state: State, ctx: Context) -> State | None:
        wm = ctx.watermark_ms
        due = self._unverified_due(state)
        if due is not None and due <= wm:
            state["raised"][UNVERIFIED] = True
            self._raise_unverified(key, state, due, ctx)
        for pid in sorted(state["uploads"]):
            due = self._unpaid_due(state, pid)
            if due is not None and due <= wm:
                state["raised"][UNPAID].append(pid)
                self._raise_unpaid(key, pid, state, due, ctx)
        if wm > state["last"] + self._keep_ms(ctx):
            return None
        return state

    def next_timer(self, state: State, ctx: Context) -> int | None:
        dues = [self._unverified_due(state)]
        dues += [self._unpaid_due(state, pid) for pid in state["uploads"]]
        pending = [d for d in dues if d is not None]
        return min(pending) if pending else state["last"] + self._keep_ms(ctx) + 1

    def _unverified_due(self, state: State) -> int | None:
        """The deadline still open: none once raised or met by some version."""
        uploads = state["uploads"]
        if state["raised"][UNVERIFIED] or not uploads:
            return None
        due: int = uploads[_first(uploads)]["unverified_due"]
        if any(v["ts"] < due for v in state["tax"].values()):
            return None
        return due

    def _unpaid_due(self, state: State, pid: str) -> int | None:
        if pid in state["raised"][UNPAID]:
            return None
        due: int = state["uploads"][pid]["unpaid_due"]
        if any(p["project"] == pid and p["ts"] < due for p in state["pays"].values()):
            return None
        return due

    def _days(self, detector: str, ctx: Context) -> int:
        return int(ctx.config.rule(detector).num("working_days"))

    def _keep_ms(self, ctx: Context) -> int:
        return int(ctx.config.rule(REUSED).num("keep_days") * DAY_MS)

    def _tolerance(self, detector: str, ctx: Context) -> int:
        return cents(ctx.config.rule(detector).num("tolerance_cny"))

    # --- on arrival ---------------------------------------------------------------------

    def _check_reuse(self, key: str, state: State, ctx: Context) -> None:
        uploads, raised = state["uploads"], state["raised"][REUSED]
        first = _first(uploads)
        for pid in sorted(uploads, key=lambda p: (uploads[p]["ts"], p)):
            if pid == first or pid in raised:
                continue
            raised.append(pid)
            up, orig = uploads[pid], uploads[first]
            self._emit(REUSED, f"{key}/{pid}", key, up["ts"], state, ctx, {
                "project_id": pid,
                "uploaded": ctx.zone.iso(up["ts"]),
                "org_id": up["org"],
                "first_project_id": first,
                "first_uploaded": ctx.zone.iso(orig["ts"]),
                "first_org_id": orig["org"],
            })

    def _check_mismatch(self, key: str, state: State, ctx: Context) -> None:
        if state["raised"][MISMATCH]:
            return
        tolerance = self._tolerance(MISMATCH, ctx)
        found = []
        for pid, up in sorted(state["uploads"].items()):
            for version in sorted(state["tax"].values(), key=lambda v: v["ts"]):
                for d in disagreements(up, version, tolerance):
                    found.append(dict(d, project_id=pid, tax_ts=version["ts"],
                                      pair_ts=max(up["ts"], version["ts"])))
        if not found:
            return
        state["raised"][MISMATCH] = True
        at = min(f["pair_ts"] for f in found)
        for f in found:
            f["tax_ts"] = ctx.zone.iso(f["tax_ts"])
            del f["pair_ts"]
        self._emit(MISMATCH, key, key, at, state, ctx, {
            "fields": sorted({f["field"] for f in found}),
            "mismatches": found,
            "tolerance_cny": ctx.config.rule(MISMATCH).num("tolerance_cny"),
        })

    def _check_payments(self, key: str, state: State, ctx: Context) -> None:
        tolerance = self._tolerance(PAYMENT, ctx)
        raised = state["raised"][PAYMENT]
        for pid, up in sorted(state["uploads"].items()):
            pays = [(t, p) for t, p in state["pays"].items() if p["project"] == pid]
            faults = payment_faults(up, pays, tolerance)
            for txn in sorted(faults, key=lambda t: (state["pays"][t]["ts"], t)):
                if txn in raised:
                    continue
                raised.append(txn)
                pay = state["pays"][txn]
                running = next(s for t, _, s in cumulative(pays) if t == txn)
                self._emit(PAYMENT, txn, key, pay["ts"], state, ctx, {
                    "txn_id": txn,
                    "project_id": pid,
                    "amount_cny": pay["amount"],
                    "paid_so_far_cny": running,
                    "total_cny": up["total"],
                    "fields": [f["field"] for f in faults[txn]],
                    "faults": faults[txn],
                })

    # --- alerts -------------------------------------------------------------------------

    def _raise_unverified(self, key: str, state: State, due: int, ctx: Context) -> None:
        uploads = state["uploads"]
        first = _first(uploads)
        days = self._days(UNVERIFIED, ctx)
        _, last = deadline(uploads[first]["ts"], days, ctx)
        self._emit(UNVERIFIED, key, key, due, state, ctx, {
            "project_id": first,
            "uploaded": ctx.zone.iso(uploads[first]["ts"]),
            "working_days": days,
            "deadline": ctx.zone.iso(due),
            "deadline_date": last.isoformat(),
            "skipped_days": days_off(uploads[first]["ts"], last, ctx),
        })

    def _raise_unpaid(self, key: str, pid: str, state: State, due: int, ctx: Context) -> None:
        up = state["uploads"][pid]
        days = self._days(UNPAID, ctx)
        _, last = deadline(up["ts"], days, ctx)
        self._emit(UNPAID, f"{key}/{pid}", key, due, state, ctx, {
            "project_id": pid,
            "uploaded": ctx.zone.iso(up["ts"]),
            "total_cny": up["total"],
            "working_days": days,
            "deadline": ctx.zone.iso(due),
            "deadline_date": last.isoformat(),
            "skipped_days": days_off(up["ts"], last, ctx),
        })

    def _emit(
        self, detector: str, subject: str, invoice: str, event_ts: int, state: State,
        ctx: Context, details: dict[str, Any],
    ) -> None:
        """One alert with the invoice's three flows side by side in `details`."""
        iso = ctx.zone.iso
        uploads = [
            {"project_id": pid, "ts": iso(u["ts"]), "org_id": u["org"], "seller_id": u["seller"],
             "total_cny": u["total"], "issued": u["issued"]}
            for pid, u in sorted(state["uploads"].items(), key=lambda x: (x[1]["ts"], x[0]))
        ]
        versions = [
            {"ts": iso(v["ts"]), "seller_id": v["seller"], "buyer_id": v["buyer"],
             "total_cny": v["total"], "issued": v["issued"], "status": v["status"]}
            for v in sorted(state["tax"].values(), key=lambda v: v["ts"])
        ]
        by_project: dict[str, list[tuple[str, Any]]] = {}
        for t, p in state["pays"].items():
            by_project.setdefault(p["project"], []).append((t, p))
        rows = [
            ((p["ts"], t), {"txn_id": t, "ts": iso(p["ts"]), "project_id": p["project"],
                            "payer_id": p["payer"], "payee_id": p["payee"],
                            "amount_cny": p["amount"], "paid_so_far_cny": s})
            for pays in by_project.values() for t, p, s in cumulative(pays)
        ]
        payments = [row for _, row in sorted(rows, key=lambda r: r[0])]
        evidence = [ctx.evidence("invoice", f"{invoice}/{pid}", u["ts"])
                    for pid, u in sorted(state["uploads"].items())]
        evidence += [ctx.evidence("tax_invoice", invoice, v["ts"])
                     for v in sorted(state["tax"].values(), key=lambda v: v["ts"])]
        evidence += [ctx.evidence("bank_payment", t, p["ts"])
                     for t, p in sorted(state["pays"].items())]
        ctx.emit(
            detector,
            subject,
            entity=("invoice", invoice),
            event_ts_ms=event_ts,
            details={"invoice_no": invoice, **details, "uploads": uploads,
                     "tax_versions": versions, "payments": payments},
            evidence=evidence,
            unit=None,
            district=None,
        )
