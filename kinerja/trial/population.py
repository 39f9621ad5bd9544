"""The trial's inputs, generated from a seed, and what the results must be, by hand rules.

Three offices (WIB, WITA, WIT), each with employees, a device PIN each, and a month of intended
outcomes per employee-day ("on time", "45 minutes late", "absent", "on leave" ...). The punches the
devices replay and the activity claims are derived from those outcomes; the expected monthly result
of every employee is derived from the same outcomes by the plain rules of the common national table
(TL/PSW bands, TK 5 %, 60/40 weights), written out here without the scoring library, so the trial
checks the server's path against an independent reading of the rules.
"""

from __future__ import annotations

import calendar
import random
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

import holidays

import scoring

# (code, minutes off the schedule) per outcome; office hours Mon-Thu 07:30-16:00, Fri 07:30-16:30.
LATE = {"TL1": 12, "TL2": 45, "TL3": 75, "TL4": 120}
EARLY = {"PSW1": 12, "PSW2": 45, "PSW3": 75, "PSW4": 120}
DEDUCTION_BP = {"TL1": 50, "TL2": 100, "TL3": 125, "TL4": 150, "PSW1": 50, "PSW2": 100, "PSW3": 125, "PSW4": 150}
DEDUCTION_BP |= {"TK": 500, "CT": 0, "DL": 0}
OFFICE_OUTCOMES = (
    ("on_time", 52), ("double_press", 6), ("TL1", 6), ("TL2", 3), ("TL3", 2), ("TL4", 2), ("PSW1", 5),
    ("PSW2", 3), ("PSW3", 2), ("PSW4", 2), ("no_departure", 2), ("absent", 3), ("leave", 3), ("travel", 3),
)  # fmt: skip
SHIFT_OUTCOMES = (("on_time", 70), ("TL1", 6), ("TL2", 4), ("PSW1", 6), ("PSW2", 4), ("absent", 4))
# The shift unit's roster cycle: morning, afternoon, night (ends 07:00 next day), two days off.
SHIFT_HOURS = {"P": (time(7, 0), time(14, 0)), "S": (time(14, 0), time(21, 0)), "M": (time(21, 0), time(7, 0))}
ROSTER_CYCLE = ("P", "P", "S", "S", "M", None, None)
MINUTES_PER_WORKING_DAY = 300  # the performance target per planned day (national-common)
CLAIM_MINUTES = 60  # standard minutes of the trial's one activity; a claim is 1-3 of it

DEVICE_KINDS = ("tcp", "udp", "serial")


@dataclass(frozen=True, slots=True)
class Employee:
    nip: str
    pin: str
    name: str


@dataclass(frozen=True, slots=True)
class Punch:
    """One generated punch: which of the office's devices, the PIN and the device's wall time."""

    device: str  # "tcp", "udp" or "serial"
    pin: str
    local_time: datetime
    state: int


@dataclass(frozen=True, slots=True)
class ClaimPlan:
    nip: str
    local_start: datetime
    quantity: int
    approved: bool


@dataclass
class Expected:
    """An employee's month by hand: the codes and the figures the scoring must arrive at."""

    codes: Counter[str] = field(default_factory=Counter)
    planned_days: int = 0
    target_days: int = 0
    effective_minutes: int = 0

    @property
    def discipline_deduction_bp(self) -> int:
        return min(10_000, sum(DEDUCTION_BP[code] * count for code, count in self.codes.items()))

    @property
    def performance_bp(self) -> int:
        target = MINUTES_PER_WORKING_DAY * self.target_days
        if target == 0:
            return 10_000
        return min(10_000, (20_000 * self.effective_minutes + target) // (2 * target))

    @property
    def score_bp(self) -> int:
        discipline = 10_000 - self.discipline_deduction_bp
        return (2 * (6_000 * self.performance_bp + 4_000 * discipline) + 10_000) // 20_000


@dataclass
class Office:
    key: str  # short name, also part of the unit and gateway ids
    zone: str  # WIB, WITA, WIT
    utc_offset_hours: int
    unit: str
    gateway_id: str
    shifts: bool
    employees: list[Employee] = field(default_factory=list)
    punches: list[Punch] = field(default_factory=list)
    claims: list[ClaimPlan] = field(default_factory=list)
    excuses: dict[str, dict[date, str]] = field(default_factory=dict)  # NIP -> day -> excuse kind
    rosters: dict[str, dict[date, str]] = field(default_factory=dict)
    expected: dict[str, Expected] = field(default_factory=dict)
    days_off: dict[date, str] = field(default_factory=dict)  # the unit's own days off (policy file)

    def device_serial(self, kind: str) -> str:
        return f"TRIAL-{self.key.upper()}-{kind.upper()}"

    def policy_text(self, year: int) -> str:
        base = "rehab-centre-shifts" if self.shifts else "national-common"
        days_off = "".join(f'{day.isoformat()} = "{why}"\n' for day, why in sorted(self.days_off.items()))
        return (
            f'[policy]\nextends = "{base}"\nname = "trial-{self.key}"\neffective_from = {year}-01-01\n'
            f'time_zone = "{self.zone}"\n\n[calendar.days_off]\n{days_off}'
        )


@dataclass
class Trial:
    year: int
    month: int
    offices: list[Office]
    holidays: dict[date, str]

    @property
    def punch_count(self) -> int:
        return sum(len(o.punches) for o in self.offices)

    @property
    def employee_count(self) -> int:
        return sum(len(o.employees) for o in self.offices)


def trial_month(today: date) -> tuple[int, int]:
    """The latest finished month with a national holiday on a weekday and no Ramadan day."""
    preset = Path(scoring.__file__).parent / "presets" / "national-common.toml"
    ramadan = tomllib.loads(preset.read_text())["ramadan"]["periods"]
    year, month = today.year, today.month
    for _ in range(36):
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
        first, last = date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])
        in_ramadan = any(start <= last and end >= first for start, end in ramadan.values())
        days_off = national_days_off(year)
        if not in_ramadan and any(first <= d <= last and d.weekday() < 5 for d in days_off):
            return year, month
    raise ValueError("no month in the last three years has a weekday holiday outside Ramadan")


def national_days_off(year: int) -> dict[date, str]:
    found = holidays.country_holidays("ID", years=[year, year + 1], categories=("public", "government"))
    return dict(found.items())


def make_nip(rng: random.Random, sequence: int) -> str:
    birth = date(1965, 1, 1) + timedelta(days=rng.randrange(30 * 365))
    appointed = birth.year + rng.randrange(20, 30)
    return f"{birth:%Y%m%d}{min(appointed, 2024):04d}{rng.randrange(1, 13):02d}{rng.choice((1, 2))}{sequence:03d}"


def generate(employees_per_office: int, seed: int = 2025, today: date | None = None) -> Trial:
    rng = random.Random(seed)
    year, month = trial_month(today or date.today())
    days_off = national_days_off(year)
    tag = f"{rng.randrange(16**6):06x}"
    offices = [
        Office("jkt", "WIB", 7, f"trial-jkt-{tag}", f"gw-jkt-{tag}", shifts=False),
        Office("mks", "WITA", 8, f"trial-mks-{tag}", f"gw-mks-{tag}", shifts=False),
        Office("jyp", "WIT", 9, f"trial-jyp-{tag}", f"gw-jyp-{tag}", shifts=True),
    ]
    month_days = [date(year, month, d) for d in range(1, calendar.monthrange(year, month)[1] + 1)]
    # The Jakarta office declares one more day off of its own (a unit anniversary).
    anniversary = next(d for d in reversed(month_days) if d.weekday() == 2 and d not in days_off)
    offices[0].days_off[anniversary] = "Unit anniversary"
    sequence = 0
    for office in offices:
        for index in range(employees_per_office):
            sequence += 1
            nip = make_nip(rng, sequence % 999 + 1)
            employee = Employee(nip, str(index + 1), f"Pegawai {office.key.upper()} {index + 1}")
            office.employees.append(employee)
            office.expected[nip] = Expected()
            if office.shifts:
                _shift_month(rng, office, employee, month_days, index)
            else:
                working = [d for d in month_days if d.weekday() < 5 and d not in days_off and d not in office.days_off]
                _office_month(rng, office, employee, working)
    return Trial(year, month, offices, {d: n for d, n in days_off.items() if d.month == month and d.year == year})


def _pick(rng: random.Random, outcomes: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([name for name, _ in outcomes], weights=[weight for _, weight in outcomes])[0]


def _device_for(rng: random.Random, employee: Employee) -> str:
    # Every fifth employee uses the serial terminal at the side door; the others either ZK device.
    return "serial" if int(employee.pin) % 5 == 0 else rng.choice(("tcp", "udp"))


def _office_month(rng: random.Random, office: Office, employee: Employee, working: list[date]) -> None:
    expected = office.expected[employee.nip]
    for day in working:
        expected.planned_days += 1
        start = datetime.combine(day, time(7, 30))
        end = datetime.combine(day, time(16, 30) if day.weekday() == 4 else time(16, 0))
        outcome = _pick(rng, OFFICE_OUTCOMES)
        if outcome in ("absent", "leave", "travel"):
            if outcome == "absent":
                expected.codes["TK"] += 1
            else:
                kind = "annual_leave" if outcome == "leave" else "official_travel"
                office.excuses.setdefault(employee.nip, {})[day] = kind
                expected.codes["CT" if outcome == "leave" else "DL"] += 1
            expected.target_days += 0 if outcome == "leave" else 1
            if outcome == "travel":
                _claim(rng, office, employee, expected, datetime.combine(day, time(10, 0)))
            continue
        expected.target_days += 1
        device = _device_for(rng, employee)
        arrive, leave = _in_and_out(rng, expected, outcome, start, end, before_max=40, after_max=50)
        office.punches.append(Punch(device, employee.pin, arrive, 0))
        if outcome == "double_press":  # pressed twice: within the repeat window, counts once
            office.punches.append(Punch(device, employee.pin, arrive + timedelta(minutes=2), 0))
        if outcome == "no_departure":
            expected.codes["PSW4"] += 1
        else:
            office.punches.append(Punch(device, employee.pin, leave, 1))
        _claim(rng, office, employee, expected, datetime.combine(day, time(10, 0)))


def _shift_month(rng: random.Random, office: Office, employee: Employee, days: list[date], index: int) -> None:
    expected = office.expected[employee.nip]
    roster = office.rosters.setdefault(employee.nip, {})
    for day in days:
        code = ROSTER_CYCLE[(day.toordinal() + index) % len(ROSTER_CYCLE)]
        if code is None:
            continue
        roster[day] = code
        expected.planned_days += 1
        expected.target_days += 1
        begin, finish = SHIFT_HOURS[code]
        start = datetime.combine(day, begin)
        end = datetime.combine(day + timedelta(days=1) if finish <= begin else day, finish)
        outcome = _pick(rng, SHIFT_OUTCOMES)
        if outcome == "absent":
            expected.codes["TK"] += 1
            continue
        device = _device_for(rng, employee)
        arrive, leave = _in_and_out(rng, expected, outcome, start, end, before_max=30, after_max=30)
        office.punches.append(Punch(device, employee.pin, arrive, 0))
        office.punches.append(Punch(device, employee.pin, leave, 1))
        _claim(rng, office, employee, expected, start + timedelta(hours=1, minutes=30))


def _in_and_out(
    rng: random.Random,
    expected: Expected,
    outcome: str,
    start: datetime,
    end: datetime,
    *,
    before_max: int,
    after_max: int,
) -> tuple[datetime, datetime]:
    """Arrival and departure for `outcome` (a few minutes early and late unless the outcome is a TL or
    PSW band); the code it must cost is counted in `expected`."""
    seconds = timedelta(seconds=rng.randrange(60))  # the policy reads HH:MM: seconds never count
    arrive = start - timedelta(minutes=rng.randrange(3, before_max)) + seconds
    leave = end + timedelta(minutes=rng.randrange(1, after_max)) + seconds
    if outcome in LATE:
        arrive = start + timedelta(minutes=LATE[outcome]) + seconds
        expected.codes[outcome] += 1
    if outcome in EARLY:
        leave = end - timedelta(minutes=EARLY[outcome]) + seconds
        expected.codes[outcome] += 1
    return arrive, leave


def _claim(rng: random.Random, office: Office, employee: Employee, expected: Expected, at: datetime) -> None:
    """One activity claim within the day's presence; one in ten rejected by the superior."""
    quantity = rng.randrange(1, 4)
    approved = rng.random() >= 0.1
    office.claims.append(ClaimPlan(employee.nip, at, quantity, approved))
    if approved:
        expected.effective_minutes += quantity * CLAIM_MINUTES
