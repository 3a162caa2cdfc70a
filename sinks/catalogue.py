"""The subsidy catalogue (config/catalogue.yaml): classes, sub-classes and the legacy names
that map to them. ``lookup`` maps a payment's or grant's ``program`` (a code, a name or an
alias) to its sub-class; an unknown name maps to nothing and is counted by the caller,
never dropped."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DEFAULT_CATALOGUE = Path(__file__).resolve().parents[1] / "config" / "catalogue.yaml"
VERSION = 1


@dataclass(frozen=True)
class Entry:
    class_code: str
    class_name: str
    class_name_en: str
    code: str
    name: str
    name_en: str


@dataclass(frozen=True)
class Catalogue:
    classes: tuple[tuple[str, str, str], ...]  # (code, name, name_en)
    by_name: Mapping[str, Entry]

    @classmethod
    def load(cls, path: Path | str | None = None) -> Catalogue:
        with open(path or DEFAULT_CATALOGUE, encoding="utf-8") as fh:
            return cls.from_mapping(yaml.safe_load(fh) or {})

    @classmethod
    def for_config(cls, config_dir: Path | str) -> Catalogue:
        """``catalogue.yaml`` beside the engine's config, else the shipped one."""
        path = Path(config_dir) / "catalogue.yaml"
        return cls.load(path if path.exists() else None)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> Catalogue:
        if raw.get("version") != VERSION:
            raise ValueError(f"catalogue version: {raw.get('version')!r} is not {VERSION}")
        classes = []
        by_name: dict[str, Entry] = {}
        for i, c in enumerate(raw.get("classes") or []):
            ccode, cname = str(c.get("code", "")), str(c.get("name", ""))
            if not ccode or not cname:
                raise ValueError(f"classes[{i}]: code and name are required, got {c!r}")
            classes.append((ccode, cname, str(c.get("name_en", cname))))
            for j, s in enumerate(c.get("subclasses") or []):
                code = str(s.get("code", ""))
                if not code.startswith(ccode):
                    raise ValueError(f"classes[{i}].subclasses[{j}].code: {code!r} does not "
                                     f"start with its class code {ccode!r}")
                entry = Entry(ccode, cname, classes[-1][2], code, str(s["name"]),
                              str(s.get("name_en", s["name"])))
                for name in (code, entry.name, *(str(a) for a in s.get("aliases") or [])):
                    key = normalise(name)
                    if key in by_name and by_name[key] != entry:
                        raise ValueError(f"classes[{i}].subclasses[{j}]: {name!r} already "
                                         f"names {by_name[key].code}")
                    by_name[key] = entry
        return cls(tuple(classes), by_name)

    def lookup(self, program: str) -> Entry | None:
        return self.by_name.get(normalise(program))

    def by_class(self, counts: Iterable[tuple[str, int]],
                 mapped: Mapping[str, int] | None = None,
                 unknown_names: Mapping[str, int] | None = None) -> dict[str, Any]:
        """Counts per class, plus the unknown names: ``mapped`` (class code -> count) and
        ``unknown_names`` (name -> count) as the writer mapped them on the way in, and
        ``counts`` (program name -> count, mapped here) for what was indexed unmapped."""
        out: dict[str, int] = {code: 0 for code, _n, _e in self.classes}
        unknown: dict[str, int] = dict(unknown_names or {})
        for code, n in (mapped or {}).items():
            if code in out:
                out[code] += n
            else:  # a class since removed from the catalogue: shown, not dropped
                unknown[code] = unknown.get(code, 0) + n
        for name, n in counts:
            entry = self.lookup(name)
            if entry is None:
                unknown[name] = unknown.get(name, 0) + n
            else:
                out[entry.class_code] += n
        return {
            "classes": [{"code": code, "name": name, "name_en": en, "count": out[code]}
                        for code, name, en in self.classes],
            "unknown": dict(sorted(unknown.items(), key=lambda kv: -kv[1])),
        }


def normalise(name: str) -> str:
    return "".join(str(name).split()).upper()
