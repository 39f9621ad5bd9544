"""The month's plan, computed once per policy and month: which slots of work are expected, in integers.

A *slot* is one planned stretch of work: an office day (Monday 07:30-16:00) or one rostered shift
(night shift 21:00-07:00, ending the next day). Times are UTC epoch seconds, so punches need no
conversion at all: the office zone is folded into the slot bounds once. Each slot also says which
punches belong to it (``lo`` to ``hi`` inclusive): for office days, the policy's punch window on that
calendar day; for shifts, the punches nearer to this shift than to any other, within the policy's
``shift_punch_distance_minutes``.

The policy's daily rules are read once here too (:class:`~scoring._daily.DayRules`): band tables
become lists indexed by minutes, so finding TL2 for 45 minutes late is one index.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import NamedTuple

from ._calendar import DayKind, PlanDay, holiday_table, month_days, plan_for_day
from ._daily import DayRules
from ._errors import InputError
from ._policy import Policy

SECONDS_PER_DAY = 86_400


class Slot(NamedTuple):
    """One planned stretch of work. ``index`` is the day of the month, 0-based, of its start;
    ``date`` that day; ``shift`` the shift code ("" for an office day)."""

    index: int
    start: int
    end: int
    lo: int
    hi: int
    mid: int
    day: PlanDay
    date: date
    shift: str


def _utc_seconds(moment: datetime) -> int:
    return int((moment - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds())


@dataclass(frozen=True, slots=True, eq=False)
class MonthPlan:
    """Everything about a unit's month that does not depend on the employee."""

    policy: Policy
    year: int
    month: int
    days: tuple[PlanDay, ...]
    day0: int
    """UTC epoch seconds of local midnight starting the month's first day."""
    office_slots: tuple[Slot, ...]
    rules: DayRules
    """The policy's daily rules, read once (internal: what :func:`scoring.score_month` applies per slot)."""
    offset_s: int
    extra_days_off: tuple[tuple[date, str], ...] = ()
    target_reducing_codes: frozenset[str] = frozenset()
    live_from: date | None = None
    """The unit's go-live date: days before it are not scored for anyone (``None``: the whole month)."""
    open_from: date | None = None
    """The first day that has not ended yet (the month in progress): a claim on it or later is not held
    against presence (no ``outside_presence`` flag, no cut to the span) until the day is over."""
    _shift_cache: dict[tuple[str, int], tuple[int, int, PlanDay]] = field(default_factory=dict, compare=False)
    _explain_cache: dict[object, object] = field(default_factory=dict, compare=False)
    """What every employee's explanation of this month shares (texts of days, rules, the policy entry),
    built once per plan by :mod:`scoring._result` rather than once per employee."""

    @property
    def first_day(self) -> date:
        return self.days[0].day

    @property
    def month_end(self) -> int:
        """UTC epoch seconds of local midnight ending the month's last day."""
        return self.day0 + len(self.days) * SECONDS_PER_DAY

    def day_index(self, utc_seconds: int) -> int:
        """The month's day index (0-based; may be negative or past the end) of a UTC instant."""
        return (utc_seconds - self.day0) // SECONDS_PER_DAY

    def shift_slots(self, roster: Mapping[date, str]) -> tuple[tuple[Slot, ...], frozenset[int]]:
        """Slots of a roster (shift code per start date), and the indices of those inside this month.

        Roster entries just outside the month (the last night of the previous month) take part in
        assigning punches, so a punch is not stolen by the wrong shift, but are not scored here.
        """
        policy = self.policy
        distance = policy.attendance.shift_punch_distance_minutes * 60
        planned: list[tuple[int, int, int, PlanDay]] = []
        for day, code in sorted(roster.items()):
            idx = (day - self.first_day).days
            if idx < -2 or idx > len(self.days) + 1:
                continue
            key = (code, idx)
            cached = self._shift_cache.get(key)
            if cached is None:
                shift = policy.shift(code)
                if shift is None:
                    known = ", ".join(s.code for s in policy.shifts) or "none"
                    raise InputError(
                        f"roster on {day}: shift '{code}' is not in policy '{policy.name}' (known: {known})"
                    )
                start = self.day0 + idx * SECONDS_PER_DAY + (shift.start.hour * 60 + shift.start.minute) * 60
                end = start + shift.span_minutes * 60
                ramadan = policy.ramadan_period(day) is not None
                cached = (start, end, PlanDay(day, DayKind.SHIFT, "", shift=shift, ramadan=ramadan))
                self._shift_cache[key] = cached
            planned.append((idx, *cached))
        codes = [p[3].shift.code if p[3].shift else "" for p in planned]
        slots: list[Slot] = []
        inside: set[int] = set()
        for k, (idx, start, end, plan_day) in enumerate(planned):
            lo, hi = start - distance, end + distance
            if k > 0:
                lo = max(lo, (planned[k - 1][2] + start) // 2 + 1)
            if k + 1 < len(planned):
                hi = min(hi, (end + planned[k + 1][1]) // 2)
            slots.append(Slot(idx, start, end, lo, hi, (start + end) // 2, plan_day, plan_day.day, codes[k]))
            if 0 <= idx < len(self.days):
                inside.add(k)
        return tuple(slots), frozenset(inside)


def build_month_plan(
    policy: Policy,
    year: int,
    month: int,
    extra_days_off: Mapping[date, str] | None = None,
    *,
    live_from: date | None = None,
    open_from: date | None = None,
) -> MonthPlan:
    """The plan for ``policy`` in ``year``-``month``; ``extra_days_off`` are days the unit declared off;
    ``live_from`` the unit's go-live date (days before it are never scored: no TK, no target);
    ``open_from`` the first day not over yet (today, in the running month: its claims wait for its end)."""
    if not 1 <= month <= 12:
        raise InputError(f"month {month}: expected 1 to 12")
    if policy.effective_from > date(year, month, 1):
        raise InputError(f"policy '{policy.name}' is in force from {policy.effective_from}, not in {year}-{month:02d}")
    table = holiday_table(policy, [year])
    days = tuple(plan_for_day(policy, d, table, extra_days_off) for d in month_days(year, month))
    offset_s = policy.utc_offset_minutes * 60
    day0 = _utc_seconds(datetime(year, month, 1, tzinfo=UTC)) - offset_s
    att = policy.attendance
    window_lo = (att.punch_window_from.hour * 60 + att.punch_window_from.minute) * 60
    window_hi = (att.punch_window_to.hour * 60 + att.punch_window_to.minute) * 60 + 59
    slots = []
    for idx, plan_day in enumerate(days):
        if plan_day.kind is not DayKind.WORKING or plan_day.start is None or plan_day.end is None:
            continue
        midnight = day0 + idx * SECONDS_PER_DAY
        start = _utc_seconds(plan_day.start)
        end = _utc_seconds(plan_day.end)
        lo, hi = midnight + window_lo, midnight + window_hi
        slots.append(Slot(idx, start, end, lo, hi, (start + end) // 2, plan_day, plan_day.day, ""))
    return MonthPlan(
        policy=policy,
        year=year,
        month=month,
        days=days,
        day0=day0,
        office_slots=tuple(slots),
        rules=DayRules(policy),
        offset_s=offset_s,
        extra_days_off=tuple(sorted((extra_days_off or {}).items())),
        target_reducing_codes=frozenset(r.code for r in policy.excuses if r.reduces_target),
        live_from=live_from,
        open_from=open_from,
    )


def local_text(utc_seconds: int, offset_s: int) -> str:
    """``2025-03-03T07:45:00+07:00`` for an instant, shown in the office's zone."""
    days, seconds = divmod(utc_seconds + offset_s, SECONDS_PER_DAY)
    minutes, ss = divmod(seconds, 60)
    # Tables, not formatting: an explanation writes a few hundred of these per employee.
    return f"{_date_text(days)}T{_HOURS_MINUTES[minutes]}{_SECONDS[ss]}{_offset_text(offset_s)}"


_HOURS_MINUTES = tuple(f"{m // 60:02d}:{m % 60:02d}:" for m in range(24 * 60))
_SECONDS = tuple(f"{s:02d}" for s in range(60))


@lru_cache(maxsize=4096)
def _date_text(days_since_epoch: int) -> str:
    return date.fromordinal(_EPOCH_ORDINAL + days_since_epoch).isoformat()


@lru_cache(maxsize=16)
def _offset_text(offset_s: int) -> str:
    sign = "+" if offset_s >= 0 else "-"
    hh, mm = divmod(abs(offset_s) // 60, 60)
    return f"{sign}{hh:02d}:{mm:02d}"


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
