"""Live routing of the funds kinds without a broker, as the worker does it: records of the
engine topics go to the partitions their (often wrong or missing) record keys pick and
re-routed events go through a `routed` queue; invoice uploads are broadcast and each
partition takes the copies that belong to it (its invoice's and its project's). Four
partition engines together raise exactly the replay's alerts."""

from __future__ import annotations

import gzip
import json
import random
from collections import deque

import orjson
from paths import FUNDS_SAMPLE
from support import engine

from detectors.base import alert_id
from detectors.events import Rejected, decode_record
from streams.live.partition import Outcome, PartitionEngine, routes
from streams.tools.producer import KIND_TOPIC
from streams.topics import ENGINE_TOPICS, INPUT_TOPICS, partition_for

PARTITIONS = 4


def run_partitions(seed: int) -> tuple[list[dict], int]:
    expected = json.loads((FUNDS_SAMPLE / "expected.json").read_text())
    rng = random.Random(seed)
    engines = []
    for p in range(PARTITIONS):
        eng = engine()
        eng.clock_end = eng.zone.parse(expected["until"])
        engines.append(PartitionEngine(p, PARTITIONS, eng, (*ENGINE_TOPICS, "invoices")))
    alerts: list[dict] = []
    rejects = 0
    routed: deque[tuple[str, bytes]] = deque()
    offsets = dict.fromkeys(ENGINE_TOPICS, 0)

    def offer(p: int, topic: str, raw: bytes) -> None:
        offsets[topic] += 1
        out = engines[p].offer(topic, offsets[topic], raw)
        settle(p, out)

    def broadcast(raw: bytes) -> None:
        nonlocal rejects
        default, allowed = INPUT_TOPICS["invoices"]
        for item in decode_record(raw, engines[0].engine.zone, default, allowed):
            if isinstance(item, Rejected):
                rejects += 1  # the validator agent's, once
                continue
            for key, copy in routes(item, engines[0].engine):
                p = partition_for(key, PARTITIONS)
                settle(p, engines[p].offer_events("invoices", [copy]))

    def settle(p: int, out: Outcome) -> None:
        nonlocal rejects
        out.merge(engines[p].drain(lambda _s: float("inf"), force=True))
        alerts.extend(out.alerts)
        rejects += len(out.rejects)
        for key, event in out.forwards:
            event.pop("ts_ms", None)
            routed.append((key, orjson.dumps([event])))

    with gzip.open(FUNDS_SAMPLE / "stream.jsonl.gz", "rb") as f:
        for raw in f:
            raw = raw.rstrip(b"\n")
            obj = json.loads(raw)
            topic = KIND_TOPIC[obj["kind"]]
            key = rng.choice([None, "wrong", obj.get("project_id"), obj.get("invoice_no"),
                              obj.get("org_id")])
            p = rng.randrange(PARTITIONS) if not key else partition_for(key, PARTITIONS)
            if topic == "invoices":
                broadcast(raw)
            else:
                offer(p, topic, raw)
            while routed:
                key, value = routed.popleft()
                offer(partition_for(key, PARTITIONS), "routed", value)
    for pe in engines:
        alerts += pe.engine.advance_to(pe.engine.zone.parse(expected["until"]))
    return alerts, rejects


def test_partitions_together_raise_the_replays_alerts() -> None:
    expected = json.loads((FUNDS_SAMPLE / "expected.json").read_text())
    want = sorted(alert_id(e["detector"], e["subject"]) for e in expected["expected"])
    for seed in range(2):
        alerts, rejects = run_partitions(seed)
        assert sorted(a["alert_id"] for a in alerts) == want
        assert rejects == expected["bad_lines"]


def test_an_upload_goes_to_its_invoice_and_its_project() -> None:
    upload = {"kind": "invoice", "invoice_no": "26211000000000000001", "project_id": "P1"}
    (to_invoice, first), (to_project, second) = routes(dict(upload), engine())
    assert (to_invoice, first["_route"]) == ("26211000000000000001", "invoice")
    assert (to_project, second["_route"]) == ("P1", "project")
    assert routes(second, engine()) == [("P1", second)]  # a routed copy stays one copy
    tax = {"kind": "tax_invoice", "invoice_no": "26211000000000000001"}
    grant = {"kind": "grant", "project_id": "P1", "grant_id": "G1"}
    app = {"kind": "application", "org_id": "ORG", "application_id": "A1"}
    assert [k for k, _ in routes(tax, engine()) + routes(grant, engine())
            + routes(app, engine())] == ["26211000000000000001", "P1", "ORG"]
