"""Days outside an employee's time in the unit, and before a unit's go-live date, are never scored.

An employee who starts on the 15th, leaves on the 10th or is transferred away has no TK on the days
they were not in the unit, those days are no planned days and take no part of the activity target; a
unit that goes live mid-month is scored from its go-live date. The allowance shares the month by the
unit's own days (a transfer on the 15th: the old unit pays days 1-14, the new one 15 to the end).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta, timezone
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring import (
    ABSENT,
    AllowanceInput,
    EmployeeMonth,
    GradeAssignment,
    InputError,
    PerformanceRules,
    ProRata,
    Punch,
    TargetMode,
    assignments_within,
    build_month_plan,
    compute_allowance,
    explain,
    load_allowance_policy,
    load_policy,
    score_month,
)

NATIONAL = load_policy("national-common")
PLAN = build_month_plan(NATIONAL, 2025, 5)
WORKING = [d.day for d in PLAN.days if d.is_working]
KEMENSOS = load_allowance_policy("social-affairs-2023")
WIB = timezone(timedelta(hours=7))
MAY = [date(2025, 5, d) for d in range(1, 32)]


def on_time(day: date) -> list[Punch]:
    return [Punch(datetime.combine(day, time(7, 20), WIB)), Punch(datetime.combine(day, time(16, 45), WIB))]


def test_an_employee_starting_on_the_15th_has_no_tk_before_it():
    result = score_month(PLAN, EmployeeMonth("x", employed=[(date(2025, 5, 15), None)]))
    assert {r.day for r in result.days} == {d for d in WORKING if d >= date(2025, 5, 15)}
    assert result.absent_days == [d for d in WORKING if d >= date(2025, 5, 15)]
    assert result.outside_days == len([d for d in WORKING if d < date(2025, 5, 15)])
    before = result.day(date(2025, 5, 14))
    assert (before.status, before.kind, before.codes, before.deduction_bp) == ("off", "not_employed", (), 0)


def test_a_transfer_on_the_15th_splits_the_month_between_the_units():
    punches = [p for d in WORKING for p in on_time(d)]
    old = score_month(PLAN, EmployeeMonth.from_punches("x", punches, employed=[(date(2025, 5, 1), date(2025, 5, 14))]))
    new = score_month(PLAN, EmployeeMonth.from_punches("x", punches, employed=[(date(2025, 5, 15), None)]))
    assert {r.day for r in old.days} | {r.day for r in new.days} == set(WORKING)
    assert not {r.day for r in old.days} & {r.day for r in new.days}
    assert old.planned_days + new.planned_days == len(WORKING)
    assert old.codes == new.codes == {}
    days = explain(old)["days"]
    after = next(e for e in days if e["date"] == "2025-05-15")
    assert after["kind"] == "not_employed" and after["unit_kind"] == "working" and "status" not in after
    assert len(after["punches"]) == 2  # the punches are shown, never scored


def test_a_unit_going_live_mid_month_is_scored_from_its_go_live_date():
    plan = build_month_plan(NATIONAL, 2025, 5, live_from=date(2025, 5, 19))
    result = score_month(plan, EmployeeMonth("x"))
    assert result.absent_days == [d for d in WORKING if d >= date(2025, 5, 19)]
    assert result.day(date(2025, 5, 16)).kind == "not_live"
    entry = next(e for e in explain(result)["days"] if e["date"] == "2025-05-16")
    assert entry["kind"] == "not_live" and "go-live" in entry["note"]


def test_an_employment_span_that_ends_before_it_starts_is_an_input_error():
    with pytest.raises(InputError, match="ends before it starts"):
        EmployeeMonth("x", employed=[(date(2025, 5, 15), date(2025, 5, 14))])


def test_a_monthly_target_is_shared_by_the_unit_days_the_employee_was_in_it():
    policy = replace(NATIONAL, performance=PerformanceRules(target=TargetMode.MONTHLY, monthly_target_minutes=6600))
    plan = build_month_plan(policy, 2025, 5)
    whole = score_month(plan, EmployeeMonth("x"))
    half = score_month(plan, EmployeeMonth("x", employed=[(date(2025, 5, 15), None)]))
    assert whole.target_minutes == 6600
    days = len([d for d in WORKING if d >= date(2025, 5, 15)])
    assert half.target_minutes == (2 * 6600 * days + len(WORKING)) // (2 * len(WORKING))
    rule = explain(half)["performance"]["target_rule"]
    assert rule == f"6600 minutes x {days}/{len(WORKING)} planned days"


spans = st.lists(
    st.tuples(st.integers(0, 30), st.integers(0, 30)).map(lambda t: (MAY[min(t)], MAY[max(t)])), max_size=3
)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(employed=spans, live=st.none() | st.sampled_from(MAY), present=st.sets(st.sampled_from(WORKING)))
def test_no_day_outside_the_time_in_the_unit_is_ever_scored(
    employed: list[tuple[date, date]], live: date | None, present: set[date]
) -> None:
    punches = [p for d in sorted(present) for p in on_time(d)]
    plan = build_month_plan(NATIONAL, 2025, 5, live_from=live)
    result = score_month(plan, EmployeeMonth.from_punches("x", punches, employed=employed))

    def scored(day: date) -> bool:
        return (live is None or day >= live) and any(a <= day <= b for a, b in employed)

    assert {r.day for r in result.days} == {d for d in WORKING if scored(d)}
    assert set(result.absent_days) == {d for d in WORKING if scored(d) and d not in present}
    assert result.planned_days + result.outside_days == len(WORKING)
    assert all(r.status != ABSENT for r in result.calendar_days if not scored(r.day))


grade_lists = st.lists(
    st.tuples(st.integers(0, 30), st.integers(1, 17)), min_size=1, max_size=4, unique_by=lambda t: t[0]
)


@settings(max_examples=80, deadline=None, derandomize=True)
@given(changes=grade_lists, cut=st.integers(1, 30))
def test_the_units_of_a_transfer_together_pay_what_one_unit_would(changes: list[tuple[int, int]], cut: int) -> None:
    """Cut at any day, the two units' grades cover each day exactly once, and under calendar-day pro
    rata their gross adds up to the whole month's (to the rounding of each)."""
    changes = sorted(changes)
    grades = [
        GradeAssignment(MAY[start], MAY[changes[k + 1][0] - 1] if k + 1 < len(changes) else None, grade)
        for k, (start, grade) in enumerate(changes)
    ]
    old = assignments_within(grades, [(MAY[0], MAY[cut - 1])])
    new = assignments_within(grades, [(MAY[cut], None)])
    for day in MAY:
        held = [a for a in grades if a.covers(day)]
        split = [a for a in (*old, *new) if a.covers(day)]
        assert [a.grade for a in held] == [a.grade for a in split]

    def gross(assignments: tuple[GradeAssignment, ...] | list[GradeAssignment]) -> int:
        if not assignments:
            return 0
        return compute_allowance(KEMENSOS, AllowanceInput("x", 2025, 5, tuple(assignments), tuple(WORKING))).gross

    assert abs(gross(old) + gross(new) - gross(grades)) <= 1


def test_the_allowance_of_a_partial_month_divides_by_the_units_working_days():
    working_rules = replace(KEMENSOS, pro_rata=ProRata.WORKING_DAYS)
    result = score_month(PLAN, EmployeeMonth("x", employed=[(date(2025, 5, 15), None)]))
    month = AllowanceInput.from_monthly_result(result, [GradeAssignment(date(2025, 5, 15), None, 7)])
    assert month.working_days == tuple(WORKING)
    allowance = compute_allowance(working_rules, month)
    held = len([d for d in WORKING if d >= date(2025, 5, 15)])
    assert allowance.segments[0].share == Fraction(held, len(WORKING))
