"""The payroll of a unit-month in Rupiah: one line per employee from the scoring library, month close,
recorded corrections and the audit trail.

All money rules live in :mod:`scoring` (compute_allowance with the agency's allowance preset); this
module only gathers the inputs (the stored monthly result's explanation, the effective-dated grades)
and stores what the bureau decided. An open month is computed live and is provisional (SEMENTARA); a
closed month reads its frozen lines, and a change after the close is a PayrollCorrection, never silent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from functools import lru_cache
from typing import Any

from tortoise.transactions import in_transaction

from scoring import (
    AllowanceInput,
    AllowancePolicy,
    AllowanceResult,
    AttendanceDay,
    GradeAssignment,
    InputError,
    PerformanceRule,
    PerformanceSource,
    ScoringError,
    compute_allowance,
    explain_allowance,
    load_allowance_policy,
    performance_component,
    plan_rule_text,
)
from server.errors import Conflict
from server.models import Employee
from server.payroll_models import (
    AuditEntry,
    EmployeeGrade,
    MonthClose,
    PayrollCorrection,
    PayrollLine,
    UnitSignatory,
)
from server.services.allowance_words import trace_in
from server.services.members import grades_within, unit_members
from server.services.month import unit_month
from server.services.stale import stale_version

# The agency's allowance policy when the settings name none (ServerSettings.allowance_policy).
ALLOWANCE_PRESET = "social-affairs-2023"
_configured = [ALLOWANCE_PRESET]
STATUSES = ("pns", "cpns", "pppk")
_OUTSIDE = ("not_employed", "not_live")


class PayrollConflict(Exception):
    """A request the month's state refuses (closing twice, correcting an open month)."""


class StillRecalculating(PayrollConflict):
    """Closing a unit-month while it is marked stale: something changed its figures after they were read."""


@dataclass(frozen=True, slots=True)
class PayLine:
    nip: str
    name: str
    position: str
    grade: str
    status: str
    gross: int
    deduction_bp: int
    cut: int
    net: int
    explain: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class CorrectionView:
    nip: str
    reason: str
    corrected_by: str
    corrected_at: datetime
    gross_before: int
    gross_after: int
    net_before: int
    net_after: int


@dataclass(frozen=True, slots=True)
class PayrollSheet:
    unit_code: str
    year: int
    month: int
    final: bool
    closed_by: str | None
    closed_at: datetime | None
    lines: tuple[PayLine, ...]
    corrections: tuple[CorrectionView, ...]
    missing: tuple[tuple[str, str], ...]
    """(NIP, why) of employees with no payroll line: no grade held, no result."""

    @property
    def total_gross(self) -> int:
        return sum(line.gross for line in self.lines)

    @property
    def total_cut(self) -> int:
        return sum(line.cut for line in self.lines)

    @property
    def total_net(self) -> int:
        return sum(line.net for line in self.lines)


@dataclass(frozen=True, slots=True)
class PlanBasis:
    """What one employee-month's performance component is computed from under a policy whose performance
    comes from the plan (server/services/plan_allowance.py gathers it)."""

    year: int
    realised_to: date
    version: int | None
    """The agreed plan version measured; None: no agreed plan for the year."""
    work: Fraction | None
    """The plan's realisation against the part of the targets expected by ``realised_to``; None: no plan."""
    expected: Fraction
    behaviour: Fraction | None
    behaviour_period: str | None
    """The appraisal period whose behaviour rating counted (``"2025-Q2"`` or ``"2025"``), None: none."""


PlanSource = Callable[[Sequence[str], int, int, PerformanceRule], Awaitable[Mapping[str, PlanBasis]]]
_plan_source: list[PlanSource | None] = [None]


def use_allowance_policy(source: str, plan_source: PlanSource | None = None) -> AllowancePolicy:
    """The agency's allowance policy from now on (create_app, from the settings): a preset name or a file.
    Read once here, so a wrong file stops the server's start with the key to fix. ``plan_source`` gathers
    the plan figures a ``[performance] source = "plan"`` policy needs (plan_allowance.plan_bases: given
    by create_app, as the work plans' services themselves record their audit through this module)."""
    policy = _policy(source)
    _configured[0] = source
    _plan_source[0] = plan_source
    return policy


def allowance_policy() -> AllowancePolicy:
    return _policy(_configured[0])


@lru_cache(maxsize=8)
def _policy(source: str) -> AllowancePolicy:
    return load_allowance_policy(source)


def allowance_input(
    nip: str, year: int, month: int, explained: Mapping[str, Any], grades: Sequence[GradeAssignment]
) -> AllowanceInput:
    """The allowance input from a stored monthly result's explanation (what from_monthly_result takes from
    a live MonthlyResult: the planned days, minutes late and early, each day's deduction and codes)."""
    attendance = tuple(
        AttendanceDay(
            date.fromisoformat(entry["date"]),
            entry["status"] == "absent",
            int(entry.get("late_minutes") or 0),
            int(entry.get("early_minutes") or 0),
            int(entry.get("deduction_bp") or 0),
            tuple(entry.get("codes") or ()),
        )
        for entry in explained.get("days", ())
        if entry.get("status") is not None
    )
    # the unit's working days on which the employee was not in it count in the month's working days too
    outside = {
        date.fromisoformat(entry["date"])
        for entry in explained.get("days", ())
        if entry.get("kind") in _OUTSIDE and entry.get("unit_kind") in ("working", "shift")
    }
    performance = explained.get("summary", {}).get("performance_bp")
    return AllowanceInput(
        nip=nip,
        year=year,
        month=month,
        assignments=tuple(grades),
        working_days=tuple(sorted({day.day for day in attendance} | outside)),
        attendance=attendance,
        performance_bp=int(performance) if performance is not None else 10_000,
        performance_source="monthly result (effective minutes against target)",
        performance_basis=PerformanceSource.MINUTES.value,
    )


async def grades_of(nips: Sequence[str]) -> dict[str, list[GradeAssignment]]:
    found: dict[str, list[GradeAssignment]] = {nip: [] for nip in nips}
    for row in await EmployeeGrade.filter(nip__in=list(nips)).order_by("first_day"):
        found[row.nip].append(GradeAssignment(row.first_day, row.last_day, row.grade, row.status))
    return found


async def set_grade(nip: str, grade: int, status: str, first_day: date, by: str) -> EmployeeGrade:
    """The employee holds ``grade`` from ``first_day``: the grade held before ends the day before."""
    if not 1 <= grade <= 17:
        raise ValueError(f"grade: kelas jabatan 1-17, got {grade}")
    if status not in STATUSES:
        raise ValueError(f"status: expected one of {', '.join(STATUSES)}, got {status!r}")
    async with in_transaction():
        await EmployeeGrade.filter(nip=nip, first_day__gte=first_day).delete()
        for row in await EmployeeGrade.filter(nip=nip, first_day__lt=first_day):
            if row.last_day is None or row.last_day >= first_day:
                row.last_day = date.fromordinal(first_day.toordinal() - 1)
                await row.save()
        return await EmployeeGrade.create(nip=nip, grade=grade, status=status, first_day=first_day, recorded_by=by)


def _last_day(year: int, month: int) -> date:
    return date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)


def _grade_text(result: AllowanceResult) -> tuple[str, str]:
    grades = [str(s.grade) for s in result.segments]
    statuses = [s.status for s in result.segments]
    unique = list(dict.fromkeys(grades))
    return "/".join(unique), statuses[-1]


def pay_line(
    employee: Employee,
    year: int,
    month: int,
    explained: Mapping[str, Any],
    grades: Sequence[GradeAssignment],
    preset: str | None = None,
    plan: PlanBasis | None = None,
) -> PayLine:
    """One employee's line. Under a policy whose performance comes from the plan, ``plan`` holds the plan's
    realisation and the behaviour rating (server/services/plan_allowance.py); None: no agreed plan."""
    policy = _policy(preset) if preset else allowance_policy()
    month_input = allowance_input(employee.nip, year, month, explained, grades)
    component = None
    if policy.performance.source is PerformanceSource.PLAN:
        component = performance_component(
            policy.performance,
            minutes_bp=month_input.performance_bp,
            work=plan.work if plan else None,
            behaviour=plan.behaviour if plan else None,
            year=year,
        )
        month_input = replace(
            month_input,
            performance_bp=component.performance_bp,
            performance_source=component.source,
            performance_basis=component.basis.value,
        )
    result = compute_allowance(policy, month_input)
    explain = explain_allowance(result)
    if component is not None:
        explain["performance"] |= component.explain() | {"rule": plan_rule_text(policy.performance)}
        if plan is not None:
            explain["performance"]["plan"] = {
                "year": plan.year,
                "version": plan.version,
                "realised_to": plan.realised_to.isoformat(),
                "expected": f"{plan.expected.numerator}/{plan.expected.denominator}",
                "behaviour_period": plan.behaviour_period,
            }
    grade, status = _grade_text(result)
    return PayLine(
        employee.nip,
        employee.name,
        employee.position,
        grade,
        status,
        result.gross,
        result.deduction_bp,
        result.cut_rupiah,
        result.net,
        trace_in(explain),  # its sentences in Indonesian, the record's language
    )


async def _plan_bases(nips: Sequence[str], year: int, month: int, preset: str | None) -> dict[str, PlanBasis]:
    """The plan figures of each employee, when the policy's performance comes from the plan (else none)."""
    policy = _policy(preset) if preset else allowance_policy()
    if policy.performance.source is not PerformanceSource.PLAN:
        return {}
    source = _plan_source[0]
    if source is None:
        raise RuntimeError("an allowance policy from the plan needs use_allowance_policy(..., plan_source=)")
    return dict(await source(nips, year, month, policy.performance))


async def live_lines(
    unit_code: str, year: int, month: int, explained: Mapping[str, Mapping[str, Any]], preset: str | None = None
) -> tuple[list[PayLine], list[tuple[str, str]]]:
    """Lines computed now from ``explained`` (NIP -> stored monthly explanation) and the grades: one per
    member of the unit that month, paid for the days they were in it (a transfer: each unit its days)."""
    members = await unit_members(unit_code, date(year, month, 1), _last_day(year, month))
    employees = await Employee.filter(nip__in=list(members)).order_by("name", "nip")
    held = await grades_of([e.nip for e in employees])
    grades = {nip: grades_within(held[nip], members[nip]) for nip in held}
    plans = await _plan_bases([e.nip for e in employees if e.nip in explained], year, month, preset)
    lines: list[PayLine] = []
    missing: list[tuple[str, str]] = []
    for employee in employees:
        if employee.nip not in explained:
            missing.append((employee.nip, f"{employee.nip}: no monthly result"))
            continue
        try:
            line = pay_line(employee, year, month, explained[employee.nip], grades[employee.nip], preset,
                            plans.get(employee.nip))  # fmt: skip
            lines.append(line)
        except InputError as exc:
            missing.append((employee.nip, str(exc)))
    return lines, missing


def _line_values(line: PayLine) -> dict[str, Any]:
    names = ("name", "position", "grade", "status", "gross", "deduction_bp", "cut", "net", "explain")
    return {name: getattr(line, name) for name in names}


async def closed_month(unit_code: str, year: int, month: int) -> MonthClose | None:
    return await MonthClose.get_or_none(unit_code=unit_code, year=year, month=month)


def _line_of(row: PayrollLine) -> PayLine:
    return PayLine(
        row.nip,
        row.name,
        row.position,
        row.grade,
        row.status,
        row.gross,
        row.deduction_bp,
        row.cut,
        row.net,
        row.explain,
    )


async def payroll_sheet(
    unit_code: str, year: int, month: int, explained: Mapping[str, Mapping[str, Any]] | None
) -> PayrollSheet:
    """The closed month's frozen lines, or (``explained`` given) an open month's provisional ones."""
    close = await closed_month(unit_code, year, month)
    if close is not None:
        rows = await PayrollLine.filter(close=close).order_by("name", "nip")
        corrections = await PayrollCorrection.filter(close=close).order_by("corrected_at", "id")
        return PayrollSheet(
            unit_code,
            year,
            month,
            True,
            close.closed_by,
            close.closed_at,
            tuple(_line_of(r) for r in rows),
            tuple(
                CorrectionView(
                    c.nip,
                    c.reason,
                    c.corrected_by,
                    c.corrected_at,
                    c.gross_before,
                    c.gross_after,
                    c.net_before,
                    c.net_after,
                )
                for c in corrections
            ),
            (),
        )
    lines, missing = await live_lines(unit_code, year, month, explained or {})
    return PayrollSheet(unit_code, year, month, False, None, None, tuple(lines), (), tuple(missing))


async def record_audit(
    username: str, role: str, action: str, target: str, unit_code: str | None, detail: Mapping[str, Any]
) -> None:
    await AuditEntry.create(
        at=datetime.now(UTC),
        username=username,
        role=role,
        action=action,
        target=target,
        unit_code=unit_code,
        detail=dict(detail),
    )


async def close_month(
    unit_code: str, year: int, month: int, explained: Mapping[str, Mapping[str, Any]], by: str, role: str
) -> MonthClose:
    """Freeze the unit-month's lines as they are now. Closing a closed month is refused, and so is closing one
    marked stale (server/services/stale.py): ``explained`` comes from `explained_month`, which scores the
    marks left as the bureau's explicit action (read-your-writes); a mark still there means a punch,
    request or change came in after that, and the month is not closed on figures it has outdated."""
    lines, _missing = await live_lines(unit_code, year, month, explained)
    async with in_transaction():
        if await closed_month(unit_code, year, month) is not None:
            raise PayrollConflict(f"{unit_code} {year}-{month:02d} is already closed")
        if await stale_version(unit_code, year, month) is not None:
            raise StillRecalculating(
                f"{unit_code} {year}-{month:02d} is being recalculated: try closing it again in a few seconds"
            )
        close = await MonthClose.create(
            unit_code=unit_code,
            year=year,
            month=month,
            closed_by=by,
            closed_at=datetime.now(UTC),
            allowance_policy=allowance_policy().name[:100],
        )
        await PayrollLine.bulk_create([PayrollLine(close=close, **_line_values(line), nip=line.nip) for line in lines])
        await record_audit(by, role, "month.close", f"{unit_code} {year}-{month:02d}", unit_code,
                           {"lines": len(lines), "net": sum(line.net for line in lines)})  # fmt: skip
    return close


async def correct_line(
    unit_code: str,
    year: int,
    month: int,
    nip: str,
    reason: str,
    explained: Mapping[str, Mapping[str, Any]],
    by: str,
    role: str,
) -> PayrollCorrection:
    """A late change to a closed month: the employee's line recomputed now replaces the frozen one, and
    the correction (who, when, why, before and after) is kept and shown in the payroll report."""
    if not reason.strip():
        raise ValueError("reason: a correction says why")
    close = await closed_month(unit_code, year, month)
    if close is None:
        raise PayrollConflict(
            f"{unit_code} {year}-{month:02d} is open: its figures are still provisional, no correction needed"
        )
    members = await unit_members(unit_code, date(year, month, 1), _last_day(year, month))
    employee = await Employee.get_or_none(nip=nip) if nip in members else None
    if employee is None or nip not in explained:
        raise LookupError(f"no employee {nip} with a result in {unit_code} {year}-{month:02d}")
    grades = grades_within((await grades_of([nip]))[nip], members[nip])
    plans = await _plan_bases([nip], year, month, None)
    try:
        new = pay_line(employee, year, month, explained[nip], grades, plan=plans.get(nip))
    except InputError as exc:  # no grade held that month: the month's sheet has no line for them either
        raise PayrollConflict(f"{nip} has no payroll line in {unit_code} {year}-{month:02d}: {exc}") from None
    async with in_transaction():
        row = await PayrollLine.get_or_none(close=close, nip=nip)
        gross_before = row.gross if row else 0
        net_before = row.net if row else 0
        values = _line_values(new)
        if row is None:
            await PayrollLine.create(close=close, nip=nip, **values)
        else:
            row.update_from_dict(values)
            await row.save()
        correction = await PayrollCorrection.create(
            close=close, nip=nip, reason=reason.strip(), corrected_by=by, corrected_at=datetime.now(UTC),
            net_before=net_before, net_after=new.net, gross_before=gross_before, gross_after=new.gross,
        )  # fmt: skip
        await record_audit(by, role, "payroll.correct", f"{unit_code} {year}-{month:02d} {nip}", unit_code,
                           {"reason": reason.strip(), "net_before": net_before, "net_after": new.net})  # fmt: skip
    return correction


async def signatories(unit_code: str) -> UnitSignatory:
    found = await UnitSignatory.get_or_none(unit_code=unit_code)
    return found or UnitSignatory(unit_code=unit_code)


async def explained_month(unit_code: str, month: date) -> dict[str, dict[str, Any]]:
    """The unit-month's stored results; a month the policy cannot score (before it was in force) is a 409."""
    try:
        scored = await unit_month(unit_code, month)
    except ScoringError as exc:
        raise Conflict(str(exc)) from None
    return {nip: result.explained for nip, result in scored.items()}


async def sheet_for(unit_code: str, month: date) -> PayrollSheet:
    closed = await closed_month(unit_code, month.year, month.month)
    explained = None if closed is not None else await explained_month(unit_code, month)
    return await payroll_sheet(unit_code, month.year, month.month, explained)
