"""The areas pages (issue 18): the unit tree with each unit's areas; an area's devices and members, with
forms to change them; and who one device of an area holds (PIN, name, fingerprints and faces the centre
has for them, never their bytes) with its last sync. On server/services/area_admin.py.

Reading is for the device roles (bureau, unit administrators, operations); changing an area is its unit
administrators' and the bureau's, as in the API; telling devices again (a sync) is a device command, the
bureau's and operations'.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from server.access import COMMAND_ROLES, DEVICE_ROLES
from server.auth import Principal, request_scope, require_role
from server.context import CONSUMER
from server.errors import DomainError, Unavailable, page_message
from server.pages.pages import reader_zone
from server.pages.render import render
from server.services.accounts import Role
from server.services.area_admin import (
    add_device,
    add_employee,
    area_devices,
    area_in_scope,
    area_members,
    areas_by_unit,
    candidate_devices,
    create_area,
    device_in_area,
    remove_device,
    remove_employee,
    sync_devices,
)
from server.services.attendance import WIB, unit_zones

routes = web.RouteTableDef()

MANAGERS = (Role.BUREAU_ADMIN, Role.UNIT_ADMIN)


def actor(principal: Principal) -> str:
    return f"user:{principal.username}"


def sender_and_store(request: web.Request) -> tuple[Any, Any]:
    consumer = request.app.get(CONSUMER)
    return consumer, getattr(consumer, "biometric_store", None)


async def sync_or_note(request: web.Request, principal: Principal, area: Any, **narrow: Any) -> int | None:
    """Tell the devices; the number of commands sent, or None when the broker is not there (the change
    made stays, and the page says nothing was sent)."""
    sender, store = sender_and_store(request)
    try:
        reports = await sync_devices(area, sender, store, actor=actor(principal), **narrow)
    except Unavailable:
        return None
    return sum(len(report.command_ids) for report in reports)


def back(location: str, **query: Any) -> web.HTTPSeeOther:
    shown = {k: str(v) for k, v in query.items() if v is not None}
    return web.HTTPSeeOther(location=location + ("?" + urlencode(shown) if shown else ""))


def form_text(form: Any, key: str, limit: int = 200) -> str:
    value = form.get(key)
    return value.strip()[:limit] if isinstance(value, str) else ""


@routes.get("/areas")
async def areas_page(request: web.Request) -> web.Response:
    return await _areas(request)


async def _areas(request: web.Request, error: str | None = None, status: int = 200, **form: str) -> web.Response:
    principal = require_role(request, *DEVICE_ROLES)
    scope = await request_scope(request)
    units, areas = await areas_by_unit(scope)
    visible = {u.code for u in units}
    children: dict[str | None, list[Any]] = {}
    for unit in units:
        parent = unit.parent_id if unit.parent_id in visible else None  # type: ignore[attr-defined]
        children.setdefault(parent, []).append(unit)
    return render(
        request, "areas.html", status=status, children=children, areas=areas, units=units, error=error, form=form,
        may_manage=principal.role in MANAGERS, done=request.query.get("done"),
    )  # fmt: skip


@routes.post("/areas")
async def areas_create(request: web.Request) -> web.Response:
    require_role(request, *MANAGERS)
    form = await request.post()
    fields = {key: form_text(form, key) for key in ("unit", "code", "name")}
    try:
        area = await create_area(await request_scope(request), **fields)
    except DomainError as exc:
        return await _areas(request, error=page_message(exc), status=exc.status, **fields)
    raise back(f"/areas/{area.code}", done="created")


@routes.get("/areas/{area}")
async def area_page(request: web.Request) -> web.Response:
    return await _area(request)


async def _area(request: web.Request, error: str | None = None, status: int = 200) -> web.Response:
    principal = require_role(request, *DEVICE_ROLES)
    area = await area_in_scope(await request_scope(request), request.match_info["area"])
    may_manage = principal.role in MANAGERS
    return render(
        request, "area.html", status=status, area=area, devices=await area_devices(area),
        members=await area_members(area), candidates=await candidate_devices(area) if may_manage else [],
        zones=await unit_zones(), default_zone=await reader_zone(principal), may_manage=may_manage,
        may_sync=principal.role in COMMAND_ROLES, error=error, done=request.query.get("done"),
        sent=request.query.get("sent"),
    )  # fmt: skip


async def _change(request: web.Request, roles: tuple[Role, ...], change: Any) -> web.Response:
    """Run one change of the area; the page again with the reason if it is refused, else back to it."""
    principal = require_role(request, *roles)
    scope = await request_scope(request)
    area = await area_in_scope(scope, request.match_info["area"])
    form = await request.post()
    try:
        done, narrow = await change(scope, area, form)
    except DomainError as exc:
        return await _area(request, error=page_message(exc), status=exc.status)
    sent = await sync_or_note(request, principal, area, **narrow) if narrow is not None else 0
    raise back(f"/areas/{area.code}", done=done, sent="none" if sent is None else sent)


@routes.post("/areas/{area}/devices")
async def area_device_add(request: web.Request) -> web.Response:
    async def change(scope: Any, area: Any, form: Any) -> tuple[str, dict[str, Any]]:
        serial = form_text(form, "serial", 64)
        await add_device(area, serial)
        return "device_added", {"serial": serial}

    return await _change(request, MANAGERS, change)


@routes.post("/areas/{area}/devices/{serial}/remove")
async def area_device_remove(request: web.Request) -> web.Response:
    async def change(scope: Any, area: Any, form: Any) -> tuple[str, None]:
        await remove_device(area, request.match_info["serial"])
        return "device_removed", None

    return await _change(request, MANAGERS, change)


@routes.post("/areas/{area}/members")
async def area_member_add(request: web.Request) -> web.Response:
    async def change(scope: Any, area: Any, form: Any) -> tuple[str, dict[str, Any]]:
        await add_employee(scope, area, form_text(form, "nip", 40))
        return "member_added", {}

    return await _change(request, MANAGERS, change)


@routes.post("/areas/{area}/members/{nip}/remove")
async def area_member_remove(request: web.Request) -> web.Response:
    async def change(scope: Any, area: Any, form: Any) -> tuple[str, dict[str, Any]]:
        await remove_employee(area, request.match_info["nip"])
        return "member_removed", {}

    return await _change(request, MANAGERS, change)


@routes.post("/areas/{area}/sync")
async def area_sync(request: web.Request) -> web.Response:
    """Every device of the area (or the one named) told its users and templates again."""
    principal = require_role(request, *COMMAND_ROLES)
    area = await area_in_scope(await request_scope(request), request.match_info["area"])
    form = await request.post()
    serial = form_text(form, "serial", 64) or None
    if serial is not None:
        await device_in_area(area, serial)
    sent = await sync_or_note(request, principal, area, serial=serial)
    target = f"/areas/{area.code}/devices/{serial}" if serial else f"/areas/{area.code}"
    raise back(target, done="synced", sent="none" if sent is None else sent)


@routes.get("/areas/{area}/devices/{serial}")
async def device_users_page(request: web.Request) -> web.Response:
    """Who the device should hold (the area's members, with the templates the centre has for each) and
    what its gateway answered to the last sync: in sync, or what it changed and what must be enrolled
    on site."""
    principal = require_role(request, *DEVICE_ROLES)
    area = await area_in_scope(await request_scope(request), request.match_info["area"])
    device = await device_in_area(area, request.match_info["serial"])
    zones = await unit_zones()
    zone = zones.get(device.unit_code or "", None) or await reader_zone(principal) or WIB
    return render(
        request, "device_users.html", area=area, device=device, members=await area_members(area), zone=zone,
        may_sync=principal.role in COMMAND_ROLES, done=request.query.get("done"), sent=request.query.get("sent"),
    )  # fmt: skip
