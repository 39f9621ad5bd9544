"""Scoring one employee's month, or one day, against a month plan.

:func:`score_month` is the whole computation for one employee and month against a
:class:`~scoring.MonthPlan` built once per policy, month and unit. It is written to be cheap per
employee-day: punches are sorted integers (UTC epoch seconds); each planned slot finds its punches
with two binary searches; the day's category is a few integer comparisons and one list index
(:mod:`scoring._daily` has the daily rules, :mod:`scoring._claims` the activity merge).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from operator import itemgetter
from typing import Any

from ._claims import MergedClaims, merge_claims
from ._daily import DayRecord
from ._errors import InputError
from ._percent import FULL_BP, ratio_bp, weighted_bp
from ._plan import MonthPlan, Slot, build_month_plan
from ._policy import DeductionBase, ExcuseRule, Policy, TargetMode
from ._punches import EmployeeMonth, Punch
from ._result import MonthlyResult

_DEDUCTION = itemgetter(7)  # DayRecord.deduction_bp
_CODES = itemgetter(2)  # DayRecord.codes


def score_month(plan: MonthPlan, emp: EmployeeMonth) -> MonthlyResult:
    """Score one employee's month. Pure: the same plan and input always give the same result."""
    emp = emp.in_time_order()
    if plan.rules.trust and (emp.states is None or len(emp.states) != len(emp.times)):
        raise InputError(f"{emp.nip}: the policy trusts state keys, so every punch needs its state")
    if emp.roster is None:
        slots, inside = plan.office_slots, None
    else:
        slots, inside = plan.shift_slots(emp.roster)
    outside = outside_days(plan, emp)
    records, skipped = _score_slots(plan, emp, slots, inside, outside)
    return _result(plan, emp, records, merge_claims(plan, emp.claims, records, emp.times), skipped)


def outside_days(plan: MonthPlan, emp: EmployeeMonth) -> frozenset[date]:
    """The month's days that are not scored for ``emp``: before the unit's go-live date, or outside the
    employee's time in the unit (before the start, after the end, transferred away)."""
    live_from = plan.live_from
    if emp.employed is None and (live_from is None or live_from <= plan.first_day):
        return frozenset()
    return frozenset(
        d.day for d in plan.days if (live_from is not None and d.day < live_from) or not emp.employed_on(d.day)
    )


def score_unit_month(
    policy: Policy,
    year: int,
    month: int,
    employees: Iterable[EmployeeMonth],
    *,
    extra_days_off: Mapping[date, str] | None = None,
) -> list[MonthlyResult]:
    """Every employee of a unit for one month (the plan is built once)."""
    plan = build_month_plan(policy, year, month, extra_days_off)
    return [score_month(plan, emp) for emp in employees]


def score_day(
    policy: Policy,
    nip: str,
    day: date,
    punches: Iterable[Punch] = (),
    *,
    excuse: str | None = None,
    shift: str | None = None,
    days_off: Mapping[date, str] | None = None,
) -> DayRecord:
    """One employee-day, scored as it would be in its month.

    A day without work (weekend, holiday, joint leave, a day in ``days_off``, the unit's own days off)
    gives a record with status ``off`` that says which (``kind``) and why (``note``: the holiday's
    name). ``excuse`` is the day's excuse kind (the policy's ``annual_leave``, ``official_travel``...),
    ``shift`` the shift code the employee is rostered on that day (``None``: office hours). Punches
    of other days may be passed too (a night shift's end); they count only where they belong.
    """
    emp = EmployeeMonth.from_punches(
        nip, punches, excuses={day: excuse} if excuse else {}, roster=None if shift is None else {day: shift}
    )
    return score_month(build_month_plan(policy, day.year, day.month, days_off), emp).day(day)


def _excuse_rule(policy: Policy, nip: str, day: date, kind: str) -> ExcuseRule:
    rule = policy.excuse_rule(kind)
    if rule is None:
        known = ", ".join(r.kind for r in policy.excuses)
        raise InputError(f"{nip} on {day}: excuse '{kind}' is not in the policy ({known})")
    return rule


def _score_slots(
    plan: MonthPlan,
    emp: EmployeeMonth,
    slots: Sequence[Slot],
    inside: frozenset[int] | None,
    outside: frozenset[date],
) -> tuple[list[tuple[Any, ...]], int]:
    """One record per slot (in :class:`DayRecord` layout, plain tuples): excused, absent or present; and
    how many slots were left out because their day is ``outside`` the employee's time in the unit."""
    rules = plan.rules
    present = rules.present
    times, states, excuses = emp.times, emp.states, emp.excuses
    records: list[tuple[Any, ...]] = []
    append = records.append
    pos = skipped = 0
    for k, (index, start, end, lo, hi, mid, _, day, shift) in enumerate(slots):
        a = bisect_left(times, lo, pos)
        b = bisect_right(times, hi, a)
        pos = b
        if inside is not None and k not in inside:
            continue  # a roster entry just outside the month: takes its punches, is not scored here
        if outside and day in outside:
            skipped += 1  # not in the unit that day (or the unit not live): never TK, no part of the target
            continue
        kind = excuses.get(day) if excuses else None
        if kind is not None:
            rule = _excuse_rule(plan.policy, emp.nip, day, kind)
            append(rules.excused(rule, a, b, index, start, end, day, shift))
        elif a == b:
            append(rules.absent(a, index, start, end, day, shift))
        else:
            append(present(times, states, a, b, index, start, end, mid, day, shift))
    return records, skipped


def _code_counts(records: list[tuple[Any, ...]], reducing: frozenset[str]) -> tuple[dict[str, int], int]:
    """Occurrences of each code, and how many days an excuse took out of the activity target."""
    codes: dict[str, int] = {}
    reduced = 0
    for combination, count in Counter(map(_CODES, records)).items():  # a handful of distinct combinations
        for code in combination:
            codes[code] = codes.get(code, 0) + count
        if len(combination) == 1 and combination[0] in reducing:
            reduced += count
    return codes, reduced


def _target_minutes(policy: Policy, target_days: int, planned: int) -> int:
    perf = policy.performance
    if perf.target is TargetMode.PER_WORKING_DAY:
        return perf.minutes_per_working_day * target_days
    return (2 * perf.monthly_target_minutes * target_days + planned) // (2 * planned) if planned else 0


def _score_and_deduction(policy: Policy, performance: int, capped: int) -> tuple[int, int]:
    """The month's score and the allowance deduction, from the performance and the capped discipline deduction."""
    perf, disc = policy.performance, policy.discipline
    if disc.applies_to is DeductionBase.DISCIPLINE_COMPONENT:
        score = weighted_bp(((perf.weight_bp, performance), (disc.weight_bp, FULL_BP - capped)))
        return score, FULL_BP - score
    base = weighted_bp(((perf.weight_bp, performance), (disc.weight_bp, FULL_BP)))
    allowance_deduction = min(FULL_BP, FULL_BP - base + capped)
    return FULL_BP - allowance_deduction, allowance_deduction


def _result(
    plan: MonthPlan, emp: EmployeeMonth, records: list[tuple[Any, ...]], claims: MergedClaims, skipped: int = 0
) -> MonthlyResult:
    policy = plan.policy
    total = sum(map(_DEDUCTION, records))
    codes, reduced = _code_counts(records, plan.target_reducing_codes)
    planned = len(records)
    target_days = planned - reduced
    # a monthly target is shared over the unit's planned days: days outside the employee's time take theirs
    target = _target_minutes(policy, target_days, planned + skipped)
    performance = FULL_BP if target == 0 else min(FULL_BP, ratio_bp(claims.effective, target))
    capped = min(total, policy.discipline.monthly_cap_bp)
    score, allowance_deduction = _score_and_deduction(policy, performance, capped)
    return MonthlyResult(
        nip=emp.nip,
        year=plan.year,
        month=plan.month,
        planned_days=planned,
        day_rows=tuple(records),
        claim_rows=claims.rows,
        claim_flags=claims.flags,
        codes=codes,
        deduction_sum_bp=total,
        discipline_deduction_bp=capped,
        claimed_minutes=claims.claimed,
        approved_minutes=claims.approved,
        effective_minutes=claims.effective,
        target_minutes=target,
        target_days=target_days,
        performance_bp=performance,
        discipline_bp=FULL_BP - capped,
        score_bp=score,
        allowance_deduction_bp=allowance_deduction,
        plan=plan,
        employee=emp,
        outside_days=skipped,
    )
