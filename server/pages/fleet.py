"""The fleet view for IT staff (issue 20): every gateway in the reader's scope on one screen, with its unit,
version, when it was last heard from (on its office's clock), its queue backlog, its devices and their
state, and the configuration revision from the centre it applied. Filters: offline for more than an hour,
an older version than the newest in the fleet."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from aiohttp import web

from server.access import DEVICE_ROLES
from server.auth import request_scope, require_role
from server.i18n import Formats
from server.pages.pages import reader_zone, unit_names
from server.pages.render import language_of, render
from server.services.attendance import GatewayRow, gateways_in_scope, unit_zones
from server.services.gateway_config import ConfigState, config_states

OFFLINE_AFTER = timedelta(hours=1)
FILTERS = ("offline", "old")

routes = web.RouteTableDef()


@dataclass
class FleetDevice:
    name: str
    serial: str
    state: str  # ok, down, unknown
    error: str


@dataclass
class FleetRow:
    gateway_id: str
    unit: str
    unit_code: str
    version: str
    old_version: bool
    online: bool
    long_offline: bool
    last_seen: str
    backlog: int | None
    oldest_minutes: int | None
    devices: list[FleetDevice] = field(default_factory=list)
    applied: int | None = None
    running: int | None = None
    latest: int | None = None
    latest_status: str = ""
    latest_reason: str = ""


def version_key(version: str | None) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version or "")[:4])


def _row(gateway: GatewayRow, state: ConfigState, unit: str, fmt: Formats, zone: object, newest: tuple) -> FleetRow:
    now = datetime.now(UTC)
    seen = gateway.last_seen_at
    config = FleetRow(
        gateway_id=gateway.gateway_id,
        unit=unit,
        unit_code=gateway.unit_code,
        version=gateway.version or "–",
        old_version=gateway.version is not None and version_key(gateway.version) < newest,
        online=gateway.online,
        long_offline=seen is None or now - seen > OFFLINE_AFTER,
        last_seen=fmt.moment(seen, zone, seconds=False),  # type: ignore[arg-type]
        backlog=gateway.backlog,
        oldest_minutes=None if gateway.oldest_queued_age_s is None else int(gateway.oldest_queued_age_s // 60),
        devices=[
            FleetDevice(
                d.name or d.serial,
                d.serial,
                "unknown" if d.reachable is None else ("ok" if d.reachable else "down"),
                d.last_error or "",
            )
            for d in gateway.devices
        ],
        applied=state.applied.revision if state.applied else None,
        running=state.running,
    )
    if state.latest is not None:
        config.latest, config.latest_status = state.latest.revision, state.latest.status
        config.latest_reason = state.latest.reason or ""
    return config


@routes.get("/fleet")
async def fleet_page(request: web.Request) -> web.Response:
    principal = require_role(request, *DEVICE_ROLES)
    gateways = await gateways_in_scope(await request_scope(request))
    states = await config_states([g.gateway_id for g in gateways])
    zones, names = await unit_zones(), await unit_names()
    default_zone = await reader_zone(principal)
    fmt = Formats(language_of(request))
    newest = max((version_key(g.version) for g in gateways if g.version), default=())
    rows = [
        _row(g, states[g.gateway_id], names.get(g.unit_code, g.unit_code), fmt, zones.get(g.unit_code, default_zone),
             newest)
        for g in gateways
    ]  # fmt: skip
    shown = request.query.get("show", "")
    if shown == "offline":
        rows = [r for r in rows if r.long_offline]
    elif shown == "old":
        rows = [r for r in rows if r.old_version]
    return render(
        request,
        "fleet.html",
        rows=rows,
        shown=shown if shown in FILTERS else "",
        total=len(gateways),
        newest=".".join(map(str, newest)) if newest else "–",
    )
