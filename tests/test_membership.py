"""A worker killed with -9 leaves the consumer group when the next one starts.

Against the embedded broker: a member that never left (its process killed) is removed by
`leave_previous` at once, long before its session would expire."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from streams.live.membership import leave_previous, previous, remember
from streams.tools.embedded import create_topics

MEMBER = '''
import asyncio, sys
from aiokafka import AIOKafkaConsumer
from streams.live.membership import remember
from pathlib import Path
async def main(boot, group, topic, path):
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=boot, group_id=group,
                                session_timeout_ms=20_000, rebalance_timeout_ms=3_000,
                                heartbeat_interval_ms=1_000, max_poll_interval_ms=60_000)
    await consumer.start()
    while not consumer.assignment():
        await consumer.getmany(timeout_ms=100)
    remember(Path(path), consumer._coordinator.member_id)
    while True:
        await consumer.getmany(timeout_ms=1000)
asyncio.run(main(*sys.argv[1:]))
'''


def members(bootstrap: str, group: str) -> list[str]:
    async def describe() -> list[str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            (response,) = await admin.describe_consumer_groups([group])
            (found,) = response.groups
            return [member[0] for member in found[-1]]  # (member_id, ...) per member
        finally:
            await admin.close()

    return asyncio.run(describe())


def test_the_member_file_is_written_whole(tmp_path: Path) -> None:
    path = tmp_path / "app" / "member_id"
    assert previous(path) is None
    remember(path, "m-1")
    remember(path, "m-2")
    assert previous(path) == "m-2"
    assert not list(path.parent.glob("*.part"))
    remember(path, "")  # no id yet: the last one stands
    assert previous(path) == "m-2"


def test_a_killed_member_is_removed_at_once(kafka_bootstrap: str, tmp_path: Path) -> None:
    group, topic = f"membership-{uuid.uuid4().hex[:8]}", f"membership-{uuid.uuid4().hex[:8]}"
    create_topics(kafka_bootstrap, [topic], 2)
    path = tmp_path / "member_id"
    proc = subprocess.Popen([sys.executable, "-c", MEMBER, kafka_bootstrap, group, topic,
                             str(path)], start_new_session=True,
                            cwd=Path(__file__).resolve().parents[1])
    try:
        deadline = time.monotonic() + 60
        while previous(path) is None:
            assert proc.poll() is None and time.monotonic() < deadline, "never assigned"
            time.sleep(0.05)
        member = previous(path)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # no LeaveGroup: a crash
        proc.wait()
    assert members(kafka_bootstrap, group) == [member]  # its session lasts 20 s

    left = asyncio.run(leave_previous(kafka_bootstrap, group, path))

    assert left == member
    assert members(kafka_bootstrap, group) == []
    assert not path.exists()  # asked once: the next start has nothing to remove


def test_nothing_to_remove_and_an_unknown_member_are_fine(kafka_bootstrap: str,
                                                          tmp_path: Path) -> None:
    path = tmp_path / "member_id"
    assert asyncio.run(leave_previous(kafka_bootstrap, "no-such-group", path)) is None
    remember(path, "faust-0.15.3-gone")
    assert asyncio.run(leave_previous(kafka_bootstrap, "no-such-group", path)) == \
        "faust-0.15.3-gone"
    assert not path.exists()
