"""Gateway enrolment codes (issue 20; the rules are server/services/gateway_enrolment.py): a unit administrator
issues a code, the gateway trades it for its identity, and the API says how an enrolment stands.

    POST /api/v1/gateway-enrolments                 register a gateway and issue its code (bureau, unit admin)
    GET  /api/v1/gateways/{gateway_id}/enrolment    how its latest code stands
    POST /api/v1/enrol                              the gateway's call: {"code": ...} -> its identity (no login)
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.api.fields import ZONE as ZONE_ENUM
from server.api.http import json_body
from server.api.openapi import GATEWAY, OBJECT, PATH_PROVIDERS, SLUG, _errors, _fields, _get, _ok
from server.auth import request_scope, require_role
from server.context import ENROL_LIMITER, ENROLMENT, SETTINGS
from server.services.accounts import Role
from server.services.gateway_enrolment import (
    HOST,
    MAX_DEVICES,
    NAME,
    PROFILE,
    SERIAL_NUMBER,
    SERIAL_PATH,
    enrol,
    enrolment_state,
    refuse_if_flooding,
    register_and_issue,
)

ENROL_PATH = "/api/v1/enrol"
ISSUERS = (Role.BUREAU_ADMIN, Role.UNIT_ADMIN)

routes = web.RouteTableDef()


@routes.post("/api/v1/gateway-enrolments")
async def post_enrolment(request: web.Request) -> web.Response:
    principal = require_role(request, *ISSUERS)
    body = await json_body(request)
    issued = await register_and_issue(
        principal, await request_scope(request), body, request.app[ENROLMENT], str(request.url.origin())
    )
    return web.json_response(issued, status=201)


@routes.get("/api/v1/gateways/{gateway_id}/enrolment")
async def get_enrolment(request: web.Request) -> web.Response:
    state = await enrolment_state(await request_scope(request), request.match_info["gateway_id"])
    return web.json_response(state)


@routes.post(ENROL_PATH)
async def post_enrol(request: web.Request) -> web.Response:
    remote = request.remote or "?"
    limiter = request.app[ENROL_LIMITER]
    await refuse_if_flooding(limiter, remote)  # before the body is read
    body = await json_body(request)
    identity = await enrol(body.get("code"), remote, request.app[ENROLMENT], limiter, request.app[SETTINGS].mqtt)
    return web.json_response(identity)


# --- OpenAPI ---------------------------------------------------------------------------------------------

# The service's own patterns: what the document allows is what check_devices takes.

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
        "timezone": ZONE_ENUM,
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
        "devices": {"type": "array", "items": OBJECT},
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


def documentation() -> dict[str, Any]:
    """The OpenAPI paths of these routes (server/api/openapi.py PATH_PROVIDERS)."""
    body = _fields(
        {
            "gateway_id": SLUG,
            "unit": SLUG,
            "devices": {"type": "array", "minItems": 1, "maxItems": MAX_DEVICES, "items": DEVICE_SCHEMA},
        },
        office=SLUG,
        timezone=ZONE_ENUM,
    )
    enrol_body = _fields({"code": {"type": "string", "maxLength": 64}})
    public_errors = {k: v for k, v in _errors(400, 403, 429, 503).items() if k != "401"}
    return {
        "/api/v1/gateway-enrolments": {
            "post": {
                "summary": "register a gateway and issue its one-time enrolment code (shown once, with its QR)",
                "parameters": [],
                "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
                "responses": {**_ok(ISSUED, "201"), **_errors(400, 404, 409)},
            }
        },
        "/api/v1/gateways/{gateway_id}/enrolment": _get(
            "how the gateway's latest enrolment code stands (pending, enrolled, expired)", [GATEWAY], _ok(OBJECT), 404
        ),
        ENROL_PATH: {
            "post": {
                "summary": "a gateway trades its one-time code for its identity (the code is the credential)",
                "security": [],
                "parameters": [],
                "requestBody": {"required": True, "content": {"application/json": {"schema": enrol_body}}},
                "responses": {**_ok(IDENTITY), **public_errors},
            }
        },
    }


PATH_PROVIDERS.append(documentation)  # at import: the document is complete before any app serves it
