"""Daily attendance: from punches to TL/PSW/TK codes, table by table."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta, timezone

import pytest

from scoring import (
    ABSENT,
    EXCUSED,
    PRESENT,
    AttendanceRules,
    BandBy,
    CompensationRule,
    DayRecord,
    EmployeeMonth,
    ExcuseRule,
    InputError,
    LateCountedFrom,
    MonthlyResult,
    Policy,
    Punch,
    PunchSeconds,
    build_month_plan,
    load_policy,
    score_month,
)

ZONES = {
    "WIB": timezone(timedelta(hours=7), "WIB"),
    "WITA": timezone(timedelta(hours=8)),
    "WIT": timezone(timedelta(hours=9)),
}
MONDAY = date(2025, 5, 5)
FRIDAY = date(2025, 5, 9)


def punch(day: date, clock: str, zone: str = "WIB", state: int = 0) -> Punch:
    parts = [int(x) for x in clock.split(":")]
    return Punch(datetime.combine(day, time(*parts), ZONES[zone]), state=state, device="DEV1")


def month_of(policy: Policy, day: date, punches: list[Punch], **rest) -> MonthlyResult:
    plan = build_month_plan(policy, day.year, day.month, rest.pop("days_off", None))
    return score_month(plan, EmployeeMonth.from_punches("199001012020011001", punches, **rest))


def on(result: MonthlyResult, day: date) -> DayRecord:
    return next(r for r in result.days if r.day == day)


def day_of(policy: Policy, day: date, clocks: list[str], zone: str = "WIB", **rest) -> DayRecord:
    return on(month_of(policy, day, [punch(day, c, zone) for c in clocks], **rest), day)


NATIONAL = load_policy("national-common")


@pytest.mark.parametrize(
    ("arrival", "late", "code", "bp"),
    [
        ("07:00", 0, (), 0),
        ("07:30", 0, (), 0),
        ("07:30:59", 0, (), 0),  # seconds are ignored: the device shows 07:30
        ("07:31", 1, ("TL1",), 50),
        ("08:00", 30, ("TL1",), 50),
        ("08:01", 31, ("TL2",), 100),
        ("08:30", 60, ("TL2",), 100),
        ("08:31", 61, ("TL3",), 125),
        ("09:00", 90, ("TL3",), 125),
        ("09:01", 91, ("TL4",), 150),
        ("11:00", 210, ("TL4",), 150),
    ],
)
def test_lateness_bands(arrival, late, code, bp):
    rec = day_of(NATIONAL, MONDAY, [arrival, "16:00"])
    assert (rec.status, rec.late_minutes, rec.early_minutes, rec.codes, rec.deduction_bp) == (
        PRESENT,
        late,
        0,
        code,
        bp,
    )


@pytest.mark.parametrize(
    ("departure", "early", "code", "bp"),
    [
        ("18:00", 0, (), 0),
        ("16:00", 0, (), 0),
        ("15:59:30", 1, ("PSW1",), 50),
        ("15:59", 1, ("PSW1",), 50),
        ("15:30", 30, ("PSW1",), 50),
        ("15:29", 31, ("PSW2",), 100),
        ("15:00", 60, ("PSW2",), 100),
        ("14:59", 61, ("PSW3",), 125),
        ("14:30", 90, ("PSW3",), 125),
        ("14:29", 91, ("PSW4",), 150),
    ],
)
def test_early_leave_bands(departure, early, code, bp):
    rec = day_of(NATIONAL, MONDAY, ["07:25", departure])
    assert (rec.early_minutes, rec.codes, rec.deduction_bp) == (early, code, bp)


def test_late_and_early_on_one_day_add_up():
    rec = day_of(NATIONAL, MONDAY, ["08:10", "15:00"])
    assert rec.codes == ("TL2", "PSW2") and rec.deduction_bp == 200


def test_friday_hours():
    assert day_of(NATIONAL, FRIDAY, ["07:30", "16:00"]).codes == ("PSW1",)  # Friday ends 16:30
    assert day_of(NATIONAL, FRIDAY, ["07:30", "16:30"]).codes == ()


@pytest.mark.parametrize(
    ("day", "clocks", "codes"),
    [
        (date(2025, 3, 3), ["08:00", "15:00"], ()),  # Ramadan Monday 08:00-15:00
        (date(2025, 3, 3), ["07:50", "14:59"], ("PSW1",)),
        (date(2025, 3, 3), ["08:31", "15:00"], ("TL2",)),
        (date(2025, 3, 7), ["08:00", "15:00"], ("PSW1",)),  # Ramadan Friday ends 15:30
        (date(2025, 3, 7), ["08:00", "15:30"], ()),
        (date(2025, 2, 27), ["08:00", "16:00"], ("TL1",)),  # the day before Ramadan: regular hours
    ],
)
def test_ramadan_hours(day, clocks, codes):
    assert day_of(NATIONAL, day, clocks).codes == codes


def test_seconds_count_when_the_policy_says_so():
    strict = replace(NATIONAL, attendance=replace(NATIONAL.attendance, punch_seconds=PunchSeconds.COUNT))
    assert day_of(strict, MONDAY, ["07:30:00", "16:00"]).codes == ()
    assert day_of(strict, MONDAY, ["07:30:01", "16:00"]).late_minutes == 1
    assert day_of(strict, MONDAY, ["07:25", "15:59:59"]).codes == ("PSW1",)


@pytest.mark.parametrize(
    ("counted_from", "arrival", "late", "codes"),
    [
        (LateCountedFrom.GRACE_END, "07:45", 15, ()),
        (LateCountedFrom.GRACE_END, "07:46", 16, ("TL1",)),
        (LateCountedFrom.GRACE_END, "08:15", 45, ("TL1",)),  # 30 minutes past the grace
        (LateCountedFrom.GRACE_END, "08:16", 46, ("TL2",)),
        (LateCountedFrom.START, "07:45", 15, ()),
        (LateCountedFrom.START, "07:46", 16, ("TL1",)),
        (LateCountedFrom.START, "08:01", 31, ("TL2",)),
    ],
)
def test_grace(counted_from, arrival, late, codes):
    policy = replace(
        NATIONAL, attendance=replace(NATIONAL.attendance, grace_minutes=15, late_counted_from=counted_from)
    )
    rec = day_of(policy, MONDAY, [arrival, "16:00"])
    assert (rec.late_minutes, rec.codes) == (late, codes)


@pytest.mark.parametrize(
    ("clocks", "codes", "arrival_kept"),
    [
        ([], ("TK",), False),
        (["07:20"], ("PSW4",), True),  # arrival without departure: top PSW band
        (["07:20", "07:21", "07:24"], ("PSW4",), True),  # repeats within 5 minutes count once
        (["16:05"], ("TL4",), False),  # departure without arrival: top TL band
        (["16:05", "16:09"], ("TL4",), False),
        (["07:20", "07:26"], ("PSW4",), True),  # 6 minutes apart: two punches, left at 07:26
    ],
)
def test_missing_punches_and_repeats(clocks, codes, arrival_kept):
    rec = day_of(NATIONAL, MONDAY, clocks)
    assert rec.codes == codes
    assert (rec.arrival is not None) == arrival_kept
    if codes == ("TK",):
        assert rec.status == ABSENT and rec.deduction_bp == 500


def test_missing_punch_bands_are_policy():
    policy = replace(NATIONAL, attendance=replace(NATIONAL.attendance, missing_in="TL3", missing_out="PSW2"))
    assert day_of(policy, MONDAY, ["07:20"]).codes == ("PSW2",)
    assert day_of(policy, MONDAY, ["16:20"]).codes == ("TL3",)


def test_state_keys_only_when_trusted():
    day = MONDAY
    punches = [punch(day, "07:40", state=0), punch(day, "12:00", state=2), punch(day, "13:00", state=3)]
    ignored = on(month_of(NATIONAL, day, punches), day)
    assert ignored.codes == ("TL1", "PSW4")  # last punch 13:00 is taken as the departure
    trusting = replace(NATIONAL, attendance=AttendanceRules(trust_state_keys=True))
    trusted = on(month_of(trusting, day, punches), day)
    assert trusted.codes == ("TL1", "PSW4") and trusted.departure is None
    out_only = on(month_of(trusting, day, [punch(day, "07:25", state=1), punch(day, "16:00", state=1)]), day)
    assert out_only.codes == ("TL4",)
    with pytest.raises(InputError, match="state"):
        score_month(build_month_plan(trusting, 2025, 5), EmployeeMonth("x", [1], None))


def test_punch_window_finance():
    finance = load_policy("finance-2021")
    rec = day_of(finance, MONDAY, ["04:55", "17:00"])  # before 05:00: does not count
    assert rec.codes == ("TL4",) and rec.arrival is None


@pytest.mark.parametrize(
    ("band_by", "arrival", "departure", "codes"),
    [
        (BandBy.ARRIVAL, "08:30", "17:00", ()),  # 60 late, stayed 60 after 16:00: made up
        (BandBy.ARRIVAL, "08:30", "16:30", ("TL2",)),  # not made up: banded by arrival
        (BandBy.REMAINING, "08:30", "16:30", ("TL1",)),  # 30 of 60 made up
        (BandBy.ARRIVAL, "09:01", "17:31", ("TL4",)),  # 91 late: more than may be made up
        (BandBy.ARRIVAL, "08:00", "15:30", ("TL1", "PSW1")),
    ],
)
def test_compensation(band_by, arrival, departure, codes):
    policy = replace(NATIONAL, compensation=CompensationRule(enabled=True, max_minutes=90, band_by=band_by))
    rec = day_of(policy, MONDAY, [arrival, departure])
    assert rec.codes == codes
    if codes == ():
        assert "made up" in rec.note


@pytest.mark.parametrize(
    ("arrival", "codes"),
    [("08:30", ()), ("09:00", ()), ("09:01", ("TL2",)), ("09:30", ("TL2",)), ("09:31", ("TL3",)), ("10:01", ("TL4",))],
)
def test_finance_preset_bands_by_clock_time(arrival, codes):
    finance = load_policy("finance-2021")
    assert day_of(finance, MONDAY, [arrival, "18:40"]).codes == codes


def test_agriculture_away_more_than_seven_and_a_half_hours_is_absence():
    agri = load_policy("agriculture-2012")
    rec = day_of(agri, MONDAY, ["11:00", "15:00"])  # 210 late + 60 early = 270: TL4 + PSW2
    assert rec.codes == ("TL4", "PSW2") and rec.deduction_bp == 300
    rec = day_of(agri, MONDAY, ["12:00", "12:30"])  # 270 + 210 = 480 > 450
    assert rec.status == ABSENT and rec.codes == ("TK",) and rec.deduction_bp == 400


@pytest.mark.parametrize(
    ("day", "kind"),
    [
        (date(2025, 5, 1), "holiday"),  # Labour Day
        (date(2025, 5, 13), "joint_leave"),  # Vesak joint leave
        (date(2025, 3, 31), "holiday"),  # Eid al-Fitr
        (date(2025, 4, 7), "joint_leave"),  # Eid joint leave
        (date(2025, 5, 10), "weekend"),
    ],
)
def test_holidays_and_joint_leave_need_no_punches(day, kind):
    result = month_of(NATIONAL, day, [])
    assert all(r.day != day for r in result.days)
    entry = result.explain()["days"][day.day - 1]
    assert entry["kind"] == kind and "codes" not in entry


def test_unit_day_off_and_worked_holiday():
    result = month_of(NATIONAL, MONDAY, [], days_off={MONDAY: "Unit anniversary"})
    assert all(r.day != MONDAY for r in result.days)
    assert result.explain()["days"][MONDAY.day - 1]["kind"] == "day_off"
    cal = replace(NATIONAL.calendar, worked_days=((date(2025, 5, 13), "worked"),))
    worked = replace(NATIONAL, calendar=cal)
    assert day_of(worked, date(2025, 5, 13), []).codes == ("TK",)


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        ("annual_leave", "CT"),
        ("sick_leave", "CS"),
        ("big_leave", "CB"),
        ("maternity_leave", "CM"),
        ("important_reasons_leave", "CAP"),
        ("official_travel", "DL"),
        ("work_from_home", "WFH"),
    ],
)
def test_each_excuse_type(kind, code):
    rec = day_of(NATIONAL, MONDAY, [], excuses={MONDAY: kind})
    assert (rec.status, rec.codes, rec.deduction_bp) == (EXCUSED, (code,), 0)
    # an excuse replaces the punches' verdict: no TL for a late punch on a leave day
    assert day_of(NATIONAL, MONDAY, ["10:00"], excuses={MONDAY: kind}).codes == (code,)


def test_excuse_with_its_own_deduction_and_unknown_kinds():
    excuses = (*NATIONAL.excuses[:-1], ExcuseRule("work_from_home", "WFH", "wfh", deduction_bp=25))
    policy = replace(NATIONAL, excuses=excuses)
    assert day_of(policy, MONDAY, [], excuses={MONDAY: "work_from_home"}).deduction_bp == 25
    with pytest.raises(InputError, match="holiday_trip"):
        day_of(NATIONAL, MONDAY, [], excuses={MONDAY: "holiday_trip"})
    # an excuse on a weekend changes nothing
    assert month_of(NATIONAL, MONDAY, [], excuses={date(2025, 5, 10): "annual_leave"}).codes.get("CT") is None


@pytest.mark.parametrize("zone", ["WIB", "WITA", "WIT"])
def test_three_zones_read_punches_in_office_time(zone):
    policy = NATIONAL.in_zone(zone)
    rec = day_of(policy, MONDAY, ["07:45", "15:50"], zone=zone)
    assert rec.codes == ("TL1", "PSW1") and (rec.late_minutes, rec.early_minutes) == (15, 10)
    # a punch stamped in another zone is the same instant: 07:30 WIB is 09:30 WIT
    if zone == "WIT":
        rec = day_of(policy, MONDAY, ["07:30", "14:00"], zone="WIB")
        assert rec.late_minutes == 120 and rec.codes == ("TL4",)
    explained = month_of(policy, MONDAY, [punch(MONDAY, "07:45", zone)]).explain()
    assert explained["days"][MONDAY.day - 1]["arrival"].startswith("2025-05-05T07:45:00+0")


def test_unsorted_input_is_sorted():
    punches = [punch(MONDAY, "16:00"), punch(MONDAY, "07:40")]
    plan = build_month_plan(NATIONAL, 2025, 5)
    times = [p for p in EmployeeMonth.from_punches("x", punches).times]
    rec = on(score_month(plan, EmployeeMonth("x", list(reversed(times)))), MONDAY)
    assert rec.codes == ("TL1",)


@pytest.mark.parametrize(
    ("arrival", "departure", "codes", "late", "early"),
    [
        ("07:10", "15:40", (), 0, 0),  # 20 minutes early: the day ends 20 minutes early
        ("07:10", "15:30", ("PSW1",), 0, 10),
        ("06:30", "15:30", (), 0, 0),  # at most 30 minutes earlier
        ("06:30", "15:29", ("PSW1",), 0, 1),
        ("08:00", "16:30", (), 0, 0),  # 30 minutes later, 30 minutes longer
        ("08:00", "16:00", ("PSW1",), 0, 30),
        ("08:01", "16:30", ("TL1",), 1, 0),  # 1 minute past the window; the day still ends at 16:30
        ("08:31", "16:30", ("TL2",), 31, 0),
        ("16:29", None, ("TL4", "PSW1"), None, 1),  # no arrival: the latest start, so the latest end
    ],
)
def test_flexible_start(arrival, departure, codes, late, early):
    policy = replace(NATIONAL, attendance=replace(NATIONAL.attendance, flexible_minutes=30))
    rec = day_of(policy, MONDAY, [arrival, departure] if departure else [arrival])
    assert (rec.codes, rec.late_minutes, rec.early_minutes) == (codes, late, early)
    assert load_policy("national-common").attendance.flexible_minutes == 0
