"""Forward alerts to other systems: Alertmanager (v2 API) and generic webhooks.

Each forwarder posts with retries and exponential backoff; a 5xx, 408, 429 or
a connection error is retried, any other 4xx is a permanent refusal. The
``forward`` loop reads ``sunlight:alerts`` with its own consumer group and
acknowledges an alert only once every enabled forwarder took it, so an outage
delays alerts but loses and reorders none.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
import orjson
from tenacity import RetryCallState

from sinks.dashboard.masking import mask_alert
from sinks.retry import retrying
from sinks.tail import AlertTail

log = logging.getLogger(__name__)

RETRYABLE = frozenset({408, 425, 429})


class DeliveryFailed(Exception):
    def __init__(self, name: str, reason: str, *, permanent: bool) -> None:
        super().__init__(f"{name}: {reason}")
        self.permanent = permanent


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 5
    backoff_s: float = 0.2
    max_backoff_s: float = 10.0
    timeout_s: float = 5.0



@dataclass(frozen=True)
class ForwarderConfig:
    kind: str  # "alertmanager" | "webhook"
    url: str
    enabled: bool = True
    mask_personal_ids: bool = True
    headers: Mapping[str, str] = field(default_factory=dict)
    retry: RetryPolicy = RetryPolicy()

    @classmethod
    def from_mapping(cls, kind: str, raw: Mapping[str, Any]) -> ForwarderConfig:
        if kind not in ("alertmanager", "webhook"):
            raise ValueError(f"forwarder kind: {kind!r} is not alertmanager or webhook")
        url = str(raw.get("url", ""))
        enabled = bool(raw.get("enabled", False))
        if enabled and not url.startswith(("http://", "https://")):
            raise ValueError(f"{kind}.url: {url!r} is not an http(s) URL")
        retry = RetryPolicy(
            retries=int(raw.get("retries", 5)),
            backoff_s=float(raw.get("backoff_s", 0.2)),
            max_backoff_s=float(raw.get("max_backoff_s", 10.0)),
            timeout_s=float(raw.get("timeout_s", 5.0)),
        )
        return cls(
            kind=kind,
            url=url,
            enabled=enabled,
            mask_personal_ids=bool(raw.get("mask_personal_ids", True)),
            headers={str(k): str(v) for k, v in (raw.get("headers") or {}).items()},
            retry=retry,
        )


def alertmanager_payload(
    alerts: Sequence[Mapping[str, Any]], dashboard_url: str = ""
) -> list[dict[str, Any]]:
    """Alerts in Alertmanager's ``POST /api/v2/alerts`` body format."""
    out = []
    for a in alerts:
        entity = a.get("entity") or {}
        rule = a.get("rule") or {}
        labels = {
            "alertname": str(a.get("detector", "")),
            "alert_id": str(a.get("alert_id", "")),
            "severity": str(a.get("severity", "")),
            "entity_kind": str(entity.get("kind", "")),
            "entity_id": str(entity.get("id", "")),
            "unit": str(a.get("unit", "")),
            "district": str(a.get("district", "")),
            "source": "sunlight",
        }
        annotations = {
            "summary": str(a.get("title", "")),
            "summary_en": str(a.get("title_en", "")),
            "subject": str(a.get("subject", "")),
            "event_ts": str(a.get("event_ts", "")),
            "rule": f"{rule.get('name', '')}@{rule.get('version', '')}" if rule else "",
        }
        item: dict[str, Any] = {
            "labels": {k: v for k, v in labels.items() if v},
            "annotations": {k: v for k, v in annotations.items() if v},
            "startsAt": str(a.get("raised_at") or a.get("event_ts")),
        }
        if dashboard_url:
            item["generatorURL"] = f"{dashboard_url.rstrip('/')}/#/alert/{a.get('alert_id', '')}"
        out.append(item)
    return out


class Forwarder(Protocol):
    name: str

    async def send(self, session: aiohttp.ClientSession, alerts: Sequence[dict[str, Any]]) -> None:
        ...


class HttpForwarder:
    """POSTs a JSON body built from alerts, retrying transient failures."""

    def __init__(self, config: ForwarderConfig, dashboard_url: str = "") -> None:
        self.config = config
        self.name = config.kind
        self.dashboard_url = dashboard_url
        self.attempts = 0

    def body(self, alerts: Sequence[dict[str, Any]]) -> Any:
        if self.config.mask_personal_ids:
            alerts = [mask_alert(a) for a in alerts]
        if self.config.kind == "alertmanager":
            return alertmanager_payload(alerts, self.dashboard_url)
        return {"source": "sunlight", "alerts": list(alerts)}

    async def send(self, session: aiohttp.ClientSession, alerts: Sequence[dict[str, Any]]) -> None:
        data = orjson.dumps(self.body(alerts))
        headers = {"Content-Type": "application/json", **self.config.headers}
        policy = self.config.retry
        timeout = aiohttp.ClientTimeout(total=policy.timeout_s)

        async def post() -> None:
            self.attempts += 1
            try:
                async with session.post(
                    self.config.url, data=data, headers=headers, timeout=timeout
                ) as resp:
                    if resp.status < 300:
                        return
                    reason = f"HTTP {resp.status}"
                    permanent = resp.status < 500 and resp.status not in RETRYABLE
                    raise DeliveryFailed(self.name, reason, permanent=permanent)
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise DeliveryFailed(self.name, f"{type(exc).__name__}: {exc}",
                                     permanent=False) from exc

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome is not None else None
            log.warning("%s: attempt %d of %d failed (%s)", self.name, state.attempt_number,
                        policy.retries + 1, exc)

        try:
            async for attempt in retrying(retry_on=_transient, min_s=policy.backoff_s,
                                          max_s=policy.max_backoff_s,
                                          attempts=policy.retries + 1,
                                          before_sleep=before_sleep):
                with attempt:
                    await post()
        except DeliveryFailed as exc:
            if exc.permanent:
                raise
            raise DeliveryFailed(self.name, f"gave up after {policy.retries + 1} attempts: "
                                 f"{str(exc).removeprefix(self.name + ': ')}",
                                 permanent=False) from exc


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, DeliveryFailed) and not exc.permanent


def build_forwarders(
    raw: Mapping[str, Any] | None, dashboard_url: str = ""
) -> list[HttpForwarder]:
    """Enabled forwarders from the ``forwarders:`` section of dashboard.yaml."""
    out = []
    for kind, section in (raw or {}).items():
        cfg = ForwarderConfig.from_mapping(str(kind), section or {})
        if cfg.enabled:
            out.append(HttpForwarder(cfg, dashboard_url))
    return out


async def run_forwarding(
    tail: AlertTail,
    forwarders: Sequence[HttpForwarder],
    *,
    idle_exit_s: float | None = None,
    max_alerts: int | None = None,
) -> int:
    """Forward each alert of the stream to every forwarder, then acknowledge it.

    A transient failure holds the alert (and those after it) until the
    receiver is back, so nothing is lost or reordered; a permanent refusal is
    logged and the alert moves on.
    """
    async with aiohttp.ClientSession() as session:

        async def handle(alert: dict[str, Any]) -> None:
            for fwd in forwarders:
                # The same policy once more around a whole delivery: a receiver that stays
                # down holds this alert (and those after it) until it is back.
                policy = fwd.config.retry
                try:
                    async for attempt in retrying(retry_on=_transient,
                                                  min_s=policy.max_backoff_s,
                                                  max_s=policy.max_backoff_s):
                        with attempt:
                            await fwd.send(session, [alert])
                except DeliveryFailed as exc:
                    log.error("%s refused alert %s: %s", fwd.name, alert.get("alert_id"), exc)

        return await tail.run(handle, idle_exit_s=idle_exit_s, max_alerts=max_alerts)


def start_forwarding(
    redis_url: str,
    prefix: str,
    forwarders_config: Mapping[str, Any] | None,
    dashboard_url: str = "",
    tls_ca: str | None = None,
) -> asyncio.Task[int] | None:
    """Run the enabled forwarders in the background (for ``sunlight up``); None if none."""
    from sinks.redis_client import async_redis

    forwarders = build_forwarders(forwarders_config, dashboard_url)
    if not forwarders:
        return None
    redis = async_redis(redis_url, tls_ca, decode_responses=True)
    tail = AlertTail(redis, prefix=prefix, group="forwarders", consumer="forwarder-1")

    async def run() -> int:
        try:
            return await run_forwarding(tail, forwarders)
        finally:
            await redis.aclose()

    return asyncio.get_running_loop().create_task(run(), name="sunlight-forwarders")
