"""Kinerja scoring: a pure library from punches and activity outputs to monthly scores.

No database, no network, no import from ``server`` or ``gateway`` (only the standard library and
``holidays``); the only I/O is reading policy and catalogue files.

The names here are the library's whole public API, and ``docs/scoring.md`` shows them at work
(its first example is run by the tests). The modules behind them (``scoring._*``) are internal and
may change without notice.
"""

from ._activities import Activity, Catalogue, Claim, ClaimState, load_catalogue
from ._allowance import (
    AllowanceInput,
    AllowanceResult,
    AttendanceDay,
    GradeAssignment,
    PaySegment,
    compute_allowance,
    explain_allowance,
    format_rupiah,
    round_rupiah,
)
from ._allowance_file import (
    allowance_preset_names,
    load_allowance_book,
    load_allowance_policy,
    parse_allowance_text,
)
from ._allowance_policy import (
    AbsenceCut,
    AbsenceMode,
    AllowanceBook,
    AllowancePolicy,
    CombineMode,
    CombineRule,
    LatenessMode,
    LatenessRule,
    ProRata,
    Rounding,
)
from ._calendar import DayKind, PlanDay, plan_day, working_days
from ._claims import OUTSIDE_PRESENCE, OVER_PRESENCE_SPAN, ClaimOutcome
from ._daily import ABSENT, EXCUSED, OFF, PRESENT, DayRecord
from ._errors import ClaimTransitionError, InputError, PolicyError, ScoringError
from ._escalation import EscalationFlag, absence_escalation
from ._monthly import score_day, score_month, score_unit_month
from ._percent import FULL_BP, format_bp, parse_percent, ratio_bp, weighted_bp
from ._plan import MonthPlan, Slot, build_month_plan
from ._policy import (
    WEEKDAY_NAMES,
    AbsenceRule,
    AttendanceRules,
    BandBy,
    BandTable,
    CalendarRules,
    CompensationRule,
    DeductionBase,
    DisciplineRules,
    ExcuseRule,
    LateCountedFrom,
    LatenessBand,
    PerformanceRules,
    Policy,
    PunchSeconds,
    RamadanPeriod,
    ShiftTemplate,
    TargetMode,
    WeeklyHours,
    WorkHours,
)
from ._policy_file import (
    PolicyBook,
    PolicyVersion,
    load_policy,
    load_policy_book,
    load_policy_version,
    parse_policy_text,
    preset_names,
)
from ._punches import EmployeeMonth, Punch
from ._result import MonthlyResult, explain, explain_digest
from ._zones import ZONE_OFFSETS_MINUTES, zone_name

__all__ = [  # noqa: RUF022 - grouped by purpose, not alphabetically
    # policies: presets and files, versions over time, a policy for an office's zone (Policy.in_zone)
    "load_policy",
    "load_policy_book",
    "load_policy_version",
    "parse_policy_text",
    "preset_names",
    "PolicyBook",
    "PolicyVersion",
    "Policy",
    "zone_name",
    "ZONE_OFFSETS_MINUTES",
    # the parts of a policy, for policies built or changed in code
    "AbsenceRule",
    "AttendanceRules",
    "BandBy",
    "BandTable",
    "CalendarRules",
    "CompensationRule",
    "DeductionBase",
    "DisciplineRules",
    "ExcuseRule",
    "LateCountedFrom",
    "LatenessBand",
    "PerformanceRules",
    "PunchSeconds",
    "RamadanPeriod",
    "ShiftTemplate",
    "TargetMode",
    "WeeklyHours",
    "WorkHours",
    "WEEKDAY_NAMES",
    # the calendar: what a day expects
    "plan_day",
    "working_days",
    "DayKind",
    "PlanDay",
    # input
    "Punch",
    "EmployeeMonth",
    "Activity",
    "Catalogue",
    "Claim",
    "ClaimState",
    "load_catalogue",
    # scoring a day, a month, a unit
    "score_day",
    "build_month_plan",
    "MonthPlan",
    "Slot",
    "score_month",
    "score_unit_month",
    "DayRecord",
    "PRESENT",
    "ABSENT",
    "EXCUSED",
    "OFF",
    "MonthlyResult",
    "ClaimOutcome",
    "OUTSIDE_PRESENCE",
    "OVER_PRESENCE_SPAN",
    # explaining it
    "explain",
    "explain_digest",
    # the year: escalation of unexcused absence
    "absence_escalation",
    "EscalationFlag",
    # the allowance in Rupiah: tables per grade as effective-dated policy data, one employee-month
    "allowance_preset_names",
    "load_allowance_policy",
    "load_allowance_book",
    "parse_allowance_text",
    "AllowancePolicy",
    "AllowanceBook",
    "AbsenceCut",
    "AbsenceMode",
    "CombineMode",
    "CombineRule",
    "LatenessMode",
    "LatenessRule",
    "ProRata",
    "Rounding",
    "GradeAssignment",
    "AttendanceDay",
    "AllowanceInput",
    "compute_allowance",
    "AllowanceResult",
    "PaySegment",
    "explain_allowance",
    "round_rupiah",
    "format_rupiah",
    # percentages as integer basis points (the one rounding rule, for payroll too)
    "FULL_BP",
    "format_bp",
    "parse_percent",
    "ratio_bp",
    "weighted_bp",
    # errors
    "ScoringError",
    "PolicyError",
    "InputError",
    "ClaimTransitionError",
]
