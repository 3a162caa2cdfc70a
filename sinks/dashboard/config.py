"""Dashboard settings: users with roles and scrypt password hashes.

Hash format: ``scrypt$<n>$<r>$<p>$<salt b64>$<key b64>`` (hashlib.scrypt, 32-byte
key). ``python -m sinks.dashboard.config PASSWORD`` prints a new hash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from detectors.config import DEFAULT_CONFIG_DIR

ROLES = ("viewer", "investigator", "admin")
ACTING_ROLES = frozenset({"investigator", "admin"})
DEFAULT_CONFIG = DEFAULT_CONFIG_DIR / "dashboard.yaml"


def hash_password(password: str, *, n: int = 2**14, r: int = 8, p: int = 1) -> str:
    salt = os.urandom(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${n}${r}${p}${b64(salt).decode()}${b64(key).decode()}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(key)
        got = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt),
            n=int(n), r=int(r), p=int(p), dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


@dataclass(frozen=True)
class User:
    name: str
    role: str
    password_hash: str
    display: str = ""

    @property
    def can_act(self) -> bool:
        return self.role in ACTING_ROLES


@dataclass(frozen=True)
class DashboardConfig:
    users: Mapping[str, User]
    zone: str = "Asia/Shanghai"
    session_ttl_s: int = 12 * 3600
    public_url: str = ""
    forwarders: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> DashboardConfig:
        users: dict[str, User] = {}
        for name, spec in (raw.get("users") or {}).items():
            role = str(spec.get("role", ""))
            if role not in ROLES:
                raise ValueError(f"users.{name}.role: {role!r} is not one of {ROLES}")
            pw = str(spec.get("password_hash", ""))
            if not pw.startswith("scrypt$"):
                raise ValueError(f"users.{name}.password_hash: not a scrypt hash")
            users[str(name)] = User(str(name), role, pw, str(spec.get("display", name)))
        dash = raw.get("dashboard") or {}
        return cls(
            users=users,
            zone=str(dash.get("zone", "Asia/Shanghai")),
            session_ttl_s=int(dash.get("session_ttl_s", 12 * 3600)),
            public_url=str(dash.get("public_url", "")),
            forwarders=dict(raw.get("forwarders") or {}),
        )

    @classmethod
    def load(cls, path: Path | str | None = None) -> DashboardConfig:
        with open(path or DEFAULT_CONFIG, encoding="utf-8") as fh:
            return cls.from_mapping(yaml.safe_load(fh) or {})

    def authenticate(self, name: str, password: str) -> User | None:
        user = self.users.get(name)
        if user is None:
            # Spend the same time as a real check so names cannot be probed.
            check_password(password, next(iter(self.users.values())).password_hash)
            return None
        return user if check_password(password, user.password_hash) else None


if __name__ == "__main__":
    print(hash_password(sys.argv[1]))
