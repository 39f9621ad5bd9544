"""Turn parsed TOML into a :class:`~scoring.Policy`, checking every key on the way.

The reader remembers the path of every value it reads, so an error can say exactly where it is,
and it rejects keys it does not know (a misspelt ``grace_minute`` must not silently mean "no grace").
"""

from __future__ import annotations

from datetime import date, time
from enum import StrEnum
from typing import Any, TypeVar

import holidays

from ._errors import MISSING, PolicyError
from ._percent import parse_percent
from ._policy import (
    WEEKDAY_NAMES,
    AbsenceRule,
    AttendanceRules,
    BandBy,
    BandTable,
    CalendarRules,
    CompensationRule,
    DeductionBase,
    DisciplineRules,
    ExcuseRule,
    LateCountedFrom,
    LatenessBand,
    PerformanceRules,
    Policy,
    PunchSeconds,
    QuantityLimit,
    RamadanPeriod,
    ShiftTemplate,
    TargetMode,
    WeeklyHours,
    WorkHours,
    _default_excuses,
)
from ._zones import zone_name

E = TypeVar("E", bound=StrEnum)


class Reader:
    """A TOML table plus where it sits in the file."""

    def __init__(self, data: dict[str, Any], *, source: str, path: str = "") -> None:
        self.data = data
        self.source = source
        self.path = path
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def fail(self, name: str, found: object, expected: str) -> PolicyError:
        return PolicyError(self.source, self.key(name), found, expected)

    def has(self, name: str) -> bool:
        return name in self.data

    def raw(self, name: str, default: object = MISSING) -> object:
        self.used.add(name)
        if name not in self.data:
            if default is MISSING:
                raise self.fail(name, MISSING, "this key to be present")
            return default
        return self.data[name]

    def table(self, name: str, *, required: bool = False) -> Reader:
        value = self.raw(name, MISSING if required else {})
        if not isinstance(value, dict):
            raise self.fail(name, value, f"a table [{self.key(name)}]")
        return Reader(value, source=self.source, path=self.key(name))

    def text(self, name: str, default: object = MISSING) -> str:
        value = self.raw(name, default)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(name, value, "a non-empty string")
        return value

    def integer(self, name: str, default: object = MISSING, *, minimum: int = 0) -> int:
        value = self.raw(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(name, value, f"a whole number >= {minimum}")
        return value

    def boolean(self, name: str, default: object = MISSING) -> bool:
        value = self.raw(name, default)
        if not isinstance(value, bool):
            raise self.fail(name, value, "true or false")
        return value

    def percent(self, name: str, default_bp: int | None = None) -> int:
        """A percentage, returned in basis points; ``default_bp`` when the key is absent."""
        if name not in self.data and default_bp is not None:
            self.used.add(name)
            return default_bp
        value = self.raw(name)
        try:
            return parse_percent(value)
        except ValueError as exc:
            raise self.fail(name, value, f'{exc} (e.g. 1.25 or "1.25%")') from None

    def clock(self, name: str, default: object = MISSING) -> time:
        value = self.raw(name, default)
        return parse_clock(self, name, value)

    def choice(self, name: str, enum: type[E], default: E) -> E:
        value = self.raw(name, default.value)
        try:
            return enum(value)
        except ValueError:
            raise self.fail(name, value, "one of " + ", ".join(repr(m.value) for m in enum)) from None

    def day(self, name: str, value: object) -> date:
        if isinstance(value, date) and not hasattr(value, "hour"):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        raise self.fail(name, value, "a date such as 2025-03-01")

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            known = ", ".join(sorted(self.used)) or "no keys"
            raise self.fail(unknown[0], self.data[unknown[0]], f"no such key here (known: {known})")


def parse_clock(reader: Reader, name: str, value: object) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, str):
        try:
            hh, mm = value.strip().split(":")
            return time(int(hh), int(mm))
        except ValueError:
            pass
    raise reader.fail(name, value, 'a clock time such as "07:30"')


def build_policy(data: dict[str, Any], *, source: str, unit: str | None, fingerprint: str) -> Policy:
    r = Reader(data, source=source, path=f"units.{unit}" if unit else "")
    meta = r.table("policy", required=True)
    name = meta.text("name")
    effective_from = meta.day("effective_from", meta.raw("effective_from"))
    if effective_from.day != 1:
        raise meta.fail("effective_from", effective_from, "the first day of a month (policies change monthly)")
    zone_raw = meta.text("time_zone", "WIB")
    try:
        zone = zone_name(zone_raw)
    except KeyError:
        raise meta.fail("time_zone", zone_raw, "WIB, WITA or WIT") from None
    title = meta.text("title", name)
    meta.raw("description", "")
    meta.finish()

    ramadan = r.table("ramadan")
    excuses = _excuses(r) if r.has("excuses") else _default_excuses()
    policy = Policy(
        name=name,
        title=title,
        effective_from=effective_from,
        unit=unit,
        time_zone=zone,
        hours=_weekly(r.table("hours", required=True)),
        ramadan_hours=_weekly(ramadan.table("hours", required=True)),
        calendar=_calendar(r.table("calendar"), ramadan),
        attendance=_attendance(r.table("attendance")),
        lateness=_bands(r.table("lateness", required=True)),
        early_leave=_bands(r.table("early_leave", required=True)),
        absence=_absence(r.table("absence")),
        compensation=_compensation(r.table("compensation")),
        discipline=_discipline(r.table("discipline")),
        performance=_performance(r.table("performance")),
        excuses=excuses,
        shifts=_shifts(r.table("shifts")),
        source=source,
        fingerprint=fingerprint,
    )
    ramadan.finish()
    r.finish()
    return policy


def _weekdays(reader: Reader, key: str) -> list[int]:
    names = key.split("-")
    try:
        idx = [WEEKDAY_NAMES.index(n.strip().lower()) for n in names]
    except ValueError:
        idx = []
    if len(idx) == 1:
        return idx
    if len(idx) == 2 and idx[0] <= idx[1]:
        return list(range(idx[0], idx[1] + 1))
    raise reader.fail(key, reader.data[key], "a weekday key such as mon, fri or mon-thu")


def _weekly(r: Reader) -> WeeklyHours:
    """A single-day key (``fri``) overrides a range (``mon-fri``); two ranges must not overlap."""
    days: list[WorkHours | None] = [None] * 7
    set_by: list[str | None] = [None] * 7
    for key in sorted(r.data, key=lambda k: "-" not in k):  # ranges first, single days override them
        value = r.raw(key)
        hours = _work_hours(r, key, value)
        for wd in _weekdays(r, key):
            prev = set_by[wd]
            if prev is not None and ("-" in prev) == ("-" in key):
                raise r.fail(key, value, f"each weekday once ({WEEKDAY_NAMES[wd]} is already set by '{prev}')")
            days[wd] = hours
            set_by[wd] = key
    if all(d is None for d in days):
        raise r.fail("mon", MISSING, "hours for at least one weekday")
    return WeeklyHours(tuple(days))


def _work_hours(r: Reader, key: str, value: object) -> WorkHours | None:
    if value == "off":
        return None
    if isinstance(value, str) and "-" in value:
        start_s, end_s = value.split("-", 1)
        start, end, brk = parse_clock(r, key, start_s), parse_clock(r, key, end_s), 0
    elif isinstance(value, dict):
        sub = Reader(value, source=r.source, path=r.key(key))
        start, end, brk = sub.clock("start"), sub.clock("end"), sub.integer("break_minutes", 0)
        sub.finish()
    else:
        raise r.fail(key, value, '{ start = "07:30", end = "16:00", break_minutes = 60 }, "07:30-16:00" or "off"')
    if end <= start:
        raise r.fail(key, value, "an end after the start (office hours do not cross midnight; use shifts)")
    return WorkHours(start, end, brk)


def _dated_names(r: Reader, name: str) -> tuple[tuple[date, str], ...]:
    table = r.table(name)
    out = []
    for key in sorted(table.data):
        label = table.text(key)
        out.append((table.day(key, key), label))
    return tuple(out)


def _calendar(r: Reader, ramadan: Reader) -> CalendarRules:
    source = r.raw("holidays", "holidays-package")
    if source not in ("holidays-package", "none"):
        raise r.fail("holidays", source, "'holidays-package' or 'none'")
    categories = r.raw("holiday_categories", ["public", "government"])
    if not isinstance(categories, list) or not set(categories) <= {"public", "government"} or not categories:
        raise r.fail("holiday_categories", categories, 'a list drawn from ["public", "government"]')
    language = r.raw("holiday_language", "id")
    if language not in holidays.ID.supported_languages:
        raise r.fail("holiday_language", language, "one of " + ", ".join(holidays.ID.supported_languages))
    periods = []
    table = ramadan.table("periods")
    for key in sorted(table.data):
        value = table.raw(key)
        if not key.isdigit() or not isinstance(value, list) or len(value) != 2:
            raise table.fail(key, value, "2025 = [2025-03-01, 2025-03-30] (year = [first day, last day])")
        first, last = table.day(key, value[0]), table.day(key, value[1])
        if first.year != int(key) or not 0 <= (last - first).days <= 31:
            raise table.fail(key, value, f"a first day in {key} and a last day within 31 days of it")
        periods.append(RamadanPeriod(int(key), first, last))
    rules = CalendarRules(
        use_holidays_package=source == "holidays-package",
        holiday_categories=tuple(categories),
        holiday_language=language,
        days_off=_dated_names(r, "days_off"),
        worked_days=_dated_names(r, "worked_days"),
        ramadan=tuple(periods),
    )
    r.finish()
    return rules


def _attendance(r: Reader) -> AttendanceRules:
    window = r.table("punch_window")
    states_in = r.raw("in_states", [0])
    states_out = r.raw("out_states", [1])
    for key, states in (("in_states", states_in), ("out_states", states_out)):
        if not isinstance(states, list) or not all(isinstance(s, int) for s in states):
            raise r.fail(key, states, "a list of device state keys such as [0]")
    rules = AttendanceRules(
        grace_minutes=r.integer("grace_minutes", 0),
        late_counted_from=r.choice("late_counted_from", LateCountedFrom, LateCountedFrom.GRACE_END),
        punch_seconds=r.choice("punch_seconds", PunchSeconds, PunchSeconds.IGNORE),
        repeat_window_minutes=r.integer("repeat_window_minutes", 5),
        trust_state_keys=r.boolean("trust_state_keys", False),
        in_states=frozenset(states_in),
        out_states=frozenset(states_out),
        punch_window_from=window.clock("from", "00:00"),
        punch_window_to=window.clock("to", "23:59"),
        missing_in=r.text("missing_in", "TL4"),
        missing_out=r.text("missing_out", "PSW4"),
        shift_punch_distance_minutes=r.integer("shift_punch_distance_minutes", 240, minimum=1),
        flexible_minutes=r.integer("flexible_minutes", 0),
    )
    window.finish()
    r.finish()
    return rules


def _bands(r: Reader) -> BandTable:
    rows = r.raw("bands")
    if not isinstance(rows, list) or not rows:
        raise r.fail("bands", rows, '[{ code = "TL1", from = 1, to = 30, deduction = 0.5 }, ...]')
    bands = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise r.fail(f"bands[{i}]", row, '{ code = "TL1", from = 1, to = 30, deduction = 0.5 }')
        sub = Reader(row, source=r.source, path=r.key(f"bands[{i}]"))
        to = sub.raw("to", None)
        if to is not None and (isinstance(to, bool) or not isinstance(to, int)):
            raise sub.fail("to", to, "whole minutes, or no 'to' for the open top band")
        bands.append(LatenessBand(sub.text("code"), sub.integer("from", minimum=1), to, sub.percent("deduction")))
        sub.finish()
    r.finish()
    return BandTable(tuple(bands))


def _absence(r: Reader) -> AbsenceRule:
    away = r.raw("away_minutes_over", None)
    if away is not None and (isinstance(away, bool) or not isinstance(away, int) or away < 1):
        raise r.fail("away_minutes_over", away, "whole minutes (e.g. 450), or leave the key out")
    rule = AbsenceRule(code=r.text("code", "TK"), deduction_bp=r.percent("deduction"), away_minutes_over=away)
    r.finish()
    return rule


def _compensation(r: Reader) -> CompensationRule:
    rule = CompensationRule(
        enabled=r.boolean("enabled", False),
        max_minutes=r.integer("max_minutes", 90),
        band_by=r.choice("band_by", BandBy, BandBy.ARRIVAL),
    )
    r.finish()
    return rule


def _discipline(r: Reader) -> DisciplineRules:
    rules = DisciplineRules(
        weight_bp=r.percent("weight", 4000),
        monthly_cap_bp=r.percent("monthly_cap", 10_000),
        applies_to=r.choice("applies_to", DeductionBase, DeductionBase.DISCIPLINE_COMPONENT),
    )
    r.finish()
    return rules


def _performance(r: Reader) -> PerformanceRules:
    rules = PerformanceRules(
        weight_bp=r.percent("weight", 6000),
        target=r.choice("target", TargetMode, TargetMode.PER_WORKING_DAY),
        minutes_per_working_day=r.integer("minutes_per_working_day", 300),
        monthly_target_minutes=r.integer("monthly_target_minutes", 6750),
        cap_claims_to_presence=r.boolean("cap_claims_to_presence", True),
        presence_margin_minutes=r.integer("presence_margin_minutes", 30),
        quantity_limit=_quantity_limit(r, QuantityLimit(per_claim=20, per_day=40)),
        activity_limits=_activity_limits(r.table("activities")),
    )
    r.finish()
    return rules


def _quantity_limit(r: Reader, default: QuantityLimit) -> QuantityLimit:
    """``max_quantity_per_claim`` and ``max_quantity_per_day``: a whole number from 1, or ``false`` for none."""
    return QuantityLimit(
        per_claim=_limit(r, "max_quantity_per_claim", default.per_claim),
        per_day=_limit(r, "max_quantity_per_day", default.per_day),
    )


def _limit(r: Reader, name: str, default: int | None) -> int | None:
    value = r.raw(name, default if default is not None else False)
    if value is False:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise r.fail(name, value, "a whole number from 1, or false for no limit")
    return value


def _activity_limits(r: Reader) -> tuple[tuple[str, QuantityLimit], ...]:
    """``[performance.activities.<code>]``: an activity's own limits; a key it leaves out has no limit."""
    limits = []
    for code in sorted(r.data):
        sub = r.table(code)
        limits.append((code, _quantity_limit(sub, QuantityLimit())))
        sub.finish()
    r.finish()
    return tuple(limits)


def _excuses(r: Reader) -> tuple[ExcuseRule, ...]:
    table = r.table("excuses")
    rules = []
    for kind in table.data:
        sub = table.table(kind)
        rules.append(
            ExcuseRule(
                kind=kind,
                code=sub.text("code"),
                label=sub.text("label", kind.replace("_", " ")),
                deduction_bp=sub.percent("deduction", 0),
                counts_as_presence=sub.boolean("counts_as_presence", False),
                reduces_target=sub.boolean("reduces_target", True),
            )
        )
        sub.finish()
    return tuple(rules)


def _shifts(r: Reader) -> tuple[ShiftTemplate, ...]:
    shifts = []
    for code in r.data:
        sub = r.table(code)
        start, end = sub.clock("start"), sub.clock("end")
        if start == end:
            raise sub.fail("end", end.strftime("%H:%M"), "an end different from the start")
        shifts.append(ShiftTemplate(code, start, end, sub.integer("break_minutes", 0), sub.text("label", code)))
        sub.finish()
    return tuple(shifts)
