"""The JSON API, version 1. Every error is JSON with a reason; a bad request is a 4xx, never a 500."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Annotated, Any

from aiohttp import web
from pydantic import Field

from server.api.endpoint import Query, endpoint
from server.api.fields import OBJECT, Limit, Offset, Text63, checked_by, page_of
from server.context import CONSUMER
from server.models import Punch, QuarantinedMessage
from server.services.report import attendance_for_day
from wire.zones import office_zone

routes = web.RouteTableDef()


def _json_text(body: dict[str, Any]) -> str:
    return json.dumps(body)


def _day(value: Any) -> date:
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError(f"date: expected a date as YYYY-MM-DD, got {value!r}") from None


# The office zones and their IANA names, exactly.
ZONE_NAMES = ("WIB", "WITA", "WIT", "Asia/Jakarta", "Asia/Pontianak", "Asia/Makassar", "Asia/Jayapura")


def _zone(name: Any) -> tzinfo:
    if name not in ZONE_NAMES:
        raise ValueError(f"tz: expected one of {list(ZONE_NAMES)}, got {name!r}")
    return office_zone(name)


Day = checked_by(_day, {"type": "string", "format": "date"}, nullable=True)
Zone = checked_by(_zone, {"type": "string", "enum": list(ZONE_NAMES)})
UNIT_TREE = "a unit code: that unit and the units below it"


class DayQuery(Query):
    date: Day = Field(None, description="an office-local day, YYYY-MM-DD")
    # Checked even without a date: a bad value is never silently ignored.
    tz: Zone = Field("WIB", validate_default=True, description="office zone of `date`")
    unit: Text63 | None = Field(None, description=UNIT_TREE)


class PunchesQuery(DayQuery):
    device: Annotated[str, Field(max_length=64)] | None = Field(None, description="device serial")
    pin: Annotated[str, Field(max_length=24)] | None = Field(None, description="device PIN")
    limit: Limit = 100
    offset: Offset = 0


class PageQuery(Query):
    limit: Limit = 100
    offset: Offset = 0


@endpoint(
    routes,
    "GET",
    "/api/v1/health",
    "liveness",
    public=True,
    response={"type": "object", "required": ["status"]},
)
async def health(request: web.Request) -> web.Response:
    """For load balancers and watchdogs (no login): is this replica up, on the broker, storing.
    It names nothing (no replica id, which is its broker client id, no gateway): an identifier here is
    a target for anyone who can reach the port. /api/v1/server/status, behind a login, has them."""
    consumer = request.app.get(CONSUMER)
    if consumer is None:
        return web.json_response({"status": "ok"})
    return web.json_response(
        {
            "status": "ok",
            "mqtt_connected": consumer.mqtt.is_connected,
            "batches_stored": consumer.counters.batches_stored,
            "punches_stored": consumer.counters.punches_stored,
            "transactions": consumer.writer.counters.transactions,
        }
    )


@endpoint(routes, "GET", "/api/v1/server/status", "this replica: MQTT session, ingest counters")
async def server_status(request: web.Request) -> web.Response:
    """This replica: its MQTT session, what its ingest writer has waiting, and its counters."""
    consumer = request.app.get(CONSUMER)
    if consumer is None:
        return web.json_response({"consuming": False})
    return web.json_response(
        {
            "consuming": True,
            "replica_id": consumer.settings.replica_id,
            "mqtt_connected": consumer.mqtt.is_connected,
            "writer_waiting": consumer.writer.waiting,
            "ingest": asdict(consumer.counters),
            "writer": asdict(consumer.writer.counters),
        }
    )


@endpoint(
    routes,
    "GET",
    "/api/v1/punches",
    "stored punches in scope, newest first",
    query=PunchesQuery,
    response=page_of(OBJECT),
    errors=(404,),
)
async def list_punches(request: web.Request, query: PunchesQuery) -> web.Response:
    """Stored punches, newest first. Filters: unit, device, pin, date (office-local day, with tz)."""
    limit, offset = query.limit, query.offset
    punches = Punch.all()
    for value, column in ((query.unit, "unit_code"), (query.device, "device_serial"), (query.pin, "pin")):
        if value:
            punches = punches.filter(**{column: value})
    if (day := query.date) is not None:
        start = datetime(day.year, day.month, day.day, tzinfo=query.tz).astimezone(UTC)
        punches = punches.filter(punched_at__gte=start, punched_at__lt=start + timedelta(days=1))
    total = await punches.count()
    rows = await punches.order_by("-punched_at", "-id").offset(offset).limit(limit)
    return web.json_response(
        {"total": total, "limit": limit, "offset": offset, "items": [_punch_json(p) for p in rows]}
    )


def _punch_json(punch: Punch) -> dict[str, Any]:
    offset = timedelta(minutes=punch.utc_offset_minutes)
    local = punch.punched_at.astimezone(UTC) + offset
    return {
        "id": punch.id,
        "unit": punch.unit_code,
        "gateway": punch.gateway_id,
        "device_serial": punch.device_serial,
        "pin": punch.pin,
        "time": local.replace(tzinfo=None).isoformat() + _offset_text(punch.utc_offset_minutes),
        "state": punch.state,
        "verify": punch.verify,
        "flag": punch.flag,
        "batch_id": punch.batch_id,
    }


def _offset_text(minutes: int) -> str:
    sign = "+" if minutes >= 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{rest:02d}"


@endpoint(
    routes,
    "GET",
    "/api/v1/attendance/daily",
    "first in and last out per person for one day",
    query=DayQuery,
    errors=(404,),
)
async def daily_attendance(request: web.Request, query: DayQuery) -> web.Response:
    """First in and last out per person for one office-local day (default: today)."""
    zone = query.tz
    day = query.date or datetime.now(zone).date()
    rows = await attendance_for_day(day, zone, query.unit)
    return web.json_response(
        {
            "date": day.isoformat(),
            "items": [
                {
                    "unit": r.unit,
                    "pin": r.pin,
                    "nip": r.nip,
                    "name": r.name,
                    "first_in": r.first_in.isoformat(),
                    "last_out": r.last_out.isoformat() if r.last_out else None,
                    "punches": r.punches,
                }
                for r in rows
            ],
        }
    )


@endpoint(
    routes, "GET", "/api/v1/quarantine", "messages that broke the contract", query=PageQuery, response=page_of(OBJECT)
)
async def list_quarantine(request: web.Request, query: PageQuery) -> web.Response:
    limit, offset = query.limit, query.offset
    total = await QuarantinedMessage.all().count()
    rows = await QuarantinedMessage.all().order_by("-id").offset(offset).limit(limit)
    return web.json_response(
        {
            "total": total,
            "items": [
                {
                    "id": q.id,
                    "topic": q.topic,
                    "gateway": q.gateway_id,
                    "reason": q.reason,
                    "received_at": q.received_at.isoformat(),
                    "bytes": len(q.payload),
                }
                for q in rows
            ],
        }
    )
