"""Live routing of the funds kinds without a broker: the sample's records go to the
partitions their (often wrong or missing) record keys pick, re-routed events go through a
`routed` queue, and four partition engines together raise exactly the replay's alerts.
An invoice upload reaches both its invoice's partition and its project's."""

from __future__ import annotations

import gzip
import json
import random
from collections import deque

import orjson
from paths import FUNDS_SAMPLE
from support import engine

from detectors.base import alert_id
from streams.partition import PartitionEngine, routes
from streams.producer import KIND_TOPIC
from streams.topics import ENGINE_TOPICS, partition_for

PARTITIONS = 4


def run_partitions(seed: int) -> tuple[list[dict], int]:
    expected = json.loads((FUNDS_SAMPLE / "expected.json").read_text())
    rng = random.Random(seed)
    engines = []
    for p in range(PARTITIONS):
        eng = engine()
        eng.clock_end = eng.zone.parse(expected["until"])
        engines.append(PartitionEngine(p, PARTITIONS, eng, ENGINE_TOPICS))
    alerts: list[dict] = []
    rejects = 0
    routed: deque[tuple[str, bytes]] = deque()
    offsets = {t: 0 for t in ENGINE_TOPICS}

    def offer(p: int, topic: str, raw: bytes) -> None:
        nonlocal rejects
        offsets[topic] += 1
        out = engines[p].offer(topic, offsets[topic], raw)
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
