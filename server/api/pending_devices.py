"""Devices a gateway reported that no one registered yet: listed per unit, assigned, their held punches released."""

from __future__ import annotations

from aiohttp import web
from pydantic import Field

from server.api.endpoint import Body, endpoint
from server.api.fields import DeviceSerial, OptionalGateway, OptionalOffice
from server.api.units import UnitPath
from server.context import DIALECT
from server.errors import Conflict, Invalid, NotFound
from server.models import Unit
from server.services.pending import assign_device, pending_devices
from server.services.registry import RegistryError

routes = web.RouteTableDef()


class PendingDevicePath(UnitPath):
    serial: DeviceSerial = Field(description="the device serial")


class AssignIn(Body):
    """Both optional: the gateway is needed only when several reported the serial, the office only to place it."""

    gateway: OptionalGateway = None
    office: OptionalOffice = None


@endpoint(
    routes,
    "GET",
    "/api/v1/units/{code}/pending-devices",
    "devices the unit's gateways report that nobody registered (their punches held)",
    path=UnitPath,
    errors=(404,),
)
async def get_pending_devices(request: web.Request, path: UnitPath) -> web.Response:
    """Devices this unit's gateways report that nobody registered: their punches are held, not stored."""
    if not await Unit.exists(code=path.code):
        raise NotFound(f"no unit {path.code!r}")
    return web.json_response({"items": await pending_devices(path.code)})


@endpoint(
    routes,
    "POST",
    "/api/v1/units/{code}/pending-devices/{serial}/assign",
    "register a pending device to the gateway that reported it; its held punches are stored",
    path=PendingDevicePath,
    body=AssignIn,
    errors=(404, 409),
)
async def post_assign_device(request: web.Request, path: PendingDevicePath, body: AssignIn) -> web.Response:
    """Register a pending device to the gateway of this unit that reported it; its held punches are stored, in
    the order they arrived."""
    try:
        release = await assign_device(request.app[DIALECT], path.code, path.serial, body.gateway, body.office)
    except RegistryError as exc:
        raise (Conflict(str(exc)) if "registered to another" in str(exc) else Invalid(str(exc))) from None
    return web.json_response({
        "serial": release.serial, "gateway": release.gateway_id, "released_batches": release.batches,
        "stored": release.stored, "duplicates": release.duplicates, "quarantined": release.quarantined,
    })  # fmt: skip
