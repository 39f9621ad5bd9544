"""The registry's JSON API, version 1: units, offices, gateways and their status, devices, employees,
PIN mappings, the CSV import and commands to gateways. Bad input is a 4xx with a reason, never a 500."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from aiohttp import web

from server.api.http import MAX_PAGE, int_param, json_body
from server.api.openapi import COMMAND_ARGS
from server.context import CONSUMER, DIALECT
from server.errors import Conflict, Invalid, NotFound
from server.models import Device, DevicePin, Employee, Gateway, GatewayCommand, Office, PendingDevice, Unit
from server.nip import InvalidNip, parse_nip
from server.services.commands import send_command
from server.services.ingest import resolve_unmapped_punches
from server.services.pending import assign_device, pending_devices, release_held
from server.services.registry import (
    CONTROL,
    RegistryError,
    check_code,
    check_kind,
    check_name,
    check_pin,
    check_zone,
    create_unit,
    import_employees_csv,
    map_pin,
    unit_subtree,
)
from wire.contract import CommandAction

routes = web.RouteTableDef()

SERIAL = re.compile(r"^[!-~][ -~]{0,63}$")  # as server/api/openapi.py documents it


def optional_text(body: dict[str, Any], name: str, limit: int = 200) -> str:
    value = body.get(name, "")
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > limit:
        raise Invalid(f"{name}: expected text of at most {limit} characters")
    if CONTROL.search(value):  # a position or a device name goes into exports, where openpyxl refuses them
        raise Invalid(f"{name}: control characters are not allowed")
    return value.strip()


def _checked(check: Any, *args: Any) -> Any:
    try:
        return check(*args)
    except RegistryError as exc:
        raise Invalid(str(exc)) from None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


# --- units and offices ---


def unit_json(unit: Unit) -> dict[str, Any]:
    return {"code": unit.code, "name": unit.name, "kind": unit.kind, "parent": unit.parent_id}  # type: ignore[attr-defined]


@routes.post("/api/v1/units")
async def post_unit(request: web.Request) -> web.Response:
    body = await json_body(request)
    code = _checked(check_code, body.get("code"), "code")
    name = _checked(check_name, body.get("name"))
    kind = _checked(check_kind, body.get("kind"))
    parent = body.get("parent")
    if parent is not None:
        parent = _checked(check_code, parent, "parent")
    try:
        unit = await create_unit(code, name, kind, parent)
    except RegistryError as exc:
        # The body is well formed (checked above); what is left is the tree: a missing parent, or a unit
        # that exists already or cannot sit where it was asked to.
        raise (NotFound(str(exc)) if str(exc).startswith("parent: no unit") else Conflict(str(exc))) from None
    return web.json_response(unit_json(unit), status=201)


@routes.get("/api/v1/units")
async def get_units(request: web.Request) -> web.Response:
    """All units, or with `under=code` that unit and everything below it."""
    query = Unit.all()
    if under := request.query.get("under"):
        try:
            query = Unit.filter(code__in=await unit_subtree(under))
        except NotFound as exc:
            raise NotFound(str(exc)) from None
    return web.json_response({"items": [unit_json(u) for u in await query.order_by("code")]})


@routes.get("/api/v1/units/{code}")
async def get_unit(request: web.Request) -> web.Response:
    unit = await Unit.get_or_none(code=request.match_info["code"])
    if unit is None:
        raise NotFound(f"no unit {request.match_info['code']!r}")
    children = await Unit.filter(parent_id=unit.code).order_by("code").values_list("code", flat=True)
    offices = await Office.filter(unit_id=unit.code).order_by("code").values_list("code", flat=True)
    return web.json_response({**unit_json(unit), "children": list(children), "offices": list(offices)})


@routes.post("/api/v1/offices")
async def post_office(request: web.Request) -> web.Response:
    body = await json_body(request)
    code = _checked(check_code, body.get("code"), "code")
    name = _checked(check_name, body.get("name"))
    zone = _checked(check_zone, body.get("zone"))
    unit = await Unit.get_or_none(code=_checked(check_code, body.get("unit"), "unit"))
    if unit is None:
        raise NotFound(f"unit: no unit {body.get('unit')!r}")
    if await Office.exists(code=code):
        raise Conflict(f"office {code!r} exists already")
    office = await Office.create(code=code, name=name, zone=zone, unit=unit)
    return web.json_response(office_json(office), status=201)


def office_json(office: Office) -> dict[str, Any]:
    return {"code": office.code, "name": office.name, "unit": office.unit_id, "zone": office.zone}  # type: ignore[attr-defined]


@routes.get("/api/v1/offices")
async def get_offices(request: web.Request) -> web.Response:
    query = Office.all()
    if unit := request.query.get("unit"):
        query = query.filter(unit_id=unit)
    return web.json_response({"items": [office_json(o) for o in await query.order_by("code")]})


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


@routes.post("/api/v1/gateways")
async def post_gateway(request: web.Request) -> web.Response:
    """Register a gateway (its broker user and ACL come from deploy/broker-users). A gateway already seen
    on the broker (a row from its birth message) becomes registered."""
    body = await json_body(request)
    gateway_id = _checked(check_code, body.get("gateway_id"), "gateway_id")
    unit_code = _checked(check_code, body.get("unit"), "unit")
    office_code = body.get("office")
    if office_code is not None:
        _checked(check_code, office_code, "office")
    if not await Unit.exists(code=unit_code):
        raise NotFound(f"unit: no unit {unit_code!r}")
    if office_code is not None and not await Office.exists(code=office_code):
        raise NotFound(f"office: no office {office_code!r}")
    gateway = await Gateway.get_or_none(gateway_id=gateway_id)
    if gateway is not None and gateway.registered:
        raise Conflict(f"gateway {gateway_id!r} is registered already")
    known = gateway is not None
    if gateway is None:
        gateway = Gateway(gateway_id=gateway_id)
    gateway.unit_code = unit_code
    gateway.office_id = office_code  # type: ignore[attr-defined]
    gateway.registered = True
    # A row made by status or telemetry keeps what they wrote meanwhile: update only these columns.
    await gateway.save(update_fields=["unit_code", "office_id", "registered"] if known else None)
    return web.json_response(gateway_json(gateway), status=201)


@routes.get("/api/v1/gateways")
async def get_gateways(request: web.Request) -> web.Response:
    query = Gateway.all()
    if unit := request.query.get("unit"):
        query = query.filter(unit_code=unit)
    return web.json_response({"items": [gateway_json(g) for g in await query.order_by("gateway_id")]})


@routes.get("/api/v1/gateways/{gateway_id}")
async def get_gateway(request: web.Request) -> web.Response:
    # Devices first: a telemetry report commits the gateway's figures and its devices together, so a
    # device seen here means the gateway row read next has that report's figures too.
    devices = await Device.filter(gateway_id=request.match_info["gateway_id"]).order_by("serial")
    gateway = await Gateway.get_or_none(gateway_id=request.match_info["gateway_id"])
    if gateway is None:
        raise NotFound(f"no gateway {request.match_info['gateway_id']!r}")
    return web.json_response({**gateway_json(gateway), "devices": [device_json(d) for d in devices]})


@routes.post("/api/v1/devices")
async def post_device(request: web.Request) -> web.Response:
    body = await json_body(request)
    serial = body.get("serial")
    if not isinstance(serial, str) or not SERIAL.match(serial):
        raise Invalid(f"serial: expected 1-64 printable ASCII characters, not starting with a space, got {serial!r}")
    office_code = _checked(check_code, body.get("office"), "office")
    gateway_id = body.get("gateway")
    if gateway_id is not None:
        _checked(check_code, gateway_id, "gateway")
    name, profile = optional_text(body, "name", 100), optional_text(body, "profile", 100)
    office = await Office.get_or_none(code=office_code)
    if office is None:
        raise NotFound(f"office: no office {office_code!r}")
    if gateway_id is not None and not await Gateway.exists(gateway_id=gateway_id):
        raise NotFound(f"gateway: no gateway {gateway_id!r}")
    if await Device.filter(serial=serial, office_id__isnull=False).exists():
        raise Conflict(f"device {serial!r} is registered already")
    device, _ = await Device.get_or_create(serial=serial)  # a row may exist from telemetry
    device.name, device.profile = name, profile
    device.office = office
    if gateway_id is not None:
        device.gateway_id = gateway_id
    await device.save()
    if gateway_id is not None:
        # Punches that gateway sent while the device was pending are stored now, in arrival order.
        await release_held(request.app[DIALECT], gateway_id, serial)
        await PendingDevice.filter(gateway_id=gateway_id, serial=serial).delete()
    return web.json_response(device_json(device), status=201)


@routes.get("/api/v1/units/{code}/pending-devices")
async def get_pending_devices(request: web.Request) -> web.Response:
    """Devices this unit's gateways report that nobody registered: their punches are held, not stored."""
    if not await Unit.exists(code=request.match_info["code"]):
        raise NotFound(f"no unit {request.match_info['code']!r}")
    return web.json_response({"items": await pending_devices(request.match_info["code"])})


@routes.post("/api/v1/units/{code}/pending-devices/{serial}/assign")
async def post_assign_device(request: web.Request) -> web.Response:
    """Register a pending device to the gateway of this unit that reported it ({"gateway"?, "office"?});
    its held punches are stored, in the order they arrived."""
    body = await json_body(request)
    gateway_id = body.get("gateway")
    if gateway_id is not None:
        gateway_id = _checked(check_code, gateway_id, "gateway")
    office = body.get("office")
    if office is not None:
        office = _checked(check_code, office, "office")
    try:
        release = await assign_device(
            request.app[DIALECT], request.match_info["code"], request.match_info["serial"], gateway_id, office
        )
    except NotFound as exc:
        raise NotFound(str(exc)) from None
    except RegistryError as exc:
        raise (Conflict(str(exc)) if "registered to another" in str(exc) else Invalid(str(exc))) from None
    return web.json_response({
        "serial": release.serial, "gateway": release.gateway_id, "released_batches": release.batches,
        "stored": release.stored, "duplicates": release.duplicates, "quarantined": release.quarantined,
    })  # fmt: skip


@routes.get("/api/v1/devices")
async def get_devices(request: web.Request) -> web.Response:
    query = Device.all()
    if office := request.query.get("office"):
        query = query.filter(office_id=office)
    if gateway := request.query.get("gateway"):
        query = query.filter(gateway_id=gateway)
    return web.json_response({"items": [device_json(d) for d in await query.order_by("serial")]})


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


@routes.post("/api/v1/employees")
async def post_employee(request: web.Request) -> web.Response:
    body = await json_body(request)
    try:
        nip = parse_nip(body.get("nip"))  # type: ignore[arg-type]
    except InvalidNip as exc:
        raise Invalid(str(exc)) from None
    name = _checked(check_name, body.get("name"))
    unit_code = _checked(check_code, body.get("unit"), "unit")
    position = optional_text(body, "position")
    supervisor = body.get("supervisor")
    if supervisor is not None and not isinstance(supervisor, str):
        raise Invalid("supervisor: expected the supervisor's NIP")
    if not await Unit.exists(code=unit_code):
        raise NotFound(f"unit: no unit {unit_code!r}")
    if supervisor == nip.text:
        raise Conflict("supervisor: an employee cannot supervise themselves")
    if supervisor is not None and not await Employee.exists(nip=supervisor):
        raise NotFound(f"supervisor: no employee with NIP {supervisor!r}")
    if await Employee.exists(nip=nip.text):
        raise Conflict(f"employee {nip.text} exists already")
    employee = await Employee.create(
        nip=nip.text, name=name, unit_id=unit_code, position=position,
        supervisor_id=supervisor, birth_date=nip.birth_date, appointment_month=nip.appointment, sex=nip.sex,
    )  # fmt: skip
    return web.json_response(employee_json(employee), status=201)


@routes.get("/api/v1/employees")
async def get_employees(request: web.Request) -> web.Response:
    limit = int_param(request, "limit", 100, 1, MAX_PAGE)
    offset = int_param(request, "offset", 0, 0, 10**9)
    query = Employee.all()
    if unit := request.query.get("unit"):
        query = query.filter(unit_id=unit)
    if supervisor := request.query.get("supervisor"):
        query = query.filter(supervisor_id=supervisor)
    total = await query.count()
    employees = await query.order_by("nip").offset(offset).limit(limit)
    return web.json_response({"total": total, "items": [employee_json(e) for e in employees]})


# Digits only: /api/v1/employees/import is another resource (POST), and its 405 must not offer this GET.
@routes.get(r"/api/v1/employees/{nip:[0-9]+}")
async def get_employee(request: web.Request) -> web.Response:
    employee = await Employee.get_or_none(nip=request.match_info["nip"])
    if employee is None:
        raise NotFound(f"no employee {request.match_info['nip']!r}")
    pins = await DevicePin.filter(employee_id=employee.nip).order_by("unit_id").values_list("unit_id", "pin")
    return web.json_response({**employee_json(employee), "pins": [{"unit": u, "pin": p} for u, p in pins]})


@routes.post("/api/v1/employees/import")
async def post_employee_import(request: web.Request) -> web.Response:
    """A CSV file (columns nip,name,unit,position,supervisor_nip,pin) as the body. Every row is checked
    first; with any error nothing is written and the answer (422) lists every bad row and why."""
    data = await request.read()
    try:
        report = await import_employees_csv(data)
    except RegistryError as exc:
        # The file's shape (encoding, header) is the document's to describe: a 400; past the header, a 409.
        shape = str(exc).startswith(("the file is not UTF-8", "the header", "unknown columns"))
        raise (Invalid(str(exc)) if shape else Conflict(str(exc))) from None
    body = {
        "rows": report.rows,
        "created": report.created,
        "updated": report.updated,
        "pins_mapped": report.pins_mapped,
        "errors": [{"row": e.row, "nip": e.nip, "errors": list(e.errors)} for e in report.errors],
    }
    if not report.ok:
        # 409: the file is well formed; its rows conflict with the registry or break its rules.
        return web.json_response({"error": "invalid_rows", "reason": "nothing was imported", **body}, status=409)
    await resolve_unmapped_punches(request.app[DIALECT])
    return web.json_response(body)


@routes.post("/api/v1/units/{code}/pins")
async def post_pin(request: web.Request) -> web.Response:
    """Map a device PIN of this unit to an employee; punches that arrived before get the employee too."""
    body = await json_body(request)
    pin = _checked(check_pin, body.get("pin"))
    nip = body.get("nip")
    if not isinstance(nip, str):
        raise Invalid("nip: expected the employee's NIP")
    try:
        await map_pin(request.match_info["code"], pin, nip)
    except NotFound as exc:
        raise NotFound(str(exc)) from None
    except RegistryError as exc:
        raise (NotFound(str(exc)) if str(exc).startswith("nip: no employee") else Conflict(str(exc))) from None
    resolved = await resolve_unmapped_punches(request.app[DIALECT], request.match_info["code"])
    return web.json_response(
        {"unit": request.match_info["code"], "pin": pin, "nip": nip, "punches_resolved": resolved}, status=201
    )


@routes.get("/api/v1/units/{code}/pins")
async def get_pins(request: web.Request) -> web.Response:
    rows = await DevicePin.filter(unit_id=request.match_info["code"]).order_by("pin").values_list("pin", "employee_id")
    return web.json_response({"items": [{"pin": pin, "nip": nip} for pin, nip in rows]})


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


def _args_problem(args: dict[str, Any]) -> str | None:
    """What in a command's args breaks the document's COMMAND_ARGS (names, types, lengths, patterns)."""

    for name, value in args.items():
        schema = COMMAND_ARGS["properties"].get(name)
        if schema is None:
            return f"{name}: not an argument of any command"
        if schema["type"] == "integer":
            if not isinstance(value, int) or isinstance(value, bool):
                return f"{name}: expected a whole number"
            if not schema["minimum"] <= value <= schema["maximum"]:
                return f"{name}: expected {schema['minimum']}..{schema['maximum']}"
        elif not isinstance(value, str):
            return f"{name}: expected text"
        elif len(value) > schema.get("maxLength", len(value)) or not re.search(schema.get("pattern", ""), value):
            return f"{name}: does not match {schema}"
    return None


@routes.post("/api/v1/gateways/{gateway_id}/commands")
async def post_command(request: web.Request) -> web.Response:
    """{"action": "sync_clock" | "reread_device" | "write_user" | "reload_config", "args": {...}}"""
    gateway = await Gateway.get_or_none(gateway_id=request.match_info["gateway_id"])
    if gateway is None:
        raise NotFound(f"no gateway {request.match_info['gateway_id']!r}")
    body = await json_body(request)
    try:
        action = CommandAction(body.get("action"))
    except ValueError:
        raise Invalid(f"action: expected one of {[a.value for a in CommandAction]}") from None
    args = body.get("args", {})
    if not isinstance(args, dict):
        raise Invalid("args: expected an object")
    if (problem := _args_problem(args)) is not None:
        raise Invalid(f"args.{problem}")
    row = await send_command(request.app.get(CONSUMER), gateway, action, args)
    return web.json_response(command_json(row), status=202)


@routes.get("/api/v1/gateways/{gateway_id}/commands")
async def get_commands(request: web.Request) -> web.Response:
    rows = await GatewayCommand.filter(gateway_id=request.match_info["gateway_id"]).order_by("-created_at").limit(100)
    return web.json_response({"items": [command_json(row) for row in rows]})


@routes.post("/api/v1/units/{code}/enrol")
async def post_enrol(request: web.Request) -> web.Response:
    """Write an employee (by NIP, with the unit's PIN) to every device of the unit's gateways."""
    unit_code = request.match_info["code"]
    body = await json_body(request)
    nip = body.get("nip")
    if not isinstance(nip, str):
        raise Invalid("nip: expected the employee's NIP")
    mapping = await DevicePin.get_or_none(unit_id=unit_code, employee_id=nip)
    if mapping is None:
        raise NotFound(f"nip: employee {nip!r} has no PIN in unit {unit_code!r}; map one first")
    employee = await Employee.get(nip=nip)
    gateways = await Gateway.filter(unit_code=unit_code, registered=True).order_by("gateway_id")
    if not gateways:
        raise Conflict(f"unit {unit_code!r} has no registered gateway")
    args: dict[str, Any] = {"pin": mapping.pin, "name": employee.name[:24]}
    consumer = request.app.get(CONSUMER)
    rows = [await send_command(consumer, gateway, CommandAction.WRITE_USER, args) for gateway in gateways]
    return web.json_response({"items": [command_json(row) for row in rows]}, status=202)
