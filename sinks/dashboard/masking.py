"""Masking of personal ids (payees, persons) for viewers and outside systems.

The personal ids of an alert are collected from where the contract puts
them (a payee entity, ``details.payee_id``/``person_id``, person-like
evidence), then every occurrence of them in any string of the alert is
replaced, so an id quoted in a title or note is masked too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

PERSONAL_ENTITY_KINDS = frozenset({"payee", "person"})
PERSONAL_DETAIL_KEYS = frozenset({"payee_id", "person_id", "deceased_id", "id_number",
                                  "asset_id"})  # a welfare recipient's car or company
PERSONAL_EVIDENCE_KINDS = frozenset({"payee", "person", "death", "registry", "asset"})


def mask_id(value: str) -> str:
    """``P0012347`` -> ``P00****7``; short ids are masked whole."""
    if len(value) <= 4:
        return "****"
    return f"{value[:3]}****{value[-1]}"


def personal_ids(alert: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    entity = alert.get("entity") or {}
    if entity.get("kind") in PERSONAL_ENTITY_KINDS and entity.get("id"):
        found.add(str(entity["id"]))
    details = alert.get("details") or {}
    if isinstance(details, dict):
        for key, value in details.items():
            if (key in PERSONAL_DETAIL_KEYS or key.endswith("person_id")) and value:
                found.add(str(value))
    for ev in alert.get("evidence") or []:
        if isinstance(ev, dict) and ev.get("kind") in PERSONAL_EVIDENCE_KINDS and ev.get("id"):
            found.add(str(ev["id"]))
    return found


def _replace(value: Any, ids: Iterable[str]) -> Any:
    if isinstance(value, str):
        for pid in ids:
            if pid in value:
                value = value.replace(pid, mask_id(pid))
        return value
    if isinstance(value, dict):
        return {k: _replace(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, ids) for v in value]
    return value


def mask_alert(alert: dict[str, Any]) -> dict[str, Any]:
    """A copy of the alert with its personal ids masked everywhere."""
    ids = sorted(personal_ids(alert), key=len, reverse=True)
    if not ids:
        return alert
    masked: dict[str, Any] = _replace(alert, ids)
    return masked


def mask_text(text: str, alert: dict[str, Any]) -> str:
    """Mask the alert's personal ids inside free text such as a case note."""
    ids = sorted(personal_ids(alert), key=len, reverse=True)
    result: str = _replace(text, ids)
    return result
