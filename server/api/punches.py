"""The JSON API, version 1. Every error is JSON with a reason; a bad request is a 4xx, never a 500."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiohttp import web

from server.api.http import MAX_PAGE, int_param
from server.context import CONSUMER
from server.errors import Invalid
from server.models import Punch, QuarantinedMessage
from server.services.report import attendance_for_day
from wire.zones import office_zone

routes = web.RouteTableDef()


def _json_text(body: dict[str, Any]) -> str:
    return json.dumps(body)


def _date_param(request: web.Request, name: str) -> date | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise Invalid(f"{name}: expected a date as YYYY-MM-DD, got {raw!r}") from None


# The zone names the document lists (server/api/openapi.py): the office zones and their IANA names, exactly.
ZONE_NAMES = ("WIB", "WITA", "WIT", "Asia/Jakarta", "Asia/Pontianak", "Asia/Makassar", "Asia/Jayapura")


def _zone_param(request: web.Request) -> Any:
    name = request.query.get("tz", "WIB")
    if name not in ZONE_NAMES:
        raise Invalid(f"tz: expected one of {list(ZONE_NAMES)}, got {name!r}")
    try:
        return office_zone(name)
    except ValueError as exc:
        raise Invalid(f"tz: {exc}") from None


@routes.get("/api/v1/health")
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


@routes.get("/api/v1/server/status")
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


@routes.get("/api/v1/punches")
async def list_punches(request: web.Request) -> web.Response:
    """Stored punches, newest first. Filters: unit, device, pin, date (office-local day, with tz)."""
    limit = int_param(request, "limit", 100, 1, MAX_PAGE)
    offset = int_param(request, "offset", 0, 0, 10**9)
    query = Punch.all()
    for name, column in (("unit", "unit_code"), ("device", "device_serial"), ("pin", "pin")):
        if value := request.query.get(name):
            query = query.filter(**{column: value})
    day = _date_param(request, "date")
    zone = _zone_param(request)  # checked even without a date: a bad value is never silently ignored
    if day is not None:
        start = datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
        query = query.filter(punched_at__gte=start, punched_at__lt=start + timedelta(days=1))
    total = await query.count()
    punches = await query.order_by("-punched_at", "-id").offset(offset).limit(limit)
    return web.json_response(
        {"total": total, "limit": limit, "offset": offset, "items": [_punch_json(p) for p in punches]}
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


@routes.get("/api/v1/attendance/daily")
async def daily_attendance(request: web.Request) -> web.Response:
    """First in and last out per person for one office-local day (default: today)."""
    zone = _zone_param(request)
    day = _date_param(request, "date") or datetime.now(zone).date()
    rows = await attendance_for_day(day, zone, request.query.get("unit"))
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


@routes.get("/api/v1/quarantine")
async def list_quarantine(request: web.Request) -> web.Response:
    limit = int_param(request, "limit", 100, 1, MAX_PAGE)
    offset = int_param(request, "offset", 0, 0, 10**9)
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
