"""One employee's month in Rupiah: gross for the grade, discipline cut, performance component, net.

Money is ``int`` Rupiah; shares and percentages are exact :class:`fractions.Fraction` while computing.
Two amounts are rounded, each once, by the policy's stated rule: the gross (after pro rata and the
status share) and the net (gross x share paid). The cut in Rupiah is gross - net, so a payroll row
always adds up.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction
from typing import Any

from ._allowance_policy import (
    AbsenceMode,
    AllowanceBook,
    AllowancePolicy,
    CombineMode,
    LatenessMode,
    ProRata,
    Rounding,
)
from ._calendar import DayKind
from ._daily import ABSENT
from ._errors import InputError
from ._percent import FULL_BP, format_bp
from ._result import MonthlyResult

ONE = Fraction(1)
_OUTSIDE = frozenset({str(DayKind.NOT_EMPLOYED), str(DayKind.NOT_LIVE)})


@dataclass(frozen=True, slots=True)
class GradeAssignment:
    """A grade (kelas jabatan) held from ``first_day`` to ``last_day`` (None: still held), and the
    employment status then (``pns``, ``cpns``, ``pppk`` or whatever the policy names)."""

    first_day: date
    last_day: date | None
    grade: int
    status: str = "pns"

    def covers(self, day: date) -> bool:
        return self.first_day <= day and (self.last_day is None or day <= self.last_day)


def assignments_within(
    assignments: Iterable[GradeAssignment], spans: Iterable[tuple[date, date | None]]
) -> tuple[GradeAssignment, ...]:
    """The grades held, cut to the spans of days (first, last; last ``None``: open) the employee was in
    one unit: a unit's payroll pays only its own days (a transfer on the 15th: the old unit days 1-14)."""
    out = []
    for span_first, span_last in sorted(spans):
        for a in assignments:
            first = max(a.first_day, span_first)
            ends = [d for d in (a.last_day, span_last) if d is not None]
            last = min(ends) if ends else None
            if last is None or first <= last:
                out.append(GradeAssignment(first, last, a.grade, a.status))
    return tuple(sorted(out, key=lambda a: a.first_day))


@dataclass(frozen=True, slots=True)
class AttendanceDay:
    """A working day as the attendance scoring saw it (``AllowanceInput.from_monthly_result`` makes these)."""

    day: date
    absent: bool = False
    late_minutes: int = 0
    early_minutes: int = 0
    deduction_bp: int = 0
    """The day's deduction under the attendance policy (TL/PSW bands, TK, an excuse's own rate)."""
    codes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AllowanceInput:
    """What the allowance of one employee-month is computed from."""

    nip: str
    year: int
    month: int
    assignments: tuple[GradeAssignment, ...]
    working_days: tuple[date, ...]
    """The month's working days (the attendance plan's): the basis of working-day pro rata and ratios."""
    attendance: tuple[AttendanceDay, ...] = ()
    performance_bp: int = FULL_BP
    performance_source: str = "given"
    performance_basis: str = "given"
    """``minutes`` or ``plan`` (the allowance policy's ``[performance] source`` used), or ``given``."""

    @classmethod
    def from_monthly_result(
        cls,
        result: MonthlyResult,
        assignments: Iterable[GradeAssignment],
        *,
        performance_bp: int | None = None,
        performance_source: str | None = None,
        performance_basis: str = "given",
    ) -> AllowanceInput:
        """The month as :func:`scoring.score_month` scored it; the performance component is the
        result's (effective minutes against target) unless another is given (e.g. plan realisation)."""
        days = result.days
        # The unit's working days, the employee's or not: days outside their time in the unit still
        # count in the month a working-day pro rata divides by.
        working = {r.day for r in days} | {
            r.day for r in result.calendar_days if r.kind in _OUTSIDE and result.plan.days[r.index].is_working
        }
        attendance = tuple(
            AttendanceDay(r.day, r.status == ABSENT, r.late_minutes, r.early_minutes, r.deduction_bp, r.codes)
            for r in days
        )
        if performance_bp is None:
            performance_bp, performance_basis = result.performance_bp, "minutes"
            performance_source = performance_source or (
                f"effective minutes {result.effective_minutes} of target {result.target_minutes} (monthly result)"
            )
        return cls(
            nip=result.nip,
            year=result.year,
            month=result.month,
            assignments=tuple(assignments),
            working_days=tuple(sorted(working)),
            attendance=attendance,
            performance_bp=performance_bp,
            performance_source=performance_source or "given",
            performance_basis=performance_basis,
        )


@dataclass(frozen=True, slots=True)
class PaySegment:
    """Days of the month at one grade, status and table version, and their share of the month."""

    first_day: date
    last_day: date
    grade: int
    status: str
    version: AllowancePolicy
    share: Fraction
    amount: int
    status_share_bp: int

    @property
    def exact(self) -> Fraction:
        return self.amount * self.share * Fraction(self.status_share_bp, FULL_BP)


@dataclass(frozen=True, slots=True)
class DisciplineCut:
    days: tuple[tuple[AttendanceDay, Fraction, bool], ...]
    """Each employed working day that cut anything: the day, its late/early part (bp), capped by the daily cap."""
    late_early_bp: Fraction
    absent: tuple[AttendanceDay, ...]
    employed_working_days: int
    absence_bp: Fraction
    total_bp: Fraction
    cut: Fraction
    """The cut as a share of 1, after the monthly cap."""

    @property
    def absent_days(self) -> int:
        return len(self.absent)


@dataclass(frozen=True, slots=True, eq=False)
class AllowanceResult:
    """One employee-month in Rupiah; :meth:`explain` traces every figure."""

    input: AllowanceInput
    policy: AllowancePolicy
    """The version whose rules (cut, weights, rounding) applied: the one in force on the last day employed."""
    segments: tuple[PaySegment, ...]
    gross_exact: Fraction
    gross: int
    discipline: DisciplineCut
    performance: Fraction
    paid_share: Fraction
    net: int

    @property
    def cut_rupiah(self) -> int:
        """gross - net: everything not paid, discipline and performance together."""
        return self.gross - self.net

    @property
    def deduction_bp(self) -> int:
        """The share of the gross not paid, in basis points (rounded half up, for display)."""
        return _bp(ONE - self.paid_share)

    def summary(self) -> dict[str, Any]:
        return {
            "nip": self.input.nip,
            "month": f"{self.input.year}-{self.input.month:02d}",
            "policy": self.policy.name,
            "grades": sorted({s.grade for s in self.segments}),
            "gross": self.gross,
            "discipline_cut_bp": _bp(self.discipline.cut),
            "performance_bp": _bp(self.performance),
            "deduction_bp": self.deduction_bp,
            "cut": self.cut_rupiah,
            "net": self.net,
        }

    def explain(self) -> dict[str, Any]:
        return explain_allowance(self)


def round_rupiah(amount: Fraction, rule: Rounding = Rounding.HALF_UP, unit: int = 1) -> int:
    """An exact amount to a whole multiple of ``unit`` Rupiah by ``rule``."""
    steps = Fraction(amount) / unit
    if rule is Rounding.DOWN:
        whole = steps.numerator // steps.denominator
    elif rule is Rounding.UP:
        whole = -(-steps.numerator // steps.denominator)
    else:
        half = steps + Fraction(1, 2)
        whole = half.numerator // half.denominator
    return whole * unit


def format_rupiah(amount: int) -> str:
    """33240000 -> ``"Rp 33.240.000"`` (the Indonesian thousands separator)."""
    sign = "-" if amount < 0 else ""
    return f"{sign}Rp {abs(amount):,}".replace(",", ".")


def compute_allowance(policy: AllowancePolicy | AllowanceBook, month: AllowanceInput) -> AllowanceResult:
    """The month's allowance: gross for the grade(s) held, discipline cut, performance, net."""
    book = policy if isinstance(policy, AllowanceBook) else AllowanceBook((policy,))
    employed = _employed_days(book, month)
    if not employed:
        raise InputError(f"{month.nip}: no grade held in {month.year}-{month.month:02d}")
    rules = employed[-1][3]
    segments = _segments(rules, month, employed)
    gross_exact = sum((s.exact for s in segments), Fraction(0))
    gross = round_rupiah(gross_exact, rules.rounding, rules.rounding_unit)
    discipline = _discipline(rules, month, {d for d, *_ in employed})
    performance = Fraction(max(0, min(month.performance_bp, FULL_BP)), FULL_BP)
    paid = _paid_share(rules, performance, discipline.cut)
    net = round_rupiah(gross * paid, rules.rounding, rules.rounding_unit)
    return AllowanceResult(month, rules, segments, gross_exact, gross, discipline, performance, paid, net)


def _month_days(year: int, month: int) -> list[date]:
    first = date(year, month, 1)
    return [first + timedelta(days=i) for i in range(calendar.monthrange(year, month)[1])]


def _employed_days(book: AllowanceBook, month: AllowanceInput) -> list[tuple[date, int, str, AllowancePolicy]]:
    """(day, grade, status, version in force) for every calendar day a grade is held."""
    out = []
    for day in _month_days(month.year, month.month):
        held = [a for a in month.assignments if a.covers(day)]
        if len(held) > 1:
            raise InputError(f"{month.nip}: {len(held)} grades held on {day}; assignments must not overlap")
        if not held:
            continue
        version = book.in_force(day)
        if version is None:
            first = book.versions[0]
            raise InputError(
                f"{month.nip}: no allowance table in force on {day} "
                f"({first.name} starts {first.effective_from}); add the version that was in force then"
            )
        version.amount(held[0].grade)  # a grade the table lacks is an error before any arithmetic
        out.append((day, held[0].grade, held[0].status, version))
    return out


def _segments(
    rules: AllowancePolicy, month: AllowanceInput, employed: list[tuple[date, int, str, AllowancePolicy]]
) -> tuple[PaySegment, ...]:
    runs: list[list[tuple[date, int, str, AllowancePolicy]]] = []
    for entry in employed:
        last = runs[-1][-1] if runs else None
        if last and last[1:] == entry[1:] and last[0] + timedelta(days=1) == entry[0]:
            runs[-1].append(entry)
        else:
            runs.append([entry])
    if rules.pro_rata is ProRata.WHOLE_MONTH:
        runs = runs[-1:]
    share_of = _share_function(rules.pro_rata, month)
    segments = []
    for run in runs:
        first, grade, status, version = run[0]
        share = share_of([d for d, *_ in run])
        amount, status_share = version.amount(grade), rules.status_share(status)
        segments.append(PaySegment(first, run[-1][0], grade, status, version, share, amount, status_share))
    return tuple(segments)


def _share_function(basis: ProRata, month: AllowanceInput) -> Callable[[list[date]], Fraction]:
    if basis is ProRata.WHOLE_MONTH:
        return lambda days: ONE
    if basis is ProRata.CALENDAR_DAYS:
        total = calendar.monthrange(month.year, month.month)[1]
        return lambda days: Fraction(len(days), total)
    working = set(month.working_days)
    if not working:
        raise InputError(f"{month.nip}: working-day pro rata needs the month's working days")
    return lambda days: Fraction(len(working.intersection(days)), len(working))


def _late_early_part(rules: AllowancePolicy, day: AttendanceDay) -> Fraction:
    """The day's late plus early-leave cut in basis points, before the daily cap."""
    rule = rules.lateness
    if rule.mode is LatenessMode.ATTENDANCE_POLICY:
        return Fraction(day.deduction_bp)
    minutes = day.late_minutes + day.early_minutes
    if rule.day_minutes is not None:
        minutes = min(minutes, rule.day_minutes)
    return Fraction(minutes * rule.bp_per_hour, 60)


def _absence_part(rules: AllowancePolicy, absent: list[AttendanceDay], employed_working: int) -> Fraction:
    rule = rules.absence
    if rule.mode is AbsenceMode.ATTENDANCE_POLICY:
        return Fraction(sum(d.deduction_bp for d in absent))
    if rule.mode is AbsenceMode.PER_DAY:
        return Fraction(rule.bp_per_day * len(absent))
    if not employed_working:
        return Fraction(0)
    return Fraction(len(absent) * rule.ratio_weight_bp * FULL_BP, employed_working * FULL_BP)


def _discipline(rules: AllowancePolicy, month: AllowanceInput, employed: set[date]) -> DisciplineCut:
    days = [d for d in month.attendance if d.day in employed]
    present = [d for d in days if not d.absent]
    absent = [d for d in days if d.absent]
    cap = rules.lateness.daily_cap_bp
    cutting = []
    for day in present:
        uncapped = _late_early_part(rules, day)
        part = uncapped if cap is None else min(uncapped, Fraction(cap))
        if uncapped:
            cutting.append((day, part, part < uncapped))
    late_early = sum((p for _, p, _ in cutting), Fraction(0))
    employed_working = len(employed.intersection(month.working_days))
    absence = _absence_part(rules, absent, employed_working)
    total = min(late_early + absence, Fraction(rules.monthly_cap_bp))
    return DisciplineCut(tuple(cutting), late_early, tuple(absent), employed_working, absence, total, total / FULL_BP)


def _paid_share(rules: AllowancePolicy, performance: Fraction, cut: Fraction) -> Fraction:
    combine = rules.combine
    wp = Fraction(combine.performance_weight_bp, FULL_BP)
    wd = Fraction(combine.discipline_weight_bp, FULL_BP)
    if combine.mode is CombineMode.MINIMUM:
        paid = min(performance, ONE - cut)
    elif combine.mode is CombineMode.CUT_FROM_WHOLE:
        paid = wp * performance + wd - cut
    else:
        paid = wp * performance + wd * (ONE - cut)
    return max(Fraction(0), min(ONE, paid))


def _bp(share: Fraction) -> int:
    """A share of 1 in basis points, rounded half up."""
    scaled = share * FULL_BP + Fraction(1, 2)
    return scaled.numerator // scaled.denominator


def _pct(share: Fraction) -> str:
    """A share of 1 as a percentage: exact when it is a whole basis point, else rounded with the fraction."""
    scaled = share * FULL_BP
    if scaled.denominator == 1:
        return format_bp(scaled.numerator)
    return f"{format_bp(_bp(share))} (exactly {share.numerator}/{share.denominator})"


def _rounding_text(policy: AllowancePolicy) -> str:
    how = {Rounding.HALF_UP: "half up", Rounding.DOWN: "down", Rounding.UP: "up"}[policy.rounding]
    return f"rounded {how} to Rp {policy.rounding_unit}, once for the gross and once for the net"


def explain_allowance(result: AllowanceResult) -> dict[str, Any]:
    """Every figure of the month's allowance, traced to the grade table, the days and the rules."""
    p, month = result.policy, result.input
    return {
        "employee": month.nip,
        "month": f"{month.year}-{month.month:02d}",
        "policy": {
            "name": p.name,
            "title": p.title,
            "legal_basis": p.legal_basis,
            "effective_from": p.effective_from.isoformat(),
            "source": p.source,
            "fingerprint": p.fingerprint,
            "rounding": _rounding_text(p),
        },
        "gross": _gross_entry(result),
        "discipline": _discipline_entry(result),
        "performance": {
            "component": _pct(result.performance),
            "source": month.performance_source,
            "basis": month.performance_basis,
        },
        "net": _net_entry(result),
        "summary": result.summary(),
    }


def _gross_entry(result: AllowanceResult) -> dict[str, Any]:
    basis = result.policy.pro_rata
    return {
        "pro_rata": str(basis),
        "segments": [
            {
                "from": s.first_day.isoformat(),
                "to": s.last_day.isoformat(),
                "grade": s.grade,
                "status": s.status,
                "table": f"{s.version.name} (from {s.version.effective_from.isoformat()})",
                "amount": s.amount,
                "share": f"{s.share.numerator}/{s.share.denominator}",
                "status_share": format_bp(s.status_share_bp),
                "exact": _rupiah_text(s.exact),
            }
            for s in result.segments
        ],
        "exact": _rupiah_text(result.gross_exact),
        "gross": result.gross,
        "gross_text": format_rupiah(result.gross),
    }


def _rupiah_text(amount: Fraction) -> str:
    if amount.denominator == 1:
        return format_rupiah(amount.numerator)
    return f"{format_rupiah(amount.numerator // amount.denominator)} + {amount % 1}"


def _lateness_text(p: AllowancePolicy) -> str:
    rule = p.lateness
    if rule.mode is LatenessMode.ATTENDANCE_POLICY:
        text = "the day's TL/PSW deductions of the attendance policy"
    else:
        text = f"{format_bp(rule.bp_per_hour)} per hour late or left early, counted by the minute"
        if rule.day_minutes is not None:
            text += f", at most {rule.day_minutes} minutes a day"
    if rule.daily_cap_bp is not None:
        text += f"; late and early together at most {format_bp(rule.daily_cap_bp)} a day"
    return text


def _absence_text(p: AllowancePolicy) -> str:
    rule = p.absence
    if rule.mode is AbsenceMode.ATTENDANCE_POLICY:
        return "the day's TK deduction of the attendance policy"
    if rule.mode is AbsenceMode.PER_DAY:
        return f"{format_bp(rule.bp_per_day)} per day absent"
    return f"days absent / working days employed x {format_bp(rule.ratio_weight_bp)}"


def _discipline_entry(result: AllowanceResult) -> dict[str, Any]:
    d, p = result.discipline, result.policy
    return {
        "late_early_rule": _lateness_text(p),
        "absence_rule": _absence_text(p),
        "days": [
            {
                "date": day.day.isoformat(),
                "codes": list(day.codes),
                "late_minutes": day.late_minutes,
                "early_minutes": day.early_minutes,
                "cut": _pct(part / FULL_BP),
                **({"capped": True} if capped else {}),
            }
            for day, part, capped in d.days
        ],
        "late_early": _pct(d.late_early_bp / FULL_BP),
        "absent_days": d.absent_days,
        "absent": [
            {"date": a.day.isoformat(), "codes": list(a.codes), "deduction": format_bp(a.deduction_bp)}
            for a in d.absent
        ],
        "working_days_employed": d.employed_working_days,
        "absence": _pct(d.absence_bp / FULL_BP),
        "cap": format_bp(p.monthly_cap_bp),
        "cut": _pct(d.cut),
    }


def _net_entry(result: AllowanceResult) -> dict[str, Any]:
    c = result.policy.combine
    wp, wd = format_bp(c.performance_weight_bp), format_bp(c.discipline_weight_bp)
    perf, cut = _pct(result.performance), _pct(result.discipline.cut)
    formula = {
        CombineMode.WEIGHTED: f"paid = {wp} x performance {perf} + {wd} x (100% - cut {cut})",
        CombineMode.CUT_FROM_WHOLE: f"paid = {wp} x performance {perf} + {wd} - cut {cut}, at least 0",
        CombineMode.MINIMUM: f"paid = the lower of performance {perf} and 100% - cut {cut}",
    }[c.mode]
    return {
        "formula": formula,
        "paid_share": _pct(result.paid_share),
        "net": result.net,
        "net_text": format_rupiah(result.net),
        "cut": result.cut_rupiah,
        "cut_text": format_rupiah(result.cut_rupiah),
        "deduction": format_bp(result.deduction_bp),
        "rule": f"net = gross {format_rupiah(result.gross)} x paid share, {_rounding_text(result.policy)}",
    }
