"""Employees: one at a time or a CSV import, the device PINs mapped to them, their enrolment on devices."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.api.http import MAX_PAGE, int_param, json_body
from server.api.registry import checked, command_json, employee_json, optional_text
from server.context import CONSUMER, DIALECT
from server.errors import Conflict, Invalid, NotFound
from server.models import DevicePin, Employee, Gateway, Unit
from server.nip import InvalidNip, parse_nip
from server.services.commands import send_command
from server.services.ingest import resolve_unmapped_punches
from server.services.registry import (
    RegistryError,
    check_code,
    check_name,
    check_pin,
    import_employees_csv,
    map_pin,
)
from wire.contract import CommandAction

routes = web.RouteTableDef()


@routes.post("/api/v1/employees")
async def post_employee(request: web.Request) -> web.Response:
    body = await json_body(request)
    try:
        nip = parse_nip(body.get("nip"))  # type: ignore[arg-type]
    except InvalidNip as exc:
        raise Invalid(str(exc)) from None
    name = checked(check_name, body.get("name"))
    unit_code = checked(check_code, body.get("unit"), "unit")
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
    pin = checked(check_pin, body.get("pin"))
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
