"""Activities, as pages and as API: an employee's daily entry, the supervisor's approval queue (bulk
approve, reject with a reason), and beside each claim the flags of the merge with attendance."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from scoring import ClaimState
from server.accounts import Role
from server.activity_models import ActivityClaimRecord
from server.api import BadRequest, Conflict
from server.auth import Principal, Scope, request_scope, require_role, subordinates
from server.models import Employee
from server.web.api_v1 import NotFound
from server.web.data import WIB, unit_zones
from server.web.month import month_bounds, parse_month, unit_month
from server.web.render import render

routes = web.RouteTableDef()
HOUR_MINUTE = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")  # as server/openapi.py documents it
PERSONNEL = (Role.BUREAU_ADMIN, Role.UNIT_ADMIN, Role.SUPERVISOR, Role.EMPLOYEE)
STATES = tuple(state.value for state in ClaimState)


def claim_json(row: ActivityClaimRecord, flags: dict[str, list[str]]) -> dict[str, Any]:
    return {
        "claim_id": row.claim_id,
        "nip": row.nip,
        "unit": row.unit_code,
        "activity": row.activity,
        "activity_name": row.activity_name,
        "start": row.start.astimezone(UTC).isoformat(),
        "quantity": row.quantity,
        "minutes": row.minutes,
        "output": row.output,
        "evidence": row.evidence,
        "state": row.state,
        "reason": row.reason,
        "flags": flags.get(row.claim_id, []),
    }


async def merge_flags(rows: list[ActivityClaimRecord]) -> dict[str, list[str]]:
    """The scoring's attendance-merge flags for each claim (outside presence, over the presence span)."""
    months: set[tuple[str, date]] = set()
    zones = await unit_zones()
    for row in rows:
        local = row.start.astimezone(zones.get(row.unit_code, WIB))
        months.add((row.unit_code, local.date().replace(day=1)))
    flags: dict[str, list[str]] = {}
    for unit, month in sorted(months):
        for result in (await unit_month(unit, month)).values():
            flags.update(result.claim_flags)
    return flags


async def _claims_query(scope: Scope, query: Any) -> Any:
    from server.web.activities import visible_claims

    rows = visible_claims(scope)
    if (state := query.get("status")) is not None:
        if state not in STATES:
            raise BadRequest(f"status: expected one of {list(STATES)}")
        rows = rows.filter(state=state)
    if nip := query.get("nip"):
        rows = rows.filter(nip=nip)
    if "month" in query:
        if not query["month"]:
            raise BadRequest("month: expected YYYY-MM, got ''")
        try:
            month = parse_month(query["month"])
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        first, end = month_bounds(month, WIB)
        rows = rows.filter(start__gte=first, start__lt=end)
    return rows


@routes.get("/api/v1/activities")
async def api_list_claims(request: web.Request) -> web.Response:
    require_role(request, *PERSONNEL)
    from server.web.api_v1 import page_params

    limit, offset = page_params(request)
    query = await _claims_query(await request_scope(request), request.query)
    total = await query.count()
    rows = await query.order_by("-start", "claim_id").offset(offset).limit(limit)
    flags = await merge_flags(rows)
    return web.json_response(
        {"total": total, "limit": limit, "offset": offset, "items": [claim_json(r, flags) for r in rows]}
    )


async def _record(principal: Principal, fields: dict[str, Any]) -> ActivityClaimRecord:
    from server.web.activities import MAX_QUANTITY, ActivityError, catalogue, record_claim

    if not principal.employee_nip:
        raise Conflict("this account has no employee record to claim activities for")
    try:
        day = date.fromisoformat(str(fields.get("date", "")))
    except ValueError:
        raise BadRequest("date: expected YYYY-MM-DD") from None
    try:
        quantity = int(fields.get("quantity", 1))
    except (TypeError, ValueError):
        raise BadRequest("quantity: expected a whole number") from None
    if not 1 <= quantity <= MAX_QUANTITY:
        raise BadRequest(f"quantity: expected 1..{MAX_QUANTITY}")
    if not HOUR_MINUTE.match(str(fields.get("start", ""))):
        raise BadRequest(f"start: expected HH:MM, got {fields.get('start')!r}")
    activity = str(fields.get("activity", ""))
    if activity not in {known.code for known in catalogue().activities}:
        raise NotFound(f"activity: no activity {activity!r} in the catalogue")
    employee = await Employee.get(nip=principal.employee_nip)
    zone = (await unit_zones()).get(employee.unit_id, WIB)  # type: ignore[attr-defined]
    try:
        return await record_claim(
            principal,
            employee.unit_id,  # type: ignore[attr-defined]
            zone,
            activity,
            day,
            str(fields.get("start", "")),
            quantity,
            str(fields.get("evidence", "")),
        )
    except ActivityError as exc:  # the shape was checked above: what is left is a rule (e.g. not in the future)
        raise Conflict(str(exc)) from None


@routes.post("/api/v1/activities")
async def api_record_claim(request: web.Request) -> web.Response:
    """The caller's own activity: {"activity", "date": "YYYY-MM-DD", "start": "HH:MM", "quantity", "evidence"}."""
    from server.web.api_v1 import json_body

    principal = require_role(request, *PERSONNEL)
    row = await _record(principal, await json_body(request))
    return web.json_response(claim_json(row, {}), status=201)


async def _decide(principal: Principal, claim_ids: list[str], decision: str, reason: str) -> int:
    from server.web.activities import DECISIONS, ActivityError, decide

    if decision not in DECISIONS:
        raise BadRequest(f"decision: expected one of {list(DECISIONS)}")
    if decision != "approve" and not reason.strip():
        raise Conflict("reason: a rejection or a correction request needs a reason the employee can read")
    team = await subordinates(principal.employee_nip) if principal.employee_nip else frozenset()
    try:
        return len(await decide(principal, team, claim_ids, decision, reason))
    except LookupError:
        raise NotFound("a claim is not one of your subordinates'") from None
    except ActivityError as exc:
        raise Conflict(str(exc)) from None


@routes.post("/api/v1/activities/decisions")
async def api_decide(request: web.Request) -> web.Response:
    """A supervisor's decision on subordinates' submitted claims, all or none:
    {"claim_ids": [...], "decision": "approve" | "reject", "reason": "..."}."""
    from server.web.api_v1 import json_body

    principal = require_role(request, Role.SUPERVISOR)
    body = await json_body(request)
    ids = body.get("claim_ids")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids) or not 1 <= len(ids) <= 500:
        raise BadRequest("claim_ids: expected a list of 1-500 claim ids")
    reason = body.get("reason", "")
    if not isinstance(reason, str):
        raise BadRequest("reason: expected text")
    count = await _decide(principal, ids, str(body.get("decision")), reason)
    return web.json_response({"decided": count})


async def _resubmit(principal: Principal, claim_id: str, quantity: Any, evidence: Any) -> ActivityClaimRecord:
    from server.web.activities import ActivityError, resubmit

    try:
        amount = None if quantity in (None, "") else int(quantity)
    except (TypeError, ValueError):
        raise BadRequest("quantity: expected a whole number") from None
    if evidence is not None and not isinstance(evidence, str):
        raise BadRequest("evidence: expected text")
    try:
        return await resubmit(principal, claim_id, amount, evidence)
    except LookupError:
        raise NotFound("no such claim of yours") from None
    except ActivityError as exc:
        raise Conflict(str(exc)) from None


@routes.post("/api/v1/activities/{claim_id}/resubmit")
async def api_resubmit(request: web.Request) -> web.Response:
    """The caller's corrected claim after a correction request: {"quantity"?, "evidence"?}."""
    from server.web.api_v1 import json_body

    principal = require_role(request, *PERSONNEL)
    body = await json_body(request)
    row = await _resubmit(principal, request.match_info["claim_id"], body.get("quantity"), body.get("evidence"))
    return web.json_response(claim_json(row, {}))


@routes.post("/activities/{claim_id}/resubmit")
async def resubmit_page(request: web.Request) -> web.Response:
    principal = require_role(request, *PERSONNEL)
    form = await request.post()
    try:
        await _resubmit(principal, request.match_info["claim_id"], form.get("quantity"), form.get("evidence"))
    except (web.HTTPBadRequest, web.HTTPNotFound, web.HTTPConflict) as exc:
        raise web.HTTPSeeOther(location="/activities?" + urlencode({"error": _reason(exc)})) from None
    raise web.HTTPSeeOther(location="/activities?saved=1")


# --- pages ------------------------------------------------------------------------------------------


@routes.get("/activities")
async def activities_page(request: web.Request) -> web.Response:
    from server.web.activities import catalogue

    principal = require_role(request, *PERSONNEL)
    if not principal.employee_nip:
        raise web.HTTPForbidden()
    rows = await ActivityClaimRecord.filter(nip=principal.employee_nip).order_by("-start").limit(100)
    flags = await merge_flags(rows)
    employee = await Employee.get_or_none(nip=principal.employee_nip)
    zones = await unit_zones()
    zone = zones.get(employee.unit_id if employee else "", WIB)  # type: ignore[attr-defined]
    return render(
        request,
        "activities.html",
        claims=[{**claim_json(r, flags), "start_at": r.start} for r in rows],
        zone=zone,  # the employee's office: claims are entered and read on its clock
        zone_name=zone.tzname(None),
        catalogue=catalogue().activities,
        today=datetime.now(zone).date().isoformat(),
        saved=request.query.get("saved"),
        error=request.query.get("error"),
    )


@routes.post("/activities")
async def activities_submit(request: web.Request) -> web.Response:
    principal = require_role(request, *PERSONNEL)
    form = await request.post()
    try:
        await _record(principal, {k: form.get(k) for k in ("activity", "date", "start", "quantity", "evidence")})
    except (web.HTTPBadRequest, web.HTTPConflict) as exc:
        raise web.HTTPSeeOther(location="/activities?" + urlencode({"error": _reason(exc)})) from None
    raise web.HTTPSeeOther(location="/activities?saved=1")


def _reason(exc: web.HTTPException) -> str:
    try:
        return str(json.loads(exc.text or "{}").get("reason", exc.reason))
    except ValueError:
        return exc.reason


@routes.get("/approvals")
async def approvals_page(request: web.Request) -> web.Response:
    principal = require_role(request, Role.SUPERVISOR)
    team = await subordinates(principal.employee_nip) if principal.employee_nip else frozenset()
    rows = await ActivityClaimRecord.filter(nip__in=sorted(team), state=ClaimState.SUBMITTED.value).order_by(
        "nip", "start"
    )
    names = dict(await Employee.filter(nip__in=sorted(team)).values_list("nip", "name"))
    flags = await merge_flags(rows)
    zones = await unit_zones()
    by_employee: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        local = {"start_at": row.start, "zone": zones.get(row.unit_code, WIB)}  # read on the office's clock
        by_employee[row.nip].append({**claim_json(row, flags), **local})
    return render(
        request,
        "approvals.html",
        groups=[(nip, names.get(nip, nip), claims) for nip, claims in by_employee.items()],
        decided=request.query.get("decided"),
        error=request.query.get("error"),
    )


@routes.post("/approvals")
async def approvals_submit(request: web.Request) -> web.Response:
    principal = require_role(request, Role.SUPERVISOR)
    form = await request.post()
    ids = [str(v) for v in form.getall("claim_id", [])]
    try:
        count = await _decide(principal, ids, str(form.get("decision", "")), str(form.get("reason", "")))
    except (web.HTTPBadRequest, web.HTTPNotFound, web.HTTPConflict) as exc:
        raise web.HTTPSeeOther(location="/approvals?" + urlencode({"error": _reason(exc)})) from None
    raise web.HTTPSeeOther(location=f"/approvals?decided={count}")
