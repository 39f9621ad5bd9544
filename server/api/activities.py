"""Activities, as pages and as API: an employee's daily entry, the supervisor's approval queue (bulk
approve, reject with a reason), and beside each claim the flags of the merge with attendance."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import Field

from server.access import PERSONNEL
from server.api.endpoint import Body, Path, Query, endpoint
from server.api.fields import OBJECT, Limit, Month, NipText, Offset, checked_by, page_of
from server.auth import request_scope, require_role
from server.services.accounts import Role
from server.services.claims import (
    HOUR_MINUTE,
    claim_json,
    claims_query,
    decide_claims,
    merge_flags,
    record,
    resubmit_claim,
)

routes = web.RouteTableDef()


def _day(value: Any) -> str:
    try:
        date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError("date: expected YYYY-MM-DD") from None
    return value


def _start(value: Any) -> str:
    if not isinstance(value, str) or not HOUR_MINUTE.match(value):
        raise ValueError(f"start: expected HH:MM, got {value!r}")
    return value


# Documented by a subset of the days the check takes (from 1900, days 1-28), so generated examples stay valid.
DAY = {"type": "string", "pattern": "^(19[0-9]{2}|20[0-9]{2})-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])$"}
Day = checked_by(_day, DAY)
Start = checked_by(_start, {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"})
Quantity = Annotated[int, Field(ge=1, le=100)]
Evidence = Annotated[str, Field(max_length=2000)]


class ClaimsQuery(Query):
    status: Literal["submitted", "approved", "rejected", "correction_requested"] | None = Field(
        None, description="the claim's state"
    )
    nip: NipText | None = Field(None, description="one employee")
    month: Annotated[Month, Field(description="YYYY-MM from 2000-01 to 2100-12 (default: this month)")] = None
    limit: Limit = 100
    offset: Offset = 0


class ClaimIn(Body):
    activity: Annotated[str, Field(max_length=64)]
    date: Day
    start: Start
    quantity: Quantity = 1
    evidence: Evidence = ""


class DecisionsIn(Body):
    claim_ids: Annotated[list[Annotated[str, Field(max_length=32)]], Field(min_length=1, max_length=500)]
    decision: Literal["approve", "reject", "correct"]
    reason: Annotated[str, Field(max_length=2000)] = ""


class ClaimPath(Path):
    claim_id: Annotated[str, Field(max_length=32, description="the claim")]


class ResubmitIn(Body):
    quantity: Quantity | None = None
    evidence: Evidence | None = None


@endpoint(
    routes,
    "GET",
    "/api/v1/activities",
    "activity claims in scope",
    query=ClaimsQuery,
    response=page_of(OBJECT),
)
async def api_list_claims(request: web.Request, query: ClaimsQuery) -> web.Response:
    require_role(request, *PERSONNEL)
    limit, offset = query.limit, query.offset
    # The model checked the filters; claims_query (shared with the pages) applies them as the request gave them.
    rows = await claims_query(await request_scope(request), request.query)
    total = await rows.count()
    page = await rows.order_by("-start", "claim_id").offset(offset).limit(limit)
    flags = await merge_flags(page)
    return web.json_response(
        {"total": total, "limit": limit, "offset": offset, "items": [claim_json(r, flags) for r in page]}
    )


@endpoint(
    routes,
    "POST",
    "/api/v1/activities",
    "record one of the caller's own activities",
    body=ClaimIn,
    status=201,
    errors=(404, 409),
)
async def api_record_claim(request: web.Request, body: ClaimIn) -> web.Response:
    """The caller's own activity: {"activity", "date": "YYYY-MM-DD", "start": "HH:MM", "quantity", "evidence"}."""
    principal = require_role(request, *PERSONNEL)
    row = await record(principal, body.model_dump())
    return web.json_response(claim_json(row, {}), status=201)


@endpoint(
    routes,
    "POST",
    "/api/v1/activities/decisions",
    "approve or reject subordinates' submitted claims, all or none",
    body=DecisionsIn,
    errors=(404, 409),
)
async def api_decide(request: web.Request, body: DecisionsIn) -> web.Response:
    """A supervisor's decision on subordinates' submitted claims, all or none:
    {"claim_ids": [...], "decision": "approve" | "reject", "reason": "..."}."""
    principal = require_role(request, Role.SUPERVISOR)
    count = await decide_claims(principal, list(body.claim_ids), body.decision, body.reason)
    return web.json_response({"decided": count})


@endpoint(
    routes,
    "POST",
    "/api/v1/activities/{claim_id}/resubmit",
    "resubmit one of the caller's claims after a correction request",
    path=ClaimPath,
    body=ResubmitIn,
    errors=(404, 409),
)
async def api_resubmit(request: web.Request, path: ClaimPath, body: ResubmitIn) -> web.Response:
    """The caller's corrected claim after a correction request: {"quantity"?, "evidence"?}."""
    principal = require_role(request, *PERSONNEL)
    row = await resubmit_claim(principal, path.claim_id, body.quantity, body.evidence)
    return web.json_response(claim_json(row, {}))


# --- pages ------------------------------------------------------------------------------------------
