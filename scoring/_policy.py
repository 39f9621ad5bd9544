"""The attendance and performance policy, as plain frozen data.

A :class:`Policy` is what one unit (office, regional office, rehabilitation centre) applies in one
month. It is normally read from a TOML file (see :mod:`scoring._policy_file` and ``docs/scoring.md``);
nothing here is a constant of the code, because every agency sets its own table by ministerial
regulation.

Codes users know, explained once:

- **TL** (*terlambat*): arrived late. TL1..TL4 are the lateness bands.
- **PSW** (*pulang sebelum waktunya*): left before the end of the working day. PSW1..PSW4.
- **TK** (*tanpa keterangan*): absent on a working day without a valid reason.
- **NIP** (*nomor induk pegawai*): the 18-digit civil-servant number identifying an employee.
- **SKP** (*sasaran kinerja pegawai*): the employee's performance targets.
- **RKAKL** (*rencana kerja dan anggaran kementerian/lembaga*): the unit's budget work plan; its
  output codes tie recorded activities to what the unit is funded to deliver.

Percentages are integer basis points (see :mod:`scoring._percent`).
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import date, time, timezone
from enum import StrEnum

from ._errors import PolicyError
from ._percent import FULL_BP
from ._zones import ZONE_OFFSETS_MINUTES, zone_name, zone_tzinfo

WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class LateCountedFrom(StrEnum):
    """Where minutes late start counting once the grace period is exceeded."""

    GRACE_END = "grace_end"
    START = "start"


class PunchSeconds(StrEnum):
    """``ignore``: punch times are read as HH:MM, like the device shows them (07:30:59 is not late,
    15:59:30 is 1 minute early). ``count``: every second counts, part minutes round up (07:30:01 is
    1 minute late)."""

    IGNORE = "ignore"
    COUNT = "count"


class BandBy(StrEnum):
    """With compensation: band lateness that was not fully made up by the arrival, or by what remains."""

    ARRIVAL = "arrival"
    REMAINING = "remaining"


class DeductionBase(StrEnum):
    """What the discipline deduction is taken from."""

    DISCIPLINE_COMPONENT = "discipline_component"
    WHOLE_ALLOWANCE = "whole_allowance"


class TargetMode(StrEnum):
    """How the monthly target of effective activity minutes is set."""

    PER_WORKING_DAY = "per_working_day"
    MONTHLY = "monthly"


@dataclass(frozen=True, slots=True)
class WorkHours:
    """Scheduled office hours for one weekday (they do not cross midnight; shifts may)."""

    start: time
    end: time
    break_minutes: int = 0

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise PolicyError("<code>", "hours", f"{self.start}-{self.end}", "an end after the start")

    @property
    def minutes(self) -> int:
        """Scheduled working minutes, breaks excluded."""
        span = (self.end.hour * 60 + self.end.minute) - (self.start.hour * 60 + self.start.minute)
        return span - self.break_minutes

    def label(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True, slots=True)
class WeeklyHours:
    """Office hours per weekday, Monday first; ``None`` is a day off (Saturday and Sunday, usually)."""

    days: tuple[WorkHours | None, ...]

    def __post_init__(self) -> None:
        if len(self.days) != 7:
            raise PolicyError("<code>", "hours", len(self.days), "seven weekdays, Monday first")

    def on(self, weekday: int) -> WorkHours | None:
        return self.days[weekday]

    @property
    def minutes_per_week(self) -> int:
        return sum(h.minutes for h in self.days if h is not None)


@dataclass(frozen=True, slots=True)
class LatenessBand:
    """One row of the TL (late arrival) or PSW (early departure) table.

    ``from_minutes`` and ``to_minutes`` are inclusive; ``to_minutes`` is ``None`` for the open top band
    (e.g. TL4: 91 minutes or more). ``deduction_bp`` is taken from the monthly allowance per occurrence.
    """

    code: str
    from_minutes: int
    to_minutes: int | None
    deduction_bp: int

    def covers(self, minutes: int) -> bool:
        return minutes >= self.from_minutes and (self.to_minutes is None or minutes <= self.to_minutes)

    def label(self) -> str:
        if self.to_minutes is None:
            return f"{self.from_minutes} minutes or more"
        return f"{self.from_minutes} to {self.to_minutes} minutes"


@dataclass(frozen=True, slots=True)
class BandTable:
    """Contiguous bands starting at 1 minute, the last one open-ended."""

    bands: tuple[LatenessBand, ...]

    def band_for(self, minutes: int) -> LatenessBand | None:
        """The band for ``minutes`` late (or early); ``None`` when ``minutes`` < 1."""
        for band in self.bands:
            if band.covers(minutes):
                return band
        return None

    def by_code(self, code: str) -> LatenessBand | None:
        return next((b for b in self.bands if b.code == code), None)

    @property
    def top(self) -> LatenessBand:
        return self.bands[-1]


@dataclass(frozen=True, slots=True)
class ExcuseRule:
    """How one kind of excuse (leave, official travel, work from home...) affects the scores.

    ``deduction_bp``: taken per excused working day (0 for most leave).
    ``counts_as_presence``: activities that day need no punches (official travel, work from home).
    ``reduces_target``: the day is taken out of the monthly activity target (leave).
    """

    kind: str
    code: str
    label: str
    deduction_bp: int = 0
    counts_as_presence: bool = False
    reduces_target: bool = True


@dataclass(frozen=True, slots=True)
class ShiftTemplate:
    """A shift in a round-the-clock unit. ``end <= start`` means it ends the next day."""

    code: str
    start: time
    end: time
    break_minutes: int = 0
    label: str = ""

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start

    @property
    def span_minutes(self) -> int:
        begin = self.start.hour * 60 + self.start.minute
        finish = self.end.hour * 60 + self.end.minute
        return finish - begin + (24 * 60 if finish <= begin else 0)

    def describe(self) -> str:
        night = " (ends next day)" if self.crosses_midnight else ""
        return f"shift {self.code} {self.start:%H:%M}-{self.end:%H:%M}{night}"


@dataclass(frozen=True, slots=True)
class RamadanPeriod:
    """The fasting month in one year, first and last day inclusive (set yearly; data, not arithmetic)."""

    year: int
    first_day: date
    last_day: date

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.first_day <= day <= self.last_day


@dataclass(frozen=True, slots=True)
class CalendarRules:
    """Where days off come from: the ``holidays`` package, plus and minus the unit's own list."""

    use_holidays_package: bool = True
    holiday_categories: tuple[str, ...] = ("public", "government")
    holiday_language: str = "id"
    days_off: tuple[tuple[date, str], ...] = ()
    worked_days: tuple[tuple[date, str], ...] = ()
    ramadan: tuple[RamadanPeriod, ...] = ()


@dataclass(frozen=True, slots=True)
class AttendanceRules:
    """How punches become arrivals, departures and minutes late or early."""

    grace_minutes: int = 0
    late_counted_from: LateCountedFrom = LateCountedFrom.GRACE_END
    punch_seconds: PunchSeconds = PunchSeconds.IGNORE
    repeat_window_minutes: int = 5
    trust_state_keys: bool = False
    in_states: frozenset[int] = frozenset({0})
    out_states: frozenset[int] = frozenset({1})
    punch_window_from: time = time(0, 0)
    punch_window_to: time = time(23, 59)
    missing_in: str = "TL4"
    missing_out: str = "PSW4"
    shift_punch_distance_minutes: int = 240
    flexible_minutes: int = 0
    """Flexible start: the day may begin up to this many minutes before or after the scheduled start,
    and then ends as much earlier or later (0: fixed hours)."""


@dataclass(frozen=True, slots=True)
class AbsenceRule:
    """TK: a working day with no punches and no excuse. ``away_minutes_over`` (e.g. 450 = 7.5 hours):
    a day whose late plus early minutes exceed it counts as TK instead of TL/PSW (``None``: off)."""

    code: str = "TK"
    deduction_bp: int = 500
    away_minutes_over: int | None = None


@dataclass(frozen=True, slots=True)
class CompensationRule:
    """Making up lateness by staying later the same day (e.g. the Ministry of Finance).

    Lateness of at most ``max_minutes`` is forgiven when the departure is at least that many minutes
    after the scheduled end. Otherwise the TL band is taken from the arrival (``band_by = arrival``)
    or from the minutes not made up (``band_by = remaining``).
    """

    enabled: bool = False
    max_minutes: int = 90
    band_by: BandBy = BandBy.ARRIVAL


@dataclass(frozen=True, slots=True)
class DisciplineRules:
    weight_bp: int = 4000
    monthly_cap_bp: int = FULL_BP
    applies_to: DeductionBase = DeductionBase.DISCIPLINE_COMPONENT


@dataclass(frozen=True, slots=True)
class QuantityLimit:
    """The most of one activity one claim may hold (``per_claim``) and one day's claims together
    (``per_day``); ``None``: no limit of that kind."""

    per_claim: int | None = None
    per_day: int | None = None


@dataclass(frozen=True, slots=True)
class PerformanceRules:
    """e-Kinerja: effective (approved) activity minutes against a monthly target.

    The sanity limits of a claim: a day's claimed minutes at most its presence span plus
    ``presence_margin_minutes``; the quantity of one activity at most ``quantity_limit`` (per claim, per
    day), unless ``activity_limits`` gives that activity its own."""

    weight_bp: int = 6000
    target: TargetMode = TargetMode.PER_WORKING_DAY
    minutes_per_working_day: int = 300
    monthly_target_minutes: int = 6750
    cap_claims_to_presence: bool = True
    presence_margin_minutes: int = 30
    quantity_limit: QuantityLimit = QuantityLimit(per_claim=20, per_day=40)
    activity_limits: tuple[tuple[str, QuantityLimit], ...] = ()

    def limit_for(self, activity: str) -> QuantityLimit:
        """The quantity limit of ``activity``: its own, else the policy's default."""
        for code, limit in self.activity_limits:
            if code == activity:
                return limit
        return self.quantity_limit


def _default_hours() -> WeeklyHours:
    mon_thu = WorkHours(time(7, 30), time(16, 0), 60)
    fri = WorkHours(time(7, 30), time(16, 30), 90)
    return WeeklyHours((mon_thu, mon_thu, mon_thu, mon_thu, fri, None, None))


def _default_ramadan_hours() -> WeeklyHours:
    mon_thu = WorkHours(time(8, 0), time(15, 0), 30)
    fri = WorkHours(time(8, 0), time(15, 30), 60)
    return WeeklyHours((mon_thu, mon_thu, mon_thu, mon_thu, fri, None, None))


def _band_table(prefix: str) -> BandTable:
    rows = ((1, 30, 50), (31, 60, 100), (61, 90, 125), (91, None, 150))
    return BandTable(tuple(LatenessBand(f"{prefix}{i}", a, b, bp) for i, (a, b, bp) in enumerate(rows, 1)))


def _default_excuses() -> tuple[ExcuseRule, ...]:
    return (
        ExcuseRule("annual_leave", "CT", "annual leave"),
        ExcuseRule("sick_leave", "CS", "sick leave"),
        ExcuseRule("big_leave", "CB", "big leave"),
        ExcuseRule("maternity_leave", "CM", "maternity leave"),
        ExcuseRule("important_reasons_leave", "CAP", "leave for important reasons"),
        ExcuseRule(
            "official_travel", "DL", "official travel (dinas luar)", counts_as_presence=True, reduces_target=False
        ),
        ExcuseRule("work_from_home", "WFH", "work from home assignment", counts_as_presence=True, reduces_target=False),
    )


def _default_calendar() -> CalendarRules:
    """The national preset's calendar, Ramadan dates included (a test keeps the two equal)."""
    ramadan = (
        RamadanPeriod(2024, date(2024, 3, 12), date(2024, 4, 9)),
        RamadanPeriod(2025, date(2025, 3, 1), date(2025, 3, 30)),
        RamadanPeriod(2026, date(2026, 2, 18), date(2026, 3, 19)),
    )
    return CalendarRules(ramadan=ramadan)


@dataclass(frozen=True, slots=True)
class Policy:
    """Everything one unit applies in one month. Defaults are the common national table, equal to the
    ``national-common`` preset (Ramadan dates included).

    The office zone is stored once, as its name (``time_zone``: WIB, WITA or WIT; an IANA city name
    such as ``Asia/Makassar`` is read as its zone); :attr:`utc_offset_minutes` is derived from it, so
    ``dataclasses.replace(policy, time_zone="WITA")`` computes and explains in WITA alike.
    """

    name: str = "national-common"
    title: str = "Common national table (TL/PSW 0.5/1/1.25/1.5 %, TK 5 %, cap 100 %)"
    effective_from: date = date(2024, 1, 1)
    unit: str | None = None
    time_zone: str = "WIB"
    hours: WeeklyHours = field(default_factory=_default_hours)
    ramadan_hours: WeeklyHours = field(default_factory=_default_ramadan_hours)
    calendar: CalendarRules = field(default_factory=_default_calendar)
    attendance: AttendanceRules = field(default_factory=AttendanceRules)
    lateness: BandTable = field(default_factory=lambda: _band_table("TL"))
    early_leave: BandTable = field(default_factory=lambda: _band_table("PSW"))
    absence: AbsenceRule = field(default_factory=AbsenceRule)
    compensation: CompensationRule = field(default_factory=CompensationRule)
    discipline: DisciplineRules = field(default_factory=DisciplineRules)
    performance: PerformanceRules = field(default_factory=PerformanceRules)
    excuses: tuple[ExcuseRule, ...] = field(default_factory=_default_excuses)
    shifts: tuple[ShiftTemplate, ...] = ()
    source: str = "<code>"
    fingerprint: str = ""

    def __post_init__(self) -> None:
        zone = _zone_or_error(self.source, self.time_zone)
        if zone != self.time_zone:  # "wita" or "Asia/Makassar": kept as the zone's own name
            object.__setattr__(self, "time_zone", zone)
        check_policy(self)

    @property
    def utc_offset_minutes(self) -> int:
        """The office zone's offset from UTC (none of Indonesia's zones observes daylight saving)."""
        return ZONE_OFFSETS_MINUTES[self.time_zone]

    @property
    def tzinfo(self) -> timezone:
        """The office zone as a fixed-offset ``timezone``."""
        return zone_tzinfo(self.utc_offset_minutes)

    def in_zone(self, zone: str) -> Policy:
        """This policy for an office in ``zone`` (``"WITA"``, ``"wit"``, ``"Asia/Jayapura"``...).

        The fingerprint stays the policy file's (an explanation names the zone beside it); the same
        zone returns the policy itself. Raises :class:`PolicyError` for an unknown zone.
        """
        name = _zone_or_error(self.source, zone)
        return self if name == self.time_zone else replace(self, time_zone=name)

    def excuse_rule(self, kind: str) -> ExcuseRule | None:
        return next((r for r in self.excuses if r.kind == kind), None)

    def shift(self, code: str) -> ShiftTemplate | None:
        return next((s for s in self.shifts if s.code == code), None)

    def ramadan_period(self, day: date) -> RamadanPeriod | None:
        return next((p for p in self.calendar.ramadan if day in p), None)


def _zone_or_error(source: str, zone: object) -> str:
    if isinstance(zone, str):
        with suppress(KeyError):
            return zone_name(zone)
    raise PolicyError(source, "policy.time_zone", zone, "WIB, WITA or WIT (or an IANA name such as Asia/Makassar)")


def check_bands(source: str, key: str, table: BandTable) -> None:
    """Bands must start at 1 minute, follow each other without gap or overlap, and end open."""
    expected_from = 1
    for i, band in enumerate(table.bands):
        where = f"{key}[{i}]"
        if band.from_minutes != expected_from:
            raise PolicyError(source, f"{where}.from", band.from_minutes, f"{expected_from} (no gap, no overlap)")
        last = i == len(table.bands) - 1
        if band.to_minutes is None:
            if not last:
                raise PolicyError(source, f"{where}.to", None, "an upper bound: only the last band is open")
        else:
            if band.to_minutes < band.from_minutes:
                raise PolicyError(source, f"{where}.to", band.to_minutes, f">= {band.from_minutes}")
            if last:
                raise PolicyError(source, f"{where}.to", band.to_minutes, "no upper bound on the last band")
            expected_from = band.to_minutes + 1
    if not table.bands:
        raise PolicyError(source, key, [], "at least one band")


def check_policy(policy: Policy) -> None:
    """Cross-field rules a file-by-file reader cannot see; raises :class:`PolicyError`."""
    codes = _check_band_codes(policy)
    weights = policy.performance.weight_bp + policy.discipline.weight_bp
    if weights != FULL_BP:
        raise PolicyError(
            policy.source, "performance.weight + discipline.weight", f"{weights / 100}%", "weights adding up to 100%"
        )
    _check_excuses_and_shifts(policy, codes)
    _check_hours(policy)


def _check_band_codes(policy: Policy) -> list[str]:
    """Bands well formed, TL/PSW/TK codes all different, the missing-punch codes among them."""
    src = policy.source
    check_bands(src, "lateness.bands", policy.lateness)
    check_bands(src, "early_leave.bands", policy.early_leave)
    codes = [b.code for b in policy.lateness.bands + policy.early_leave.bands] + [policy.absence.code]
    if len(set(codes)) != len(codes):
        raise PolicyError(src, "lateness/early_leave/absence codes", codes, "codes that are all different")
    att = policy.attendance
    if policy.lateness.by_code(att.missing_in) is None:
        expected = "one of the lateness codes " + ", ".join(b.code for b in policy.lateness.bands)
        raise PolicyError(src, "attendance.missing_in", att.missing_in, expected)
    if policy.early_leave.by_code(att.missing_out) is None:
        expected = "one of the early-leave codes " + ", ".join(b.code for b in policy.early_leave.bands)
        raise PolicyError(src, "attendance.missing_out", att.missing_out, expected)
    return codes


def _check_excuses_and_shifts(policy: Policy, band_codes: list[str]) -> None:
    src = policy.source
    kinds = [r.kind for r in policy.excuses]
    if len(set(kinds)) != len(kinds):
        raise PolicyError(src, "excuses", kinds, "each excuse kind once")
    excuse_codes = [r.code for r in policy.excuses]
    if len(set(excuse_codes)) != len(excuse_codes) or set(excuse_codes) & set(band_codes):
        raise PolicyError(src, "excuses.*.code", excuse_codes, "codes different from each other and from TL/PSW/TK")
    shift_codes = [s.code for s in policy.shifts]
    if len(set(shift_codes)) != len(shift_codes):
        raise PolicyError(src, "shifts", shift_codes, "each shift code once")


def _check_hours(policy: Policy) -> None:
    src = policy.source
    for wd, (regular, ramadan) in enumerate(zip(policy.hours.days, policy.ramadan_hours.days, strict=True)):
        if (regular is None) != (ramadan is None):
            expected = "Ramadan hours on exactly the weekdays that have regular hours"
            raise PolicyError(src, f"ramadan.hours.{WEEKDAY_NAMES[wd]}", ramadan, expected)
    att = policy.attendance
    if att.punch_window_to <= att.punch_window_from:
        raise PolicyError(src, "attendance.punch_window", att.punch_window_to, "'to' after 'from'")
