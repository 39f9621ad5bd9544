"""The allowance's performance component from the work plan (policy option ``[performance] source``) and the
work-result rating proposed from the plan's realisation: tables worked out by hand."""

from __future__ import annotations

from datetime import date
from fractions import Fraction
from pathlib import Path

import pytest

import scoring
from scoring import (
    AllowanceInput,
    AttendanceDay,
    GradeAssignment,
    OutputRecord,
    PerformanceRule,
    PerformanceSource,
    PolicyError,
    Rating,
    TargetShare,
    WithoutPlan,
    WorkResultRules,
    behaviour_share,
    compute_allowance,
    expected_share,
    measure_plan,
    parse_allowance_text,
    performance_component,
    plan_work_share,
    score_behaviour,
)
from tests.test_scoring_appraisal import AS, BELOW, POLICY, ratings, staff_plan

ABOVE = Rating.ABOVE
KEMENSOS_TEXT = (Path(scoring.__file__).parent / "presets" / "allowance" / "social-affairs-2023.toml").read_text()
PLAN = PerformanceSource.PLAN
MINUTES = PerformanceSource.MINUTES
SURABAYA = PerformanceRule(source=PLAN)  # work 80 %, behaviour 20 %, work at most 100 %


def _with(performance: str) -> scoring.AllowancePolicy:
    return parse_allowance_text(KEMENSOS_TEXT + "\n[performance]\n" + performance, source="kemensos-plan.toml")


# --- the policy option ----------------------------------------------------------------------------------------


def test_the_default_is_minutes_so_nothing_existing_changes():
    rule = scoring.load_allowance_policy("social-affairs-2023").performance
    assert rule == PerformanceRule() and rule.source is MINUTES


def test_the_plan_source_as_a_file_says_it():
    rule = _with('source = "plan"').performance
    assert (rule.source, rule.work_weight_bp, rule.behaviour_weight_bp, rule.work_cap_bp) == (PLAN, 8000, 2000, 10_000)
    assert (rule.target_share, rule.without_plan) == (TargetShare.ELAPSED, WithoutPlan.MINUTES)
    other = _with('source = "plan"\nwork_weight = 70\nbehaviour_weight = 30\nwork_cap = 90\n'
                  'target_share = "whole_year"\nwithout_plan = "zero"').performance  # fmt: skip
    assert (other.work_weight_bp, other.behaviour_weight_bp, other.work_cap_bp) == (7000, 3000, 9000)
    assert (other.target_share, other.without_plan) == (TargetShare.WHOLE_YEAR, WithoutPlan.ZERO)


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ('source = "menit"', "performance.source"),
        ('source = "plan"\nwork_weight = 70', "performance"),  # 70 + the default 20: not 100
        ("work_cap = 120", "performance.work_cap"),
        ("work_cap = 0", "performance.work_cap"),
        ('target_share = "quarter"', "performance.target_share"),
        ('without_plan = "skip"', "performance.without_plan"),
        ("work_weigth = 80", "performance.work_weigth"),  # a misspelt key is an error, never ignored
    ],
)
def test_a_wrong_performance_table_names_the_key(table, key):
    with pytest.raises(PolicyError) as err:
        _with(table)
    assert err.value.key == key and err.value.source == "kemensos-plan.toml"


# --- the component ----------------------------------------------------------------------------------------------

FIVE_SEVENTHS = Fraction(5, 7)  # 4 values below (1 point), 3 as expected (2): 10 / 7 points of the 2 expected


@pytest.mark.parametrize(
    ("rule", "work", "behaviour", "bp", "basis"),
    [
        (PerformanceRule(), Fraction(3, 4), Fraction(1), 9000, MINUTES),  # minutes: the plan is not looked at
        (SURABAYA, Fraction(3, 4), Fraction(1), 8000, PLAN),  # 80 % x 75 % + 20 % x 100 % = 80 %
        (SURABAYA, Fraction(3, 4), FIVE_SEVENTHS, 7429, PLAN),  # 60 % + 20 % x 71.43 % = 74.2857 % -> 74.29 %
        (SURABAYA, Fraction(3, 4), None, 7500, PLAN),  # no behaviour rating: the work alone
        (SURABAYA, Fraction(5, 4), Fraction(1), 10_000, PLAN),  # 125 % counts as 100 %
        (SURABAYA, Fraction(0), Fraction(1), 2000, PLAN),  # nothing realised: the behaviour's 20 % only
        (SURABAYA, None, Fraction(1), 9000, MINUTES),  # no agreed plan: the minutes
        (PerformanceRule(PLAN, without_plan=WithoutPlan.ZERO), None, Fraction(1), 0, PLAN),
        (PerformanceRule(PLAN, work_cap_bp=9000), Fraction(1), Fraction(1), 9200, PLAN),  # 80 % x 90 % + 20 %
        (PerformanceRule(PLAN, 7000, 3000), Fraction(1, 2), FIVE_SEVENTHS, 5643, PLAN),  # 35 % + 21.4286 %
    ],
)
def test_the_performance_component(rule, work, behaviour, bp, basis):
    found = performance_component(rule, minutes_bp=9000, work=work, behaviour=behaviour, year=2025)
    assert (found.performance_bp, found.basis) == (bp, basis)


def test_the_component_says_its_source():
    plan = performance_component(SURABAYA, minutes_bp=9000, work=Fraction(3, 4), behaviour=Fraction(1))
    assert plan.source == "plan realisation: 80% x work 75% + 20% x behaviour 100%"
    assert plan.explain() == {"basis": "plan", "component": "80%", "work": "75%", "behaviour": "100%"}
    fallback = performance_component(SURABAYA, minutes_bp=9000, year=2025)
    assert fallback.source == "monthly result (effective minutes against target): no agreed work plan for 2025"
    assert (
        performance_component(PerformanceRule(), minutes_bp=9000).source
        == "monthly result (effective minutes against target)"
    )


# --- work and behaviour from the plan and the ratings -------------------------------------------------------------


def _may_measurement() -> scoring.PlanMeasurement:
    """Staff plan (A1a 12 reports, A1b 10 days less is better, A2a 4 documents a year), realised to May."""
    outputs = [OutputRecord("A1", "A1a", 4), OutputRecord("A1", "A1b", 10), OutputRecord("A2", "A2a", 1)]
    return measure_plan(POLICY, staff_plan(), outputs)


def test_the_work_share_against_the_part_of_the_year_expected():
    m = _may_measurement()
    assert expected_share(SURABAYA, 5) == Fraction(5, 12)
    # A1a: 4 / (12 x 5/12) = 80 %; A1b: 10 / 10 = 100 % (a time, not scaled); A1 = 90 %
    # A2a: 1 / (4 x 5/12) = 60 %; plan = (90 % + 60 %) / 2 = 75 %
    assert plan_work_share(m, Fraction(5, 12)) == Fraction(3, 4)
    # against the whole year: A1 = (1/3 + 1) / 2 = 2/3, A2 = 1/4: (2/3 + 1/4) / 2 = 11/24, the measurement's own
    assert expected_share(PerformanceRule(PLAN, target_share=TargetShare.WHOLE_YEAR), 5) == 1
    assert plan_work_share(m, Fraction(1)) == Fraction(11, 24) == m.achievement
    # by March (3/12) A2a is 1 / 1 = 100 % and A1a 4 / 3, counted at most 120 %: (110 % + 100 %) / 2 = 105 %,
    # at most 100 % for the allowance; 105 % where the cap is the indicators' (the rating's proposal)
    assert plan_work_share(m, Fraction(3, 12)) == 1
    assert plan_work_share(m, Fraction(3, 12), cap_bp=12_000) == Fraction(21, 20)


def test_the_behaviour_share_against_as_expected():
    assert behaviour_share(score_behaviour(POLICY, ratings("superior", *[AS] * 7))) == 1
    assert behaviour_share(score_behaviour(POLICY, ratings("superior", *[ABOVE] * 7))) == 1  # at most 100 %
    assert behaviour_share(score_behaviour(POLICY, ratings("superior", *[BELOW] * 4, *[AS] * 3))) == FIVE_SEVENTHS


def test_the_net_differs_between_the_two_sources_as_worked_by_hand():
    policy = _with('source = "plan"')
    may = tuple(date(2025, 5, d) for d in range(1, 32) if date(2025, 5, d).weekday() < 5)
    m = _may_measurement()
    behaviour = behaviour_share(score_behaviour(POLICY, ratings("superior", *[AS] * 7)))
    work = plan_work_share(m, expected_share(policy.performance, 5), policy.performance.work_cap_bp)
    component = performance_component(policy.performance, minutes_bp=9000, work=work, behaviour=behaviour)

    def month(bp: int, source: str, basis: str) -> AllowanceInput:
        return AllowanceInput("198501012010012002", 2025, 5, (GradeAssignment(date(2020, 1, 1), None, 9),), may,
                              tuple(AttendanceDay(d) for d in may), bp, source, basis)  # fmt: skip

    by_minutes = compute_allowance(policy, month(9000, "minutes", "minutes"))
    by_plan = compute_allowance(policy, month(component.performance_bp, component.source, component.basis.value))
    # grade 9, the whole month, no discipline cut: Rp 5,079,200. Minutes 90 %: 60 % x 90 % + 40 % = 94 %
    # -> Rp 4,774,448. Plan: 80 % x 75 % + 20 % x 100 % = 80 %; 60 % x 80 % + 40 % = 88 % -> Rp 4,469,696
    assert (by_minutes.gross, by_minutes.net) == (5_079_200, 4_774_448)
    assert (by_plan.gross, by_plan.net) == (5_079_200, 4_469_696)
    assert by_plan.explain()["performance"] == {"component": "80%", "source": component.source, "basis": "plan"}


# --- the work-result rating proposed from the realisation --------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "achievement", "proposed"),
    [
        (WorkResultRules(), Fraction(12, 10), ABOVE),
        (WorkResultRules(), Fraction(11, 10), ABOVE),  # 110 %: from above_from, above
        (WorkResultRules(), Fraction(10_999, 10_000), AS),
        (WorkResultRules(), Fraction(1), AS),
        (WorkResultRules(), Fraction(8, 10), AS),  # 80 %: from as_from, as expected
        (WorkResultRules(), Fraction(7999, 10_000), BELOW),
        (WorkResultRules(), Fraction(0), BELOW),
        (WorkResultRules(above_from_bp=10_000, as_from_bp=10_000), Fraction(1), ABOVE),
        (WorkResultRules(above_from_bp=10_500, as_from_bp=9_500), Fraction(95, 100), AS),
        (WorkResultRules(above_from_bp=10_500, as_from_bp=9_500), Fraction(94, 100), BELOW),
    ],
)
def test_the_proposed_work_result_rating(rules, achievement, proposed):
    assert rules.propose(achievement) is proposed


def test_the_thresholds_are_the_appraisal_files():
    text = (Path(scoring.__file__).parent / "presets" / "appraisal" / "permenpanrb-6-2022.toml").read_text()
    own = scoring.parse_appraisal_text(text.replace("above_from = 110", "above_from = 105"))
    assert own.work_result.propose(Fraction(106, 100)) is ABOVE and POLICY.work_result.propose(Fraction(106, 100)) is AS
    with pytest.raises(PolicyError) as err:
        scoring.parse_appraisal_text(text.replace("as_from = 80", "as_from = 120"))
    assert err.value.key == "work_result.as_from"
