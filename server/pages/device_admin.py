"""Pending devices and the command queue (issue 18), on server/services/area_admin.py.

Pending devices: devices a gateway announced that nobody registered (their punches held); a unit's
administrators adopt one into an office and an area of the unit, and its held punches are stored.
Commands: every command sent to the gateways in scope (clock syncs, user lists, ...) with its state and
what each device answered, narrowed to a gateway, a device or a state; the bureau and operations send a
clock sync or a re-read to one device from here, and, once confirmed, a restart or a clear of its log.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.access import COMMAND_ROLES, DEVICE_ROLES
from server.auth import request_scope, require_role
from server.context import CONSUMER, DIALECT
from server.errors import DomainError, Invalid, NotFound, page_message
from server.i18n import N_
from server.models import Device, Gateway
from server.pages.areas import MANAGERS, back, form_text, sync_or_note
from server.pages.pages import reader_zone, unit_names
from server.pages.render import render
from server.services.area_admin import adopt_pending, area_in_scope, commands_in_scope, offices_and_areas
from server.services.area_admin import pending_in_scope as pending_of
from server.services.attendance import unit_zones
from server.services.commands import send_command
from wire.contract import CommandAction

routes = web.RouteTableDef()

STATUSES = ("sent", "ok", "failed")
# What may be sent to one device from the commands page: no arguments beyond the device.
DEVICE_ACTIONS = (CommandAction.SYNC_CLOCK.value, CommandAction.REREAD_DEVICE.value)
# ... and, each behind its own confirmation (the form carries confirm=1 only from there): a restart takes
# the device offline for its boot; a clear empties its log (the gateway refuses while punches await the ack).
CONFIRMED_ACTIONS = (CommandAction.REBOOT_DEVICE.value, CommandAction.CLEAR_LOG.value)
# What a device's entry of a command's results says, in words (other keys are not shown).
RESULT_LABELS = {
    "corrected_s": N_("clock corrected by {value} s"),
    "new_punches": N_("{value} new punches"),
    "users_added": N_("{value} users added"),
    "users_updated": N_("{value} users updated"),
    "users_deleted": N_("{value} users removed"),
    "templates_written": N_("{value} templates written"),
    "templates_deleted": N_("{value} templates deleted"),
    "enrol_on_site_count": N_("{value} templates to enrol on site"),
    "cleared": N_("{value} records cleared"),
}


@routes.get("/devices/pending")
async def pending_page(request: web.Request) -> web.Response:
    return await _pending(request)


async def _pending(request: web.Request, error: str | None = None, status: int = 200) -> web.Response:
    principal = require_role(request, *DEVICE_ROLES)
    scope = await request_scope(request)
    offices, areas = await offices_and_areas(scope)
    return render(
        request, "pending.html", status=status, pending=await pending_of(scope), offices=offices, areas=areas,
        unit_names=await unit_names(), zones=await unit_zones(), default_zone=await reader_zone(principal),
        may_adopt=principal.role in MANAGERS, error=error, done=request.query.get("done"),
        area=request.query.get("area"), sent=request.query.get("sent"),
    )  # fmt: skip


@routes.post("/devices/pending/{claim}/adopt")
async def pending_adopt(request: web.Request) -> web.Response:
    principal = require_role(request, *MANAGERS)
    scope = await request_scope(request)
    form = await request.post()
    try:
        if not request.match_info["claim"].isdigit():
            raise NotFound(N_("no such pending device in your scope"))
        adopted = await adopt_pending(
            scope, request.app[DIALECT], int(request.match_info["claim"]), form_text(form, "office", 63) or None,
            form_text(form, "area", 63) or None,
        )  # fmt: skip
    except DomainError as exc:
        return await _pending(request, error=page_message(exc), status=exc.status)
    sent: Any = None
    if adopted.area is not None:  # the new device gets the area's users at once
        area = await area_in_scope(scope, adopted.area)
        sent = await sync_or_note(request, principal, area, serial=adopted.serial)
        sent = "none" if sent is None else sent
    raise back("/devices/pending", done=adopted.serial, area=adopted.area, sent=sent)


@routes.get("/devices/commands")
async def commands_page(request: web.Request) -> web.Response:
    return await _commands(request)


async def _commands(request: web.Request, error: str | None = None, status: int = 200) -> web.Response:
    principal = require_role(request, *DEVICE_ROLES)
    scope = await request_scope(request)
    query = request.query
    gateway = query.get("gateway", "")[:63] or None
    device = query.get("device", "")[:100] or None
    state = query.get("status") if query.get("status") in STATUSES else None
    gateways = await Gateway.filter(scope.unit_q("unit_code")).order_by("gateway_id")
    devices = await Device.filter(gateway_id__in=[g.gateway_id for g in gateways]).order_by("gateway_id", "name")
    return render(
        request, "commands.html", status=status,
        commands=await commands_in_scope(scope, gateway, device, state), gateways=gateways, devices=devices,
        gateway=gateway or "", device=device or "", state=state or "", statuses=STATUSES,
        zones=await unit_zones(), default_zone=await reader_zone(principal), actions=DEVICE_ACTIONS,
        confirmed_actions=CONFIRMED_ACTIONS, labels=RESULT_LABELS,
        may_command=principal.role in COMMAND_ROLES, error=error, sent=query.get("sent"),
    )  # fmt: skip


@routes.post("/devices/commands")
async def commands_send(request: web.Request) -> web.Response:
    """One clock sync, re-read, restart or clear (confirmed) for one device ("serial"), through the registry's
    command path."""
    require_role(request, *COMMAND_ROLES)
    scope = await request_scope(request)
    form = await request.post()
    try:
        action = form_text(form, "action", 32)
        if action not in DEVICE_ACTIONS + CONFIRMED_ACTIONS:
            raise Invalid(N_("action: choose a clock sync or a re-read of the log"))
        if action in CONFIRMED_ACTIONS and form.get("confirm") != "1":
            raise Invalid(N_("confirm: a restart or a clear of the log is sent only once confirmed"))
        device = await Device.get_or_none(serial=form_text(form, "serial", 64))
        gateway = await Gateway.get_or_none(gateway_id=device.gateway_id) if device and device.gateway_id else None
        if device is None or gateway is None or not scope.sees_unit(gateway.unit_code) or not device.name:
            raise NotFound(N_("device: choose a registered device of your units"))
        await send_command(request.app.get(CONSUMER), gateway, CommandAction(action), {"device": device.name})
    except DomainError as exc:
        return await _commands(request, error=page_message(exc), status=exc.status)
    raise back("/devices/commands", gateway=gateway.gateway_id, device=device.name, sent=action)
