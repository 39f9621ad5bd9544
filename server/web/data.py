"""What the pages, the API and the exports read, always through a Scope.

The registry (units, employees, gateways, devices) comes from server.models. Monthly results and day
categories come from the scoring results (server.results) where they exist; until a month has been
computed there, `month_view` derives the same shape from the punches with the policy in force, so the
pages show something true today and the computed results the moment they land.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

from server import models
from server.auth import Scope, punch_q
from server.models import Employee, Punch, Unit
from wire.zones import WIB, office_zone

DRIFT_WARNING_S = 120
ONLINE_WITHIN = timedelta(minutes=5)


class NotVisible(LookupError):
    """A record outside the principal's scope, or one that does not exist: the same answer for both,
    so a refusal does not reveal what exists."""


# --- registry ---------------------------------------------------------------------------------------


async def visible_units(scope: Scope) -> list[Unit]:
    if not scope.personnel and not scope.devices:
        return []
    if scope.employee_nips is not None and scope.personnel:
        return await Unit.filter(code__in=sorted(scope.unit_codes or ())).order_by("code")
    return await Unit.filter(scope.unit_q()).order_by("code")


async def unit_zones() -> dict[str, timezone]:
    """The office zone of each unit (its first office); a unit with no office yet is missing (callers take
    WIB). A zone the table does not know is an error, never quietly WIB: its times would be hours off."""
    office = getattr(models, "Office", None)
    if office is None:
        return {}
    zones: dict[str, timezone] = {}
    for unit_code, zone in await office.all().order_by("code").values_list("unit_id", "zone"):
        if unit_code not in zones:
            try:
                zones[unit_code] = office_zone(zone)
            except ValueError as exc:
                raise ValueError(f"unit {unit_code}: {exc}") from None
    return zones


async def employee_in_scope(scope: Scope, nip: str) -> Employee:
    employee = await Employee.filter(scope.employee_q()).get_or_none(nip=nip)
    if employee is None:
        raise NotVisible(nip)
    return employee


async def subtree_filter(scope: Scope, unit: str | None) -> Scope:
    """Narrow a scope to one unit and its subtree (a filter a reader asked for)."""
    if not unit:
        return scope
    from server.auth import unit_subtree

    units = await unit_subtree(unit)
    if scope.unit_codes is not None:
        units = units & scope.unit_codes
    return Scope(scope.personnel, scope.devices, frozenset(units), scope.employee_nips)


# --- gateways and devices ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeviceRow:
    serial: str
    name: str
    gateway_id: str | None
    reachable: bool | None
    last_poll_ok_at: datetime | None
    clock_drift_s: float | None
    record_count: int | None
    record_capacity: int | None
    last_error: str | None
    held_punches: int = 0  # suspect punches the gateway holds for review
    quarantined: int = 0  # raw records or lines it could not read


@dataclass(frozen=True, slots=True)
class GatewayRow:
    gateway_id: str
    unit_code: str
    online: bool
    version: str | None
    last_seen_at: datetime | None
    backlog: int | None
    oldest_queued_age_s: float | None
    devices: list[DeviceRow] = field(default_factory=list)


async def gateways_in_scope(scope: Scope) -> list[GatewayRow]:
    """Gateways with their devices. From the registry's status tables where they exist; else from the
    punches received (a gateway is as alive as its last batch)."""
    if not scope.devices:
        return []
    gateway_model = getattr(models, "Gateway", None)
    device_model = getattr(models, "Device", None)
    if gateway_model is None or device_model is None:
        return await _gateways_from_punches(scope)
    query = gateway_model.all()
    if scope.unit_codes is not None:
        query = query.filter(unit_code__in=sorted(scope.unit_codes))
    gateways = await query.order_by("unit_code", "gateway_id")
    devices: dict[str, list[DeviceRow]] = {}
    for d in await device_model.filter(gateway_id__in=[g.gateway_id for g in gateways]).order_by("serial"):
        devices.setdefault(d.gateway_id, []).append(
            DeviceRow(
                d.serial,
                d.name,
                d.gateway_id,
                d.reachable,
                d.last_poll_ok_at,
                d.clock_drift_s,
                d.record_count,
                d.record_capacity,
                d.last_error,
                d.held_punches,
                d.quarantined,
            )
        )
    return [
        GatewayRow(
            g.gateway_id,
            g.unit_code,
            bool(g.online),
            g.version,
            g.last_seen_at,
            g.queued_punches,
            g.oldest_queued_age_s,
            devices.get(g.gateway_id, []),
        )
        for g in gateways
    ]


async def _gateways_from_punches(scope: Scope) -> list[GatewayRow]:
    query = Punch.all()
    if scope.unit_codes is not None:
        query = query.filter(unit_code__in=sorted(scope.unit_codes))
    seen: dict[str, tuple[str, datetime, set[str]]] = {}
    rows = await query.order_by("received_at").values_list("gateway_id", "unit_code", "received_at", "device_serial")
    for gateway_id, unit_code, received_at, serial in rows:
        entry = seen.setdefault(gateway_id, (unit_code, received_at, set()))
        seen[gateway_id] = (unit_code, max(entry[1], received_at), entry[2] | {serial})
    now = datetime.now(UTC)
    return [
        GatewayRow(
            gateway_id,
            unit_code,
            now - last <= ONLINE_WITHIN,
            None,
            last,
            None,
            None,
            [DeviceRow(s, s, gateway_id, None, None, None, None, None, None) for s in sorted(serials)],
        )
        for gateway_id, (unit_code, last, serials) in sorted(seen.items())
    ]


# --- today ------------------------------------------------------------------------------------------


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
    from scoring import DayKind, plan_day
    from server.web.month import policy_for

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
    from server.web.excuse_routes import excuses_for

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


async def pin_owners(unit_codes: set[str]) -> dict[tuple[str, str], str]:
    from server.models import DevicePin

    rows = await DevicePin.filter(unit_id__in=sorted(unit_codes)).values_list("unit_id", "pin", "employee_id")
    return {(unit, pin): nip for unit, pin, nip in rows}


# --- punches of one employee ------------------------------------------------------------------------


async def employee_punches(employee: Employee, start: datetime, end: datetime) -> list[Punch]:
    from tortoise.expressions import Q

    from server.models import DevicePin

    pairs = await DevicePin.filter(employee_id=employee.nip).values_list("unit_id", "pin")
    conditions = [Q(unit_code=unit, pin=pin) for unit, pin in pairs]
    if "employee_nip" in Punch._meta.fields_map:
        conditions.append(Q(employee_nip=employee.nip))
    if not conditions:
        return []
    return await Punch.filter(Q(*conditions, join_type="OR"), punched_at__gte=start, punched_at__lt=end).order_by(
        "punched_at"
    )


def month_bounds(month: date, zone: timezone) -> tuple[datetime, datetime]:
    first = month.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return datetime.combine(first, time.min, zone), datetime.combine(following, time.min, zone)


def days_of(month: date) -> list[date]:
    first = month.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return [first + timedelta(days=i) for i in range((following - first).days)]


def json_time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def counter_dict(counter: Counter[str]) -> dict[str, Any]:
    return dict(sorted(counter.items()))


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
