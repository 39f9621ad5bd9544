"""Gateway enrolment codes (issue 20; the rules are server/services/gateway_enrolment.py): a unit administrator
issues a code, the gateway trades it for its identity, and the API says how an enrolment stands.

    POST /api/v1/gateway-enrolments                 register a gateway and issue its code (bureau, unit admin)
    GET  /api/v1/gateways/{gateway_id}/enrolment    how its latest code stands
    POST /api/v1/enrol                              the gateway's call: {"code": ...} -> its identity (no login)

The bodies' fields are checked by the service's own checks (its Indonesian words are the refusal); the service
checks again what the page (server/pages/gateway_enrolment.py) hands it, and that device names are unique (409).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.api.endpoint import Body, endpoint
from server.api.fields import SLUG, ZONE, checked_by
from server.api.gateways import GatewayPath
from server.auth import request_scope, require_role
from server.context import ENROL_LIMITER, ENROLMENT, SETTINGS
from server.errors import Invalid
from server.services.accounts import Role
from server.services.gateway_enrolment import (
    HOST,
    MAX_DEVICES,
    NAME,
    PROFILE,
    SERIAL_NUMBER,
    SERIAL_PATH,
    check_device_entries,
    check_office,
    check_slug,
    check_timezone,
    enrol,
    enrolment_state,
    refuse_if_flooding,
    register_and_issue,
)

ENROL_PATH = "/api/v1/enrol"
ISSUERS = (Role.BUREAU_ADMIN, Role.UNIT_ADMIN)

routes = web.RouteTableDef()


# The service's own patterns: what the document allows is what check_device_entries takes.

DEVICE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "pattern": NAME.pattern},
        "profile": {"type": "string", "pattern": PROFILE.pattern},
        "host": {"type": "string", "pattern": HOST.pattern},
        "port": {"type": "integer", "minimum": 1, "maximum": 65535},
        "transport": {"type": "string", "enum": ["tcp", "udp"]},
        "comm_key": {"type": "integer", "minimum": 0, "maximum": 999999},
        "serial_number": {"type": "string", "pattern": SERIAL_NUMBER.pattern},
        "serial_path": {"type": "string", "pattern": SERIAL_PATH.pattern},
        "poll_interval_s": {"type": "number", "minimum": 0.1, "maximum": 86400},
        "timeout_s": {"type": "number", "minimum": 0.1, "maximum": 600},
    },
    "additionalProperties": False,
}
IDENTITY = {
    "type": "object",
    "required": ["gateway_id", "unit", "timezone", "mqtt", "devices"],
    "properties": {
        "gateway_id": {"type": "string"},
        "unit": {"type": "string"},
        "timezone": ZONE,
        "mqtt": {
            "type": "object",
            "required": ["url", "username", "password", "client_id", "ca_pem", "login"],
            "properties": {
                "url": {"type": "string"},
                "username": {"type": "string"},
                "password": {"type": "string"},
                "client_id": {"type": "string"},
                "ca_pem": {"type": "string", "nullable": True},
                "login": {"type": "string", "enum": ["dynsec", "static"]},
            },
        },
        "devices": {"type": "array", "items": {"type": "object"}},
    },
}
ISSUED = {
    "type": "object",
    "required": ["gateway_id", "unit", "code", "expires_at", "command", "qr_svg"],
    "properties": {
        "gateway_id": {"type": "string"},
        "unit": {"type": "string"},
        "code": {"type": "string"},
        "expires_at": {"type": "string", "format": "date-time"},
        "command": {"type": "string"},
        "qr_svg": {"type": "string"},
    },
}


def _code_text(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 64:
        raise Invalid("code: kode pendaftaran wajib diisi (the enrolment code is required)")
    return value


# The service's checks as field types: a refusal is in its words (e.g. "gateway_id: kode tidak sah (...)").
GatewayId = checked_by(lambda value: check_slug(value, "gateway_id"), SLUG)
UnitCode = checked_by(lambda value: check_slug(value, "unit"), SLUG)
Devices = checked_by(
    check_device_entries, {"type": "array", "minItems": 1, "maxItems": MAX_DEVICES, "items": DEVICE_SCHEMA}
)
OfficeCode = checked_by(check_office, SLUG)
Timezone = checked_by(check_timezone, ZONE)
EnrolmentCode = checked_by(_code_text, {"type": "string", "maxLength": 64})


class EnrolmentIn(Body):
    gateway_id: GatewayId
    unit: UnitCode
    devices: Devices
    # Either may be left out (the zone is then its office's); null is not a value.
    office: OfficeCode = None
    timezone: Timezone = None


class EnrolIn(Body):
    code: EnrolmentCode


@endpoint(
    routes,
    "POST",
    "/api/v1/gateway-enrolments",
    "register a gateway and issue its one-time enrolment code (shown once, with its QR)",
    body=EnrolmentIn,
    response=ISSUED,
    status=201,
    errors=(404, 409),
)
async def post_enrolment(request: web.Request, body: EnrolmentIn) -> web.Response:
    principal = require_role(request, *ISSUERS)
    issued = await register_and_issue(
        principal,
        await request_scope(request),
        body.model_dump(exclude_unset=True),  # what was given: a field left out stays left out
        request.app[ENROLMENT],
        str(request.url.origin()),
    )
    return web.json_response(issued, status=201)


@endpoint(
    routes,
    "GET",
    "/api/v1/gateways/{gateway_id}/enrolment",
    "how the gateway's latest enrolment code stands (pending, enrolled, expired)",
    path=GatewayPath,
    errors=(404,),
)
async def get_enrolment(request: web.Request, path: GatewayPath) -> web.Response:
    state = await enrolment_state(await request_scope(request), path.gateway_id)
    return web.json_response(state)


@endpoint(
    routes,
    "POST",
    ENROL_PATH,
    "a gateway trades its one-time code for its identity (the code is the credential)",
    body=EnrolIn,
    response=IDENTITY,
    errors=(403, 429, 503),
    public=True,
)
async def post_enrol(request: web.Request, body: EnrolIn) -> web.Response:
    remote = request.remote or "?"
    limiter = request.app[ENROL_LIMITER]
    await refuse_if_flooding(limiter, remote)  # before the code is looked at
    identity = await enrol(body.code, remote, request.app[ENROLMENT], limiter, request.app[SETTINGS].mqtt)
    return web.json_response(identity)
