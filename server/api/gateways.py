"""Gateways: registration, their state, and the commands sent to them."""

from __future__ import annotations

from aiohttp import web

from server.api.http import json_body
from server.api.registry import args_problem, checked, command_json, device_json, gateway_json
from server.context import CONSUMER
from server.errors import Conflict, Invalid, NotFound
from server.models import Device, Gateway, GatewayCommand, Office, Unit
from server.services.commands import send_command
from server.services.registry import (
    check_code,
)
from wire.contract import CommandAction

routes = web.RouteTableDef()


@routes.post("/api/v1/gateways")
async def post_gateway(request: web.Request) -> web.Response:
    """Register a gateway (its broker user and ACL come from deploy/broker-users). A gateway already seen
    on the broker (a row from its birth message) becomes registered."""
    body = await json_body(request)
    gateway_id = checked(check_code, body.get("gateway_id"), "gateway_id")
    unit_code = checked(check_code, body.get("unit"), "unit")
    office_code = body.get("office")
    if office_code is not None:
        checked(check_code, office_code, "office")
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
    if (problem := args_problem(args)) is not None:
        raise Invalid(f"args.{problem}")
    row = await send_command(request.app.get(CONSUMER), gateway, action, args)
    return web.json_response(command_json(row), status=202)


@routes.get("/api/v1/gateways/{gateway_id}/commands")
async def get_commands(request: web.Request) -> web.Response:
    rows = await GatewayCommand.filter(gateway_id=request.match_info["gateway_id"]).order_by("-created_at").limit(100)
    return web.json_response({"items": [command_json(row) for row in rows]})
