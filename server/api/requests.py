"""Requests (leave, travel, work from home, a correction of attendance) as API: the same services as the pages
(server/services/requests.py), so the policy's types, approvers, deadlines and the closed-month refusal are one
code path. Listing is scoped by role (own; a supervisor's team; a unit administrator's units; the bureau's
all); the queue is what the caller decides now."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Literal

from aiohttp import web
from pydantic import Field

from server.access import PERSONNEL
from server.api.activities import DAY
from server.api.endpoint import Body, Path, Query, endpoint
from server.api.fields import OBJECT, Limit, NipText, Offset, checked_by, page_of
from server.auth import principal_of, request_scope, require_role
from server.errors import Conflict, Invalid
from server.i18n import N_
from server.request_models import RequestStatus
from server.services.requests import (
    DECIDERS,
    EVIDENCE_TYPES,
    MAX_EVIDENCE_BYTES,
    Upload,
    cancel_request,
    decide_request,
    file_request,
    queue,
    request_json,
    request_types,
    visible_request,
    visible_requests,
    with_evidence,
)

routes = web.RouteTableDef()

KINDS = tuple(t.kind for t in request_types())  # the request policy's types, as the document lists them
REQUEST_KIND = {"type": "string", "enum": list(KINDS)}


def _kind(value: object) -> str:
    if value not in KINDS:
        raise ValueError(f"kind: expected one of {list(KINDS)}")
    return str(value)


Kind = checked_by(_kind, REQUEST_KIND)
Day = Annotated[str, Field(pattern=DAY["pattern"])]
Reason = Annotated[str, Field(min_length=1, max_length=2000, pattern=r"\S")]
# Base64 of at most 4 MB (the pages' limit on an attachment)
# whole groups of four, padded at the end only: what the document allows always decodes
BASE64 = "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
Base64Data = Annotated[str, Field(min_length=4, max_length=(MAX_EVIDENCE_BYTES // 3 + 1) * 4, pattern=BASE64)]
RequestId = Annotated[int, Field(ge=1, le=2_147_483_647, description="the request")]


class EvidenceIn(Body):
    filename: Annotated[str, Field(max_length=200)] = ""
    content_type: Literal["application/pdf", "image/jpeg", "image/png"]
    data: Base64Data = Field(description="the file, base64")


class RequestIn(Body):
    """A leave or travel: first_day and last_day; a correction of attendance: date, time (HH:MM on the office
    clock) and direction."""

    kind: Kind
    reason: Reason
    first_day: Day | None = None
    last_day: Day | None = None
    date: Day | None = None
    time: Annotated[str, Field(pattern="^([01][0-9]|2[0-3]):[0-5][0-9]$")] | None = None
    direction: Literal["in", "out"] | None = None
    evidence: EvidenceIn | None = None


class RequestsQuery(Query):
    status: Literal["pending", "approved", "rejected", "cancelled"] | None = Field(None, description="its state")
    nip: NipText | None = Field(None, description="one employee")
    limit: Limit = 100
    offset: Offset = 0


class RequestPath(Path):
    request_id: RequestId


class RequestDecisionIn(Body):
    decision: Literal["approve", "reject"]
    reason: Annotated[str, Field(max_length=2000)] = ""


def _upload(evidence: EvidenceIn | None) -> Upload | None:
    if evidence is None:
        return None
    try:
        data = base64.b64decode(evidence.data, validate=True)
    except (binascii.Error, ValueError):
        raise Invalid(N_("evidence: expected the file as base64")) from None
    assert evidence.content_type in EVIDENCE_TYPES  # the model's enum
    return Upload(evidence.filename, evidence.content_type, data)


@endpoint(routes, "GET", "/api/v1/requests", "requests in scope", query=RequestsQuery, response=page_of(OBJECT))
async def api_list_requests(request: web.Request, query: RequestsQuery) -> web.Response:
    """Requests of the employees in the caller's scope, newest first. Filters: status, nip."""
    require_role(request, *PERSONNEL)
    rows = visible_requests(await request_scope(request))
    if query.status is not None:
        rows = rows.filter(status=query.status)
    if query.nip:
        rows = rows.filter(nip=query.nip)
    total = await rows.count()
    page = await rows.order_by("-filed_at", "-id").offset(query.offset).limit(query.limit)
    attached = await with_evidence([r.id for r in page])
    items = [request_json(r, r.id in attached) for r in page]
    return web.json_response({"total": total, "limit": query.limit, "offset": query.offset, "items": items})


@endpoint(
    routes,
    "GET",
    "/api/v1/requests/queue",
    "the requests waiting for the caller's decision, oldest first",
    response=page_of(OBJECT),
)
async def api_request_queue(request: web.Request) -> web.Response:
    principal = require_role(request, *DECIDERS)
    rows = await queue(principal)
    attached = await with_evidence([r.id for r in rows])
    items = [request_json(r, r.id in attached) for r in rows]
    return web.json_response({"total": len(items), "items": items})


@endpoint(
    routes,
    "GET",
    "/api/v1/requests/{request_id:[0-9]+}",
    "one request: the caller's own, or one of an employee in an approver's scope",
    path=RequestPath,
    response=OBJECT,
    errors=(404,),
)
async def api_get_request(request: web.Request, path: RequestPath) -> web.Response:
    principal = require_role(request, *PERSONNEL)
    row = await visible_request(principal, path.request_id)
    return web.json_response(request_json(row, bool(await with_evidence([row.id]))))


@endpoint(
    routes,
    "POST",
    "/api/v1/requests",
    "file one of the caller's own requests (the request policy's types, approvers and deadlines)",
    body=RequestIn,
    response=OBJECT,
    status=201,
    errors=(409,),
)
async def api_file_request(request: web.Request, body: RequestIn) -> web.Response:
    principal = principal_of(request)
    fields = body.model_dump(exclude={"evidence"}, exclude_none=True)
    row = await file_request(principal, fields, _upload(body.evidence))
    return web.json_response(request_json(row, body.evidence is not None), status=201)


@endpoint(
    routes,
    "POST",
    "/api/v1/requests/{request_id:[0-9]+}/decision",
    "approve or reject the step of a request the caller decides",
    path=RequestPath,
    body=RequestDecisionIn,
    response=OBJECT,
    errors=(404, 409),
)
async def api_decide_request(request: web.Request, path: RequestPath, body: RequestDecisionIn) -> web.Response:
    """{"decision": "approve" | "reject", "reason": needed to reject}."""
    principal = require_role(request, *DECIDERS)
    if body.decision == "reject" and not body.reason.strip():  # well formed, but the rule wants a reason: 409
        raise Conflict(N_("reason: a rejection needs a reason the employee can read"))
    row = await decide_request(principal, path.request_id, body.decision, body.reason)
    return web.json_response(request_json(row))


@endpoint(
    routes,
    "POST",
    "/api/v1/requests/{request_id:[0-9]+}/cancel",
    "take back one of the caller's own requests nobody has decided yet",
    path=RequestPath,
    response=OBJECT,
    errors=(404, 409),
)
async def api_cancel_request(request: web.Request, path: RequestPath) -> web.Response:
    principal = require_role(request, *PERSONNEL)
    row = await cancel_request(principal, path.request_id)
    assert row.status == RequestStatus.CANCELLED.value
    return web.json_response(request_json(row))
