"""The binary form of one key's detector state inside a checkpoint.

`detectors.codec` writes a packed GPS track into JSON as base64; a checkpoint of 100k
vehicles decodes that 100k times on restore. Here the JSON document names each track by
its index (`{"$t": i}`) and the tracks' packed bytes follow it as they are:

    b"SLS1" | u32 length of the JSON | JSON | (u32 length | packed track) ...

A reader refuses another magic (the format version) and a malformed frame.
"""

from __future__ import annotations

import struct
from typing import Any

import orjson

from detectors.track import Track

MAGIC = b"SLS1"
_LEN = struct.Struct("<I")
TAG = "$t"


def encode(state: Any) -> bytes:
    tracks: list[bytes] = []

    def default(obj: Any) -> Any:
        if isinstance(obj, Track):
            tracks.append(obj.packed())
            return {TAG: len(tracks) - 1}
        raise TypeError(f"state: cannot serialise {type(obj).__name__}")

    body = orjson.dumps(state, default=default)
    parts = [MAGIC, _LEN.pack(len(body)), body]
    for packed in tracks:
        parts += [_LEN.pack(len(packed)), packed]
    return b"".join(parts)


def decode(raw: bytes) -> Any:
    if raw[:4] != MAGIC:
        raise ValueError(f"state: format {bytes(raw[:4])!r} is not {MAGIC!r}")
    view = memoryview(raw)
    (n,) = _LEN.unpack_from(view, 4)
    end = 8 + n
    state = orjson.loads(view[8:end])
    if end == len(raw):
        return state
    tracks: list[Track] = []
    while end < len(raw):
        (size,) = _LEN.unpack_from(view, end)
        tracks.append(Track.from_packed(bytes(view[end + 4:end + 4 + size])))
        end += 4 + size
    if end != len(raw):
        raise ValueError("state: the frame ends inside a track")
    return _revive(state, tracks)


def _revive(obj: Any, tracks: list[Track]) -> Any:
    if isinstance(obj, dict):
        if len(obj) == 1 and TAG in obj:
            return tracks[obj[TAG]]
        for key, value in obj.items():
            if isinstance(value, dict | list):
                obj[key] = _revive(value, tracks)
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            if isinstance(value, dict | list):
                obj[i] = _revive(value, tracks)
    return obj
