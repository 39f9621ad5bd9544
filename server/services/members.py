"""Who belongs to a unit on which days: the month's members of a unit from the dated employee history.

An employee without history rows (server/history_models.py) belongs to their current unit at all times,
as before history was kept; one with rows belongs to a unit on the days a row puts them in it, active.
The scoring leaves every other day out (no TK, no planned day) and the payroll pays a unit its own days.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

from scoring import GradeAssignment, assignments_within
from server.history_models import EmployeeAssignment, UnitGoLive
from server.models import Employee

ACTIVE = "active"
_CHUNK = 2000
Span = tuple[date, date | None]


def spans_in(rows: Iterable[EmployeeAssignment], unit_code: str) -> list[Span]:
    """The spans of days the rows (one employee's, oldest first) are active in ``unit_code``."""
    ordered = sorted(rows, key=lambda r: r.valid_from)
    spans: list[Span] = []
    for k, row in enumerate(ordered):
        if row.unit_code != unit_code or row.status != ACTIVE:
            continue
        last = ordered[k + 1].valid_from - timedelta(days=1) if k + 1 < len(ordered) else None
        if spans and spans[-1][1] is not None and spans[-1][1] + timedelta(days=1) == row.valid_from:
            spans[-1] = (spans[-1][0], last)  # an edit inside the unit continues the span
        else:
            spans.append((row.valid_from, last))
    return spans


def _overlaps(span: Span, first: date, last: date) -> bool:
    return span[0] <= last and (span[1] is None or span[1] >= first)


async def unit_members(unit_code: str, first: date, last: date) -> dict[str, list[Span] | None]:
    """Employees of ``unit_code`` on any day from ``first`` to ``last``, by NIP (sorted), with the spans
    they were in it (``None``: no history, in the unit at all times)."""
    with_rows = set(await EmployeeAssignment.filter(unit_code=unit_code).distinct().values_list("nip", flat=True))
    members: dict[str, list[Span] | None] = {}
    if with_rows:
        rows: dict[str, list[EmployeeAssignment]] = {}
        ordered = sorted(with_rows)
        for start in range(0, len(ordered), _CHUNK):
            chunk = ordered[start : start + _CHUNK]
            for row in await EmployeeAssignment.filter(nip__in=chunk).order_by("valid_from"):
                rows.setdefault(row.nip, []).append(row)
        for nip, own in rows.items():
            spans = [s for s in spans_in(own, unit_code) if _overlaps(s, first, last)]
            if spans:
                members[nip] = spans
    current = list(await Employee.filter(unit_id=unit_code).values_list("nip", flat=True))
    historied: set[str] = set()
    for start in range(0, len(current), _CHUNK):  # bounded IN lists (SQLite caps bound variables)
        query = EmployeeAssignment.filter(nip__in=current[start : start + _CHUNK]).distinct()
        historied.update(await query.values_list("nip", flat=True))
    for nip in current:
        if nip not in historied:
            members[nip] = None
    return dict(sorted(members.items()))


def grades_within(grades: list[GradeAssignment], spans: list[Span] | None) -> list[GradeAssignment]:
    """The grades held, cut to the unit's spans (all of them without history)."""
    return grades if spans is None else list(assignments_within(grades, spans))


async def go_live_of(unit_code: str) -> date | None:
    row = await UnitGoLive.get_or_none(unit_code=unit_code)
    return row.live_from if row else None


async def unit_of(nip: str, first: date, last: date, current: str) -> str:
    """The unit the employee was in last between ``first`` and ``last`` (their current one without history)."""
    rows = await EmployeeAssignment.filter(nip=nip, valid_from__lte=last).order_by("valid_from")
    for row in reversed(rows):
        if row.status == ACTIVE and any(_overlaps(s, first, last) for s in spans_in(rows, row.unit_code)):
            return row.unit_code
    return current
