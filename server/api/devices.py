"""Devices registered to a gateway (the registry's view; their areas are server/api/areas.py)."""

from __future__ import annotations

from aiohttp import web
from pydantic import Field

from server.api.endpoint import Body, Query, endpoint
from server.api.fields import DeviceName, DeviceProfile, DeviceSerial, OfficeCode, OptionalGateway, Text63
from server.api.registry import device_json
from server.context import DIALECT
from server.errors import Conflict, NotFound
from server.models import Device, Gateway, Office, PendingDevice
from server.services.pending import release_held

routes = web.RouteTableDef()


class DeviceIn(Body):
    serial: DeviceSerial
    office: OfficeCode
    gateway: OptionalGateway = None
    name: DeviceName = None
    profile: DeviceProfile = None


class DevicesQuery(Query):
    office: Text63 | None = Field(None, description="office code")
    gateway: Text63 | None = Field(None, description="gateway id")


@endpoint(routes, "POST", "/api/v1/devices", "register a device", body=DeviceIn, status=201, errors=(404, 409))
async def post_device(request: web.Request, body: DeviceIn) -> web.Response:
    serial, gateway_id = body.serial, body.gateway
    office = await Office.get_or_none(code=body.office)
    if office is None:
        raise NotFound(f"office: no office {body.office!r}")
    if gateway_id is not None and not await Gateway.exists(gateway_id=gateway_id):
        raise NotFound(f"gateway: no gateway {gateway_id!r}")
    if await Device.filter(serial=serial, office_id__isnull=False).exists():
        raise Conflict(f"device {serial!r} is registered already")
    device, _ = await Device.get_or_create(serial=serial)  # a row may exist from telemetry
    device.name, device.profile = body.name or "", body.profile or ""
    device.office = office
    if gateway_id is not None:
        device.gateway_id = gateway_id
    await device.save()
    if gateway_id is not None:
        # Punches that gateway sent while the device was pending are stored now, in arrival order.
        await release_held(request.app[DIALECT], gateway_id, serial)
        await PendingDevice.filter(gateway_id=gateway_id, serial=serial).delete()
    return web.json_response(device_json(device), status=201)


@endpoint(routes, "GET", "/api/v1/devices", "devices and their status", query=DevicesQuery)
async def get_devices(request: web.Request, query: DevicesQuery) -> web.Response:
    devices = Device.all()
    if query.office:
        devices = devices.filter(office_id=query.office)
    if query.gateway:
        devices = devices.filter(gateway_id=query.gateway)
    return web.json_response({"items": [device_json(d) for d in await devices.order_by("serial")]})
