"""Objections (keberatan) as API: the same services as the pages (server/services/objections.py), so who
decides, the deadlines, the remedies and the closed month's recorded correction are one code path. Listing
is scoped by role; the queue is what the caller decides."""

from __future__ import annotations

from typing import Annotated, Literal

from aiohttp import web
from pydantic import Field

from server.access import PERSONNEL
from server.api.endpoint import Body, Path, Query, endpoint
from server.api.fields import MONTH, OBJECT, Limit, NipText, Offset, page_of
from server.api.requests import Day, Reason
from server.auth import principal_of, request_scope, require_role
from server.services.objections import (
    DECIDERS,
    decide_objection,
    file_objection,
    objection_json,
    queue,
    visible_objection,
    visible_objections,
)

routes = web.RouteTableDef()

ObjectionId = Annotated[int, Field(ge=1, le=2_147_483_647, description="the objection")]


class ObjectionIn(Body):
    """subject "day": date; "request": ref, the rejected request's id; "claim": ref, the rejected claim's id;
    "month": month (YYYY-MM)."""

    subject: Literal["day", "request", "claim", "month"]
    reason: Reason
    date: Day | None = None
    ref: Annotated[str, Field(max_length=32)] | None = None
    month: Annotated[str, Field(pattern=MONTH["pattern"])] | None = None


class ObjectionsQuery(Query):
    status: Literal["pending", "upheld", "rejected"] | None = Field(None, description="its state")
    nip: NipText | None = Field(None, description="one employee")
    limit: Limit = 100
    offset: Offset = 0


class ObjectionPath(Path):
    objection_id: ObjectionId


class ObjectionDecisionIn(Body):
    """Upholding an objection to a day records an excuse (excuse_kind) or a corrected punch (time, direction)."""

    decision: Literal["uphold", "reject"]
    reason: Reason
    remedy: Literal["excuse", "punch"] | None = None
    excuse_kind: Annotated[str, Field(max_length=64)] | None = None
    time: Annotated[str, Field(pattern="^([01][0-9]|2[0-3]):[0-5][0-9]$")] | None = None
    direction: Literal["in", "out"] | None = None


@endpoint(routes, "GET", "/api/v1/objections", "objections in scope", query=ObjectionsQuery, response=page_of(OBJECT))
async def api_list_objections(request: web.Request, query: ObjectionsQuery) -> web.Response:
    """Objections of the employees in the caller's scope, newest first. Filters: status, nip."""
    require_role(request, *PERSONNEL)
    rows = visible_objections(await request_scope(request))
    if query.status is not None:
        rows = rows.filter(status=query.status)
    if query.nip:
        rows = rows.filter(nip=query.nip)
    total = await rows.count()
    page = await rows.order_by("-filed_at", "-id").offset(query.offset).limit(query.limit)
    items = [objection_json(r) for r in page]
    return web.json_response({"total": total, "limit": query.limit, "offset": query.offset, "items": items})


@endpoint(
    routes,
    "GET",
    "/api/v1/objections/queue",
    "the objections waiting for the caller's decision, oldest first",
    response=page_of(OBJECT),
)
async def api_objection_queue(request: web.Request) -> web.Response:
    principal = require_role(request, *DECIDERS)
    items = [objection_json(r) for r in await queue(principal)]
    return web.json_response({"total": len(items), "items": items})


@endpoint(
    routes,
    "GET",
    "/api/v1/objections/{objection_id:[0-9]+}",
    "one objection: the caller's own, one the caller decides, or one of an employee in scope",
    path=ObjectionPath,
    response=OBJECT,
    errors=(404,),
)
async def api_get_objection(request: web.Request, path: ObjectionPath) -> web.Response:
    principal = require_role(request, *PERSONNEL)
    row = await visible_objection(principal, await request_scope(request), path.objection_id)
    return web.json_response(objection_json(row))


@endpoint(
    routes,
    "POST",
    "/api/v1/objections",
    "file an objection to one of the caller's own days, rejected requests or claims, or months",
    body=ObjectionIn,
    response=OBJECT,
    status=201,
    errors=(409,),
)
async def api_file_objection(request: web.Request, body: ObjectionIn) -> web.Response:
    row = await file_objection(principal_of(request), body.model_dump(exclude_none=True))
    return web.json_response(objection_json(row), status=201)


@endpoint(
    routes,
    "POST",
    "/api/v1/objections/{objection_id:[0-9]+}/decision",
    "uphold or reject an objection the caller decides, with a reason the employee reads",
    path=ObjectionPath,
    body=ObjectionDecisionIn,
    response=OBJECT,
    errors=(404, 409),
)
async def api_decide_objection(request: web.Request, path: ObjectionPath, body: ObjectionDecisionIn) -> web.Response:
    principal = require_role(request, *DECIDERS)
    remedy = body.model_dump(include={"remedy", "excuse_kind", "time", "direction"}, exclude_none=True)
    row = await decide_objection(principal, path.objection_id, body.decision, body.reason, remedy)
    return web.json_response(objection_json(row))
