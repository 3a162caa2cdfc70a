"""Trim the alert stream to about `maxlen` entries, never past what a subscriber still needs.

A consumer group still needs every entry it has not been delivered yet (after its
last-delivered id) and every entry delivered but not acknowledged (its pending list). The
floor is the oldest such entry over all groups; the stream is trimmed with `MINID ~` to the
older of that floor and the id that leaves `maxlen` entries. `~` trims whole radix-tree
nodes only, so it may keep a few more entries, never fewer. While a group lags (or a dead
group is never destroyed) the stream keeps more than `maxlen` entries.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

TRIM_STEP = 10_000


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _parse(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


def _after(stream_id: str) -> str:
    ms, seq = _parse(stream_id)
    return f"{ms}-{seq + 1}"


async def group_floor(client: Redis, key: str) -> str | None:
    """The oldest id some group still needs; None when the stream has no group."""
    floor: tuple[int, int] | None = None
    for group in await client.xinfo_groups(key):
        info = {_text(k): v for k, v in group.items()}
        name = _text(info["name"])
        need = _parse(_after(_text(info["last-delivered-id"])))
        if int(info.get("pending") or 0):
            summary = await client.xpending(key, name)
            oldest = summary.get("min")
            if oldest is not None:
                need = min(need, _parse(_text(oldest)))
        floor = need if floor is None else min(floor, need)
    return None if floor is None else f"{floor[0]}-{floor[1]}"


async def trim_stream(client: Redis, key: str, maxlen: int) -> int:
    """Trim `key` toward `maxlen` entries without dropping what a group still needs;
    returns how many entries were removed."""
    length = int(await client.xlen(key))
    excess = length - maxlen
    if excess <= 0:
        return 0
    # At most TRIM_STEP per call: a trim that runs every second never has more to do, and a
    # maxlen lowered on a long stream is reached over several calls, not one huge read.
    oldest_kept = await client.xrange(key, "-", "+", count=min(excess, TRIM_STEP))
    cut = _after(_text(oldest_kept[-1][0]))  # everything before this leaves `maxlen`
    floor = await group_floor(client, key)
    if floor is not None and _parse(floor) < _parse(cut):
        cut = floor
    return int(await client.xtrim(key, minid=cut, approximate=True))
