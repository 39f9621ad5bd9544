"""Excused days (leave, official travel, work from home): recorded by a bureau or unit administrator
for an employee in their scope, passed to the scoring as the policy's excuse kinds, and shown on the
dashboard as "on leave"."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from aiohttp import web

from scoring import Policy
from server.accounts import Role
from server.activity_models import ExcuseRecord
from server.api import BadRequest, Conflict
from server.auth import Scope, request_scope, require_role
from server.web.data import NotVisible, employee_in_scope

routes = web.RouteTableDef()
MAX_SPAN_DAYS = 366


def excuse_kinds() -> list[str]:
    return [rule.kind for rule in Policy().excuses]


def excuse_json(row: ExcuseRecord) -> dict[str, Any]:
    return {
        "id": row.id,
        "nip": row.nip,
        "unit": row.unit_code,
        "kind": row.kind,
        "first_day": row.first_day.isoformat(),
        "last_day": row.last_day.isoformat(),
        "note": row.note,
        "recorded_by": row.recorded_by,
    }


def visible_excuses(scope: Scope) -> Any:
    if not scope.personnel:
        return ExcuseRecord.filter(nip__in=[])
    if scope.employee_nips is not None:
        return ExcuseRecord.filter(nip__in=sorted(scope.employee_nips))
    if scope.unit_codes is not None:
        return ExcuseRecord.filter(unit_code__in=sorted(scope.unit_codes))
    return ExcuseRecord.all()


@routes.get("/api/v1/excuses")
async def list_excuses(request: web.Request) -> web.Response:
    """Excused days in scope. Filters: nip, from, to (days the excuse overlaps)."""
    from server.web.api_v1 import page_params

    require_role(request, Role.BUREAU_ADMIN, Role.UNIT_ADMIN, Role.SUPERVISOR, Role.EMPLOYEE)
    limit, offset = page_params(request)
    query = visible_excuses(await request_scope(request))
    if nip := request.query.get("nip"):
        query = query.filter(nip=nip)
    for name, column in (("from", "last_day__gte"), ("to", "first_day__lte")):
        if name in request.query:
            query = query.filter(**{column: _day(request.query[name], name)})
    total = await query.count()
    rows = await query.order_by("-first_day", "id").offset(offset).limit(limit)
    return web.json_response(
        {"total": total, "limit": limit, "offset": offset, "items": [excuse_json(r) for r in rows]}
    )


def _day(text: object, name: str) -> date:
    try:
        return date.fromisoformat(str(text))
    except ValueError:
        raise BadRequest(f"{name}: expected a date as YYYY-MM-DD, got {text!r}") from None


async def _record(request: web.Request, body: dict[str, Any]) -> ExcuseRecord:
    principal = require_role(request, Role.BUREAU_ADMIN, Role.UNIT_ADMIN)
    kind = body.get("kind")
    if kind not in excuse_kinds():
        raise BadRequest(f"kind: expected one of {excuse_kinds()}")
    first, last = _day(body.get("first_day"), "first_day"), _day(body.get("last_day"), "last_day")
    if last < first or (last - first).days > MAX_SPAN_DAYS:
        raise Conflict(f"last_day: expected on or after first_day and within {MAX_SPAN_DAYS} days of it")
    note = body.get("note") or ""
    if not isinstance(note, str) or len(note) > 2000:
        raise BadRequest("note: expected text of at most 2000 characters")
    try:
        employee = await employee_in_scope(await request_scope(request), str(body.get("nip")))
    except NotVisible:
        from server.web.api_v1 import NotFound

        raise NotFound("no such employee in your scope") from None
    return await ExcuseRecord.create(
        nip=employee.nip,
        unit_code=employee.unit_id,  # type: ignore[attr-defined]
        kind=kind,
        first_day=first,
        last_day=last,
        note=note,
        recorded_by=principal.username,
    )


@routes.post("/api/v1/excuses")
async def record_excuse(request: web.Request) -> web.Response:
    """{"nip", "kind": one of the policy's excuse kinds, "first_day", "last_day", "note"}."""
    from server.web.api_v1 import json_body

    row = await _record(request, await json_body(request))
    return web.json_response(excuse_json(row), status=201)


@routes.post("/employees/{nip}/excuses")
async def record_excuse_page(request: web.Request) -> web.Response:
    """The form on the employee month page (administrators)."""
    from urllib.parse import urlencode

    form = await request.post()
    nip = request.match_info["nip"]
    fields = {name: form.get(name) for name in ("kind", "first_day", "last_day", "note")}
    try:
        row = await _record(request, {**fields, "nip": nip})
    except (web.HTTPBadRequest, web.HTTPConflict) as exc:
        import json

        reason = json.loads(exc.text or "{}").get("reason", exc.reason)
        raise web.HTTPSeeOther(location=f"/employees/{nip}/month?" + urlencode({"error": reason})) from None
    raise web.HTTPSeeOther(location=f"/employees/{nip}/month?month={row.first_day:%Y-%m}&recorded=1")


async def excuses_for(nips: Iterable[str], first: date, last: date) -> dict[str, dict[date, str]]:
    """Excuse kind per day for each employee, between `first` and `last` inclusive."""
    found: dict[str, dict[date, str]] = {}
    rows = await ExcuseRecord.filter(nip__in=sorted(set(nips)), last_day__gte=first, first_day__lte=last).order_by(
        "created_at", "id"
    )
    for row in rows:
        day = max(row.first_day, first)
        while day <= min(row.last_day, last):
            found.setdefault(row.nip, {})[day] = row.kind  # the latest record wins a day
            day += timedelta(days=1)
    return found
