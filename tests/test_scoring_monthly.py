"""The monthly result: components, caps, target, weights, effective dates, explanation, escalation."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from scoring import (
    DeductionBase,
    DisciplineRules,
    EmployeeMonth,
    InputError,
    PerformanceRules,
    PolicyBook,
    TargetMode,
    absence_escalation,
    build_month_plan,
    parse_policy_text,
    score_month,
    score_unit_month,
    working_days,
)
from tests.test_scoring_activities import claim
from tests.test_scoring_daily import NATIONAL, punch

# June 2025: 1 June Pancasila Day is a Sunday, 6 June Eid al-Adha (Fri), 9 June joint leave (Mon),
# 27 June Islamic New Year (Fri): 21 weekdays - 3 = 18 working days.
JUNE = [d for d in (date(2025, 6, 1) + timedelta(days=i) for i in range(30))]


def june_days(policy=NATIONAL) -> list[date]:
    return [s.day.day for s in build_month_plan(policy, 2025, 6).office_slots]


def employee(days_clocks: dict[date, list[str]], claims=(), **rest) -> EmployeeMonth:
    punches = [punch(d, c) for d, clocks in days_clocks.items() for c in clocks]
    return EmployeeMonth.from_punches("198501012010011002", punches, claims=list(claims), **rest)


def perfect(days: list[date], minutes_claim: bool = True) -> EmployeeMonth:
    clocks = {d: ["07:25", "16:35" if d.weekday() == 4 else "16:05"] for d in days}
    claims = [claim(f"c{d}", "VISIT", d, "08:00") for d in days] + [
        claim(f"r{d}", "LETTER", d, "12:00", 2) for d in days
    ]
    return employee(clocks, claims if minutes_claim else ())


def test_june_has_eighteen_working_days():
    assert len(june_days()) == 18


def test_perfect_month_scores_full():
    result = score_month(build_month_plan(NATIONAL, 2025, 6), perfect(june_days()))
    assert result.planned_days == 18 and result.target_minutes == 18 * 300
    assert result.effective_minutes == 18 * 300
    assert (result.performance_bp, result.discipline_bp, result.score_bp, result.allowance_deduction_bp) == (
        10_000,
        10_000,
        10_000,
        0,
    )


def test_components_weighted_and_every_number_explained():
    days = june_days()
    clocks = {d: ["07:25", "16:35" if d.weekday() == 4 else "16:05"] for d in days}
    clocks[days[0]] = ["07:45", "16:05"]  # TL1 0.5 %
    clocks[days[1]] = ["07:20", "15:20"]  # PSW2 1 %
    del clocks[days[2]]  # TK 5 %
    claims = [claim(f"c{d}", "REPORT", d, "08:00") for d in days if d in clocks]  # 120 a day
    result = score_month(build_month_plan(NATIONAL, 2025, 6), employee(clocks, claims))
    assert result.codes == {"TL1": 1, "PSW2": 1, "TK": 1}
    assert result.discipline_deduction_bp == 650 and result.discipline_bp == 9350
    assert result.effective_minutes == 17 * 120 and result.target_minutes == 18 * 300
    assert result.performance_bp == 3778  # 2040 / 5400 = 37.777...%
    # 60 % x 37.78 % + 40 % x 93.5 % = 22.667 + 37.4 = 60.067 %
    assert result.score_bp == 6007 and result.allowance_deduction_bp == 3993
    explained = result.explain()
    assert [d["date"] for d in explained["discipline"]["days"]] == [d.isoformat() for d in days[:3]]
    assert explained["discipline"]["deduction"] == "6.5%" and explained["score"]["final"] == "60.07%"
    day0 = explained["days"][days[0].day - 1]
    assert day0["punches"][0]["at"] == f"{days[0]}T07:45:00+07:00" and day0["rules"][0].startswith("TL1: late 1 to 30")
    assert explained["days"][5]["kind"] == "holiday"  # 6 June, Eid al-Adha
    assert len(explained["days"]) == 30 and explained["summary"] == result.summary()


def test_monthly_cap():
    capped = replace(NATIONAL, discipline=replace(NATIONAL.discipline, monthly_cap_bp=2000))
    result = score_month(build_month_plan(capped, 2025, 6), employee({}))
    assert result.deduction_sum_bp == 18 * 500 and result.discipline_deduction_bp == 2000
    uncapped = score_month(build_month_plan(NATIONAL, 2025, 6), employee({}))
    assert uncapped.discipline_deduction_bp == 9000 and uncapped.score_bp == 400  # 40 % x 10 %


def test_leave_reduces_the_target_but_travel_does_not():
    days = june_days()
    base = perfect(days[2:])
    leave = replace(base, excuses={days[0]: "annual_leave", days[1]: "sick_leave"})
    result = score_month(build_month_plan(NATIONAL, 2025, 6), leave)
    assert result.target_minutes == 16 * 300 and result.performance_bp == 10_000 and result.score_bp == 10_000
    travel = replace(base, excuses={days[0]: "official_travel", days[1]: "official_travel"})
    result = score_month(build_month_plan(NATIONAL, 2025, 6), travel)
    assert result.target_minutes == 18 * 300 and result.performance_bp == 8889


def test_monthly_target_mode_and_whole_allowance_mode():
    perf = PerformanceRules(target=TargetMode.MONTHLY, monthly_target_minutes=6750)
    disc = DisciplineRules(applies_to=DeductionBase.WHOLE_ALLOWANCE)
    policy = replace(NATIONAL, performance=perf, discipline=disc)
    days = june_days()
    emp = replace(perfect(days[1:]), excuses={days[0]: "annual_leave"})
    result = score_month(build_month_plan(policy, 2025, 6), emp)
    assert result.target_minutes == 6375  # 6750 x 17/18
    assert result.performance_bp == 8000  # 17 x 300 = 5100 of 6375
    assert result.allowance_deduction_bp == 1200  # 100 % - (60 % x 80 % + 40 %)
    late = replace(emp, times=[t + 20 * 60 if i % 2 == 0 else t for i, t in enumerate(emp.times)])  # 07:45
    result = score_month(build_month_plan(policy, 2025, 6), late)
    assert result.discipline_deduction_bp == 17 * 50 and result.allowance_deduction_bp == 1200 + 850
    assert result.score_bp == 7950


BOOK_V1 = """
[policy]
extends = "national-common"
name = "unit-policy"
effective_from = 2025-01-01
"""


def test_next_months_policy_never_rewrites_last_month():
    v1 = parse_policy_text(BOOK_V1)
    v2 = parse_policy_text(BOOK_V1.replace("2025-01-01", "2025-07-01") + "[absence]\ndeduction = 3\n")
    emp = employee({})
    before = score_month(build_month_plan(PolicyBook((v1,)).resolve(year=2025, month=6), 2025, 6), emp)
    book = PolicyBook((v1, v2))
    after = score_month(build_month_plan(book.resolve(year=2025, month=6), 2025, 6), emp)
    july = score_month(build_month_plan(book.resolve(year=2025, month=7), 2025, 7), emp)
    assert before.digest() == after.digest() and before.deduction_sum_bp == 18 * 500
    assert july.policy.absence.deduction_bp == 300 and july.summary()["policy_effective_from"] == "2025-07-01"
    with pytest.raises(InputError, match="in force from 2025-07-01"):
        build_month_plan(book.resolve(year=2025, month=7), 2025, 6)


def test_recomputation_is_idempotent_and_unit_helper():
    days = june_days()
    emp = perfect(days[:-3])
    results = score_unit_month(NATIONAL, 2025, 6, [emp, emp])
    assert results[0].digest() == results[1].digest()
    shuffled = replace(emp, times=list(reversed(emp.times)), states=None, devices=None, claims=emp.claims[::-1])
    again = score_month(build_month_plan(NATIONAL, 2025, 6), shuffled)
    assert again.summary() == results[0].summary()


def test_absence_escalation():
    year_days = working_days(NATIONAL, 2025)
    assert absence_escalation([], year_days) == []
    (flag,) = absence_escalation(year_days[:3:2] + year_days[10:11], year_days)
    assert flag.sanction == "verbal reprimand" and flag.absent_days == 3
    flags = absence_escalation(year_days[100:110], year_days)  # 10 consecutive working days
    assert [f.sanction for f in flags] == ["statement of dissatisfaction", "dismissal proceedings"]
    assert "consecutive" in flags[1].reason
    scattered = year_days[0:60:2]  # 30 days, never consecutive
    assert [f.sanction for f in absence_escalation(scattered, year_days)] == ["dismissal proceedings"]
    result = score_month(build_month_plan(NATIONAL, 2025, 6), employee({}))
    assert len(result.absent_days) == 18
