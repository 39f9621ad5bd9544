"""Reading policies from TOML: presets, ``extends``, per-unit overrides and effective dates.

One file is one *version* of a policy, in force from its ``effective_from`` (always the first day of
a month: a change from next month never rewrites last month). ``[units.<id>]`` tables have the same
shape as the file and override only what they list. ``policy.extends`` names a preset or another
file, which this file then overrides the same way. :class:`PolicyBook` holds several versions and
answers "which policy does this unit apply in this month?".

Every mistake raises :class:`~scoring.PolicyError` naming the file, the key, what was found
and what was expected. The format is described in ``docs/scoring.md``.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

from ._errors import MISSING, PolicyError
from ._policy import Policy
from ._policy_parse import build_policy

PRESET_DIR = Path(__file__).with_name("presets")


def preset_names() -> list[str]:
    """The presets shipped with the library (``national-common``, ``agriculture-2012``, ...)."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


@dataclass(frozen=True, slots=True)
class PolicyVersion:
    """One file: the policy every unit applies from ``effective_from``, and the units' own variants."""

    effective_from: date
    base: Policy
    units: tuple[tuple[str, Policy], ...] = ()

    def for_unit(self, unit: str | None) -> Policy:
        """The unit's variant, or the base policy for a unit the file does not mention."""
        for name, policy in self.units:
            if name == unit:
                return policy
        return self.base if unit is None else replace(self.base, unit=unit)


@dataclass(frozen=True, slots=True)
class PolicyBook:
    """Versions of a policy over time, oldest first."""

    versions: tuple[PolicyVersion, ...]

    def __post_init__(self) -> None:
        dates = [v.effective_from for v in self.versions]
        if dates != sorted(dates) or len(set(dates)) != len(dates):
            raise PolicyError(
                ", ".join(v.base.source for v in self.versions),
                "policy.effective_from",
                [d.isoformat() for d in dates],
                "one version per effective date, oldest first",
            )

    def resolve(self, *, year: int, month: int, unit: str | None = None) -> Policy:
        """The policy ``unit`` applies in ``year``-``month``: the latest version in force on its first day."""
        first = date(year, month, 1)
        in_force = [v for v in self.versions if v.effective_from <= first]
        if not in_force:
            sources = ", ".join(v.base.source for v in self.versions) or "<empty policy book>"
            earliest = self.versions[0].effective_from.isoformat() if self.versions else "none"
            raise PolicyError(sources, "policy.effective_from", earliest, f"a version in force on {first}")
        return in_force[-1].for_unit(unit)

    def units(self) -> frozenset[str]:
        return frozenset(name for v in self.versions for name, _ in v.units)


def load_policy_book(*sources: str | Path) -> PolicyBook:
    """Load several versions (paths or preset names) into one book, sorted by effective date."""
    versions = sorted((load_policy_version(s) for s in sources), key=lambda v: v.effective_from)
    return PolicyBook(tuple(versions))


def load_policy(source: str | Path, *, unit: str | None = None) -> Policy:
    """Load one file or preset and return the policy of ``unit`` (or the base policy)."""
    return load_policy_version(source).for_unit(unit)


def load_policy_version(source: str | Path) -> PolicyVersion:
    """Load one file or preset (a name without ``.toml``, e.g. ``"finance-2021"``)."""
    path = _locate(source, relative_to=None, key="source")
    raw = _resolve_extends(path, seen=())
    return policy_version_from_dict(raw, source=_display_source(path))


def _display_source(path: Path) -> str:
    """``preset:national-common`` for a shipped preset (the same wherever the library is installed,
    so explanations and their digests do not change when a server moves); the path otherwise."""
    if path.resolve().parent == PRESET_DIR.resolve():
        return f"preset:{path.stem}"
    return str(path)


def parse_policy_text(text: str, *, source: str = "<text>", base_dir: Path | None = None) -> PolicyVersion:
    """Parse TOML text (e.g. a policy stored in the server's database)."""
    raw = _parse_toml(text, source)
    raw = _apply_extends(raw, source, base_dir or Path.cwd(), seen=())
    return policy_version_from_dict(raw, source=source)


def policy_version_from_dict(raw: dict[str, Any], *, source: str) -> PolicyVersion:
    """Build a version from already-parsed TOML data (``extends`` already applied)."""
    data = dict(raw)
    units_raw = data.pop("units", {})
    if not isinstance(units_raw, dict):
        raise PolicyError(source, "units", units_raw, "a table of [units.<id>] tables")
    base = build_policy(data, source=source, unit=None, fingerprint=_fingerprint(data, None))
    units: list[tuple[str, Policy]] = []
    for unit_id, override in sorted(units_raw.items()):
        if not isinstance(override, dict):
            raise PolicyError(source, f"units.{unit_id}", override, "a table with the shape of a policy file")
        meta = override.get("policy", {})
        for fixed in ("effective_from", "extends", "name"):
            if isinstance(meta, dict) and fixed in meta:
                raise PolicyError(source, f"units.{unit_id}.policy.{fixed}", meta[fixed], "no such key in a unit table")
        merged = deep_merge(data, override)
        fp = _fingerprint(merged, unit_id)
        units.append((unit_id, build_policy(merged, source=source, unit=unit_id, fingerprint=fp)))
    return PolicyVersion(base.effective_from, base, tuple(units))


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Tables merge key by key; any other value (arrays included) in ``override`` replaces the base's.

    ``hours`` tables merge by weekday: an override's ``mon-fri`` replaces the base's ``mon-thu`` and
    ``fri`` (otherwise the merged table would state Monday twice), and its ``fri`` overrides only Friday.
    """
    merged = dict(base)
    for key, value in override.items():
        if key == "hours" and isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge_hours(merged[key], value)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _weekday_set(key: str) -> frozenset[int]:
    names = [n.strip().lower() for n in key.split("-")]
    if not all(n in _WEEKDAYS for n in names) or len(names) > 2:
        return frozenset()  # not a weekday key: the policy reader reports it
    first, last = _WEEKDAYS.index(names[0]), _WEEKDAYS.index(names[-1])
    return frozenset(range(first, last + 1))


def _merge_hours(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key in override:
        days = _weekday_set(key)
        if "-" in key:  # a range restates those weekdays: drop every base key that touches them
            for old in [k for k in merged if _weekday_set(k) & days]:
                del merged[old]
    merged.update(override)
    return merged


def _fingerprint(data: dict[str, Any], unit: str | None) -> str:
    canonical = json.dumps({"unit": unit, "policy": data}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _parse_toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(source, "(syntax)", str(exc), "valid TOML") from None


def _locate(source: str | Path, *, relative_to: Path | None, key: str) -> Path:
    text = str(source)
    if isinstance(source, Path) or text.endswith(".toml") or "/" in text:
        path = Path(text)
        if not path.is_absolute() and relative_to is not None:
            path = relative_to / path
        if not path.is_file():
            raise PolicyError(str(relative_to or "."), key, text, "an existing .toml file or a preset name")
        return path
    path = PRESET_DIR / f"{text}.toml"
    if not path.is_file():
        raise PolicyError(
            str(relative_to or "<preset>"), key, text, "a preset name, one of " + ", ".join(preset_names())
        )
    return path


def _resolve_extends(path: Path, *, seen: tuple[Path, ...]) -> dict[str, Any]:
    raw = _parse_toml(path.read_text(encoding="utf-8"), str(path))
    return _apply_extends(raw, str(path), path.parent, seen=(*seen, path.resolve()))


def _apply_extends(raw: dict[str, Any], source: str, base_dir: Path, *, seen: tuple[Path, ...]) -> dict[str, Any]:
    meta = raw.get("policy")
    if not isinstance(meta, dict) or "extends" not in meta:
        return raw
    parent_name = meta["extends"]
    if not isinstance(parent_name, str):
        raise PolicyError(source, "policy.extends", parent_name, "a preset name or a path to a .toml file")
    parent_path = _locate(parent_name, relative_to=base_dir, key="policy.extends")
    if parent_path.resolve() in seen:
        raise PolicyError(source, "policy.extends", parent_name, "a file that does not extend itself")
    parent = _resolve_extends(parent_path, seen=seen)
    parent.get("policy", {}).pop("effective_from", None)
    child = dict(raw)
    child["policy"] = {k: v for k, v in meta.items() if k != "extends"}
    if "effective_from" not in child["policy"]:
        raise PolicyError(source, "policy.effective_from", MISSING, "its own effective date (first of a month)")
    return deep_merge(parent, child)
