"""The allowance policy: the tunjangan kinerja per grade and the rules that turn a month into Rupiah.

Rupiah are integers and percentages are basis points (or exact fractions while computing); no float
ever touches money. One policy is one *version*, in force from its ``effective_from`` (any day: the
Ministry of Social Affairs' table of Perpres 71/2023 starts on 16 October 2023), and an
:class:`AllowanceBook` holds the versions of one agency over time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from ._errors import PolicyError
from ._percent import FULL_BP, format_bp

GRADES = range(1, 18)
"""Kelas jabatan 1 to 17."""


class ProRata(StrEnum):
    """How a month with a start, an end or a change of grade inside it is shared out."""

    CALENDAR_DAYS = "calendar_days"
    """Each grade for its calendar days over the month's calendar days."""
    WORKING_DAYS = "working_days"
    """Each grade for its working days over the month's working days."""
    WHOLE_MONTH = "whole_month"
    """The whole month at the grade (and status) held on the last day employed in the month."""


class LatenessMode(StrEnum):
    """Where the late and early-leave part of the cut comes from."""

    ATTENDANCE_POLICY = "attendance_policy"
    """The day's TL/PSW deductions as the attendance policy's band tables gave them."""
    MINUTES = "minutes"
    """Proportional to the minutes late plus minutes left early (``percent_per_hour``)."""


class AbsenceMode(StrEnum):
    """How days absent without a valid reason (TK) cut the allowance."""

    ATTENDANCE_POLICY = "attendance_policy"
    """The day's deduction as the attendance policy gave it (e.g. TK 5 % a day)."""
    PER_DAY = "per_day"
    """``percent_per_day`` for each day absent."""
    RATIO = "ratio"
    """Days absent over the working days employed in the month, times ``ratio_weight``."""


class CombineMode(StrEnum):
    """How the performance component and the discipline cut make the share of the gross paid."""

    WEIGHTED = "weighted"
    """performance weight x performance + discipline weight x (100 % - cut)."""
    CUT_FROM_WHOLE = "cut_from_whole"
    """performance weight x performance + discipline weight - cut, at least 0."""
    MINIMUM = "minimum"
    """The lower of the performance component and (100 % - cut)."""


class PerformanceSource(StrEnum):
    """Where the performance component of the allowance comes from."""

    MINUTES = "minutes"
    """The monthly result: effective activity minutes against the month's target (the default)."""
    PLAN = "plan"
    """The realisation of the employee's agreed work plan (SKP), weighed with the behaviour rating."""


class TargetShare(StrEnum):
    """Which part of the year's targets a month's realisation is measured against (``plan`` source)."""

    ELAPSED = "elapsed"
    """The share of the year elapsed at the end of the month: May, 5/12 of each yearly target."""
    WHOLE_YEAR = "whole_year"
    """The whole year's target, whatever the month (only a year's end reaches 100 %)."""


class WithoutPlan(StrEnum):
    """``plan`` source: the performance component of an employee with no agreed plan for the year."""

    MINUTES = "minutes"
    """The monthly result's minutes, as if the source were ``minutes``."""
    ZERO = "zero"
    """0 %: no agreed plan, no performance component."""


class Rounding(StrEnum):
    """How an exact Rupiah amount becomes a whole multiple of the rounding unit."""

    HALF_UP = "half_up"
    DOWN = "down"
    UP = "up"


@dataclass(frozen=True, slots=True)
class LatenessRule:
    mode: LatenessMode = LatenessMode.ATTENDANCE_POLICY
    bp_per_hour: int = 100
    """``minutes`` mode: the cut for 60 minutes late or early (1 % = 100 bp), exact per minute."""
    day_minutes: int | None = None
    """``minutes`` mode: minutes counted at most per day (a 300-minute day: 5 hours at most)."""
    daily_cap_bp: int | None = None
    """Late plus early leave together cut at most this much on one day."""


@dataclass(frozen=True, slots=True)
class AbsenceCut:
    mode: AbsenceMode = AbsenceMode.ATTENDANCE_POLICY
    bp_per_day: int = 500
    ratio_weight_bp: int = FULL_BP


@dataclass(frozen=True, slots=True)
class CombineRule:
    mode: CombineMode = CombineMode.WEIGHTED
    performance_weight_bp: int = 6000
    discipline_weight_bp: int = 4000


@dataclass(frozen=True, slots=True)
class PerformanceRule:
    """The ``[performance]`` table: the source of the performance component and, for ``plan``, how the plan's
    realisation and the behaviour rating make it (Surabaya weighed work 80 % and behaviour 20 %)."""

    source: PerformanceSource = PerformanceSource.MINUTES
    work_weight_bp: int = 8000
    behaviour_weight_bp: int = 2000
    work_cap_bp: int = FULL_BP
    """The plan's realisation counts at most this much (over-achievement pays no more than the target)."""
    target_share: TargetShare = TargetShare.ELAPSED
    without_plan: WithoutPlan = WithoutPlan.MINUTES


@dataclass(frozen=True, slots=True)
class AllowancePolicy:
    """One version of an agency's allowance: the table per grade and the rules, from ``effective_from``."""

    name: str
    effective_from: date
    grades: tuple[tuple[int, int], ...]
    """(grade, Rupiah per month), every grade the agency pays."""
    title: str = ""
    legal_basis: str = ""
    pro_rata: ProRata = ProRata.CALENDAR_DAYS
    status_share_bp: tuple[tuple[str, int], ...] = (("pns", FULL_BP), ("cpns", 8000), ("pppk", FULL_BP))
    """Share of the grade's amount paid by employment status (new recruits, CPNS, 80 %)."""
    lateness: LatenessRule = field(default_factory=LatenessRule)
    absence: AbsenceCut = field(default_factory=AbsenceCut)
    monthly_cap_bp: int = FULL_BP
    combine: CombineRule = field(default_factory=CombineRule)
    performance: PerformanceRule = field(default_factory=PerformanceRule)
    rounding: Rounding = Rounding.HALF_UP
    rounding_unit: int = 1
    source: str = "<code>"
    fingerprint: str = ""

    def __post_init__(self) -> None:
        grades = [g for g, _ in self.grades]
        if len(set(grades)) != len(grades) or not set(grades) <= set(GRADES) or not grades:
            raise PolicyError(self.source, "grades", grades, "each of the grades 1 to 17 at most once")
        if any(amount <= 0 for _, amount in self.grades):
            raise PolicyError(self.source, "grades", dict(self.grades), "whole Rupiah above 0 for every grade")
        weights = self.combine.performance_weight_bp + self.combine.discipline_weight_bp
        if self.combine.mode is not CombineMode.MINIMUM and weights != FULL_BP:
            raise PolicyError(self.source, "combine", weights, "performance and discipline weights adding up to 100%")
        rule = self.performance
        if rule.work_weight_bp + rule.behaviour_weight_bp != FULL_BP:
            raise PolicyError(
                self.source,
                "performance",
                {"work": format_bp(rule.work_weight_bp), "behaviour": format_bp(rule.behaviour_weight_bp)},
                "work and behaviour weights adding up to 100%",
            )
        if not 0 < rule.work_cap_bp <= FULL_BP:
            cap = format_bp(rule.work_cap_bp)
            raise PolicyError(self.source, "performance.work_cap", cap, "above 0%, at most 100%")
        if self.rounding_unit < 1:
            raise PolicyError(self.source, "rounding.unit", self.rounding_unit, "whole Rupiah, 1 or more")
        if any(share > FULL_BP for _, share in self.status_share_bp):
            raise PolicyError(self.source, "status", dict(self.status_share_bp), "shares of at most 100%")

    def amount(self, grade: int) -> int:
        """The Rupiah per month for ``grade``; :class:`PolicyError` for a grade the table lacks."""
        for g, amount in self.grades:
            if g == grade:
                return amount
        raise PolicyError(self.source, "grades", grade, "a grade this table pays (" + _grade_list(self) + ")")

    def status_share(self, status: str) -> int:
        for name, share in self.status_share_bp:
            if name == status:
                return share
        known = ", ".join(n for n, _ in self.status_share_bp)
        raise PolicyError(self.source, "status", status, f"an employment status the policy names ({known})")


def _grade_list(policy: AllowancePolicy) -> str:
    return ", ".join(str(g) for g, _ in sorted(policy.grades))


@dataclass(frozen=True, slots=True)
class AllowanceBook:
    """Versions of one agency's allowance policy over time, oldest first."""

    versions: tuple[AllowancePolicy, ...]

    def __post_init__(self) -> None:
        dates = [v.effective_from for v in self.versions]
        if not dates or dates != sorted(dates) or len(set(dates)) != len(dates):
            raise PolicyError(
                ", ".join(v.source for v in self.versions) or "<empty allowance book>",
                "allowance.effective_from",
                [d.isoformat() for d in dates],
                "at least one version, one per effective date, oldest first",
            )

    def in_force(self, day: date) -> AllowancePolicy | None:
        """The version in force on ``day``, or None before the first."""
        found = None
        for version in self.versions:
            if version.effective_from <= day:
                found = version
        return found
