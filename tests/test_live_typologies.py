"""Live parity for the typology sample on the real embedded broker and Redis: places and
assets go through the registry path (assets to the person's partition, like deaths), and
live raises the same alert ids as replay."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from live_support import live_system
from paths import TYPOLOGY_SAMPLE

from streams.batch.replay import replay_files
from streams.tools.producer import produce

pytestmark = [pytest.mark.integration]


@pytest.mark.timeout(420)
def test_live_gives_the_replay_alert_ids_for_the_typology_sample(tmp_path: Path) -> None:
    expected = json.loads((TYPOLOGY_SAMPLE / "expected.json").read_text())
    out = io.BytesIO()
    replay_files([TYPOLOGY_SAMPLE / "stream.jsonl.gz"], out, until=expected["until"])
    replayed = sorted(json.loads(line)["alert_id"] for line in out.getvalue().splitlines())
    assert len(replayed) == 185
    with live_system(tmp_path) as system:
        system.start_worker(SUNLIGHT_CLOCK_END=expected["until"])
        produce([TYPOLOGY_SAMPLE / "stream.jsonl.gz"], system.bootstrap)
        alerts = system.wait_alerts(185, timeout_s=240)
        assert sorted(a["alert_id"] for a in alerts) == replayed, system.log_tail()
        assert system.redis().xlen("sunlight:alerts") == 185
        assert {a["detector"] for a in alerts} >= {
            "refuel_repeat", "restricted_place_stay", "fuel_economy_anomaly",
            "welfare_ineligible"}
        dead = [json.loads(r.value) for r in system.topic_records("sunlight.dlq")]
        assert sorted(d["reason"].partition(":")[0] for d in dead) == [
            "asset_kind", "category", "from", "radius_m", "rated_l_per_100km"]
