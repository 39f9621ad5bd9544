"""The request pages: an employee files leave, official travel, work from home or a correction of
attendance (/requests) and reads each decision with its reason; supervisors and administrators decide
the steps the policy gives them (/requests/queue, counted in the menu). On server/services/requests.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from server.access import PERSONNEL
from server.auth import PRINCIPAL, Principal, require_role
from server.errors import DomainError, NotFound, page_message
from server.models import Employee
from server.pages.forms import form_clock, form_day
from server.pages.render import QUEUE_COUNT, render
from server.request_models import EmployeeRequest
from server.services.attendance import WIB, unit_zones
from server.services.requests import (
    DECIDERS,
    Upload,
    cancel_request,
    current_step,
    decide_request,
    evidence_of,
    file_request,
    my_requests,
    punch_local,
    queue,
    queue_count,
    request_types,
    with_evidence,
)

routes = web.RouteTableDef()
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
FIELDS = ("kind", "first_day", "last_day", "reason", "date", "time", "direction")


@web.middleware
async def count_queue(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The number of requests waiting for the reader's decision, for the menu of every page they open."""
    principal: Principal | None = request.get(PRINCIPAL)
    if principal is not None and principal.role in DECIDERS and request.method == "GET" and _is_page(request.path):
        request[QUEUE_COUNT] = await queue_count(principal)
    return await handler(request)


def _is_page(path: str) -> bool:
    return not path.startswith(("/api/", "/static/")) and not path.endswith("/evidence")


def _back(path: str, **query: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(location=path + ("?" + urlencode(query) if query else ""))


def _request_id(request: web.Request) -> int:
    text = request.match_info["request_id"]
    if not text.isdigit() or len(text) > 9:
        raise web.HTTPNotFound()
    return int(text)


async def _names(nips: list[str]) -> dict[str, str]:
    return dict(await Employee.filter(nip__in=sorted(set(nips))).values_list("nip", "name"))


def _row_view(row: EmployeeRequest, names: dict[str, str], evidence: set[int]) -> dict[str, Any]:
    return {
        "evidence": row.id in evidence,
        "row": row,
        "name": names.get(row.nip, row.nip),
        "punch": punch_local(row),
        "step": current_step(row),
        "days": (row.last_day - row.first_day).days + 1,
    }


@routes.get("/requests")
async def requests_page(request: web.Request) -> web.Response:
    principal = require_role(request, *PERSONNEL)
    return await _requests_view(request, principal, error=request.query.get("error"))


async def _requests_view(
    request: web.Request, principal: Principal, *, error: str | None, form: dict[str, str] | None = None
) -> web.Response:
    """The page; after a refusal (400) the form that was sent keeps what was typed (``form``, with ``sent``
    naming which of the two forms it was)."""
    if not principal.employee_nip:
        raise web.HTTPForbidden()
    if principal.role in DECIDERS and QUEUE_COUNT not in request:  # a POST answered with the page
        request[QUEUE_COUNT] = await queue_count(principal)
    employee = await Employee.get_or_none(nip=principal.employee_nip)
    zone = (await unit_zones()).get(employee.unit_id if employee else "", WIB)  # type: ignore[attr-defined]
    rows = await my_requests(principal)
    evidence = await with_evidence([r.id for r in rows])
    return render(
        request,
        "requests.html",
        types=request_types(),
        rows=[_row_view(r, {}, evidence) for r in rows],
        zone=zone,
        zone_name=zone.tzname(None),
        filed=request.query.get("filed"),
        cancelled=request.query.get("cancelled"),
        error=error,
        form=form or {},
        status=400 if form else 200,
    )


def _is_correction(kind: object) -> bool:
    return any(t.correction and t.kind == kind for t in request_types())


def _typed(fields: dict[str, str]) -> dict[str, str]:
    """The dates (day/month/year) and the time (24-hour clock) as typed, as the service takes them (ISO, HH:MM);
    an Invalid with the Indonesian-ready reason when one is not a date or a time of day."""
    if _is_correction(fields.get("kind")):
        return {**fields, "date": form_day(fields.get("date")), "time": form_clock(fields.get("time"))}
    first = form_day(fields.get("first_day"))
    last = form_day(fields["last_day"]) if fields.get("last_day", "").strip() else first
    return {**fields, "first_day": first, "last_day": last}


@routes.post("/requests")
async def requests_submit(request: web.Request) -> web.Response:
    principal = require_role(request, *PERSONNEL)
    form = await request.post()
    upload = None
    if isinstance(file := form.get("evidence"), web.FileField):
        upload = Upload(file.filename or "", file.content_type, file.file.read())
    fields = {name: str(form.get(name) or "") for name in FIELDS}
    try:
        row = await file_request(principal, _typed(fields), upload)
    except DomainError as exc:  # the page again, what was typed kept (an attachment is chosen again)
        sent = {**fields, "sent": "correction" if _is_correction(fields["kind"]) else "leave"}
        return await _requests_view(request, principal, error=page_message(exc), form=sent)
    raise _back("/requests", filed=str(row.id))


@routes.post("/requests/{request_id}/cancel")
async def cancel_submit(request: web.Request) -> web.Response:
    principal = require_role(request, *PERSONNEL)
    try:
        await cancel_request(principal, _request_id(request))
    except DomainError as exc:
        raise _back("/requests", error=page_message(exc)) from None
    raise _back("/requests", cancelled="1")


@routes.get("/requests/queue")
async def queue_page(request: web.Request) -> web.Response:
    principal = require_role(request, *DECIDERS)
    rows = await queue(principal)
    names = await _names([r.nip for r in rows])
    evidence = await with_evidence([r.id for r in rows])
    return render(
        request,
        "request_queue.html",
        rows=[_row_view(r, names, evidence) for r in rows],
        types={t.kind: t for t in request_types()},
        decided=request.query.get("decided"),
        error=request.query.get("error"),
    )


@routes.post("/requests/{request_id}/decision")
async def decision_submit(request: web.Request) -> web.Response:
    principal = require_role(request, *DECIDERS)
    form = await request.post()
    try:
        row = await decide_request(principal, _request_id(request), str(form.get("decision", "")), form.get("reason"))
    except DomainError as exc:
        raise _back("/requests/queue", error=page_message(exc)) from None
    raise _back("/requests/queue", decided=row.status)


@routes.get("/requests/{request_id}/evidence")
async def evidence_download(request: web.Request) -> web.Response:
    principal = require_role(request, *PERSONNEL)
    try:
        found = await evidence_of(principal, _request_id(request))
    except NotFound:
        raise web.HTTPNotFound() from None
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in found.filename) or "bukti"
    return web.Response(
        body=found.data,
        content_type=found.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{safe}"',
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'",
        },
    )
