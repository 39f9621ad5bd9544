"""Enrolment per employee (issue 18): the areas an employee is assigned to, their PIN there, the devices
that should hold them with each device's last sync, and the templates the centre has for them (counts,
never bytes); an administrator assigns them to an area, removes them, or pushes them to the devices again.
On server/services/area_admin.py."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.area_models import AreaMember
from server.auth import request_scope, require_role
from server.errors import DomainError, NotFound, page_message
from server.i18n import N_
from server.models import Unit
from server.pages.areas import MANAGERS, back, form_text, sync_or_note
from server.pages.pages import reader_zone
from server.pages.render import render
from server.services.area_admin import (
    add_employee,
    area_in_scope,
    areas_open_to,
    employee_in_scope,
    enrolment_of,
    remove_employee,
    template_counts,
)
from server.services.attendance import unit_zones

routes = web.RouteTableDef()


@routes.get("/employees/{nip}/devices")
async def enrolment_page(request: web.Request) -> web.Response:
    return await _page(request)


async def _page(request: web.Request, error: str | None = None, status: int = 200) -> web.Response:
    principal = require_role(request, *MANAGERS)
    scope = await request_scope(request)
    employee = await employee_in_scope(scope, request.match_info["nip"])
    unit = await Unit.get_or_none(code=employee.unit_id)  # type: ignore[attr-defined]
    return render(
        request, "enrolment.html", status=status, employee=employee, unit=unit,
        enrolments=await enrolment_of(employee.nip), open_areas=await areas_open_to(scope, employee),
        templates=(await template_counts([employee.nip])).get(employee.nip, {}), zones=await unit_zones(),
        default_zone=await reader_zone(principal), error=error, done=request.query.get("done"),
        sent=request.query.get("sent"),
    )  # fmt: skip


async def _change(request: web.Request, what: str, area_code: str | None = None) -> web.Response:
    principal = require_role(request, *MANAGERS)
    scope = await request_scope(request)
    employee = await employee_in_scope(scope, request.match_info["nip"])
    form = await request.post()
    narrow: dict[str, Any] = {}
    try:
        area = await area_in_scope(scope, area_code or form_text(form, "area", 63))
        if what == "assigned":
            await add_employee(scope, area, employee.nip)
        elif what == "removed":
            await remove_employee(area, employee.nip)
        else:  # pushed: this employee's templates to the area's devices again
            member = await AreaMember.get_or_none(area=area, employee_nip=employee.nip)
            if member is None:
                raise NotFound(N_("employee {nip} is not in this area").format(nip=employee.nip))
            narrow = {"only_pins": {member.pin}}
    except DomainError as exc:
        return await _page(request, error=page_message(exc), status=exc.status)
    if what == "pushed":  # the user list first (in case a device lost them), then the pages of templates
        sent = await sync_or_note(request, principal, area)
        more = await sync_or_note(request, principal, area, **narrow) if sent is not None else None
        sent = None if sent is None else sent + (more or 0)
    else:
        sent = await sync_or_note(request, principal, area)
    raise back(f"/employees/{employee.nip}/devices", done=what, sent="none" if sent is None else sent)


@routes.post("/employees/{nip}/devices/areas")
async def enrolment_assign(request: web.Request) -> web.Response:
    return await _change(request, "assigned")


@routes.post("/employees/{nip}/devices/areas/{area}/remove")
async def enrolment_remove(request: web.Request) -> web.Response:
    return await _change(request, "removed", request.match_info["area"])


@routes.post("/employees/{nip}/devices/areas/{area}/push")
async def enrolment_push(request: web.Request) -> web.Response:
    return await _change(request, "pushed", request.match_info["area"])
