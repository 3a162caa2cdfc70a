"""Dashboard settings: users with roles and scrypt password hashes.

Hash format: ``scrypt$<n>$<r>$<p>$<salt b64>$<key b64>`` (hashlib.scrypt, 32-byte
key). ``python -m sinks.dashboard.config PASSWORD`` prints a new hash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
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
# The passwords of the logins shipped in config/dashboard.yaml: fine for `sunlight demo`,
# refused anywhere else (see `shipped_logins`).
SHIPPED_PASSWORDS = ("viewer", "investigator", "admin", "supervisor")
# Hash a failed lookup of an unknown user is checked against, so names cannot be probed
# by timing (and a config's first user need not exist).
_DUMMY_HASH = "scrypt$16384$8$1$" + "A" * 22 + "==$" + "A" * 43 + "="
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ConfigError(ValueError):
    """The dashboard configuration cannot be used; the message says how to fix it."""


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
class LoginLimits:
    """Failed logins allowed per user and per client address within `window_s`."""

    per_user: int = 5
    per_address: int = 20
    window_s: int = 900


@dataclass(frozen=True)
class DashboardConfig:
    users: Mapping[str, User]
    zone: str = "Asia/Shanghai"
    session_ttl_s: int = 12 * 3600
    public_url: str = ""
    forwarders: Mapping[str, Any] = field(default_factory=dict)
    login_limits: LoginLimits = LoginLimits()
    # Peers whose X-Forwarded-Proto / X-Forwarded-Host / Forwarded headers are believed.
    trusted_proxies: tuple[Network, ...] = ()
    # How often an open event stream re-reads its session (logout, expiry, role change).
    sse_recheck_s: float = 5.0
    # The public side: citizen reports and receipt lookups allowed per address per window.
    reports_per_window: int = 5
    lookups_per_window: int = 60
    public_window_s: int = 3600

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> DashboardConfig:
        if not raw.get("users"):
            raise ConfigError(
                "users: no users configured; add at least one under `users:` with a role "
                f"({', '.join(ROLES)}) and a password_hash made by "
                "`python -m sinks.dashboard.config 'PASSWORD'`")
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
        limits = dash.get("login_limits") or {}
        proxies: list[Network] = []
        for i, net in enumerate(dash.get("trusted_proxies") or []):
            try:
                proxies.append(ipaddress.ip_network(str(net), strict=False))
            except ValueError as exc:
                raise ConfigError(f"dashboard.trusted_proxies[{i}]: {net!r} is not an "
                                  f"address or network ({exc})") from None
        return cls(
            users=users,
            zone=str(dash.get("zone", "Asia/Shanghai")),
            session_ttl_s=int(dash.get("session_ttl_s", 12 * 3600)),
            public_url=str(dash.get("public_url", "")),
            forwarders=dict(raw.get("forwarders") or {}),
            login_limits=LoginLimits(
                per_user=int(limits.get("per_user", LoginLimits.per_user)),
                per_address=int(limits.get("per_address", LoginLimits.per_address)),
                window_s=int(limits.get("window_s", LoginLimits.window_s)),
            ),
            trusted_proxies=tuple(proxies),
            sse_recheck_s=float(dash.get("sse_recheck_s", 5.0)),
            reports_per_window=int((raw.get("public") or {}).get("reports_per_window", 5)),
            lookups_per_window=int((raw.get("public") or {}).get("lookups_per_window", 60)),
            public_window_s=int((raw.get("public") or {}).get("window_s", 3600)),
        )

    @classmethod
    def load(cls, path: Path | str | None = None) -> DashboardConfig:
        with open(path or DEFAULT_CONFIG, encoding="utf-8") as fh:
            return cls.from_mapping(yaml.safe_load(fh) or {})

    def authenticate(self, name: str, password: str) -> User | None:
        """Blocking (scrypt): call it from a thread, never on the event loop."""
        user = self.users.get(name)
        if user is None:
            # Spend the same time as a real check so names cannot be probed.
            check_password(password, _DUMMY_HASH)
            return None
        return user if check_password(password, user.password_hash) else None

    def shipped_logins(self) -> list[str]:
        """Users whose password is one of the shipped demo passwords or their own name."""
        return [name for name, user in self.users.items()
                if any(check_password(pw, user.password_hash)
                       for pw in dict.fromkeys((*SHIPPED_PASSWORDS, name)))]

    def trusts(self, address: str | None) -> bool:
        if not address or not self.trusted_proxies:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.trusted_proxies)


def refuse_shipped_passwords(config: DashboardConfig, demo: bool) -> None:
    """Raise ConfigError when a shipped password is configured outside the demo."""
    if demo:
        return
    shipped = config.shipped_logins()
    if shipped:
        raise ConfigError(
            f"users {', '.join(shipped)}: still have the shipped demo password; the dashboard "
            "accepts those only as `sunlight demo` (or `sunlight up --demo`). Set a password "
            "with `python -m sinks.dashboard.config 'NEW PASSWORD'` and put the printed hash "
            "in password_hash of your dashboard.yaml (--dashboard-config)")


if __name__ == "__main__":
    print(hash_password(sys.argv[1]))
