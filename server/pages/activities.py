"""The activity pages: an employee's daily entry and the supervisor's approval queue (bulk approve, reject with a
reason), on top of server/services/claims.py."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from scoring import ClaimState
from server.access import PERSONNEL
from server.activity_models import ActivityClaimRecord
from server.auth import Principal, require_role, subordinates
from server.errors import Conflict, DomainError, Invalid, page_message
from server.models import Employee
from server.pages.forms import form_clock, form_day, show_day
from server.pages.render import render
from server.services.accounts import Role
from server.services.activities import catalogue
from server.services.attendance import WIB, unit_zones
from server.services.claims import claim_json, decide_claims, merge_flags, record, resubmit_claim

routes = web.RouteTableDef()


@routes.post("/activities/{claim_id}/resubmit")
async def resubmit_page(request: web.Request) -> web.Response:
    principal = require_role(request, *PERSONNEL)
    form = await request.post()
    try:
        await resubmit_claim(principal, request.match_info["claim_id"], form.get("quantity"), form.get("evidence"))
    except DomainError as exc:
        raise web.HTTPSeeOther(location="/activities?" + urlencode({"error": page_message(exc)})) from None
    raise web.HTTPSeeOther(location="/activities?saved=1")


@routes.get("/activities")
async def activities_page(request: web.Request) -> web.Response:
    principal = require_role(request, *PERSONNEL)
    return await _activities_view(request, principal, error=request.query.get("error"))


async def _activities_view(
    request: web.Request, principal: Principal, *, error: str | None, form: dict[str, str] | None = None
) -> web.Response:
    """The page; after a refusal (400) the entry form keeps what was typed (``form``)."""
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
        today=show_day(datetime.now(zone).date()),  # day/month/year, whatever the browser's language
        saved=request.query.get("saved"),
        error=error,
        form=form or {},
        status=400 if form else 200,
    )


CLAIM_FIELDS = ("activity", "date", "start", "quantity", "evidence")


@routes.post("/activities")
async def activities_submit(request: web.Request) -> web.Response:
    principal = require_role(request, *PERSONNEL)
    form = await request.post()
    typed = {name: str(form.get(name) or "") for name in CLAIM_FIELDS}
    try:
        fields = {k: form.get(k) for k in ("activity", "quantity", "evidence")}
        await record(principal, {**fields, "date": form_day(form.get("date")), "start": form_clock(form.get("start"))})
    except (Invalid, Conflict) as exc:  # the page again, what was typed kept (a missing claim is the 404 page)
        return await _activities_view(request, principal, error=page_message(exc), form=typed)
    raise web.HTTPSeeOther(location="/activities?saved=1")


# The bureau reads every unit's queue (it answers for the month's figures), oldest units first, this many claims.
BUREAU_QUEUE_LIMIT = 500


@routes.get("/approvals")
async def approvals_page(request: web.Request) -> web.Response:
    """The supervisor's queue of their subordinates' submitted claims, to decide; the bureau reads every
    unit's queue without deciding (claims are decided by the employee's own supervisor)."""
    principal = require_role(request, Role.SUPERVISOR, Role.BUREAU_ADMIN)
    submitted = ActivityClaimRecord.filter(state=ClaimState.SUBMITTED.value)
    reading = principal.role is Role.BUREAU_ADMIN
    if reading:
        total = await submitted.count()
        rows = await submitted.order_by("unit_code", "nip", "start").limit(BUREAU_QUEUE_LIMIT)
    else:
        team = await subordinates(principal.employee_nip) if principal.employee_nip else frozenset()
        rows = await submitted.filter(nip__in=sorted(team)).order_by("nip", "start")
        total = len(rows)
    names = dict(await Employee.filter(nip__in=sorted({r.nip for r in rows})).values_list("nip", "name"))
    flags = await merge_flags(rows)
    zones = await unit_zones()
    by_employee: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        local = {"start_at": row.start, "zone": zones.get(row.unit_code, WIB)}  # read on the office's clock
        by_employee[(row.unit_code, row.nip)].append({**claim_json(row, flags), **local})
    return render(
        request,
        "approvals.html",
        groups=[(nip, names.get(nip, nip), unit, claims) for (unit, nip), claims in by_employee.items()],
        read_only=reading,
        total=total,
        shown=len(rows),
        decided=request.query.get("decided"),
        error=request.query.get("error"),
    )


@routes.post("/approvals")
async def approvals_submit(request: web.Request) -> web.Response:
    principal = require_role(request, Role.SUPERVISOR)
    form = await request.post()
    ids = [str(v) for v in form.getall("claim_id", [])]
    try:
        count = await decide_claims(principal, ids, str(form.get("decision", "")), str(form.get("reason", "")))
    except DomainError as exc:
        raise web.HTTPSeeOther(location="/approvals?" + urlencode({"error": page_message(exc)})) from None
    raise web.HTTPSeeOther(location=f"/approvals?decided={count}")
