"""What the pages, the API and the exports read, always through a Scope.

The registry (units, employees, gateways, devices) comes from server.models. Monthly results and day
categories come from the scoring results (server.services.results) where they exist; until a month has been
computed there, `month_view` derives the same shape from the punches with the policy in force, so the
pages show something true today and the computed results the moment they land.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

from server import models
from server.auth import Scope, unit_subtree
from server.models import DevicePin, Employee, Punch, Unit
from wire.zones import WIB as WIB  # the fallback zone its callers read with unit_zones()
from wire.zones import office_zone

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


async def pin_owners(unit_codes: set[str]) -> dict[tuple[str, str], str]:

    rows = await DevicePin.filter(unit_id__in=sorted(unit_codes)).values_list("unit_id", "pin", "employee_id")
    return {(unit, pin): nip for unit, pin, nip in rows}


# --- punches of one employee ------------------------------------------------------------------------


async def employee_punches(employee: Employee, start: datetime, end: datetime) -> list[Punch]:
    from tortoise.expressions import Q

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
