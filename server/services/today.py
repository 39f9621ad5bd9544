"""Today at a glance: per unit the counts of present, late, absent, on leave and not yet in, and per employee the
first punch, on each office's own clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from scoring import DayKind, plan_day
from server.auth import Scope, punch_q
from server.models import Employee, Punch, Unit
from server.services.attendance import pin_owners, unit_zones
from server.services.excuses import excuses_for
from server.services.month import policy_for
from wire.zones import WIB


@dataclass
class TodayCounts:
    unit_code: str
    unit_name: str
    employees: int = 0
    present: int = 0
    late: int = 0
    absent: int = 0
    on_leave: int = 0
    not_yet_in: int = 0


@dataclass
class TodayRow:
    nip: str
    name: str
    unit_code: str
    first_in: datetime | None
    status: str  # present, late, absent, on_leave, not_yet_in, day_off
    last_out: datetime | None = None  # the latest punch today, when later than the first (local time)
    zone: timezone = WIB  # the office's, in which first_in and last_out are read


async def today_view(scope: Scope, now: datetime | None = None) -> tuple[list[TodayCounts], list[TodayRow]]:
    """Today in each visible unit: who is in, who came late, who is not in yet or absent. Today's plan
    (hours, Ramadan hours, holidays and joint leave) is the scoring calendar's for the office's zone."""

    now = now or datetime.now(UTC)
    plans: dict[timezone, Any] = {}

    def plan_today(zone: timezone) -> Any:
        if zone not in plans:
            policy = policy_for(zone)
            day = now.astimezone(zone).date()
            plan = plan_day(policy, day)
            grace = policy.attendance.grace_minutes
            plans[zone] = (plan.hours if plan.kind is DayKind.WORKING else None, grace)
        return plans[zone]

    zones = await unit_zones()
    employees = await Employee.filter(scope.employee_q()).order_by("unit_id", "name")
    units = {u.code: u.name for u in await Unit.filter(code__in=sorted({e.unit_id for e in employees}))}  # type: ignore[attr-defined]
    first_in, last_punch = await _first_punch_today(scope, employees, zones, now)

    excused = await excuses_for(
        [e.nip for e in employees], (now - timedelta(days=1)).date(), (now + timedelta(days=1)).date()
    )
    counts: dict[str, TodayCounts] = {}
    rows = []
    for employee in employees:
        unit_code = employee.unit_id  # type: ignore[attr-defined]
        zone = zones.get(unit_code, WIB)
        local_now = now.astimezone(zone)
        hours, grace = plan_today(zone)
        arrived = first_in.get(employee.nip)
        if hours is None:
            status = "present" if arrived else "day_off"
        elif local_now.date() in excused.get(employee.nip, {}):
            status = "on_leave"
        elif arrived is not None:
            start = datetime.combine(local_now.date(), hours.start, zone) + timedelta(minutes=grace)
            status = "late" if arrived.astimezone(zone).replace(second=0, microsecond=0) > start else "present"
        elif local_now.time() < hours.end:
            status = "not_yet_in"
        else:
            status = "absent"
        counter = counts.setdefault(unit_code, TodayCounts(unit_code, units.get(unit_code, unit_code)))
        counter.employees += 1
        if status != "day_off":
            setattr(counter, status, getattr(counter, status) + 1)
        last = last_punch.get(employee.nip)
        rows.append(
            TodayRow(employee.nip, employee.name, unit_code, arrived, status, last if last != arrived else None, zone)
        )
    return sorted(counts.values(), key=lambda c: c.unit_code), rows


async def _first_punch_today(
    scope: Scope, employees: list[Employee], zones: dict[str, timezone], now: datetime
) -> tuple[dict[str, datetime], dict[str, datetime]]:
    """The first and the last unflagged punch of each employee on their office's today."""
    if not employees:
        return {}, {}
    start = now - timedelta(hours=34)  # covers "today" in every zone, trimmed per employee below
    query = Punch.filter(await punch_q(scope), punched_at__gte=start, flag__isnull=True)
    pin_owner = await pin_owners({e.unit_id for e in employees})  # type: ignore[attr-defined]
    has_nip = "employee_nip" in Punch._meta.fields_map
    columns = ("unit_code", "pin", "punched_at", "employee_nip") if has_nip else ("unit_code", "pin", "punched_at")
    unit_of = {e.nip: e.unit_id for e in employees}  # type: ignore[attr-defined]
    found: dict[str, datetime] = {}
    last: dict[str, datetime] = {}
    for row in await query.order_by("punched_at").values_list(*columns):
        unit_code, pin, at = row[0], row[1], row[2]
        nip = (row[3] if has_nip else None) or pin_owner.get((unit_code, pin))
        if nip is None or nip not in unit_of:
            continue
        zone = zones.get(unit_of[nip], WIB)
        if at.astimezone(zone).date() == now.astimezone(zone).date():
            found.setdefault(nip, at.astimezone(zone))
            last[nip] = at.astimezone(zone)
    return found, last


FIGURES = ("employees", "present", "late", "absent", "on_leave", "not_yet_in")


async def tree_rollup(counts: list[TodayCounts], scope: Scope) -> list[tuple[int, TodayCounts]]:
    """Today's counts rolled up the unit tree: each visible unit with the sum of its subtree, in tree
    order with its depth (for indenting); units with nobody below them are left out."""
    units = {code: (name, parent) for code, name, parent in await Unit.all().values_list("code", "name", "parent_id")}
    shown = {code for code in units if scope.sees_unit(code)}
    totals: dict[str, TodayCounts] = {}
    for own in counts:
        code: str | None = own.unit_code
        while code is not None and code in units:
            if code in shown:
                total = totals.setdefault(code, TodayCounts(code, units[code][0]))
                for figure in FIGURES:
                    setattr(total, figure, getattr(total, figure) + getattr(own, figure))
            code = units[code][1]
    children: dict[str | None, list[str]] = {}
    for code in sorted(totals):
        parent = units[code][1]
        while parent is not None and parent not in totals:  # attach to the nearest shown ancestor
            parent = units.get(parent, (None, None))[1]
        children.setdefault(parent, []).append(code)
    ordered: list[tuple[int, TodayCounts]] = []

    def walk(parent: str | None, depth: int) -> None:
        for code in children.get(parent, []):
            ordered.append((depth, totals[code]))
            walk(code, depth + 1)

    walk(None, 0)
    return ordered
