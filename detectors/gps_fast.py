"""The replay's fast path for the common line, a well-formed GPS fix.

`gps_fast` takes a parsed object and returns it decoded (`kind` set, `ts_ms` added) only
when it is a GPS fix that `events.validate` would accept as it stands: an explicit-offset
ISO `ts` of an hour already parsed, float coordinates in range, a plain speed and
ignition. Anything else returns None, untouched, and takes `validate`, which alone names
what is wrong. One call instead of validate, Zone.parse, Zone._parse_iso and _check_gps:
a GPS-heavy replay spends most of its decoding on these.
"""

from __future__ import annotations

from detectors.events import MAX_ID_LEN, Event
from detectors.timeutil import MAX_TS_MS, MMSS, Zone


def gps_fast(obj: object, zone: Zone, default_kind: str | None) -> Event | None:
    """`obj` decoded as `validate(obj, zone, default_kind)` would, or None to take it."""
    if type(obj) is not dict:
        return None
    kind = obj.get("kind")
    if kind is None:
        if default_kind != "gps":
            return None
    elif kind != "gps":
        return None
    ts = obj.get("ts")
    # Zone._parse_iso's cached form: "YYYY-MM-DDTHH:MM:SS+hh:mm" of a known hour and offset
    if type(ts) is not str or len(ts) != 25 or ts[13] != ":":
        return None
    past = MMSS.get(ts[14:19])
    if past is None:
        return None
    base = zone.iso_hours.get(ts[:13] + ts[19:])
    if base is None:
        return None
    ts_ms = base + past
    vid, lat, lon = obj.get("vehicle_id"), obj.get("lat"), obj.get("lon")
    speed, ignition = obj.get("speed_kmh"), obj.get("ignition")
    if not (  # _check_gps's fast test, and Zone.parse's range
        0 <= ts_ms < MAX_TS_MS
        and type(vid) is str
        and 0 < len(vid) <= MAX_ID_LEN
        and type(lat) is float
        and -90.0 <= lat <= 90.0
        and type(lon) is float
        and -180.0 <= lon <= 180.0
        and (speed is None or (type(speed) in (float, int) and 0 <= speed <= 300))
        and (ignition is None or ignition is True or ignition is False)
    ):
        return None
    if kind is None:
        obj["kind"] = "gps"
    obj["ts_ms"] = ts_ms
    return obj
