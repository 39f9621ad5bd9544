"""The objection pages: an employee objects (keberatan) to a day's category, a rejected request or claim,
or a month's result (/objections) and reads each decision with its reason; the superior's superior or
the bureau, as the request policy says, decides (/objections/queue, counted in the menu). On
server/services/objections.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from urllib.parse import urlencode

from aiohttp import web

from server.access import PERSONNEL
from server.auth import PRINCIPAL, Principal, require_role
from server.errors import DomainError, page_message
from server.models import Employee
from server.pages.forms import form_clock, form_day
from server.pages.render import OBJECTION_COUNT, render
from server.services.excuses import excuse_kinds
from server.services.objections import (
    DECIDERS,
    decide_objection,
    file_objection,
    my_objections,
    objection_rules,
    queue,
    queue_count,
    rejected_to_object,
)

routes = web.RouteTableDef()
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def count_objections(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The number of objections waiting for the reader's decision, for the menu of every page."""
    principal: Principal | None = request.get(PRINCIPAL)
    if principal is not None and principal.role in DECIDERS and request.method == "GET" and _is_page(request.path):
        request[OBJECTION_COUNT] = await queue_count(principal)
    return await handler(request)


def _is_page(path: str) -> bool:
    return not path.startswith(("/api/", "/static/")) and not path.endswith("/evidence")


def _back(path: str, **query: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(location=path + ("?" + urlencode(query) if query else ""))


def _objection_id(request: web.Request) -> int:
    text = request.match_info["objection_id"]
    if not text.isdigit() or len(text) > 9:
        raise web.HTTPNotFound()
    return int(text)


@routes.get("/objections")
async def objections_page(request: web.Request) -> web.Response:
    principal = require_role(request, *PERSONNEL)
    if not principal.employee_nip:
        raise web.HTTPForbidden()
    rejected_requests, rejected_claims = await rejected_to_object(principal)
    return render(
        request,
        "objections.html",
        rules={r.subject.value: r for r in objection_rules()},
        rows=await my_objections(principal),
        rejected_requests=rejected_requests,
        rejected_claims=rejected_claims,
        this_month=date.today().replace(day=1),
        filed=request.query.get("filed"),
        error=request.query.get("error"),
    )


@routes.post("/objections")
async def objections_submit(request: web.Request) -> web.Response:
    principal = require_role(request, *PERSONNEL)
    form = await request.post()
    fields: dict[str, object] = {name: form.get(name) for name in ("subject", "reason", "month")}
    try:
        if form.get("date"):
            fields["date"] = form_day(form.get("date"))
        subject, _, ref = str(form.get("ref") or "").partition(":")
        if ref:
            fields["subject"], fields["ref"] = subject, ref
        row = await file_objection(principal, fields)
    except DomainError as exc:
        raise _back("/objections", error=page_message(exc)) from None
    raise _back("/objections", filed=str(row.id))


@routes.get("/objections/queue")
async def queue_page(request: web.Request) -> web.Response:
    principal = require_role(request, *DECIDERS)
    rows = await queue(principal)
    names = dict(await Employee.filter(nip__in=sorted({r.nip for r in rows})).values_list("nip", "name"))
    return render(
        request,
        "objection_queue.html",
        rows=rows,
        employee_names=names,
        excuse_kinds=excuse_kinds(),
        decided=request.query.get("decided"),
        error=request.query.get("error"),
    )


@routes.post("/objections/{objection_id}/decision")
async def decision_submit(request: web.Request) -> web.Response:
    principal = require_role(request, *DECIDERS)
    form = await request.post()
    remedy: dict[str, object] = {name: form.get(name) for name in ("remedy", "excuse_kind", "direction")}
    try:
        if remedy["remedy"] == "punch":
            remedy["time"] = form_clock(form.get("time"))
        row = await decide_objection(
            principal, _objection_id(request), str(form.get("decision", "")), form.get("reason"), remedy
        )
    except DomainError as exc:
        raise _back("/objections/queue", error=page_message(exc)) from None
    raise _back("/objections/queue", decided=row.status)
