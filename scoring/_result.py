"""One employee's month as scored, and its explanation: every number traced to the days, punches,
activities and rules behind it."""

from __future__ import annotations

import hashlib
import json
from bisect import bisect_left
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from ._calendar import DayKind, PlanDay, calendar_source, calendar_warnings
from ._claims import ClaimOutcome
from ._daily import ABSENT, OFF, DayRecord
from ._errors import InputError
from ._percent import format_bp
from ._plan import SECONDS_PER_DAY, MonthPlan, local_text
from ._policy import DeductionBase, Policy, TargetMode
from ._punches import EmployeeMonth

_NO_SHIFT = "no shift rostered"
_OUTSIDE = frozenset({str(DayKind.NOT_EMPLOYED), str(DayKind.NOT_LIVE)})


@dataclass(frozen=True, slots=True, eq=False)
class MonthlyResult:
    """One employee's month. Every figure is in basis points or minutes; :meth:`explain` traces them."""

    nip: str
    year: int
    month: int
    planned_days: int
    day_rows: tuple[tuple[Any, ...], ...]
    """The planned days in :class:`DayRecord` layout, as plain tuples (see there why)."""
    claim_rows: list[int]
    """Flat triples (position in the input's claims, day index, effective minutes), one per claim of the month."""
    claim_flags: dict[int, tuple[str, ...]]
    """Flags by position in the input's claims (only claims that have any)."""
    codes: dict[str, int]
    deduction_sum_bp: int
    discipline_deduction_bp: int
    claimed_minutes: int
    approved_minutes: int
    effective_minutes: int
    target_minutes: int
    target_days: int
    performance_bp: int
    discipline_bp: int
    score_bp: int
    allowance_deduction_bp: int
    plan: MonthPlan
    employee: EmployeeMonth
    outside_days: int = 0
    """Planned days left out: before the unit's go-live date or outside the employee's time in the unit."""

    @property
    def policy(self) -> Policy:
        return self.plan.policy

    @property
    def claims(self) -> tuple[ClaimOutcome, ...]:
        """Every claim of the month as scored (built on demand: most results are only summed)."""
        rows, flags, claims = self.claim_rows, self.claim_flags, self.employee.claims
        return tuple(
            ClaimOutcome(claims[rows[k]], rows[k + 1], rows[k + 2], flags.get(rows[k], ()))
            for k in range(0, len(rows), 3)
        )

    @property
    def days(self) -> tuple[DayRecord, ...]:
        """Every planned day (or shift) of the month."""
        return tuple(map(DayRecord._make, self.day_rows))

    @property
    def calendar_days(self) -> tuple[DayRecord, ...]:
        """Every calendar day of the month, in order, one record each: the planned days as in
        :attr:`days`, and the days without work as records with status ``off`` that say which
        (``kind``: weekend, holiday, joint leave, a unit's day off, no shift rostered) and why (``note``)."""
        by_index = {row[0]: row for row in self.day_rows}
        return tuple(
            DayRecord._make(by_index[index]) if index in by_index else self._day_off(index, plan_day)
            for index, plan_day in enumerate(self.plan.days)
        )

    def day(self, day: date) -> DayRecord:
        """The record of one calendar day of the month (a day without work included)."""
        index = (day - self.plan.first_day).days
        if not 0 <= index < len(self.plan.days):
            raise InputError(f"{day} is not in {self.year}-{self.month:02d}")
        return self.calendar_days[index]

    def _day_off(self, index: int, plan_day: PlanDay) -> DayRecord:
        midnight = self.plan.day0 + index * SECONDS_PER_DAY
        times = self.employee.times
        first = bisect_left(times, midnight)
        outside = self._outside_kind(plan_day.day)
        if outside is not None:  # not scored here at all: punches shown, never counted
            kind, note = outside
            last = bisect_left(times, midnight + SECONDS_PER_DAY, first)
        elif self.employee.roster is not None:  # a shift worker's day without a shift starting on it
            kind, note, last = str(DayKind.OFF_ROSTER), _NO_SHIFT, first
        else:  # punches on a day off are shown, never scored
            kind, note = str(plan_day.kind), plan_day.describe()
            last = bisect_left(times, midnight + SECONDS_PER_DAY, first)
        end = midnight + SECONDS_PER_DAY
        return DayRecord(index, OFF, (), None, None, None, None, 0, first, last, note, plan_day.day, midnight, end,
                         "", kind)  # fmt: skip

    def _outside_kind(self, day: date) -> tuple[str, str] | None:
        live_from = self.plan.live_from
        if live_from is not None and day < live_from:
            return str(DayKind.NOT_LIVE), f"the unit is scored from its go-live date {live_from.isoformat()}"
        if not self.employee.employed_on(day):
            return str(DayKind.NOT_EMPLOYED), "not employed in the unit on this day"
        return None

    @property
    def absent_days(self) -> list[date]:
        """Days of unexcused absence (TK), for the yearly escalation count."""
        return [r.day for r in self.days if r.status == ABSENT]

    def summary(self) -> dict[str, Any]:
        """The numbers, JSON-ready (what the server stores beside the explanation)."""
        p = self.policy
        return {
            "nip": self.nip,
            "month": f"{self.year}-{self.month:02d}",
            "policy": p.name,
            "policy_unit": p.unit,
            "policy_effective_from": p.effective_from.isoformat(),
            "policy_fingerprint": p.fingerprint,
            "planned_days": self.planned_days,
            **({"outside_days": self.outside_days} if self.outside_days else {}),
            "codes": dict(sorted(self.codes.items())),
            "deduction_sum_bp": self.deduction_sum_bp,
            "discipline_deduction_bp": self.discipline_deduction_bp,
            "claimed_minutes": self.claimed_minutes,
            "approved_minutes": self.approved_minutes,
            "effective_minutes": self.effective_minutes,
            "target_minutes": self.target_minutes,
            "performance_bp": self.performance_bp,
            "discipline_bp": self.discipline_bp,
            "score_bp": self.score_bp,
            "allowance_deduction_bp": self.allowance_deduction_bp,
        }

    def digest(self) -> str:
        """A fingerprint of the explanation: the same inputs and policy always give the same digest."""
        return explain_digest(self.explain())

    def explain(self) -> dict[str, Any]:
        return explain(self)


def explain_digest(explained: dict[str, Any]) -> str:
    """SHA-256 of an explanation in canonical JSON (what a store compares to skip unchanged results)."""
    return text_digest(explain_json(explained))


def explain_json(explained: dict[str, Any]) -> str:
    """An explanation in canonical JSON: sorted keys, no spaces, ASCII (what :func:`explain_digest` hashes;
    a store that writes the JSON itself encodes it once for both)."""
    return json.dumps(explained, sort_keys=True, separators=(",", ":"))


def text_digest(canonical: str) -> str:
    """The digest of an explanation already in canonical JSON (:func:`explain_json`)."""
    return hashlib.sha256(canonical.encode()).hexdigest()


def explain(result: MonthlyResult) -> dict[str, Any]:
    """Every number of the month, traced to the days, punches, activities and rules behind it."""
    shared = _shared(result.plan)
    return {
        "employee": result.nip,
        "month": f"{result.year}-{result.month:02d}",
        "policy": dict(shared.policy_entry),
        "warnings": list(shared.warnings),
        "days": _day_entries(result, shared),
        "discipline": _discipline_entry(result, shared),
        "performance": _performance_entry(result),
        "score": _score_entry(result),
        "summary": result.summary(),
    }


def _policy_entry(policy: Policy) -> dict[str, Any]:
    att = policy.attendance
    return {
        "name": policy.name,
        "title": policy.title,
        "unit": policy.unit,
        "effective_from": policy.effective_from.isoformat(),
        "fingerprint": policy.fingerprint,
        "source": policy.source,
        "time_zone": policy.time_zone,
        "calendar": calendar_source(policy),
        "grace_minutes": att.grace_minutes,
        "trust_state_keys": att.trust_state_keys,
        "repeat_window_minutes": att.repeat_window_minutes,
        "compensation": policy.compensation.enabled,
    }


def _punch_entries(emp: EmployeeMonth, offset_s: int, first: int, last: int) -> list[dict[str, Any]]:
    times, devices = emp.times, emp.devices
    if devices:
        return [{"at": local_text(times[i], offset_s), "device": devices[i]} for i in range(first, last)]
    return [{"at": local_text(times[i], offset_s)} for i in range(first, last)]


def _day_entries(result: MonthlyResult, shared: _Shared) -> list[dict[str, Any]]:
    """One entry per calendar day: what was planned and, for a planned day, how it was scored."""
    plan, emp = result.plan, result.employee
    days: list[dict[str, Any]] = []
    for rec, plan_day, (day_text, planned) in zip(result.calendar_days, plan.days, shared.days, strict=True):
        entry: dict[str, Any] = {"date": day_text, "planned": planned}
        if rec.status != OFF:
            entry.update(_scored_day_entry(result, rec, planned, shared))
        elif rec.kind in _OUTSIDE:  # the unit's plan stays readable: payroll shares a month by it
            entry.update({"kind": rec.kind, "note": rec.note, "unit_kind": str(plan_day.kind)})
            if rec.last > rec.first:
                entry["punches"] = _punch_entries(emp, plan.offset_s, rec.first, rec.last)
        elif rec.kind == DayKind.OFF_ROSTER:
            entry.update({"kind": rec.kind, "planned": _NO_SHIFT})
        else:
            entry["kind"] = rec.kind
            if rec.last > rec.first:  # worked on a day off: shown, never penalised
                entry["punches"] = _punch_entries(emp, plan.offset_s, rec.first, rec.last)
        days.append(entry)
    return days


def _scored_day_entry(result: MonthlyResult, rec: DayRecord, planned: str, shared: _Shared) -> dict[str, Any]:
    off = result.plan.offset_s
    shift = shared.shift_text(rec.shift) if rec.shift else None
    entry: dict[str, Any] = {
        "kind": rec.kind,
        "planned": planned if shift is None else shift,
        "scheduled": [shared.instant_text(rec.start), shared.instant_text(rec.end)],
        "status": rec.status,
        "codes": list(rec.codes),
        "punches": _punch_entries(result.employee, off, rec.first, rec.last),
        "arrival": None if rec.arrival is None else local_text(rec.arrival, off),
        "departure": None if rec.departure is None else local_text(rec.departure, off),
        "late_minutes": rec.late_minutes,
        "early_minutes": rec.early_minutes,
        "deduction": shared.percent_text(rec.deduction_bp),
        "deduction_bp": rec.deduction_bp,
        "rules": [shared.rule_text(c) for c in rec.codes],
    }
    if rec.note:
        entry["note"] = rec.note
    if shift is not None:  # shifts are listed by the date they start
        entry["shift"] = shift
    return entry


class _Shared:
    """The texts every employee's explanation of one month plan shares, each computed once per plan
    (a month explains a few hundred instants and rules per employee; most are the same for the whole
    unit). Only immutable values are kept: callers get fresh lists and dicts."""

    __slots__ = ("_instants", "_percents", "_rules", "_shifts", "days", "offset_s", "policy", "policy_entry",
                 "warnings")  # fmt: skip

    def __init__(self, plan: MonthPlan) -> None:
        self.policy = plan.policy
        self.offset_s = plan.offset_s
        self.policy_entry = _policy_entry(plan.policy)
        self.warnings = tuple(calendar_warnings(plan.policy, plan.year, plan.month))
        self.days = tuple((d.day.isoformat(), d.describe()) for d in plan.days)
        self._instants: dict[int, str] = {}
        self._percents: dict[int, str] = {}
        self._rules: dict[str, str] = {}
        self._shifts: dict[str, str] = {}

    def instant_text(self, utc_seconds: int) -> str:
        """A planned start or end: the same few instants for every employee of the plan (a roster's
        shifts add a few per day), so the cache stays as small as the month's slots."""
        found = self._instants.get(utc_seconds)
        if found is None:
            found = self._instants[utc_seconds] = local_text(utc_seconds, self.offset_s)
        return found

    def percent_text(self, bp: int) -> str:
        found = self._percents.get(bp)
        if found is None:
            found = self._percents[bp] = format_bp(bp)
        return found

    def rule_text(self, code: str) -> str:
        found = self._rules.get(code)
        if found is None:
            found = self._rules[code] = _band_rule(self.policy, code)
        return found

    def shift_text(self, code: str) -> str:
        found = self._shifts.get(code)
        if found is None:
            found = self._shifts[code] = self.policy.shift(code).describe()
        return found


def _shared(plan: MonthPlan) -> _Shared:
    found = plan._explain_cache.get(_Shared)
    if not isinstance(found, _Shared):
        found = _Shared(plan)
        plan._explain_cache[_Shared] = found
    return found


def _band_rule(policy: Policy, code: str) -> str:
    for table, what in ((policy.lateness, "late"), (policy.early_leave, "left early")):
        band = table.by_code(code)
        if band is not None:
            return f"{code}: {what} {band.label()}, {format_bp(band.deduction_bp)} per occurrence"
    if code == policy.absence.code:
        return f"{code}: absent without a valid reason, {format_bp(policy.absence.deduction_bp)} per day"
    rule = next((r for r in policy.excuses if r.code == code), None)
    if rule is not None:
        return f"{code}: {rule.label}, {format_bp(rule.deduction_bp)} per day"
    return code


def _discipline_entry(result: MonthlyResult, shared: _Shared) -> dict[str, Any]:
    percent_text = shared.percent_text
    contributing = [
        {"date": r.day.isoformat(), "codes": list(r.codes), "deduction": percent_text(r.deduction_bp)}
        for r in result.days
        if r.deduction_bp
    ]
    return {
        "days": contributing,
        "sum": format_bp(result.deduction_sum_bp),
        "cap": format_bp(result.policy.discipline.monthly_cap_bp),
        "deduction": format_bp(result.discipline_deduction_bp),
        "component": format_bp(result.discipline_bp),
        "codes": dict(sorted(result.codes.items())),
    }


def _target_rule(result: MonthlyResult) -> str:
    perf = result.policy.performance
    if perf.target is TargetMode.PER_WORKING_DAY:
        rule = f"{perf.minutes_per_working_day} minutes x {result.target_days} planned days"
    else:
        unit_days = result.planned_days + result.outside_days
        rule = f"{perf.monthly_target_minutes} minutes x {result.target_days}/{unit_days} planned days"
    excluded = result.planned_days - result.target_days
    if excluded:
        rule += f" ({excluded} day(s) of leave excluded)"
    return rule


def _activity_entries(result: MonthlyResult) -> list[dict[str, Any]]:
    first_day, off = result.plan.first_day, result.plan.offset_s
    return [
        {
            "claim": o.claim.claim_id,
            "activity": o.claim.activity,
            "output": o.claim.output,
            "date": (first_day + timedelta(days=o.day_index)).isoformat(),
            "start": local_text(o.claim.start, off),
            "quantity": o.claim.quantity,
            "claimed_minutes": o.claim.minutes,
            "state": str(o.claim.state),
            **({"reason": o.claim.reason} if o.claim.reason else {}),
            **({"evidence": o.claim.evidence} if o.claim.evidence else {}),
            "effective_minutes": o.effective_minutes,
            "flags": list(o.flags),
        }
        for o in result.claims
    ]


def _performance_entry(result: MonthlyResult) -> dict[str, Any]:
    return {
        "activities": _activity_entries(result),
        "claimed_minutes": result.claimed_minutes,
        "approved_minutes": result.approved_minutes,
        "effective_minutes": result.effective_minutes,
        "target_minutes": result.target_minutes,
        "target_rule": _target_rule(result),
        "component": format_bp(result.performance_bp),
        "capped_at": "100%",
    }


def _score_entry(result: MonthlyResult) -> dict[str, Any]:
    perf, disc = result.policy.performance, result.policy.discipline
    if disc.applies_to is DeductionBase.DISCIPLINE_COMPONENT:
        formula = (
            f"score = {format_bp(perf.weight_bp)} x performance + {format_bp(disc.weight_bp)} x discipline; "
            "allowance deduction = 100% - score"
        )
    else:
        formula = (
            f"allowance deduction = (100% - ({format_bp(perf.weight_bp)} x performance + "
            f"{format_bp(disc.weight_bp)})) + discipline deduction, at most 100%"
        )
    return {
        "formula": formula,
        "performance_component": format_bp(result.performance_bp),
        "discipline_component": format_bp(result.discipline_bp),
        "final": format_bp(result.score_bp),
        "allowance_deduction": format_bp(result.allowance_deduction_bp),
    }
