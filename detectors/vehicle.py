"""The vehicle state machine: one key per vehicle, holding its GPS track, the fuel
transactions waiting for a GPS decision, and the local dates awaiting the off-hours check.

Fuel transactions are keyed by the vehicle checked (the card's binding at `ts`, else the
plate keyed in), so that a vehicle's GPS and its fuel meet in one state.

The state keeps only what is not empty: `fixes` (a packed track) always; `pending`,
`done`, `days`, `decided_upto` and `next` when they hold something. A key with nothing
pending but decided transactions (a mistyped plate, a `card:` key) wakes `DONE_KEPT_MS`
after its last one and, with no fixes left, is forgotten. A vehicle gone quiet keeps its
key (and, as before, the fixes of the last `track_retention` until its next timer).
"""

from __future__ import annotations

from detectors import fuel_economy, off_hours, place_stay, refuel, refuel_repeat, track
from detectors.base import Context, State
from detectors.events import Event
from detectors.timeutil import DAY_MS

DONE_KEPT_MS = 2 * DAY_MS


class VehicleDetector:
    name = "vehicle"
    kinds = frozenset({"gps", "fuel"})

    def key(self, event: Event, ctx: Context) -> str | None:
        if event["kind"] == "gps":
            vehicle: str = event["vehicle_id"]
            return vehicle
        return refuel.fuel_key(event, ctx)

    def on_event(
        self, key: str, state: State | None, event: Event, ctx: Context
    ) -> State | None:
        if state is None:
            state = {"fixes": track.new()}
        if event["kind"] == "gps":
            ts = event["ts_ms"]
            if track.insert(state["fixes"], ts, event["lat"], event["lon"]):
                day = ctx.zone.local_day(ts)
                upto = state.get("decided_upto")
                days = state.get("days", ())
                if (upto is None or day > upto) and day not in days:
                    state["days"] = sorted((*days, day))  # a list of just its size
                    self._set_next(state, ctx)
            return state
        txn = event["txn_id"]
        if txn in state.get("pending", ()) or txn in state.get("done", ()):
            return state  # the same transaction delivered again
        refuel.on_arrival(event, ctx)
        refuel_repeat.on_fuel(key, state, event, ctx)
        fuel_economy.on_fuel(key, state, event, ctx)
        state.setdefault("pending", {})[txn] = refuel.pending_entry(event, ctx)
        self._set_next(state, ctx)
        return state

    def on_timer(self, key: str, state: State, ctx: Context) -> State | None:
        wm = ctx.watermark_ms
        fixes = state["fixes"]
        pending = state.get("pending", {})
        for txn in sorted(pending, key=lambda t: (pending[t]["due"], t)):
            entry = pending[txn]
            if entry["due"] > wm:
                continue
            if not refuel.decide(key, txn, entry, fixes, ctx):
                entry["final"] = True
                entry["due"] = entry["ts"] + ctx.config.fuel_after_ms + ctx.config.fuel_grace_ms
                if entry["due"] > wm or not refuel.decide(key, txn, entry, fixes, ctx):
                    continue
            state.setdefault("done", {})[txn] = entry["ts"]
            del pending[txn]
        days = state.get("days", [])
        while days and ctx.zone.day_start_ms(days[0] + 1) <= wm:
            day = days.pop(0)
            walked = off_hours.decide(key, day, fixes, ctx)
            place_stay.decide(key, day, fixes, ctx)
            fuel_economy.on_day(state, day, fixes, ctx, walked)
            state["decided_upto"] = day
        fuel_economy.on_timer(key, state, ctx)
        self._prune(state, ctx)
        for name in ("pending", "done", "days"):
            if name in state and not state[name]:
                del state[name]
        if not (fixes or "pending" in state or "done" in state or "days" in state
                or state.get("fills") or state.get("fuel_months") or state.get("day_km")
                or state.get("fuel_decided")):
            return None
        self._set_next(state, ctx)
        return state

    def next_timer(self, state: State, ctx: Context) -> int | None:
        due: int | None = state.get("next")  # kept current by every change that moves it
        return due

    def _set_next(self, state: State, ctx: Context) -> None:
        due = self._next(state, ctx)
        if due is None:
            state.pop("next", None)
        else:
            state["next"] = due

    def _next(self, state: State, ctx: Context) -> int | None:
        dues: list[int] = [entry["due"] for entry in state.get("pending", {}).values()]
        if state.get("days"):
            dues.append(ctx.zone.day_start_ms(state["days"][0] + 1))
        month_due = fuel_economy.next_due(state, ctx)
        if month_due is not None:
            dues.append(month_due)
        if dues:
            return min(dues)
        # Nothing pending: wake once the decided transactions have expired, to prune them
        # and, with no fixes left, forget the key. A vehicle's fixes alone set no timer:
        # its key keeps `decided_upto` for fixes that arrive late.
        if state.get("done"):
            done_until: int = max(state["done"].values()) + DONE_KEPT_MS + 1
            return done_until
        return None

    def _prune(self, state: State, ctx: Context) -> None:
        wm = ctx.watermark_ms
        keep_from = wm - ctx.config.track_retention_ms
        for entry in state.get("pending", {}).values():
            keep_from = min(keep_from, entry["ts"] - ctx.config.fuel_before_ms)
        if state.get("days"):
            keep_from = min(keep_from, ctx.zone.day_start_ms(state["days"][0]))
        track.drop_before(state["fixes"], keep_from)
        refuel_repeat.prune(state, ctx)
        done = state.get("done", {})
        for txn in [t for t, ts in done.items() if ts < wm - DONE_KEPT_MS]:
            del done[txn]
