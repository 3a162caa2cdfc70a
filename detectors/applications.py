"""`duplicate_application`, one key per enterprise (多口申报, 重复申报).

An enterprise's state keeps its applications of the last 365 days with their normalised
titles. Comparing only within an enterprise is the blocking that keeps similarity cheap
with 100k applications. Every pair is looked at from both sides on arrival, so an earlier
application that arrives late still raises the later one, once.
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache
from typing import Any

from detectors.base import Context, State
from detectors.deadlines import unit_of
from detectors.events import Event
from detectors.timeutil import DAY_MS
from detectors.titles import at_least, normalise

DETECTOR = "duplicate_application"


@lru_cache(maxsize=16)
def _fraction(value: float) -> Fraction:
    """The configured threshold as written (0.85 is 17/20, not the float's binary value)."""
    return Fraction(str(value))


def _order(app: dict[str, Any], app_id: str) -> tuple[int, str]:
    """"Earlier": by `ts`, ties to the smaller id."""
    return app["ts"], app_id


class ApplicationDetector:
    name = "org"
    kinds = frozenset({"application"})

    def key(self, event: Event, ctx: Context) -> str | None:
        if not ctx.config.enabled(DETECTOR):
            return None  # switched off: no state, no similarity computed
        org: str = event["org_id"]
        return org

    def on_event(
        self, key: str, state: State | None, event: Event, ctx: Context
    ) -> State | None:
        if state is None:
            state = {"apps": {}, "raised": []}
        apps = state["apps"]
        new = event["application_id"]
        if new in apps:
            return state  # the same application delivered again
        apps[new] = {
            "ts": event["ts_ms"],
            "norm": normalise(event["title"]),
            "title": event["title"],
            "department": event["department"],
            "name": event["org_name"],
            "amount": event["amount_cny"],
            "district": event.get("district"),
            "unit": unit_of(event),
        }
        rule = ctx.config.rule(DETECTOR)
        threshold = _fraction(rule.num("similarity"))
        window = int(rule.num("window_days") * DAY_MS)
        raised = state["raised"]
        # The new one as the later of a pair, then as the earlier one of others.
        later = [new] + sorted(
            (a for a in apps if a != new and a not in raised
             and _order(apps[new], new) < _order(apps[a], a)
             and apps[a]["ts"] - apps[new]["ts"] <= window),
            key=lambda a: _order(apps[a], a),
        )
        for app_id in later:
            if app_id in raised:
                continue
            found = self._most_similar_earlier(apps, app_id, threshold, window)
            if found is not None:
                raised.append(app_id)
                self._raise(key, app_id, found[0], found[1], apps, ctx)
        self._prune(state, ctx)
        return state if apps else None

    def on_timer(self, key: str, state: State, ctx: Context) -> State | None:
        self._prune(state, ctx)
        return state if state["apps"] else None

    def next_timer(self, state: State, ctx: Context) -> int | None:
        """When the oldest application leaves the 365 days kept."""
        apps = state["apps"]
        if not apps:
            return None
        keep = int(ctx.config.rule(DETECTOR).num("keep_days") * DAY_MS)
        oldest: int = min(app["ts"] for app in apps.values())
        return oldest + keep + 1

    def _most_similar_earlier(
        self, apps: dict[str, Any], app_id: str, threshold: Fraction, window: int
    ) -> tuple[str, Fraction] | None:
        app = apps[app_id]
        me = _order(app, app_id)
        best: tuple[Fraction, tuple[int, str]] | None = None
        for other, prior in apps.items():
            order = _order(prior, other)
            if not order < me or app["ts"] - prior["ts"] > window:
                continue
            sim = at_least(app["norm"], prior["norm"], threshold)
            if sim is None:
                continue
            # the most similar; ties: the earliest
            if best is None or sim > best[0] or (sim == best[0] and order < best[1]):
                best = (sim, order)
        return None if best is None else (best[1][1], best[0])

    def _raise(
        self, org: str, app_id: str, other_id: str, sim: Fraction, apps: dict[str, Any],
        ctx: Context,
    ) -> None:
        app, other = apps[app_id], apps[other_id]
        ctx.emit(
            DETECTOR,
            app_id,
            entity=("org", org),
            event_ts_ms=app["ts"],
            details={
                "org_id": org,
                "org_name": app["name"],
                "application_id": app_id,
                "title": app["title"],
                "title_normalised": app["norm"],
                "department": app["department"],
                "amount_cny": app["amount"],
                "ts": ctx.zone.iso(app["ts"]),
                "other_application_id": other_id,
                "other_title": other["title"],
                "other_title_normalised": other["norm"],
                "other_department": other["department"],
                "other_amount_cny": other["amount"],
                "other_ts": ctx.zone.iso(other["ts"]),
                "similarity": round(float(sim), 4),
                "channel": "repeat" if app["department"] == other["department"] else "multi",
                "days_apart": round((app["ts"] - other["ts"]) / DAY_MS, 2),
            },
            evidence=[
                ctx.evidence("application", app_id, app["ts"]),
                ctx.evidence("application", other_id, other["ts"]),
            ],
            unit=app["unit"],
            district=app["district"],
        )

    def _prune(self, state: State, ctx: Context) -> None:
        keep = int(ctx.config.rule(DETECTOR).num("keep_days") * DAY_MS)
        horizon = ctx.watermark_ms - keep
        apps: dict[str, Any] = state["apps"]
        old = [a for a, app in apps.items() if app["ts"] < horizon]
        for a in old:
            del apps[a]
        if old:
            state["raised"] = [a for a in state["raised"] if a in apps]
