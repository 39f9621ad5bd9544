"""Shift work: rosters, shifts across midnight, a punch belongs to the nearest shift."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from scoring import ABSENT, PRESENT, EmployeeMonth, InputError, Punch, build_month_plan, load_policy, score_month
from tests.test_scoring_daily import ZONES

REHAB = load_policy("rehab-centre-shifts")
WIB = ZONES["WIB"]


def at(day: date, clock: str) -> Punch:
    hh, mm = (int(x) for x in clock.split(":"))
    return Punch(datetime.combine(day, time(hh, mm), WIB))


def score(roster: dict[date, str], punches: list[Punch], year: int = 2025, month: int = 5, **rest):
    plan = build_month_plan(REHAB, year, month)
    return score_month(plan, EmployeeMonth.from_punches("x", punches, roster=roster, **rest))


D5, D6 = date(2025, 5, 5), date(2025, 5, 6)


@pytest.mark.parametrize(
    ("clocks", "codes", "late", "early"),
    [
        ([(D5, "20:55"), (D6, "07:05")], (), 0, 0),
        ([(D5, "21:40"), (D6, "07:00")], ("TL2",), 40, 0),
        ([(D5, "21:00"), (D6, "06:30")], ("PSW1",), 0, 30),
        ([(D5, "21:00"), (D6, "06:29")], ("PSW2",), 0, 31),
        ([(D5, "23:59"), (D6, "00:30")], ("TL4", "PSW4"), 179, 390),
        ([(D5, "20:50")], ("PSW4",), 0, None),
        ([(D6, "07:10")], ("TL4",), None, 0),
        ([], ("TK",), None, None),
    ],
)
def test_night_shift_crosses_midnight(clocks, codes, late, early):
    result = score({D5: "M"}, [at(d, c) for d, c in clocks])
    (rec,) = result.days
    assert rec.codes == codes
    assert rec.day == D5 and rec.end - rec.start == 10 * 3600
    assert (rec.late_minutes, rec.early_minutes) == (late, early)
    assert rec.status == (ABSENT if codes == ("TK",) else PRESENT)


def test_punch_goes_to_nearest_shift_not_calendar_day():
    # night shift on the 5th, afternoon shift on the 6th: the 07:05 punch on the 6th ends the night
    roster = {D5: "M", D6: "S"}
    punches = [at(D5, "20:58"), at(D6, "07:05"), at(D6, "13:50"), at(D6, "21:03")]
    night, afternoon = score(roster, punches).days
    assert night.codes == () and night.last - night.first == 2
    assert afternoon.codes == () and afternoon.last - afternoon.first == 2


def test_punch_far_from_every_shift_is_ignored():
    (rec,) = score({D5: "P"}, [at(D5, "06:55"), at(D5, "23:30")]).days  # 23:30 is 9.5 h after 14:00
    assert rec.codes == ("PSW4",) and rec.departure is None


def test_month_boundaries():
    # the last night of April is April's: its morning punch on 1 May does not make May's shift late
    roster = {date(2025, 4, 30): "M", date(2025, 5, 1): "P", date(2025, 5, 31): "M"}
    punches = [at(date(2025, 4, 30), "21:00"), at(date(2025, 5, 1), "07:01"), at(date(2025, 5, 1), "14:00")]
    punches += [at(date(2025, 5, 31), "21:00"), at(date(2025, 6, 1), "07:00")]
    result = score(roster, punches)
    assert [r.day for r in result.days] == [date(2025, 5, 1), date(2025, 5, 31)]
    may_first, may_last = result.days
    assert may_first.codes == ("TL1",) and may_first.late_minutes == 1  # the 07:01 punch is the nearest
    assert may_last.codes == () and may_last.departure is not None


def test_rostered_shift_on_a_holiday_is_worked_and_off_roster_days_need_nothing():
    labour_day = date(2025, 5, 1)
    result = score({labour_day: "P"}, [])
    assert [r.codes for r in result.days] == [("TK",)] and result.planned_days == 1


def test_roster_with_unknown_shift():
    with pytest.raises(InputError, match="shift 'X'"):
        score({D5: "X"}, [])


def test_excuse_on_a_shift_day():
    (rec,) = score({D5: "M"}, [], excuses={D5: "sick_leave"}).days
    assert rec.codes == ("CS",) and rec.deduction_bp == 0


def test_shift_explain_names_the_shift():
    result = score({D5: "M"}, [at(D5, "21:00"), at(D5 + timedelta(days=1), "07:00")])
    days = result.explain()["days"]
    assert days[5]["kind"] == "off_roster" and days[0]["planned"] == "no shift rostered"
    entry = days[4]
    assert entry["shift"].startswith("shift M 21:00-07:00 (ends next day)")
    assert [p["at"][11:16] for p in entry["punches"]] == ["21:00", "07:00"]
