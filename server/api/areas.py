"""The areas API (issue 18): areas of a unit, their devices and members, and what each device holds.
Template bytes never appear in an answer: only slots (modality, index, format) and counts.

Installed by `install` (a setup hook of server/app.py): the routes, their access rules, and the step that
writes a newly stored template to every device of its employee's areas.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from typing import Any

from aiohttp import web
from pydantic import Field

from server.access import RULES, Rule
from server.api.endpoint import Body, Path, endpoint
from server.api.fields import Code, DeviceSerial, EmployeeNip, Name, Nip18, Text63
from server.api.registry import command_json
from server.api.units import UnitPath
from server.area_models import Area, AreaDevice, AreaMember, DeviceSyncCommand
from server.auth import PRINCIPAL
from server.biometric_models import BiometricTemplate
from server.context import CONSUMER
from server.errors import Conflict, NotFound, Unavailable
from server.models import Device, Employee, Gateway, GatewayCommand
from server.services.accounts import Role
from server.services.areas import (
    AreaError,
    add_member,
    areas_of_employee,
    remove_member,
    send_page,
    sync_area,
    sync_device,
)
from server.services.biometric_store import BiometricStore, delete_templates_of
from server.services.registry import unit_subtree

routes = web.RouteTableDef()

BUR, UNI, OPS = Role.BUREAU_ADMIN, Role.UNIT_ADMIN, Role.OPERATIONS
_AREA = "/api/v1/units/{code}/areas/{area}"
ACCESS: dict[tuple[str, str], Rule] = {
    ("POST", "/api/v1/units/{code}/areas"): Rule((BUR, UNI)),
    ("GET", "/api/v1/units/{code}/areas"): Rule((BUR, UNI, OPS)),
    ("POST", f"{_AREA}/devices"): Rule((BUR, UNI)),
    ("DELETE", f"{_AREA}/devices/{{serial}}"): Rule((BUR, UNI)),
    ("POST", f"{_AREA}/members"): Rule((BUR, UNI)),
    ("DELETE", f"{_AREA}/members/{{nip}}"): Rule((BUR, UNI)),
    # Sending templates to devices is a device command: the operations role's (and the bureau's).
    ("POST", f"{_AREA}/sync"): Rule((BUR, OPS)),
    ("GET", f"{_AREA}/device-users"): Rule((BUR, UNI, OPS)),
    ("DELETE", "/api/v1/employees/{nip}/biometrics"): Rule((BUR, UNI)),
}


class AreaIn(Body):
    code: Code
    name: Name


class AreaPath(UnitPath):
    area: Text63 = Field(description="an area code")


class AreaDeviceIn(Body):
    serial: DeviceSerial


class AreaDevicePath(AreaPath):
    serial: DeviceSerial = Field(description="the device serial")


class AreaMemberIn(Body):
    nip: EmployeeNip


class AreaMemberPath(AreaPath):
    nip: Nip18 = Field(description="the employee's 18-digit NIP")


class EmployeePath(Path):
    nip: Nip18 = Field(description="the employee's 18-digit NIP")


def _actor(request: web.Request) -> str:
    principal = request.get(PRINCIPAL)
    return f"user:{principal.username}" if principal is not None else "user:?"


def _consumer(request: web.Request) -> Any:
    if CONSUMER not in request.app:
        raise Unavailable("this server does not talk to the broker")
    return request.app[CONSUMER]


def _store(request: web.Request) -> BiometricStore | None:
    consumer = request.app.get(CONSUMER)
    return getattr(consumer, "biometric_store", None)


async def _area(path: AreaPath) -> Area:
    area = await Area.get_or_none(code=path.area, unit_code=path.code)
    if area is None:
        raise NotFound(f"no area {path.area!r} in unit {path.code!r}")
    return area


def _reports(reports: list[Any]) -> list[dict[str, Any]]:
    return [asdict(report) for report in reports]


@endpoint(
    routes, "POST", "/api/v1/units/{code}/areas", "create an area", path=UnitPath, body=AreaIn, status=201,
    errors=(404, 409),
)  # fmt: skip
async def post_area(request: web.Request, path: UnitPath, body: AreaIn) -> web.Response:
    await unit_subtree(path.code)  # NotFound: no such unit
    if await Area.exists(code=body.code):
        raise Conflict(f"area {body.code!r} exists already")
    area = await Area.create(code=body.code, name=body.name, unit_code=path.code)
    return web.json_response({"code": area.code, "name": area.name, "unit": area.unit_code}, status=201)


@endpoint(routes, "GET", "/api/v1/units/{code}/areas", "the unit's areas: devices and member counts", path=UnitPath)
async def get_areas(request: web.Request, path: UnitPath) -> web.Response:
    items = []
    for area in await Area.filter(unit_code=path.code).order_by("code"):
        devices = await AreaDevice.filter(area=area).order_by("device_serial").values_list("device_serial", flat=True)
        members = await AreaMember.filter(area=area).count()
        items.append({"code": area.code, "name": area.name, "devices": list(devices), "members": members})
    return web.json_response({"items": items})


@endpoint(
    routes, "POST", f"{_AREA}/devices", "a registered device joins the area and is synced", path=AreaPath,
    body=AreaDeviceIn, status=201, errors=(404, 409, 503),
)  # fmt: skip
async def post_area_device(request: web.Request, path: AreaPath, body: AreaDeviceIn) -> web.Response:
    """A device registered to a gateway of this unit (or below) joins the area and is synced."""
    area = await _area(path)
    serial = body.serial
    device = await Device.get_or_none(serial=serial)
    if device is None or device.gateway_id is None:
        raise NotFound(f"serial: no device {serial!r} registered to a gateway; assign it first")
    gateway = await Gateway.get(gateway_id=device.gateway_id)
    if gateway.unit_code not in await unit_subtree(area.unit_code):
        raise NotFound(f"serial: no device {serial!r} in unit {area.unit_code!r}")
    current = await AreaDevice.get_or_none(device_serial=device.serial).prefetch_related("area")
    if current is not None and current.area.code != area.code:
        raise Conflict(f"device {device.serial} is in area {current.area.code!r}: remove it there first")
    if current is None:
        await AreaDevice.create(device_serial=device.serial, area=area)
    report = await sync_device(area, device.serial, _consumer(request), _store(request), actor=_actor(request))
    return web.json_response({"serial": device.serial, "area": area.code, "sync": asdict(report)}, status=201)


@endpoint(
    routes, "DELETE", f"{_AREA}/devices/{{serial}}", "the device leaves the area", path=AreaDevicePath, errors=(404,)
)
async def delete_area_device(request: web.Request, path: AreaDevicePath) -> web.Response:
    """The device leaves the area (its users stay on it until it joins another area, which replaces them)."""
    area = await _area(path)
    deleted = await AreaDevice.filter(area=area, device_serial=path.serial).delete()
    if not deleted:
        raise NotFound(f"no device {path.serial!r} in area {area.code!r}")
    return web.json_response({"serial": path.serial, "area": None})


@endpoint(
    routes, "POST", f"{_AREA}/members", "an employee joins the area with a PIN of it; its devices are synced",
    path=AreaPath, body=AreaMemberIn, status=201, errors=(404, 409, 503),
)  # fmt: skip
async def post_area_member(request: web.Request, path: AreaPath, body: AreaMemberIn) -> web.Response:
    """The employee joins the area with a PIN of it; every device of the area is told."""
    area = await _area(path)
    nip = body.nip
    employee = await Employee.get_or_none(nip=nip)
    if employee is None or employee.unit_id not in await unit_subtree(area.unit_code):  # type: ignore[attr-defined]
        raise NotFound(f"nip: no employee {nip!r} in unit {area.unit_code!r}")
    try:
        member = await add_member(area, nip)
    except AreaError as exc:
        raise Conflict(str(exc)) from None
    reports = await sync_area(area, _consumer(request), _store(request), actor=_actor(request))
    body_out = {"nip": nip, "pin": member.pin, "area": area.code, "sync": _reports(reports)}
    return web.json_response(body_out, status=201)


@endpoint(
    routes, "DELETE", f"{_AREA}/members/{{nip}}", "the employee leaves the area; its devices are synced",
    path=AreaMemberPath, errors=(404, 503),
)  # fmt: skip
async def delete_area_member(request: web.Request, path: AreaMemberPath) -> web.Response:
    area = await _area(path)
    if not await remove_member(area, path.nip):
        raise NotFound(f"no member {path.nip!r} in area {area.code!r}")
    reports = await sync_area(area, _consumer(request), _store(request), actor=_actor(request))
    return web.json_response({"nip": path.nip, "area": None, "sync": _reports(reports)})


@endpoint(
    routes, "POST", f"{_AREA}/sync",
    "every device of the area told its users and templates again (a reset device refilled)",
    path=AreaPath, status=202, errors=(404, 503),
)  # fmt: skip
async def post_area_sync(request: web.Request, path: AreaPath) -> web.Response:
    """Every device of the area told again (a device reset to empty, or replaced, is refilled so)."""
    area = await _area(path)
    reports = await sync_area(area, _consumer(request), _store(request), actor=_actor(request))
    return web.json_response({"area": area.code, "sync": _reports(reports)}, status=202)


@endpoint(
    routes, "DELETE", "/api/v1/employees/{nip}/biometrics",
    "delete the employee's biometrics at the centre and on every device of their areas", path=EmployeePath,
    errors=(404, 503),
)  # fmt: skip
async def delete_biometrics(request: web.Request, path: EmployeePath) -> web.Response:
    """Deletion on request (UU 27/2022): the centre's templates of the employee, and theirs on every device
    of every area they are in (an empty template list for them)."""
    nip = path.nip
    deleted = await delete_templates_of(nip, actor=_actor(request), purpose="deleted on request")
    sent: list[dict[str, Any]] = []
    for area, pin in await areas_of_employee(nip):
        consumer = _consumer(request)
        name = (await Employee.get(nip=nip)).name[:24]
        for serial in await AreaDevice.filter(area=area).values_list("device_serial", flat=True):
            device = await Device.get_or_none(serial=serial)
            gateway = await Gateway.get_or_none(gateway_id=device.gateway_id) if device and device.gateway_id else None
            if device is None or gateway is None:
                continue
            args = {"device": device.name, "complete": False, "users": [{"pin": pin, "name": name, "templates": []}]}
            sent.append({"serial": serial, "command_id": await send_page(consumer, gateway, area, serial, args)})
    return web.json_response({"nip": nip, "templates_deleted": deleted, "devices": sent})


@endpoint(
    routes, "GET", f"{_AREA}/device-users",
    "per device: the area's users, templates by modality (never bytes), the last sync", path=AreaPath,
    errors=(404,),
)  # fmt: skip
async def get_device_users(request: web.Request, path: AreaPath) -> web.Response:
    """Per device: the area's users, the templates the centre holds for them by modality (counts, never
    bytes), and the device's last sync (the gateway's answer)."""
    area = await _area(path)
    members = await AreaMember.filter(area=area).order_by("pin")
    nips = [m.employee_nip for m in members]
    names = dict(await Employee.filter(nip__in=nips).values_list("nip", "name"))
    slots = await BiometricTemplate.filter(employee_nip__in=nips).values_list("employee_nip", "modality", "index")
    by_nip: dict[str, Counter[str]] = {}
    for nip, modality, index in set(slots):
        by_nip.setdefault(nip, Counter())[modality] += 1
        del index
    users = [
        {"nip": m.employee_nip, "pin": m.pin, "name": names.get(m.employee_nip, ""),
         "templates": dict(sorted(by_nip.get(m.employee_nip, Counter()).items()))}
        for m in members
    ]  # fmt: skip
    devices = []
    for serial in await AreaDevice.filter(area=area).order_by("device_serial").values_list("device_serial", flat=True):
        device = await Device.get_or_none(serial=serial)
        last = await DeviceSyncCommand.filter(device_serial=serial).order_by("-created_at").first()
        command = await GatewayCommand.get_or_none(command_id=last.command_id) if last else None
        result = None
        if command is not None:
            shown = command_json(command)
            shown.pop("args", None)  # the user list is `users` below; a page's slots are not needed here
            device_result = (command.results or {}).get(device.name if device else "", None)
            result = {**shown, "part": last.part, "device_result": device_result}  # type: ignore[union-attr]
        devices.append({
            "serial": serial, "name": device.name if device else "", "gateway": device.gateway_id if device else None,
            "last_sync": result,
        })  # fmt: skip
    return web.json_response({"area": area.code, "users": users, "devices": devices})


async def _after_enrolment(consumer: Any, nip: str) -> None:
    """A template just stored: its employee's areas' devices get it (a page with that user only)."""
    for area, pin in await areas_of_employee(nip):
        await sync_area(area, consumer, consumer.biometric_store, actor="centre:enrolment", only_pins={pin})


def install(app: web.Application) -> None:
    RULES.update(ACCESS)
    app.add_routes(routes)

    async def wire_consumer(app: web.Application) -> None:
        if CONSUMER in app:
            app[CONSUMER].after_enrolment = _after_enrolment

    app.on_startup.append(wire_consumer)
