"""Gateways: registration, their state, and the commands sent to them."""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import ConfigDict, Field, StrictInt, with_config
from typing_extensions import TypedDict

from server.api.endpoint import Body, Path, Query, endpoint
from server.api.fields import DEVICE_PIN, GatewayId, OptionalOffice, Text63, UnitCode, checked_by
from server.api.registry import command_json, device_json, gateway_json
from server.context import CONSUMER
from server.errors import Conflict, NotFound
from server.models import Device, Gateway, GatewayCommand, Office, Unit
from server.services.commands import send_command
from wire.contract import CommandAction

routes = web.RouteTableDef()


class GatewayIn(Body):
    gateway_id: GatewayId
    unit: UnitCode
    office: OptionalOffice = None


class GatewaysQuery(Query):
    unit: Text63 | None = Field(None, description="a unit code: the gateways registered to it")


class GatewayPath(Path):
    gateway_id: Text63 = Field(description="the gateway")


Text24 = Annotated[str, Field(max_length=24)]
Text64 = Annotated[str, Field(max_length=64)]
Text100 = Annotated[str, Field(max_length=100)]
Url = Annotated[str, Field(max_length=2000)]


# What the gateway reads from a command's args (wire/contract.py CommandAction, gateway/commands.py): each is
# optional (which ones an action needs, the gateway checks); passed on as given, no key added.
@with_config(ConfigDict(extra="forbid"))
class CommandArgs(TypedDict, total=False):
    device: Text100
    pin: Annotated[str, Field(pattern=DEVICE_PIN["pattern"])]
    name: Text24
    card: Annotated[StrictInt, Field(ge=0, le=4294967295)]
    version: Text64
    url: Url
    signature_url: Url
    start: Text64
    end: Text64


# A configuration goes only as a numbered revision (PUT .../config), so the document offers every action but
# that one here: a schema-valid command is one this endpoint takes.
SENT_HERE = [action.value for action in CommandAction if action is not CommandAction.APPLY_CONFIG]


def _sent_here(value: Any) -> CommandAction:
    try:
        action = CommandAction(value)
    except ValueError:
        raise ValueError(f"action: harus salah satu dari {', '.join(SENT_HERE)}") from None
    if action is CommandAction.APPLY_CONFIG:
        raise ValueError("action: konfigurasi dikirim lewat PUT /api/v1/gateways/{gateway_id}/config")
    return action


SentAction = checked_by(_sent_here, {"type": "string", "enum": SENT_HERE})


class CommandIn(Body):
    action: SentAction
    args: CommandArgs = Field(default_factory=lambda: CommandArgs())


@endpoint(routes, "POST", "/api/v1/gateways", "register a gateway", body=GatewayIn, status=201, errors=(404, 409))
async def post_gateway(request: web.Request, body: GatewayIn) -> web.Response:
    """Register a gateway (its broker user and ACL come from deploy/broker-users). A gateway already seen
    on the broker (a row from its birth message) becomes registered."""
    gateway_id, unit_code, office_code = body.gateway_id, body.unit, body.office
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


@endpoint(routes, "GET", "/api/v1/gateways", "gateways and their status", query=GatewaysQuery)
async def get_gateways(request: web.Request, query: GatewaysQuery) -> web.Response:
    gateways = Gateway.all()
    if query.unit:
        gateways = gateways.filter(unit_code=query.unit)
    return web.json_response({"items": [gateway_json(g) for g in await gateways.order_by("gateway_id")]})


@endpoint(
    routes, "GET", "/api/v1/gateways/{gateway_id}", "one gateway with its devices", path=GatewayPath, errors=(404,)
)
async def get_gateway(request: web.Request, path: GatewayPath) -> web.Response:
    # Devices first: a telemetry report commits the gateway's figures and its devices together, so a
    # device seen here means the gateway row read next has that report's figures too.
    devices = await Device.filter(gateway_id=path.gateway_id).order_by("serial")
    gateway = await Gateway.get_or_none(gateway_id=path.gateway_id)
    if gateway is None:
        raise NotFound(f"no gateway {path.gateway_id!r}")
    return web.json_response({**gateway_json(gateway), "devices": [device_json(d) for d in devices]})


@endpoint(
    routes,
    "POST",
    "/api/v1/gateways/{gateway_id}/commands",
    "send a command (sync_clock, reread_device, write_user, reload_config; reboot_device and clear_log to one"
    " named device: a clear is carried out only once the centre acknowledged every punch in the device's log)",
    path=GatewayPath,
    body=CommandIn,
    status=202,
    errors=(404, 503),
)
async def post_command(request: web.Request, path: GatewayPath, body: CommandIn) -> web.Response:
    gateway = await Gateway.get_or_none(gateway_id=path.gateway_id)
    if gateway is None:
        raise NotFound(f"no gateway {path.gateway_id!r}")
    row = await send_command(request.app.get(CONSUMER), gateway, body.action, dict(body.args))
    return web.json_response(command_json(row), status=202)


@endpoint(
    routes,
    "GET",
    "/api/v1/gateways/{gateway_id}/commands",
    "commands sent to the gateway and their results",
    path=GatewayPath,
    errors=(404,),
)
async def get_commands(request: web.Request, path: GatewayPath) -> web.Response:
    rows = await GatewayCommand.filter(gateway_id=path.gateway_id).order_by("-created_at").limit(100)
    return web.json_response({"items": [command_json(row) for row in rows]})
