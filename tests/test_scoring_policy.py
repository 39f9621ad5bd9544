"""The scoring policy as data: percentages, policy files, presets, calendar, time zones, punches."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest

from scoring import (
    DayKind,
    EmployeeMonth,
    Policy,
    PolicyError,
    Punch,
    build_month_plan,
    explain,
    format_bp,
    load_policy,
    load_policy_book,
    parse_percent,
    parse_policy_text,
    plan_day,
    preset_names,
    ratio_bp,
    score_month,
    weighted_bp,
    zone_name,
)


@pytest.mark.parametrize(
    ("text", "bp"), [(1.25, 125), ("1.25%", 125), ("0.5", 50), (5, 500), (100, 10_000), (" 3 % ", 300)]
)
def test_parse_percent_reads_decimal_text_exactly(text, bp):
    assert parse_percent(text) == bp


@pytest.mark.parametrize("bad", [-1, "abc", 0.125, True, None, float("nan")])
def test_parse_percent_rejects(bad):
    with pytest.raises(ValueError):
        parse_percent(bad)


def test_percent_helpers_round_half_up_once():
    assert format_bp(125) == "1.25%" and format_bp(50) == "0.5%" and format_bp(10_000) == "100%"
    assert ratio_bp(1, 3) == 3333 and ratio_bp(2, 3) == 6667 and ratio_bp(1, 20_000) == 1
    assert weighted_bp(((6000, 10_000), (4000, 9000))) == 9600
    assert weighted_bp(((6000, 1), (4000, 0))) == 1  # 0.6 bp rounds up to 1


def test_every_preset_loads():
    assert {"national-common", "finance-2021", "agriculture-2012", "rehab-centre-shifts"} <= set(preset_names())
    for name in preset_names():
        policy = load_policy(name)
        assert policy.performance.weight_bp + policy.discipline.weight_bp == 10_000
    assert load_policy("agriculture-2012").lateness.by_code("TL4").deduction_bp == 200
    assert load_policy("finance-2021").compensation.enabled
    assert load_policy("rehab-centre-shifts").shift("M").crosses_midnight
    assert load_policy("finance-2021").source == "preset:finance-2021"  # not where the library is installed


BASE = """
[policy]
extends = "national-common"
name = "test"
effective_from = 2025-01-01
"""


def test_unit_override_may_restate_the_week_with_a_range():
    # regression: the merged table used to hold both the preset's mon-thu and the unit's mon-fri
    version = parse_policy_text(BASE + '[units.kemenkeu.hours]\nmon-fri = "07:30-17:00"\n')
    hours = version.for_unit("kemenkeu").hours
    assert all(hours.on(wd).end == time(17, 0) for wd in range(5))
    assert version.for_unit("other").hours.on(4).end == time(16, 30)
    single = parse_policy_text(BASE + '[hours]\nfri = "07:30-16:00"\n').base.hours
    assert single.on(0).end == time(16, 0) and single.on(4).end == time(16, 0)


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ("[attendance]\ngrace_minute = 5\n", "attendance.grace_minute"),
        ('[lateness]\nbands = [{ code = "TL1", from = 1, to = "thirty", deduction = 0.5 }]\n', "lateness.bands[0].to"),
        ('[lateness]\nbands = [{ code = "TL1", from = 2, deduction = 0.5 }]\n', "lateness.bands[0].from"),
        ("[discipline]\nweight = 50\n", "performance.weight + discipline.weight"),
        ('[attendance]\nmissing_in = "TL9"\n', "attendance.missing_in"),
    ],
)
def test_policy_errors_name_the_key(extra, key):
    with pytest.raises(PolicyError) as err:
        parse_policy_text(BASE + extra, source="unit.toml")
    assert err.value.key == key and "unit.toml" in str(err.value)


def test_effective_from_must_be_first_of_month():
    with pytest.raises(PolicyError, match="first day of a month"):
        parse_policy_text(BASE.replace("2025-01-01", "2025-01-15"))


def test_policy_book_resolves_by_month(tmp_path):
    old = tmp_path / "v1.toml"
    new = tmp_path / "v2.toml"
    old.write_text(BASE)
    new.write_text(BASE.replace("2025-01-01", "2025-03-01") + "[absence]\ndeduction = 3\n")
    book = load_policy_book(new, old)
    assert book.resolve(year=2025, month=2).absence.deduction_bp == 500
    assert book.resolve(year=2025, month=3).absence.deduction_bp == 300
    with pytest.raises(PolicyError):
        book.resolve(year=2024, month=12)


def test_holidays_and_joint_leave_2025():
    assert plan_day(Policy(), date(2025, 3, 31)).kind is DayKind.HOLIDAY  # Eid al-Fitr
    assert plan_day(Policy(), date(2025, 4, 2)).kind is DayKind.JOINT_LEAVE  # cuti bersama
    assert plan_day(Policy(), date(2025, 12, 25)).kind is DayKind.HOLIDAY


def test_plan_month_ramadan_friday_and_unit_days_off():
    policy = load_policy("national-common")
    march = {p.day: p for p in build_month_plan(policy, 2025, 3, {date(2025, 3, 5): "Unit anniversary"}).days}
    assert march[date(2025, 3, 3)].ramadan and march[date(2025, 3, 3)].start.time() == time(8, 0)
    assert march[date(2025, 3, 7)].end.time() == time(15, 30)  # Ramadan Friday
    assert march[date(2025, 3, 5)].kind is DayKind.DAY_OFF
    assert march[date(2025, 3, 8)].kind is DayKind.WEEKEND
    may = {p.day: p for p in build_month_plan(policy, 2025, 5).days}
    assert may[date(2025, 5, 2)].end.time() == time(16, 30)  # ordinary Friday
    warnings = explain(score_month(build_month_plan(policy, 2030, 1), EmployeeMonth("x")))["warnings"]
    assert warnings[0].startswith("The policy 'national-common' has no Ramadan")


def test_zones_and_punch_instants():
    assert zone_name("wita") == "WITA" and zone_name("Asia/Jayapura") == "WIT"
    wib, wit = timezone(timedelta(hours=7)), timezone(timedelta(hours=9))
    moment = datetime(2025, 5, 5, 7, 30, tzinfo=wib)
    same = [Punch(moment), Punch(moment.astimezone(wit)), Punch(moment.astimezone(UTC))]
    secs = [t + 7 * 3600 for t in EmployeeMonth.from_punches("x", same).times]  # seconds in the office's zone
    assert len(set(secs)) == 1 and secs[0] % 86_400 == 7 * 3600 + 30 * 60
    with pytest.raises(ValueError):
        Punch(datetime(2025, 5, 5, 7, 30))


def test_a_policy_stores_its_zone_once():
    # regression: replace(policy, time_zone="WITA") was accepted, then explained in WITA while computing in WIB
    wita = replace(load_policy("national-common"), time_zone="WITA")
    assert wita.utc_offset_minutes == 8 * 60 and wita == load_policy("national-common").in_zone("Asia/Makassar")
    monday, zone = date(2025, 5, 5), timezone(timedelta(hours=8))
    punches = [Punch(datetime.combine(monday, time(7, 45), zone)), Punch(datetime.combine(monday, time(16, 0), zone))]
    explained = score_month(build_month_plan(wita, 2025, 5), EmployeeMonth.from_punches("x", punches)).explain()
    entry = explained["days"][monday.day - 1]
    assert explained["policy"]["time_zone"] == "WITA" and entry["scheduled"][0] == "2025-05-05T07:30:00+08:00"
    assert entry["arrival"] == "2025-05-05T07:45:00+08:00" and entry["late_minutes"] == 15 and entry["codes"] == ["TL1"]
    assert replace(wita, time_zone="wit").time_zone == "WIT"
    with pytest.raises(TypeError):
        replace(wita, utc_offset_minutes=420)  # the offset is not a second value to keep in step
    with pytest.raises(PolicyError, match="time_zone"):
        replace(wita, time_zone="CET")


def test_policy_defaults_equal_the_national_preset():
    # code that builds Policy() directly must get what the preset says, Ramadan dates included
    preset = load_policy("national-common")
    assert replace(Policy(), source=preset.source, fingerprint=preset.fingerprint) == preset
