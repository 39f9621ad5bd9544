"""The allowance in Rupiah: grade tables as effective-dated policy data, pro rata, the cut shapes
agencies publish, rounding, and the explanation. Every figure below was worked out by hand."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, time, timedelta, timezone
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scoring
from scoring import (
    AbsenceCut,
    AbsenceMode,
    AllowanceInput,
    AttendanceDay,
    CombineMode,
    CombineRule,
    GradeAssignment,
    InputError,
    LatenessMode,
    LatenessRule,
    PolicyError,
    ProRata,
    Rounding,
    compute_allowance,
    format_rupiah,
    load_allowance_policy,
    parse_allowance_text,
    round_rupiah,
)

NIP = "198001012005011001"
KEMENSOS = load_allowance_policy("social-affairs-2023")
KEMENSOS_TEXT = (Path(scoring.__file__).parent / "presets" / "allowance" / "social-affairs-2023.toml").read_text()
MAY = tuple(date(2025, 5, d) for d in range(1, 32) if date(2025, 5, d).weekday() < 5)  # 22 weekdays


def month(*assignments: GradeAssignment, attendance=(), performance_bp=10_000, working_days=MAY) -> AllowanceInput:
    return AllowanceInput(NIP, 2025, 5, assignments, working_days, tuple(attendance), performance_bp)


def whole_may(grade: int, status: str = "pns") -> GradeAssignment:
    return GradeAssignment(date(2025, 5, 1), None, grade, status)


def late(day: int, minutes: int = 0, early: int = 0, bp: int = 0) -> AttendanceDay:
    return AttendanceDay(date(2025, 5, day), False, minutes, early, bp)


def absent(day: int, bp: int = 500) -> AttendanceDay:
    return AttendanceDay(date(2025, 5, day), True, 0, 0, bp, ("TK",))


def test_the_social_affairs_table_is_perpres_71_2023_from_16_october_2023():
    assert "social-affairs-2023" in scoring.allowance_preset_names()
    assert KEMENSOS.effective_from == date(2023, 10, 16) and KEMENSOS.legal_basis.endswith("71 Tahun 2023")
    expected = {17: 33_240_000, 16: 27_577_500, 15: 19_280_000, 14: 17_064_000, 13: 10_936_000, 12: 9_896_000,
                11: 8_757_600, 10: 5_979_200, 9: 5_079_200, 8: 4_595_150, 7: 3_915_950, 6: 3_510_400,
                5: 3_134_250, 4: 2_985_000, 3: 2_898_000, 2: 2_708_250, 1: 2_531_250}  # fmt: skip
    assert dict(KEMENSOS.grades) == expected
    assert KEMENSOS.status_share("cpns") == 8000 and KEMENSOS.rounding is Rounding.HALF_UP


def test_a_full_month_without_cut_pays_the_grade():
    result = compute_allowance(KEMENSOS, month(whole_may(7)))
    assert (result.gross, result.net, result.cut_rupiah, result.deduction_bp) == (3_915_950, 3_915_950, 0, 0)
    assert result.explain()["gross"]["gross_text"] == "Rp 3.915.950"


def test_a_start_mid_month_is_paid_pro_rata_by_calendar_days_and_rounded_half_up():
    # 17 of 31 days at grade 9: 5,079,200 x 17 / 31 = 86,346,400 / 31 = 2,785,367.74... -> 2,785,368
    start = GradeAssignment(date(2025, 5, 15), None, 9)
    result = compute_allowance(KEMENSOS, month(start))
    assert result.gross_exact == Fraction(86_346_400, 31) and result.gross == 2_785_368
    segment = result.explain()["gross"]["segments"][0]
    assert (segment["from"], segment["to"], segment["share"], segment["amount"]) == (
        "2025-05-15",
        "2025-05-31",
        "17/31",
        5_079_200,
    )
    down = dataclasses.replace(KEMENSOS, rounding=Rounding.DOWN)
    assert compute_allowance(down, month(start)).gross == 2_785_367


def test_a_transfer_mid_month_pays_each_grade_for_its_days():
    # 3,915,950 x 14/31 + 5,079,200 x 17/31 = (54,823,300 + 86,346,400) / 31 = 4,553,861.29 -> 4,553,861
    before = GradeAssignment(date(2025, 5, 1), date(2025, 5, 14), 7)
    after = GradeAssignment(date(2025, 5, 15), None, 9)
    result = compute_allowance(KEMENSOS, month(before, after))
    assert [(s.grade, s.share) for s in result.segments] == [(7, Fraction(14, 31)), (9, Fraction(17, 31))]
    assert result.gross == 4_553_861


def test_working_day_pro_rata_and_the_whole_month_rule():
    # from Thursday 15 May: 12 of May's 22 weekdays; 5,079,200 x 12 / 22 = 2,770,472.73 -> 2,770,473
    start = GradeAssignment(date(2025, 5, 15), None, 9)
    by_working_days = dataclasses.replace(KEMENSOS, pro_rata=ProRata.WORKING_DAYS)
    assert compute_allowance(by_working_days, month(start)).gross == 2_770_473
    whole = dataclasses.replace(KEMENSOS, pro_rata=ProRata.WHOLE_MONTH)
    before = GradeAssignment(date(2025, 5, 1), date(2025, 5, 14), 7)
    assert compute_allowance(whole, month(before, start)).gross == 5_079_200  # the grade held at the month's end


def test_a_cpns_is_paid_80_percent():
    result = compute_allowance(KEMENSOS, month(whole_may(5, "cpns")))
    assert result.gross == 2_507_400  # 3,134,250 x 80 %
    assert result.explain()["gross"]["segments"][0]["status_share"] == "80%"


def test_the_weighted_cut_takes_the_discipline_part():
    # TL1 0.5 % + TL2 1 % + TK 5 % + PSW4 1.5 % = 8 %; paid = 60 % + 40 % x 92 % = 96.8 %
    days = [late(5, 10, bp=50), late(6, 40, bp=100), absent(7), late(8, early=120, bp=150)]
    result = compute_allowance(KEMENSOS, month(whole_may(17), attendance=days))
    assert result.discipline.cut == Fraction(8, 100) and result.paid_share == Fraction(968, 1000)
    assert (result.gross, result.net, result.cut_rupiah) == (33_240_000, 32_176_320, 1_063_680)
    explained = result.explain()
    assert explained["discipline"]["cut"] == "8%" and explained["net"]["deduction"] == "3.2%"
    assert explained["net"]["formula"] == "paid = 60% x performance 100% + 40% x (100% - cut 8%)"
    assert [d["date"] for d in explained["discipline"]["days"]] == ["2025-05-05", "2025-05-06", "2025-05-08"]


MINUTES_POLICY = dataclasses.replace(
    KEMENSOS,
    lateness=LatenessRule(LatenessMode.MINUTES, bp_per_hour=100, day_minutes=300),
    combine=CombineRule(CombineMode.MINIMUM),
)


def test_a_cut_proportional_to_minutes_late_one_percent_per_hour_on_a_300_minute_day():
    # 45 minutes = 0.75 %; 400 minutes late count 300 = 5 %; together 5.75 %.
    days = [late(5, 45), late(6, 400)]
    result = compute_allowance(MINUTES_POLICY, month(whole_may(8), attendance=days, performance_bp=9000))
    assert result.discipline.cut == Fraction(575, 10_000)
    # the lower of performance 90 % and 94.25 %: 4,595,150 x 90 % = 4,135,635
    assert (result.paid_share, result.net) == (Fraction(9, 10), 4_135_635)
    assert "the lower of performance 90%" in result.explain()["net"]["formula"]


def test_rounding_of_the_net_is_the_stated_rule():
    # 20 minutes late: 1/3 %; grade 16: 27,577,500 x (1 - 1/300) = 27,485,575 exactly
    # 45 minutes: 0.75 %: 27,577,500 x 0.9925 = 27,370,668.75 -> half up 27,370,669, down 27,370,668
    assert compute_allowance(MINUTES_POLICY, month(whole_may(16), attendance=[late(5, 20)])).net == 27_485_575
    result = compute_allowance(MINUTES_POLICY, month(whole_may(16), attendance=[late(5, 45)]))
    assert result.net == 27_370_669 and result.cut_rupiah == 206_831
    down = dataclasses.replace(MINUTES_POLICY, rounding=Rounding.DOWN)
    assert compute_allowance(down, month(whole_may(16), attendance=[late(5, 45)])).net == 27_370_668
    hundreds = dataclasses.replace(MINUTES_POLICY, rounding_unit=100)
    assert compute_allowance(hundreds, month(whole_may(16), attendance=[late(5, 45)])).net == 27_370_700
    assert "rounded half up to Rp 1" in result.explain()["policy"]["rounding"]


def test_a_third_of_a_percent_is_shown_exactly():
    result = compute_allowance(MINUTES_POLICY, month(whole_may(16), attendance=[late(5, 20)]))
    assert result.explain()["discipline"]["cut"] == "0.33% (exactly 1/300)"


def test_a_cap_per_day_on_late_and_early_together():
    capped = dataclasses.replace(KEMENSOS, lateness=LatenessRule(daily_cap_bp=200))
    result = compute_allowance(capped, month(whole_may(7), attendance=[late(5, 100, 100, bp=300), late(6, 10, bp=50)]))
    assert result.discipline.cut == Fraction(250, 10_000)  # 3 % capped to 2 %, plus 0.5 %
    days = result.explain()["discipline"]["days"]
    assert days[0] == {"date": "2025-05-05", "codes": [], "late_minutes": 100, "early_minutes": 100, "cut": "2%",
                       "capped": True}  # fmt: skip
    assert "capped" not in days[1]


def test_a_cut_of_days_absent_over_working_days():
    ratio = dataclasses.replace(
        KEMENSOS, absence=AbsenceCut(AbsenceMode.RATIO), combine=CombineRule(CombineMode.MINIMUM)
    )
    result = compute_allowance(ratio, month(whole_may(7), attendance=[absent(5), absent(6)]))
    assert result.discipline.cut == Fraction(2, 22)  # 2 of 22 working days
    # 3,915,950 x 20/22 = 3,559,954.54... -> 3,559,955
    assert result.net == 3_559_955
    # started on the 15th: 2 of the 12 working days employed (and the gross is pro rata too)
    late_start = compute_allowance(ratio, month(GradeAssignment(date(2025, 5, 15), None, 7),
                                                attendance=[absent(15), absent(16), absent(5)]))  # fmt: skip
    assert late_start.discipline.cut == Fraction(2, 12) and late_start.discipline.absent_days == 2
    assert [a["date"] for a in late_start.explain()["discipline"]["absent"]] == ["2025-05-15", "2025-05-16"]


def test_absence_per_day_and_the_monthly_cap():
    per_day = dataclasses.replace(KEMENSOS, absence=AbsenceCut(AbsenceMode.PER_DAY, bp_per_day=300),
                                  monthly_cap_bp=1000, combine=CombineRule(CombineMode.CUT_FROM_WHOLE))  # fmt: skip
    result = compute_allowance(per_day, month(whole_may(10), attendance=[absent(d, bp=0) for d in (5, 6, 7, 8)]))
    assert result.discipline.total_bp == 1000  # 4 x 3 % = 12 %, capped at 10 %
    # cut from the whole: 60 % x 100 % + 40 % - 10 % = 90 %: 5,979,200 x 90 % = 5,381,280
    assert result.net == 5_381_280


def test_the_version_in_force_on_each_day_pays_that_day(tmp_path):
    older = KEMENSOS_TEXT.replace("2023-10-16", "2020-01-01").replace("7 = 3_915_950", "7 = 3_000_000")
    older = older.replace('name = "social-affairs-2023"', 'name = "social-affairs-2018"')
    (tmp_path / "older.toml").write_text(older, encoding="utf-8")
    book = scoring.load_allowance_book("social-affairs-2023", tmp_path / "older.toml")
    october = AllowanceInput(NIP, 2023, 10, (GradeAssignment(date(2023, 1, 1), None, 7),), ())
    result = compute_allowance(book, october)
    # 3,000,000 x 15/31 + 3,915,950 x 16/31 = 107,655,200 / 31 = 3,472,748.39 -> 3,472,748
    assert [s.version.name for s in result.segments] == ["social-affairs-2018", "social-affairs-2023"]
    assert result.gross == 3_472_748
    with pytest.raises(InputError, match="no allowance table in force on 2023-10-01"):
        compute_allowance(KEMENSOS, october)


def test_from_the_monthly_result_of_real_punches():
    policy = scoring.load_policy("national-common")
    wib = timezone(timedelta(hours=7))
    punches = []
    for day in (d for d in range(1, 31) if date(2025, 6, d).weekday() < 5):
        arrive = time(7, 45) if day == 2 else time(7, 25)  # 2 June: 15 minutes late, TL1
        punches += [scoring.Punch(datetime.combine(date(2025, 6, day), t, wib)) for t in (arrive, time(16, 35))]
    punches = [p for p in punches if p.at.date() != date(2025, 6, 3)]  # 3 June: absent, TK
    result = scoring.score_month(
        scoring.build_month_plan(policy, 2025, 6), scoring.EmployeeMonth.from_punches(NIP, punches)
    )
    assert result.codes == {"TL1": 1, "TK": 1}
    grade = GradeAssignment(date(2020, 1, 1), None, 12)
    pay = compute_allowance(
        KEMENSOS,
        AllowanceInput.from_monthly_result(
            result, [grade], performance_bp=9500, performance_source="plan realisation", performance_basis="plan"
        ),
    )
    # cut 5.5 %; paid = 60 % x 95 % + 40 % x 94.5 % = 94.8 %; 9,896,000 x 94.8 % = 9,381,408
    assert pay.discipline.cut == Fraction(55, 1000) and pay.net == 9_381_408
    assert pay.explain()["performance"] == {"component": "95%", "source": "plan realisation", "basis": "plan"}
    own = AllowanceInput.from_monthly_result(result, [grade])
    assert own.performance_source.startswith("effective minutes") and own.performance_basis == "minutes"


def test_a_grade_the_table_lacks_and_overlapping_grades_are_refused():
    with pytest.raises(PolicyError, match="a grade this table pays"):
        compute_allowance(dataclasses.replace(KEMENSOS, grades=((17, 1),)), month(whole_may(7)))
    with pytest.raises(InputError, match="must not overlap"):
        compute_allowance(KEMENSOS, month(whole_may(7), GradeAssignment(date(2025, 5, 10), None, 8)))
    with pytest.raises(InputError, match="no grade held"):
        compute_allowance(KEMENSOS, month(GradeAssignment(date(2025, 6, 1), None, 8)))
    with pytest.raises(PolicyError, match="employment status"):
        compute_allowance(KEMENSOS, month(whole_may(7, "honorer")))


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (("17 = 33_240_000", "18 = 40_000_000\n17 = 33_240_000"), "grades.18"),
        (("17 = 33_240_000", '17 = "33.240.000"'), "grades.17"),
        (('mode = "weighted"', 'mode = "average"'), "combine.mode"),
        (("performance_weight = 60", "performance_weight = 70"), "combine"),
        (('rule = "half_up"', 'rule = "half_up"\nround = 1'), "rounding.round"),
        (('basis = "calendar_days"', 'basis = "hours"'), "pro_rata.basis"),
        (("cpns = 80", "cpns = 120"), "status"),
    ],
)
def test_a_wrong_allowance_file_names_the_key(change, key):
    with pytest.raises(PolicyError) as err:
        parse_allowance_text(KEMENSOS_TEXT.replace(*change), source="agency.toml")
    assert err.value.key == key and str(err.value).startswith("agency.toml: key")


def test_another_agency_brings_its_own_file(tmp_path):
    path = tmp_path / "nutrition-2025.toml"
    path.write_text(
        """
[allowance]
name = "nutrition-2025"
effective_from = 2025-01-01
[grades]
7 = 4_000_000
[lateness]
mode = "minutes"
percent_per_hour = 1
day_minutes = 300
daily_cap = 3
[absence]
mode = "ratio"
[combine]
mode = "minimum"
[rounding]
rule = "down"
unit = 100
""",
        encoding="utf-8",
    )
    policy = load_allowance_policy(path)
    assert (policy.lateness.daily_cap_bp, policy.absence.mode, policy.rounding_unit) == (300, AbsenceMode.RATIO, 100)
    # 250 minutes late = 4 1/6 %, capped at 3 %; 4,000,000 x 97 % = 3,880,000
    assert compute_allowance(policy, month(whole_may(7), attendance=[late(5, 250)])).net == 3_880_000


def test_rupiah_rounding_and_formatting():
    assert round_rupiah(Fraction(5, 2)) == 3 and round_rupiah(Fraction(5, 2), Rounding.DOWN) == 2
    assert round_rupiah(Fraction(1, 3), Rounding.UP) == 1 and round_rupiah(Fraction(149), unit=100) == 100
    assert format_rupiah(2_531_250) == "Rp 2.531.250" and format_rupiah(0) == "Rp 0"


# --- properties -------------------------------------------------------------------------------------------------

policies = st.builds(
    lambda lateness, absence, combine, perf_w, cap, rounding, unit, basis: dataclasses.replace(
        KEMENSOS,
        lateness=lateness,
        absence=absence,
        combine=CombineRule(combine, perf_w, 10_000 - perf_w),
        monthly_cap_bp=cap,
        rounding=rounding,
        rounding_unit=unit,
        pro_rata=basis,
    ),
    st.builds(
        LatenessRule,
        st.sampled_from(LatenessMode),
        st.integers(0, 500),
        st.none() | st.integers(1, 480),
        st.none() | st.integers(0, 1000),
    ),
    st.builds(AbsenceCut, st.sampled_from(AbsenceMode), st.integers(0, 1000), st.integers(0, 10_000)),
    st.sampled_from(CombineMode),
    st.integers(0, 10_000),
    st.integers(0, 10_000),
    st.sampled_from(Rounding),
    st.sampled_from([1, 100, 1000]),
    st.sampled_from(ProRata),
)
attendance_days = st.lists(
    st.builds(
        AttendanceDay,
        st.sampled_from(MAY),
        st.booleans(),
        st.integers(0, 600),
        st.integers(0, 600),
        st.integers(0, 1000),
    ),
    max_size=12,
    unique_by=lambda d: d.day,
)


@settings(max_examples=300, deadline=None)
@given(policies, attendance_days, st.integers(0, 12_000), st.integers(1, 17), st.integers(1, 31))
def test_net_is_between_zero_and_gross_and_gross_minus_cut_is_net(policy, days, perf, grade, start):
    result = compute_allowance(policy, month(GradeAssignment(date(2025, 5, start), None, grade), attendance=days,
                                             performance_bp=perf))  # fmt: skip
    assert 0 <= result.net <= result.gross
    assert result.gross - result.cut_rupiah == result.net
    assert 0 <= result.discipline.cut <= Fraction(policy.monthly_cap_bp, 10_000)


@settings(max_examples=300, deadline=None)
@given(policies, attendance_days, st.integers(0, 10_000), st.integers(0, 11), st.integers(1, 300), st.integers(1, 500))
def test_more_cut_never_pays_more(policy, days, perf, pick, more_minutes, more_bp):
    before = compute_allowance(policy, month(whole_may(9), attendance=days, performance_bp=perf))
    if days:
        worse = days[pick % len(days)]
        worse_day = dataclasses.replace(worse, late_minutes=worse.late_minutes + more_minutes,
                                        deduction_bp=worse.deduction_bp + more_bp)  # fmt: skip
        days = [worse_day if d is worse else d for d in days]
    after = compute_allowance(policy, month(whole_may(9), attendance=days, performance_bp=perf))
    assert after.discipline.cut >= before.discipline.cut and after.net <= before.net


@settings(max_examples=200, deadline=None)
@given(policies, attendance_days, st.integers(0, 10_000), st.integers(0, 10_000), st.integers(1, 17))
def test_more_performance_never_pays_less(policy, days, perf, more, grade):
    lower = compute_allowance(policy, month(whole_may(grade), attendance=days, performance_bp=perf))
    higher = compute_allowance(policy, month(whole_may(grade), attendance=days, performance_bp=perf + more))
    assert higher.net >= lower.net


def section_example(heading: str) -> str:
    """The first python block under ``heading`` in docs/scoring.md."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "scoring.md").read_text(encoding="utf-8")
    section = text.split(f"\n{heading}\n", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_allowance_example_of_the_docs_runs_on_public_names_only():
    code = section_example("## The allowance in Rupiah")
    assert "compute_allowance" in code and "scoring._" not in code
    exec(compile(code, "docs/scoring.md", "exec"), {})
