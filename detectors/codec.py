"""The serialised form of engine state: JSON (orjson) with packed GPS tracks inline.

`dumps(obj) -> bytes` and `loads(bytes) -> obj` round-trip anything the engine keeps:
plain JSON values and `track.Track`. A document is `{"codec": 1, "data": obj}`; a
track inside it is `{"$track": "<base64 of its packed bytes>"}` (format `track.FORMAT`,
named in the document's version). `loads` refuses a version it does not know, and a
`$track` that does not decode.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from detectors.track import FORMAT, HEAD_SIZE, Track

VERSION = 1  # codec 1 carries tracks of track.FORMAT 1
TRACK_TAG = "$track"
if FORMAT != 1:  # pragma: no cover - a new track layout needs a new codec version
    raise ImportError(f"codec {VERSION} does not know track format {FORMAT}")


def _default(obj: Any) -> Any:
    if isinstance(obj, Track):
        return {TRACK_TAG: base64.b64encode(obj.packed()).decode("ascii")}
    raise TypeError(f"codec: cannot serialise {type(obj).__name__}")


def dumps(obj: Any) -> bytes:
    return orjson.dumps({"codec": VERSION, "data": obj}, default=_default)


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    doc = orjson.loads(data)
    if not isinstance(doc, dict) or "codec" not in doc:
        raise ValueError("codec: not a state document (no `codec` version)")
    if doc["codec"] != VERSION:
        raise ValueError(f"codec: version {doc['codec']!r} is not supported (this is {VERSION})")
    return _revive(doc.get("data"))


def _revive(obj: Any) -> Any:
    if isinstance(obj, dict):
        if TRACK_TAG in obj and len(obj) == 1:
            return _track(obj[TRACK_TAG])
        for key, value in obj.items():
            if isinstance(value, dict | list):
                obj[key] = _revive(value)
        return obj
    if isinstance(obj, list):
        for i, value in enumerate(obj):
            if isinstance(value, dict | list):
                obj[i] = _revive(value)
    return obj


def _track(text: Any) -> Track:
    if not isinstance(text, str):
        raise ValueError(f"codec: {TRACK_TAG} must be a base64 string, got {text!r:.40}")
    try:
        packed = base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"codec: {TRACK_TAG} is not base64: {exc}") from None
    if packed and len(packed) < HEAD_SIZE:
        raise ValueError(f"codec: {TRACK_TAG} of {len(packed)} bytes is shorter than a header")
    return Track.from_packed(packed)
