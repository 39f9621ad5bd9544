"""Devices registered to a gateway (the registry's view; their areas are server/api/areas.py)."""

from __future__ import annotations

from aiohttp import web

from server.api.http import json_body
from server.api.registry import SERIAL, checked, device_json, optional_text
from server.context import DIALECT
from server.errors import Conflict, Invalid, NotFound
from server.models import Device, Gateway, Office, PendingDevice
from server.services.pending import release_held
from server.services.registry import (
    check_code,
)

routes = web.RouteTableDef()


@routes.post("/api/v1/devices")
async def post_device(request: web.Request) -> web.Response:
    body = await json_body(request)
    serial = body.get("serial")
    if not isinstance(serial, str) or not SERIAL.match(serial):
        raise Invalid(f"serial: expected 1-64 printable ASCII characters, not starting with a space, got {serial!r}")
    office_code = checked(check_code, body.get("office"), "office")
    gateway_id = body.get("gateway")
    if gateway_id is not None:
        checked(check_code, gateway_id, "gateway")
    name, profile = optional_text(body, "name", 100), optional_text(body, "profile", 100)
    office = await Office.get_or_none(code=office_code)
    if office is None:
        raise NotFound(f"office: no office {office_code!r}")
    if gateway_id is not None and not await Gateway.exists(gateway_id=gateway_id):
        raise NotFound(f"gateway: no gateway {gateway_id!r}")
    if await Device.filter(serial=serial, office_id__isnull=False).exists():
        raise Conflict(f"device {serial!r} is registered already")
    device, _ = await Device.get_or_create(serial=serial)  # a row may exist from telemetry
    device.name, device.profile = name, profile
    device.office = office
    if gateway_id is not None:
        device.gateway_id = gateway_id
    await device.save()
    if gateway_id is not None:
        # Punches that gateway sent while the device was pending are stored now, in arrival order.
        await release_held(request.app[DIALECT], gateway_id, serial)
        await PendingDevice.filter(gateway_id=gateway_id, serial=serial).delete()
    return web.json_response(device_json(device), status=201)


@routes.get("/api/v1/devices")
async def get_devices(request: web.Request) -> web.Response:
    query = Device.all()
    if office := request.query.get("office"):
        query = query.filter(office_id=office)
    if gateway := request.query.get("gateway"):
        query = query.filter(gateway_id=gateway)
    return web.json_response({"items": [device_json(d) for d in await query.order_by("serial")]})
