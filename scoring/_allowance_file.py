"""Reading allowance policies from TOML (presets in ``presets/allowance/``, or an agency's own file).

The format is in ``docs/scoring.md`` ("The allowance in Rupiah"); unknown keys are errors, and every
error names the file, the key, what was found and what was expected.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path
from typing import Any

from ._allowance_policy import (
    AbsenceCut,
    AbsenceMode,
    AllowanceBook,
    AllowancePolicy,
    CombineMode,
    CombineRule,
    LatenessMode,
    LatenessRule,
    PerformanceRule,
    PerformanceSource,
    ProRata,
    Rounding,
    TargetShare,
    WithoutPlan,
)
from ._errors import PolicyError
from ._percent import FULL_BP
from ._policy_parse import Reader

ALLOWANCE_PRESET_DIR = Path(__file__).with_name("presets") / "allowance"


def allowance_preset_names() -> list[str]:
    """The allowance tables shipped with the library (``social-affairs-2023``, ...)."""
    return sorted(p.stem for p in ALLOWANCE_PRESET_DIR.glob("*.toml"))


def load_allowance_policy(source: str | Path) -> AllowancePolicy:
    """One file, or a preset by name (without ``.toml``)."""
    path = _locate(source)
    shown = f"preset:allowance/{path.stem}" if path.parent.resolve() == ALLOWANCE_PRESET_DIR.resolve() else str(path)
    return parse_allowance_text(path.read_text(encoding="utf-8"), source=shown)


def load_allowance_book(*sources: str | Path) -> AllowanceBook:
    """Several versions (files or preset names) of one agency's policy, sorted by effective date."""
    versions = sorted((load_allowance_policy(s) for s in sources), key=lambda v: v.effective_from)
    return AllowanceBook(tuple(versions))


def parse_allowance_text(text: str, *, source: str = "<text>") -> AllowancePolicy:
    """Parse TOML text (e.g. a policy stored in the server's database)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(source, "(syntax)", str(exc), "valid TOML") from None
    return allowance_policy_from_dict(data, source=source)


def _locate(source: str | Path) -> Path:
    text = str(source)
    if isinstance(source, Path) or text.endswith(".toml") or "/" in text:
        path = Path(text)
    else:
        path = ALLOWANCE_PRESET_DIR / f"{text}.toml"
    if not path.is_file():
        names = ", ".join(allowance_preset_names())
        raise PolicyError(".", "source", text, f"an existing .toml file or an allowance preset ({names})")
    return path


def allowance_policy_from_dict(data: dict[str, Any], *, source: str) -> AllowancePolicy:
    r = Reader(data, source=source)
    meta = r.table("allowance", required=True)
    name = meta.text("name")
    effective_from = meta.day("effective_from", meta.raw("effective_from"))
    title = meta.text("title", name)
    legal_basis = meta.text("legal_basis") if meta.has("legal_basis") else ""
    meta.raw("description", "")
    meta.finish()
    rounding, pro_rata = r.table("rounding"), r.table("pro_rata")
    policy = AllowancePolicy(
        name=name,
        effective_from=effective_from,
        grades=_grades(r.table("grades", required=True)),
        title=title,
        legal_basis=legal_basis,
        pro_rata=pro_rata.choice("basis", ProRata, ProRata.CALENDAR_DAYS),
        status_share_bp=_status(r.table("status")),
        lateness=_lateness(r.table("lateness")),
        absence=_absence(r.table("absence")),
        monthly_cap_bp=_cap(r.table("discipline")),
        combine=_combine(r.table("combine")),
        performance=_performance(r.table("performance")),
        rounding=rounding.choice("rule", Rounding, Rounding.HALF_UP),
        rounding_unit=rounding.integer("unit", 1, minimum=1),
        source=source,
        fingerprint=hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16],
    )
    rounding.finish()
    pro_rata.finish()
    r.finish()
    return policy


def _grades(t: Reader) -> tuple[tuple[int, int], ...]:
    grades = []
    for key in t.data:
        if not key.isdigit() or not 1 <= int(key) <= 17:
            raise t.fail(key, t.data[key], "a grade (kelas jabatan) 1 to 17 as the key")
        grades.append((int(key), t.integer(key, minimum=1)))
    t.finish()
    return tuple(sorted(grades, reverse=True))


def _status(t: Reader) -> tuple[tuple[str, int], ...]:
    if not t.data:
        return (("pns", FULL_BP), ("cpns", 8000), ("pppk", FULL_BP))
    shares = tuple((key, t.percent(key)) for key in sorted(t.data))
    t.finish()
    return shares


def _lateness(t: Reader) -> LatenessRule:
    mode = t.choice("mode", LatenessMode, LatenessMode.ATTENDANCE_POLICY)
    rule = LatenessRule(
        mode=mode,
        bp_per_hour=t.percent("percent_per_hour", 100),
        day_minutes=t.integer("day_minutes", minimum=1) if t.has("day_minutes") else None,
        daily_cap_bp=t.percent("daily_cap") if t.has("daily_cap") else None,
    )
    t.finish()
    return rule


def _absence(t: Reader) -> AbsenceCut:
    rule = AbsenceCut(
        mode=t.choice("mode", AbsenceMode, AbsenceMode.ATTENDANCE_POLICY),
        bp_per_day=t.percent("percent_per_day", 500),
        ratio_weight_bp=t.percent("ratio_weight", FULL_BP),
    )
    t.finish()
    return rule


def _cap(t: Reader) -> int:
    cap = t.percent("monthly_cap", FULL_BP)
    t.finish()
    if cap > FULL_BP:
        raise t.fail("monthly_cap", cap, "at most 100%")
    return cap


def _combine(t: Reader) -> CombineRule:
    rule = CombineRule(
        mode=t.choice("mode", CombineMode, CombineMode.WEIGHTED),
        performance_weight_bp=t.percent("performance_weight", 6000),
        discipline_weight_bp=t.percent("discipline_weight", 4000),
    )
    t.finish()
    return rule


def _performance(t: Reader) -> PerformanceRule:
    rule = PerformanceRule(
        source=t.choice("source", PerformanceSource, PerformanceSource.MINUTES),
        work_weight_bp=t.percent("work_weight", 8000),
        behaviour_weight_bp=t.percent("behaviour_weight", 2000),
        work_cap_bp=t.percent("work_cap", FULL_BP),
        target_share=t.choice("target_share", TargetShare, TargetShare.ELAPSED),
        without_plan=t.choice("without_plan", WithoutPlan, WithoutPlan.MINUTES),
    )
    t.finish()
    return rule
