"""Configuration from the centre (issue 20; the rules are server/services/gateway_config.py): a gateway's devices,
relay and telemetry settings sent as a numbered revision, and how it answered.

    PUT /api/v1/gateways/{gateway_id}/config    send a new revision (bureau admin, operations)
    GET /api/v1/gateways/{gateway_id}/config    the revisions sent, newest first, with the gateway's answers
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import Field, StringConstraints

from server.api.endpoint import Body, Path, endpoint
from server.api.fields import Text63
from server.auth import request_scope, require_role
from server.context import CONSUMER
from server.services.accounts import Role
from server.services.gateway_config import config_of, revision_json, send_config
from server.services.gateway_enrolment import HOST, MAX_DEVICES, NAME, PROFILE, SERIAL_NUMBER, SERIAL_PATH

SENDERS = (Role.BUREAU_ADMIN, Role.OPERATIONS)

routes = web.RouteTableDef()

Number = Annotated[float, Field(allow_inf_nan=False)]


def _text(pattern: re.Pattern[str]) -> Any:
    return Annotated[str, StringConstraints(pattern=pattern.pattern)]


class DeviceIn(Body):
    """One [[devices]] table, checked as enrolment checks it (server/services/gateway_enrolment.py); what the
    values mean for the model (profile, comm key) is the gateway's to judge."""

    name: _text(NAME)  # type: ignore[valid-type]
    profile: _text(PROFILE) | None = None  # type: ignore[valid-type]
    host: _text(HOST) | None = None  # type: ignore[valid-type]
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    transport: Literal["tcp", "udp"] | None = None
    comm_key: Annotated[int, Field(ge=0, le=999_999)] | None = None
    timeout_s: Annotated[Number, Field(ge=0.1, le=600)] | None = None
    poll_interval_s: Annotated[Number, Field(ge=0.1, le=86_400)] | None = None
    serial_path: _text(SERIAL_PATH) | None = None  # type: ignore[valid-type]
    serial_number: _text(SERIAL_NUMBER) | None = None  # type: ignore[valid-type]


class RelayIn(Body):
    """The [relay] table, with the ranges the gateway's parser allows."""

    batch_size: Annotated[int, Field(ge=1, le=1000)] | None = None
    max_in_flight: Annotated[int, Field(ge=1, le=1000)] | None = None
    resend_after_s: Annotated[Number, Field(ge=0.1, le=86_400)] | None = None
    max_backoff_s: Annotated[Number, Field(ge=0.1, le=86_400)] | None = None
    fresh_every: Annotated[int, Field(ge=2, le=100)] | None = None


class TelemetryIn(Body):
    interval_s: Annotated[Number, Field(ge=0.1, le=3600)] | None = None


class ConfigIn(Body):
    devices: list[DeviceIn] = Field(
        min_length=1, max_length=MAX_DEVICES, description="the gateway's [[devices]] tables, as in gateway.toml"
    )
    relay: RelayIn | None = Field(
        default=None, description="the [relay] table; left out, the gateway keeps the one it runs"
    )
    telemetry: TelemetryIn | None = Field(
        default=None, description="the [telemetry] table; left out, the gateway keeps the one it runs"
    )


class GatewayPath(Path):
    gateway_id: Text63 = Field(description="a gateway id")


@endpoint(
    routes, "PUT", "/api/v1/gateways/{gateway_id}/config",
    "send the gateway a new configuration revision; it answers applied or rejected (see GET)",
    path=GatewayPath, body=ConfigIn, status=202, errors=(404, 409, 503),
)  # fmt: skip
async def put_config(request: web.Request, path: GatewayPath, body: ConfigIn) -> web.Response:
    principal = require_role(request, *SENDERS)
    row = await send_config(
        request.app.get(CONSUMER),
        principal,
        await request_scope(request),
        path.gateway_id,
        body.model_dump(exclude_none=True),
    )
    return web.json_response(revision_json(row), status=202)


@endpoint(
    routes, "GET", "/api/v1/gateways/{gateway_id}/config",
    "the configuration revisions sent to the gateway, newest first, with its answers",
    path=GatewayPath, errors=(404,),
)  # fmt: skip
async def get_config(request: web.Request, path: GatewayPath) -> web.Response:
    return web.json_response(await config_of(await request_scope(request), path.gateway_id))
