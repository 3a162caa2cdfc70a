"""The checkpoint's binary state frame: a vehicle state with its packed track round-trips,
and a frame of another format or cut short is refused."""

from __future__ import annotations

import pytest
from support import engine, gps

from detectors import codec
from streams.live import state_codec


def vehicle_state() -> object:
    eng = engine()
    for i in range(200):
        eng.process(gps("V-1", f"2026-03-02T08:{i // 4:02d}:{i % 4 * 15:02d}+08:00",
                        41.80 + i * 1e-4, 123.40 + (i % 7) * 1e-5))
    return eng.states[0]["V-1"]


def test_round_trip_keeps_the_track_and_is_smaller_than_json() -> None:
    state = vehicle_state()
    raw = state_codec.encode(state)
    assert codec.dumps(state_codec.decode(raw)) == codec.dumps(state)
    assert len(raw) < len(codec.dumps(state))


def test_plain_state_without_track() -> None:
    assert state_codec.decode(state_codec.encode({"a": [1, {"b": None}]})) == {
        "a": [1, {"b": None}]}


def test_refuses_another_format_and_a_cut_frame() -> None:
    raw = state_codec.encode(vehicle_state())
    with pytest.raises(ValueError, match="format"):
        state_codec.decode(b"XXXX" + raw[4:])
    with pytest.raises(ValueError, match="ends inside a track"):
        state_codec.decode(raw[:-3])
