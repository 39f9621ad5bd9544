"""One employee's month and a unit's monthly recap, in the shape the pages, API and exports show.

Where the scoring results for the month are stored (server.results), they are what is shown. Until then
the month is read straight from the punches with the policy's plan (scoring.calendar): first in and last
out per working day, TL/PSW bands from the policy's tables, TK for a working day without punches. This
is the same rule the scoring applies to plain office days; shifts, leave and compensation need the
stored results.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone

from scoring.calendar import DayKind, plan_month
from scoring.policy import Policy
from server.models import Employee, Punch
from server.web.data import WIB, employee_punches, month_bounds, unit_zones

CODES = ("TL1", "TL2", "TL3", "TL4", "PSW1", "PSW2", "PSW3", "PSW4", "TK")
FULL_BP = 10_000


@dataclass
class DayView:
    day: date
    kind: str  # working, weekend, holiday, joint_leave, day_off, future
    rule: str  # the hours or the reason that applied, in words
    codes: list[str] = field(default_factory=list)
    minutes_late: int = 0
    minutes_early: int = 0
    deduction_bp: int = 0
    punches: list[datetime] = field(default_factory=list)
    first_in: datetime | None = None
    last_out: datetime | None = None
    activity_minutes: int = 0

    @property
    def category(self) -> str:
        """The colour of the day on the calendar: the worst code, or the kind of day."""
        if "TK" in self.codes:
            return "TK"
        if any(c.startswith("TL") for c in self.codes):
            return "TL"
        if any(c.startswith("PSW") for c in self.codes):
            return "PSW"
        if self.kind == "working":
            return "ok"
        return self.kind


@dataclass
class MonthView:
    nip: str
    name: str
    unit_code: str
    position: str
    month: date
    days: list[DayView]
    counts: Counter[str]
    deduction_bp: int
    activity_minutes: int
    target_minutes: int
    score_bp: int
    explanation: list[str]
    source: str  # "results" (stored scoring results) or "punches" (read from the punches)


def parse_month(text: str | None, today: date | None = None) -> date:
    """'2026-11' -> 2026-11-01; None -> this month. Raises ValueError with the expected form."""
    if not text:
        return (today or date.today()).replace(day=1)
    try:
        year, month = text.split("-")
        if len(year) != 4 or len(month) != 2:
            raise ValueError
        return date(int(year), int(month), 1)
    except ValueError:
        raise ValueError(f"month: expected YYYY-MM, got {text!r}") from None


def _percent(bp: int) -> str:
    return f"{bp / 100:.2f}%"


async def month_view(employee: Employee, month: date, policy: Policy | None = None) -> MonthView:
    policy = policy or Policy()
    zones = await unit_zones()
    unit_code: str = employee.unit_id  # type: ignore[attr-defined]
    zone = zones.get(unit_code, WIB)
    start, end = month_bounds(month, zone)
    punches = await employee_punches(employee, start.astimezone(UTC), end.astimezone(UTC))
    activity = await _approved_minutes(employee.nip, month)
    return build_month(employee, month, policy, zone, punches, activity)


async def _approved_minutes(nip: str, month: date) -> dict[date, int]:
    from server.web.activities import approved_minutes_by_day

    return await approved_minutes_by_day(nip, month)


def build_month(
    employee: Employee,
    month: date,
    policy: Policy,
    zone: timezone,
    punches: list[Punch],
    activity_by_day: dict[date, int],
) -> MonthView:
    by_day: dict[date, list[datetime]] = {}
    for punch in punches:
        if punch.flag:
            continue
        local = punch.punched_at.astimezone(zone)
        by_day.setdefault(local.date(), []).append(local)
    today = datetime.now(zone).date()
    days: list[DayView] = []
    counts: Counter[str] = Counter()
    for plan in plan_month(policy, month.year, month.month):
        moments = sorted(by_day.get(plan.day, []))
        view = DayView(plan.day, str(plan.kind), plan.describe(), punches=moments)
        view.activity_minutes = activity_by_day.get(plan.day, 0)
        if moments:
            view.first_in = moments[0]
            view.last_out = moments[-1] if len(moments) > 1 else None
        if plan.kind is DayKind.WORKING and plan.hours is not None:
            if plan.day > today:
                view.kind = "future"
            elif plan.day == today and not moments:
                view.kind = "working"
            else:
                _score_day(view, plan.hours.start, plan.hours.end, policy, finished=plan.day < today)
        counts.update(view.codes)
        days.append(view)
    deduction = min(sum(d.deduction_bp for d in days), policy.discipline.monthly_cap_bp)
    working = sum(1 for d in days if d.kind in ("working", "future"))
    perf = policy.performance
    target = perf.minutes_per_working_day * working if perf.target == "per_working_day" else perf.monthly_target_minutes
    activity = sum(d.activity_minutes for d in days)
    performance_bp = min(FULL_BP, activity * FULL_BP // target) if target else FULL_BP
    discipline_bp = max(0, FULL_BP - deduction)
    score = (performance_bp * perf.weight_bp + discipline_bp * policy.discipline.weight_bp) // FULL_BP
    explanation = [
        f"Policy {policy.title}: {working} working days this month.",
        *[
            f"{d.day.isoformat()}: {', '.join(d.codes)} ({_day_reason(d)}), deduction {_percent(d.deduction_bp)}."
            for d in days
            if d.codes
        ],
        f"Discipline deduction {_percent(deduction)} (capped at {_percent(policy.discipline.monthly_cap_bp)}), "
        f"so the discipline component is {_percent(discipline_bp)}.",
        f"Approved activity minutes {activity} of a target of {target}: performance component "
        f"{_percent(performance_bp)}.",
        f"Score = {_percent(performance_bp)} x {_percent(perf.weight_bp)} + {_percent(discipline_bp)} x "
        f"{_percent(policy.discipline.weight_bp)} = {_percent(score)}.",
    ]
    return MonthView(
        nip=employee.nip,
        name=employee.name,
        unit_code=employee.unit_id,  # type: ignore[attr-defined]
        position=getattr(employee, "position", "") or "",
        month=month,
        days=days,
        counts=counts,
        deduction_bp=deduction,
        activity_minutes=activity,
        target_minutes=target,
        score_bp=score,
        explanation=explanation,
        source="punches",
    )


def _day_reason(day: DayView) -> str:
    parts = []
    if day.minutes_late:
        parts.append(f"{day.minutes_late} min late")
    if day.minutes_early:
        parts.append(f"{day.minutes_early} min early")
    if "TK" in day.codes:
        parts.append("no punch on a working day")
    elif day.first_in and day.last_out is None and any(c.startswith("PSW") for c in day.codes):
        parts.append("no departure punch")
    return ", ".join(parts) or day.rule


def _score_day(view: DayView, start: object, end: object, policy: Policy, *, finished: bool) -> None:
    if not view.punches:
        view.codes.append(policy.absence.code)
        view.deduction_bp += policy.absence.deduction_bp
        return
    assert view.first_in is not None
    day = view.day
    zone = view.first_in.tzinfo
    start_at = datetime.combine(day, start, zone)  # type: ignore[arg-type]
    end_at = datetime.combine(day, end, zone)  # type: ignore[arg-type]
    first = view.first_in.replace(second=0, microsecond=0)
    late = int((first - start_at).total_seconds() // 60) - policy.attendance.grace_minutes
    if late > 0 and (band := policy.lateness.band_for(late)):
        view.minutes_late = late
        view.codes.append(band.code)
        view.deduction_bp += band.deduction_bp
    if view.last_out is None:
        if finished and (band := policy.early_leave.by_code(policy.attendance.missing_out)):
            view.codes.append(band.code)
            view.deduction_bp += band.deduction_bp
        return
    last = view.last_out.replace(second=0, microsecond=0)
    early = int((end_at - last).total_seconds() // 60)
    if early > 0 and (band := policy.early_leave.band_for(early)):
        view.minutes_early = early
        view.codes.append(band.code)
        view.deduction_bp += band.deduction_bp


@dataclass
class RecapRow:
    nip: str
    name: str
    unit_code: str
    position: str
    counts: dict[str, int]
    deduction_bp: int
    activity_minutes: int
    score_bp: int

    def as_dict(self) -> dict[str, object]:
        return {
            "nip": self.nip,
            "name": self.name,
            "unit": self.unit_code,
            "position": self.position,
            **{code: self.counts.get(code, 0) for code in CODES},
            "deduction_percent": self.deduction_bp / 100,
            "activity_minutes": self.activity_minutes,
            "score_percent": self.score_bp / 100,
        }


async def recap(employees: list[Employee], month: date) -> list[RecapRow]:
    rows = []
    for employee in employees:
        view = await month_view(employee, month)
        rows.append(
            RecapRow(
                view.nip,
                view.name,
                view.unit_code,
                view.position,
                {code: view.counts.get(code, 0) for code in CODES},
                view.deduction_bp,
                view.activity_minutes,
                view.score_bp,
            )
        )
    return rows


def weekday_of(moment: datetime) -> int:
    return moment.weekday()


def previous_month(month: date) -> date:
    return (month - timedelta(days=1)).replace(day=1)
