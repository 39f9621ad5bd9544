"""Devices a gateway reported that no one registered yet: listed per unit, assigned, their held punches released."""

from __future__ import annotations

from aiohttp import web

from server.api.http import json_body
from server.api.registry import checked
from server.context import DIALECT
from server.errors import Conflict, Invalid, NotFound
from server.models import Unit
from server.services.pending import assign_device, pending_devices
from server.services.registry import (
    RegistryError,
    check_code,
)

routes = web.RouteTableDef()


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
        gateway_id = checked(check_code, gateway_id, "gateway")
    office = body.get("office")
    if office is not None:
        office = checked(check_code, office, "office")
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
