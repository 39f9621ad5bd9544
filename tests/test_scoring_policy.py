"""The scoring policy as data: percentages, policy files, presets, calendar, time zones, punches."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest

from scoring.calendar import DayKind, calendar_warnings, holiday_table, plan_month
from scoring.errors import PolicyError
from scoring.percent import format_bp, parse_percent, ratio_bp, weighted_bp
from scoring.policy import Policy
from scoring.policy_file import load_policy, load_policy_book, parse_policy_text, preset_names
from scoring.punches import Punch, local_seconds
from scoring.zones import zone_name


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
    table = holiday_table(Policy(), [2025])
    assert table[date(2025, 3, 31)][0] is DayKind.HOLIDAY  # Eid al-Fitr
    assert table[date(2025, 4, 2)][0] is DayKind.JOINT_LEAVE  # cuti bersama
    assert table[date(2025, 12, 25)][0] is DayKind.HOLIDAY


def test_plan_month_ramadan_friday_and_unit_days_off():
    policy = load_policy("national-common")
    march = {p.day: p for p in plan_month(policy, 2025, 3, {date(2025, 3, 5): "Unit anniversary"})}
    assert march[date(2025, 3, 3)].ramadan and march[date(2025, 3, 3)].start.time() == time(8, 0)
    assert march[date(2025, 3, 7)].end.time() == time(15, 30)  # Ramadan Friday
    assert march[date(2025, 3, 5)].kind is DayKind.DAY_OFF
    assert march[date(2025, 3, 8)].kind is DayKind.WEEKEND
    may = {p.day: p for p in plan_month(policy, 2025, 5)}
    assert may[date(2025, 5, 2)].end.time() == time(16, 30)  # ordinary Friday
    assert calendar_warnings(policy, 2030, 1)[0].startswith("The policy 'national-common' has no Ramadan")


def test_zones_and_local_seconds():
    assert zone_name("wita") == "WITA" and zone_name("Asia/Jayapura") == "WIT"
    wib, wit = timezone(timedelta(hours=7)), timezone(timedelta(hours=9))
    moment = datetime(2025, 5, 5, 7, 30, tzinfo=wib)
    same = [Punch(moment), Punch(moment.astimezone(wit)), Punch(moment.astimezone(UTC))]
    secs = local_seconds(same, 7 * 3600)
    assert len(set(secs)) == 1 and secs[0] % 86_400 == 7 * 3600 + 30 * 60
    with pytest.raises(ValueError):
        Punch(datetime(2025, 5, 5, 7, 30))


def test_policy_defaults_equal_the_national_preset():
    # code that builds Policy() directly must get what the preset says, Ramadan dates included
    preset = load_policy("national-common")
    assert replace(Policy(), source=preset.source, fingerprint=preset.fingerprint) == preset
