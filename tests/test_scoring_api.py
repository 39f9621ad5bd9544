"""The scoring library's front door: what `scoring` exports is what docs/scoring.md shows, callers use
nothing else, the library imports nothing of ours, and a day can be scored on its own."""

from __future__ import annotations

import ast
import re
import sys
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

import pytest

import scoring
from scoring import (
    OFF,
    PRESENT,
    DayKind,
    EmployeeMonth,
    InputError,
    Punch,
    build_month_plan,
    load_policy,
    score_day,
    score_month,
)

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "scoring.md"
WIB = timezone(timedelta(hours=7))
NIP = "199001012020011001"
NATIONAL = load_policy("national-common")


def first_example() -> str:
    found = re.search(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert found, "docs/scoring.md has no python example"
    return found.group(1)


def test_the_first_example_of_the_docs_is_the_public_api_and_runs():
    code = first_example()
    tree = ast.parse(code)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.module != "scoring" and not (node.module or "").startswith("scoring")
        if isinstance(node, ast.Import):
            assert all(a.name == "scoring" or a.name in sys.stdlib_module_names for a in node.names)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "scoring":
            assert node.attr in scoring.__all__, node.attr
    used = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    # load a policy, derive it for a zone, score a day, score a month, explain
    assert {"load_policy", "in_zone", "score_day", "build_month_plan", "score_month", "explain"} <= used
    exec(compile(code, str(DOC), "exec"), {})


def test_every_public_name_is_exported_and_documented():
    exported = scoring.__all__
    assert len(set(exported)) == len(exported)
    public = {name for name in vars(scoring) if not name.startswith("_")}
    assert public == set(exported)  # nothing else leaks out of the package
    text = DOC.read_text(encoding="utf-8")
    assert [name for name in exported if f"`{name}`" not in text] == []


def python_files_outside_scoring() -> list[Path]:
    skip = {".venv", "node_modules", "scoring", ".git"}
    return [p for p in ROOT.rglob("*.py") if not skip & set(p.relative_to(ROOT).parts)]


def test_callers_import_only_public_names():
    wrong = []
    for path in python_files_outside_scoring():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "scoring":
                private = [a.name for a in node.names if a.name not in scoring.__all__]
                if node.module != "scoring" or private:
                    wrong.append(f"{where} from {node.module} import {private or '...'}")
            elif isinstance(node, ast.Import):
                wrong += [f"{where} import {a.name}" for a in node.names if a.name.startswith("scoring.")]
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "scoring":
                wrong += [] if node.attr in scoring.__all__ or node.attr.startswith("__") else [f"{where} {node.attr}"]
    assert wrong == []


def test_the_library_imports_only_the_standard_library_and_holidays():
    allowed = set(sys.stdlib_module_names) | {"holidays"}
    found = set()
    for path in (ROOT / "scoring").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                found.add((node.module or "").split(".")[0])
    assert found - allowed == set()


def at(day: date, clock: str, zone: timezone = WIB) -> Punch:
    hh, mm = (int(x) for x in clock.split(":"))
    return Punch(datetime.combine(day, time(hh, mm), zone), device="DEV1")


@pytest.mark.parametrize(
    ("day", "kind", "note"),
    [
        (date(2025, 5, 1), DayKind.HOLIDAY, "Hari Buruh Internasional"),
        (date(2025, 5, 13), DayKind.JOINT_LEAVE, "Cuti Bersama Hari Raya Waisak"),
        (date(2025, 3, 31), DayKind.HOLIDAY, "Hari Raya Idul Fitri"),
        (date(2025, 5, 10), DayKind.WEEKEND, "weekend"),
        (date(2025, 5, 20), DayKind.DAY_OFF, "Hari jadi kantor"),
    ],
)
def test_a_day_without_work_has_a_record_that_says_so(day, kind, note):
    rec = score_day(NATIONAL, NIP, day, days_off={date(2025, 5, 20): "Hari jadi kantor"})
    assert (rec.status, rec.kind, rec.note, rec.codes, rec.deduction_bp) == (OFF, kind, note, (), 0)
    assert rec.day == day and rec.end - rec.start == 86_400


def test_punches_on_a_day_off_are_kept_and_never_scored():
    saturday = date(2025, 5, 10)
    rec = score_day(NATIONAL, NIP, saturday, [at(saturday, "09:00"), at(saturday, "12:00")])
    assert (rec.status, rec.kind, rec.last - rec.first, rec.deduction_bp) == (OFF, "weekend", 2, 0)


def test_a_day_scored_alone_is_the_day_of_its_month():
    punches = [at(date(2025, 5, d), clock) for d in (5, 6, 7, 9, 10) for clock in ("07:50", "15:40")]
    punches.append(at(date(2025, 5, 8), "09:10"))  # one punch: TL4 and no departure
    excuses = {date(2025, 5, 14): "official_travel"}
    result = score_month(build_month_plan(NATIONAL, 2025, 5), EmployeeMonth.from_punches(NIP, punches, excuses=excuses))
    for d in range(1, 32):
        day = date(2025, 5, d)
        assert score_day(NATIONAL, NIP, day, punches, excuse=excuses.get(day)) == result.day(day)
    assert result.day(date(2025, 5, 5)).codes == ("TL1", "PSW1") and result.day(date(2025, 5, 15)).codes == ("TK",)


def test_calendar_days_are_every_day_and_the_planned_ones_are_the_days():
    result = score_month(build_month_plan(NATIONAL, 2025, 6), EmployeeMonth(NIP))
    assert [r.day for r in result.calendar_days] == [date(2025, 6, d) for d in range(1, 31)]
    assert tuple(r for r in result.calendar_days if r.status != OFF) == result.days
    assert {r.kind for r in result.days} == {"working"}
    with pytest.raises(InputError, match="2025-07-01"):
        result.day(date(2025, 7, 1))


def test_a_shift_day_and_a_shift_workers_day_without_shift():
    rehab = load_policy("rehab-centre-shifts")
    day = date(2025, 5, 5)
    night = score_day(rehab, NIP, day, [at(day, "20:55"), at(day + timedelta(days=1), "07:05")], shift="M")
    assert (night.status, night.kind, night.shift, night.codes) == (PRESENT, "shift", "M", ())
    month = score_month(build_month_plan(rehab, 2025, 5), EmployeeMonth(NIP, roster={day: "M"}))
    off = month.day(day + timedelta(days=1))
    assert (off.status, off.kind, off.note) == (OFF, DayKind.OFF_ROSTER, "no shift rostered")
