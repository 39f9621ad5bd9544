"""What the registry's resources (units.py, gateways.py, devices.py, pending_devices.py, employees.py) share:
their JSON shapes and the checks of their fields."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from server.errors import Invalid
from server.models import Device, Employee, Gateway, GatewayCommand, Office, Unit
from server.services.registry import (
    CONTROL,
    RegistryError,
)


def optional_text(body: dict[str, Any], name: str, limit: int = 200) -> str:
    value = body.get(name, "")
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > limit:
        raise Invalid(f"{name}: expected text of at most {limit} characters")
    if CONTROL.search(value):  # a position or a device name goes into exports, where openpyxl refuses them
        raise Invalid(f"{name}: control characters are not allowed")
    return value.strip()


def checked(check: Any, *args: Any) -> Any:
    try:
        return check(*args)
    except RegistryError as exc:
        raise Invalid(str(exc)) from None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


# --- units and offices ---


def unit_json(unit: Unit) -> dict[str, Any]:
    return {"code": unit.code, "name": unit.name, "kind": unit.kind, "parent": unit.parent_id}  # type: ignore[attr-defined]


def office_json(office: Office) -> dict[str, Any]:
    return {"code": office.code, "name": office.name, "unit": office.unit_id, "zone": office.zone}  # type: ignore[attr-defined]


# --- gateways, devices, status ---


def gateway_json(gateway: Gateway) -> dict[str, Any]:
    return {
        "gateway_id": gateway.gateway_id,
        "unit": gateway.unit_code,
        "office": gateway.office_id,  # type: ignore[attr-defined]
        "registered": gateway.registered,
        "online": gateway.online,
        "version": gateway.version,
        "status_at": _iso(gateway.status_at),
        "last_seen_at": _iso(gateway.last_seen_at),
        "backlog": {
            "queued_punches": gateway.queued_punches,
            "in_flight_batches": gateway.in_flight_batches,
            "oldest_queued_age_s": gateway.oldest_queued_age_s,
        },
        "rejected_punches": gateway.rejected_punches,
        "telemetry_at": _iso(gateway.telemetry_at),
    }


def device_json(device: Device) -> dict[str, Any]:
    return {
        "serial": device.serial,
        "name": device.name,
        "profile": device.profile,
        "office": device.office_id,  # type: ignore[attr-defined]
        "gateway": device.gateway_id,
        "reachable": device.reachable,
        "last_poll_ok_at": _iso(device.last_poll_ok_at),
        "last_punch_at": _iso(device.last_punch_at),
        "clock_drift_s": device.clock_drift_s,
        "capacity": {"records": device.record_count, "max_records": device.record_capacity},
        "last_error": device.last_error,
        "telemetry_at": _iso(device.telemetry_at),
        "held_punches": device.held_punches,
        "quarantined": device.quarantined,
    }


# --- employees and PINs ---


def employee_json(employee: Employee) -> dict[str, Any]:
    return {
        "nip": employee.nip,
        "name": employee.name,
        "unit": employee.unit_id,  # type: ignore[attr-defined]
        "position": employee.position,
        "supervisor": employee.supervisor_id,  # type: ignore[attr-defined]
        "birth_date": employee.birth_date.isoformat() if employee.birth_date else None,
        "appointment_month": employee.appointment_month,
        "sex": employee.sex,
    }


# --- commands to gateways ---


def command_json(command: GatewayCommand) -> dict[str, Any]:
    return {
        "command_id": command.command_id,
        "gateway": command.gateway_id,
        "action": command.action,
        "args": command.args,
        "status": command.status,
        "detail": command.detail,
        "results": command.results,
        "created_at": _iso(command.created_at),
        "answered_at": _iso(command.answered_at),
    }
