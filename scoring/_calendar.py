"""Which days need punches: weekdays, national holidays, joint leave, unit days off, Ramadan hours.

National holidays and joint-leave days ("cuti bersama", both set yearly by joint ministerial decree)
come from the ``holidays`` package (``categories=("public", "government")``; "government" is the
joint leave). A policy may add the unit's own days off, mark package holidays the unit works anyway,
or switch the package off and list every day itself (to freeze a past year whatever the package
version says). Ramadan dates are data in the policy, never computed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache

import holidays

from ._policy import Policy, ShiftTemplate, WorkHours
from ._zones import zone_tzinfo


class DayKind(StrEnum):
    """What a calendar day is for one employee."""

    WORKING = "working"
    WEEKEND = "weekend"
    HOLIDAY = "holiday"
    JOINT_LEAVE = "joint_leave"
    DAY_OFF = "day_off"
    SHIFT = "shift"
    OFF_ROSTER = "off_roster"
    NOT_EMPLOYED = "not_employed"
    """Outside the employee's time in the unit: before the start, after the end, transferred away."""
    NOT_LIVE = "not_live"
    """Before the unit's go-live date: the unit was not yet scored."""


WORKING_KINDS = frozenset({DayKind.WORKING, DayKind.SHIFT})


@dataclass(frozen=True, slots=True)
class PlanDay:
    """What the unit expects on one day (or what one rostered shift expects).

    ``start`` and ``end`` are aware datetimes in the office's zone; a night shift ends the next day.
    ``reason`` says why a day needs no punches ("Cuti Bersama Hari Raya Idul Fitri", "weekend").
    """

    day: date
    kind: DayKind
    reason: str = ""
    hours: WorkHours | None = None
    shift: ShiftTemplate | None = None
    ramadan: bool = False
    start: datetime | None = None
    end: datetime | None = None

    @property
    def is_working(self) -> bool:
        return self.kind in WORKING_KINDS

    def describe(self) -> str:
        if self.shift is not None:
            return self.shift.describe()
        if self.hours is not None:
            return f"{self.hours.label()}{' (Ramadan hours)' if self.ramadan else ''}"
        return self.reason or str(self.kind)


@lru_cache(maxsize=64)
def _package_holidays(year: int, category: str, language: str) -> tuple[tuple[date, str], ...]:
    table = holidays.country_holidays("ID", years=year, categories=(category,), language=language)
    return tuple(sorted(table.items()))


def holiday_table(policy: Policy, years: Iterable[int]) -> dict[date, tuple[DayKind, str]]:
    """Days off from the ``holidays`` package and the policy's own lists, for the given years."""
    cal = policy.calendar
    table: dict[date, tuple[DayKind, str]] = {}
    if cal.use_holidays_package:
        for year in sorted(set(years)):
            # joint leave first, so a day that is both keeps its public-holiday name
            for category in sorted(cal.holiday_categories):
                kind = DayKind.JOINT_LEAVE if category == "government" else DayKind.HOLIDAY
                for day, name in _package_holidays(year, category, cal.holiday_language):
                    table[day] = (kind, name)
    for day, label in cal.days_off:
        table[day] = (DayKind.DAY_OFF, label)
    for day, _label in cal.worked_days:
        table.pop(day, None)
    return table


def plan_for_day(
    policy: Policy,
    day: date,
    holidays_by_day: Mapping[date, tuple[DayKind, str]],
    extra_days_off: Mapping[date, str] | None = None,
) -> PlanDay:
    """The office-hours plan for one day (employees on a roster are planned by their shifts)."""
    ramadan = policy.ramadan_period(day) is not None
    if extra_days_off and day in extra_days_off:
        return PlanDay(day, DayKind.DAY_OFF, extra_days_off[day], ramadan=ramadan)
    if day in holidays_by_day:
        kind, name = holidays_by_day[day]
        return PlanDay(day, kind, name, ramadan=ramadan)
    weekly = policy.ramadan_hours if ramadan else policy.hours
    hours = weekly.on(day.weekday())
    if hours is None:
        if any(d == day for d, _ in policy.calendar.worked_days):
            hours = next(h for h in weekly.days if h is not None)
        else:
            return PlanDay(day, DayKind.WEEKEND, "weekend", ramadan=ramadan)
    start, end = local_datetimes(policy, day, hours.start, hours.end)
    return PlanDay(day, DayKind.WORKING, "", hours=hours, ramadan=ramadan, start=start, end=end)


def plan_day(policy: Policy, day: date, days_off: Mapping[date, str] | None = None) -> PlanDay:
    """What the office expects on ``day``: its hours (Ramadan hours included), or why no work is
    expected (weekend, a holiday or joint leave by its name, one of the unit's ``days_off``)."""
    return plan_for_day(policy, day, holiday_table(policy, [day.year]), days_off)


def local_datetimes(policy: Policy, day: date, start: time, end: time) -> tuple[datetime, datetime]:
    """Aware start and end on ``day`` in the office zone; an end not after the start is the next day."""
    tz = zone_tzinfo(policy.utc_offset_minutes)
    begin = datetime.combine(day, start, tzinfo=tz)
    finish = datetime.combine(day, end, tzinfo=tz)
    if finish <= begin:
        finish += timedelta(days=1)
    return begin, finish


def month_days(year: int, month: int) -> list[date]:
    first = date(year, month, 1)
    following = date(year + month // 12, month % 12 + 1, 1)
    return [first + timedelta(days=i) for i in range((following - first).days)]


def plan_month(
    policy: Policy, year: int, month: int, extra_days_off: Mapping[date, str] | None = None
) -> tuple[PlanDay, ...]:
    """The unit's plan for every calendar day of the month."""
    table = holiday_table(policy, [year])
    return tuple(plan_for_day(policy, d, table, extra_days_off) for d in month_days(year, month))


def working_days(policy: Policy, year: int, extra_days_off: Mapping[date, str] | None = None) -> list[date]:
    """Every office working day of a year (e.g. to count consecutive absences across weekends)."""
    table = holiday_table(policy, [year])
    first, days = date(year, 1, 1), (date(year + 1, 1, 1) - date(year, 1, 1)).days
    plans = (plan_for_day(policy, first + timedelta(i), table, extra_days_off) for i in range(days))
    return [p.day for p in plans if p.is_working]


def calendar_warnings(policy: Policy, year: int, month: int) -> list[str]:
    """Things a reader of the month's results should know about the calendar data behind them."""
    notes = []
    if not any(p.year == year for p in policy.calendar.ramadan):
        notes.append(f"The policy '{policy.name}' has no Ramadan dates for {year}: regular hours were used all month.")
    if policy.calendar.use_holidays_package:
        table = holiday_table(policy, [year])
        estimated = sorted(
            d for d, (_, name) in table.items() if d.month == month and ("estimated" in name or "perkiraan" in name)
        )
        if estimated:
            days = ", ".join(d.isoformat() for d in estimated)
            notes.append(f"Holiday dates estimated by the holidays package (confirm the decree): {days}.")
    return notes


def calendar_source(policy: Policy) -> str:
    """Where the days off came from, in words (kept with every result)."""
    cal = policy.calendar
    parts = []
    if cal.use_holidays_package:
        cats = " and ".join(cal.holiday_categories)
        parts.append(f"holidays package {holidays.__version__} (Indonesia, {cats})")
    if cal.days_off:
        parts.append(f"{len(cal.days_off)} day(s) off declared in the policy")
    if cal.worked_days:
        parts.append(f"{len(cal.worked_days)} holiday(s) worked by the unit")
    return "; ".join(parts) or "no holidays"
