"""Employees: one at a time or a CSV import, the device PINs mapped to them, their enrolment on devices."""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import Field

from server.api.endpoint import Body, Path, Query, endpoint
from server.api.fields import (
    DEVICE_PIN,
    NIP,
    Limit,
    Name,
    NipText,
    Offset,
    Text63,
    UnitCode,
    checked_by,
    page_of,
)
from server.api.registry import command_json, employee_json, optional_text
from server.context import CONSUMER, DIALECT
from server.errors import Conflict, Invalid, NotFound
from server.models import DevicePin, Employee, Gateway, Unit
from server.nip import Nip, parse_nip
from server.services.commands import send_command
from server.services.ingest import resolve_unmapped_punches
from server.services.registry import RegistryError, check_pin, import_employees_csv, map_pin
from wire.contract import CommandAction

routes = web.RouteTableDef()

STRING_OR_NULL = {"type": "string", "nullable": True}
EMPLOYEE = {
    "type": "object",
    "required": ["nip", "name", "unit"],
    "properties": {
        "nip": {"type": "string"},
        "name": {"type": "string"},
        "unit": {"type": "string"},
        "position": STRING_OR_NULL,
        "supervisor": STRING_OR_NULL,
    },
}


def _nip(value: object) -> Nip:
    """A NIP that decodes (server/nip.py); its refusal names the field."""
    try:
        return parse_nip(value)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ValueError(f"nip: {exc}") from None


def _nip_text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("nip: expected the employee's NIP")
    return value


def _position(value: object) -> str:
    return optional_text({"position": value}, "position")


def _supervisor(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("supervisor: expected the supervisor's NIP")
    return value


PLAIN_TEXT = {"type": "string", "maxLength": 200, "pattern": "^[^\\x00-\\x1f\\x7f]*$"}  # no control characters
NewNip = checked_by(_nip, NIP)
EmployeeNip = checked_by(_nip_text, NIP)
Position = checked_by(_position, PLAIN_TEXT, nullable=True)
Supervisor = checked_by(_supervisor, {"type": "string", "maxLength": 18}, nullable=True)
Pin = checked_by(check_pin, DEVICE_PIN)


class EmployeeIn(Body):
    nip: NewNip
    name: Name
    unit: UnitCode
    position: Position = None
    supervisor: Supervisor = None


class EmployeesQuery(Query):
    unit: Text63 | None = Field(None, description="a unit code: that unit and the units below it")
    supervisor: NipText | None = Field(None, description="the supervisor's NIP")
    limit: Limit = 100
    offset: Offset = 0


class EmployeePath(Path):
    nip: Annotated[str, Field(max_length=18, description="the employee's 18-digit NIP")]


class UnitPath(Path):
    code: Text63 = Field(description="a unit code")


class PinIn(Body):
    pin: Pin
    nip: EmployeeNip


class EnrolIn(Body):
    nip: EmployeeNip


@endpoint(
    routes,
    "POST",
    "/api/v1/employees",
    "create an employee (the NIP is checked)",
    body=EmployeeIn,
    status=201,
    errors=(404, 409),
)
async def post_employee(request: web.Request, body: EmployeeIn) -> web.Response:
    nip, supervisor = body.nip, body.supervisor
    if not await Unit.exists(code=body.unit):
        raise NotFound(f"unit: no unit {body.unit!r}")
    if supervisor == nip.text:
        raise Conflict("supervisor: an employee cannot supervise themselves")
    if supervisor is not None and not await Employee.exists(nip=supervisor):
        raise NotFound(f"supervisor: no employee with NIP {supervisor!r}")
    if await Employee.exists(nip=nip.text):
        raise Conflict(f"employee {nip.text} exists already")
    employee = await Employee.create(
        nip=nip.text, name=body.name, unit_id=body.unit, position=body.position or "",
        supervisor_id=supervisor, birth_date=nip.birth_date, appointment_month=nip.appointment, sex=nip.sex,
    )  # fmt: skip
    return web.json_response(employee_json(employee), status=201)


@endpoint(
    routes,
    "GET",
    "/api/v1/employees",
    "employees (a unit-bound account names its unit; a supervisor lists ?supervisor=own NIP)",
    query=EmployeesQuery,
    response=page_of(EMPLOYEE),
)
async def get_employees(request: web.Request, query: EmployeesQuery) -> web.Response:
    employees = Employee.all()
    if query.unit:
        employees = employees.filter(unit_id=query.unit)
    if query.supervisor:
        employees = employees.filter(supervisor_id=query.supervisor)
    total = await employees.count()
    rows = await employees.order_by("nip").offset(query.offset).limit(query.limit)
    return web.json_response({"total": total, "items": [employee_json(e) for e in rows]})


# Digits only: /api/v1/employees/import is another resource (POST), and its 405 must not offer this GET.
@endpoint(
    routes,
    "GET",
    r"/api/v1/employees/{nip:[0-9]+}",
    "one employee with their PINs",
    path=EmployeePath,
    response=EMPLOYEE,
    errors=(404,),
)
async def get_employee(request: web.Request, path: EmployeePath) -> web.Response:
    employee = await Employee.get_or_none(nip=path.nip)
    if employee is None:
        raise NotFound(f"no employee {path.nip!r}")
    pins = await DevicePin.filter(employee_id=employee.nip).order_by("unit_id").values_list("unit_id", "pin")
    return web.json_response({**employee_json(employee), "pins": [{"unit": u, "pin": p} for u, p in pins]})


# A CSV file, not JSON: its documentation stays written out in server/api/openapi.py.
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


@endpoint(
    routes,
    "POST",
    "/api/v1/units/{code}/pins",
    "map a device PIN to an employee",
    path=UnitPath,
    body=PinIn,
    status=201,
    errors=(404, 409),
)
async def post_pin(request: web.Request, path: UnitPath, body: PinIn) -> web.Response:
    """Map a device PIN of this unit to an employee; punches that arrived before get the employee too."""
    try:
        await map_pin(path.code, body.pin, body.nip)
    except NotFound as exc:
        raise NotFound(str(exc)) from None
    except RegistryError as exc:
        raise (NotFound(str(exc)) if str(exc).startswith("nip: no employee") else Conflict(str(exc))) from None
    resolved = await resolve_unmapped_punches(request.app[DIALECT], path.code)
    return web.json_response(
        {"unit": path.code, "pin": body.pin, "nip": body.nip, "punches_resolved": resolved}, status=201
    )


@endpoint(routes, "GET", "/api/v1/units/{code}/pins", "the unit's device PINs", path=UnitPath, errors=(404,))
async def get_pins(request: web.Request, path: UnitPath) -> web.Response:
    rows = await DevicePin.filter(unit_id=path.code).order_by("pin").values_list("pin", "employee_id")
    return web.json_response({"items": [{"pin": pin, "nip": nip} for pin, nip in rows]})


@endpoint(
    routes,
    "POST",
    "/api/v1/units/{code}/enrol",
    "write an employee to the unit's devices",
    path=UnitPath,
    body=EnrolIn,
    status=202,
    errors=(404, 409, 503),
)
async def post_enrol(request: web.Request, path: UnitPath, body: EnrolIn) -> web.Response:
    """Write an employee (by NIP, with the unit's PIN) to every device of the unit's gateways."""
    unit_code, nip = path.code, body.nip
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
