"""The fleet view for IT staff (issue 20): every gateway in the reader's scope on one screen, with its unit,
version, when it was last heard from (on its office's clock), its queue backlog, its devices and their
state, its uptime, how far its clock is from the centre's, when its TLS certificate expires, and the
configuration revision from the centre it applied. Filters: offline for more than an hour, an older version
than the newest in the fleet or the newest announced in an upgrade command, a backlog growing over the last
reports. Each gateway has a page with its last day of telemetry as charts (queue depth, punches per minute),
drawn as server-side SVG like the month's charts (server/pages/charts.py).

Clock drift is the gateway's clock when it sent its last report minus the centre's when it arrived: a few
seconds are the network, more is a clock to set (DRIFT_WARNING_S)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from aiohttp import web

from server.access import COMMAND_ROLES, DEVICE_ROLES
from server.auth import request_scope, require_role
from server.i18n import Formats
from server.pages.charts import series_columns
from server.pages.pages import reader_zone, unit_names
from server.pages.render import language_of, render
from server.services.attendance import GatewayRow, gateways_in_scope, unit_zones
from server.services.fleet import announced_versions, backlog_growing, gateway_in_scope, last_day, recent_samples
from server.services.gateway_config import ConfigState, config_states
from server.telemetry_models import GatewayTelemetrySample

OFFLINE_AFTER = timedelta(hours=1)
FILTERS = ("offline", "old", "growing")
DRIFT_WARNING_S = 60
CERTIFICATE_WARNING = timedelta(days=30)

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
    backlog_growing: bool = False
    uptime_s: float | None = None
    clock_offset_s: float | None = None
    tls: bool | None = None  # None: the gateway does not say (older than the field) or never reported
    tls_expires_at: datetime | None = None
    tls_expiring: bool = False


def version_key(version: str | None) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version or "")[:4])


def _row(
    gateway: GatewayRow,
    state: ConfigState,
    samples: list[GatewayTelemetrySample],
    unit: str,
    fmt: Formats,
    zone: object,
    newest: tuple,
) -> FleetRow:
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
    if samples:
        last = samples[-1]
        config.backlog_growing = backlog_growing(samples)
        config.uptime_s, config.clock_offset_s = last.uptime_s, last.clock_offset_s
        config.tls, config.tls_expires_at = last.tls, last.tls_expires_at
        config.tls_expiring = last.tls_expires_at is not None and last.tls_expires_at - now < CERTIFICATE_WARNING
    return config


def uptime_parts(seconds: float) -> tuple[int, int, int]:
    """(days, hours, minutes) of an uptime."""
    minutes = int(seconds // 60)
    return minutes // 1440, minutes // 60 % 24, minutes % 60


@routes.get("/fleet")
async def fleet_page(request: web.Request) -> web.Response:
    principal = require_role(request, *DEVICE_ROLES)
    gateways = await gateways_in_scope(await request_scope(request))
    states = await config_states([g.gateway_id for g in gateways])
    samples = await recent_samples([g.gateway_id for g in gateways])
    zones, names = await unit_zones(), await unit_names()
    default_zone = await reader_zone(principal)
    fmt = Formats(language_of(request))
    announced = await announced_versions([g.gateway_id for g in gateways])
    target = max((version_key(v) for v in announced), default=())
    newest = max([target, *(version_key(g.version) for g in gateways if g.version)], default=())
    rows = [
        _row(g, states[g.gateway_id], samples[g.gateway_id], names.get(g.unit_code, g.unit_code), fmt,
             zones.get(g.unit_code, default_zone), newest)
        for g in gateways
    ]  # fmt: skip
    shown = request.query.get("show", "")
    if shown == "offline":
        rows = [r for r in rows if r.long_offline]
    elif shown == "old":
        rows = [r for r in rows if r.old_version]
    elif shown == "growing":
        rows = [r for r in rows if r.backlog_growing]
    return render(
        request,
        "fleet.html",
        rows=rows,
        shown=shown if shown in FILTERS else "",
        total=len(gateways),
        newest=".".join(map(str, newest)) if newest else "–",
        target=".".join(map(str, target)) if target else None,
        uptime_parts=uptime_parts,
        drift_warning_s=DRIFT_WARNING_S,
        zones=zones,
        default_zone=default_zone,
        may_configure=principal.role in COMMAND_ROLES,
    )


@routes.get("/fleet/{gateway_id}")
async def gateway_page(request: web.Request) -> web.Response:
    """One gateway's last day: queue depth and punches per minute, from its telemetry history."""
    principal = require_role(request, *DEVICE_ROLES)
    gateway = await gateway_in_scope(await request_scope(request), request.match_info["gateway_id"][:63])
    now = datetime.now(UTC)
    buckets = await last_day(gateway.gateway_id, now)
    zone = (await unit_zones()).get(gateway.unit_code) or await reader_zone(principal)
    samples = (await recent_samples([gateway.gateway_id], 1))[gateway.gateway_id]
    return render(
        request,
        "fleet_gateway.html",
        gateway=gateway,
        zone=zone,
        buckets=buckets,
        depth=series_columns([b.queue_depth for b in buckets]),
        rate=series_columns([b.punches_per_minute for b in buckets]),
        last=samples[-1] if samples else None,
        uptime_parts=uptime_parts,
        reported=any(b.queue_depth is not None for b in buckets),
        may_configure=principal.role in COMMAND_ROLES,
    )
