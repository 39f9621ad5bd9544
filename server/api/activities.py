"""Activities, as pages and as API: an employee's daily entry, the supervisor's approval queue (bulk
approve, reject with a reason), and beside each claim the flags of the merge with attendance."""

from __future__ import annotations

from aiohttp import web

from server.access import PERSONNEL
from server.api.http import json_body, page_params
from server.auth import request_scope, require_role
from server.errors import Invalid
from server.services.accounts import Role
from server.services.claims import claim_json, claims_query, decide_claims, merge_flags, record, resubmit_claim

routes = web.RouteTableDef()


@routes.get("/api/v1/activities")
async def api_list_claims(request: web.Request) -> web.Response:
    require_role(request, *PERSONNEL)

    limit, offset = page_params(request)
    query = await claims_query(await request_scope(request), request.query)
    total = await query.count()
    rows = await query.order_by("-start", "claim_id").offset(offset).limit(limit)
    flags = await merge_flags(rows)
    return web.json_response(
        {"total": total, "limit": limit, "offset": offset, "items": [claim_json(r, flags) for r in rows]}
    )


@routes.post("/api/v1/activities")
async def api_record_claim(request: web.Request) -> web.Response:
    """The caller's own activity: {"activity", "date": "YYYY-MM-DD", "start": "HH:MM", "quantity", "evidence"}."""

    principal = require_role(request, *PERSONNEL)
    row = await record(principal, await json_body(request))
    return web.json_response(claim_json(row, {}), status=201)


@routes.post("/api/v1/activities/decisions")
async def api_decide(request: web.Request) -> web.Response:
    """A supervisor's decision on subordinates' submitted claims, all or none:
    {"claim_ids": [...], "decision": "approve" | "reject", "reason": "..."}."""

    principal = require_role(request, Role.SUPERVISOR)
    body = await json_body(request)
    ids = body.get("claim_ids")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids) or not 1 <= len(ids) <= 500:
        raise Invalid("claim_ids: expected a list of 1-500 claim ids")
    reason = body.get("reason", "")
    if not isinstance(reason, str):
        raise Invalid("reason: expected text")
    count = await decide_claims(principal, ids, str(body.get("decision")), reason)
    return web.json_response({"decided": count})


@routes.post("/api/v1/activities/{claim_id}/resubmit")
async def api_resubmit(request: web.Request) -> web.Response:
    """The caller's corrected claim after a correction request: {"quantity"?, "evidence"?}."""

    principal = require_role(request, *PERSONNEL)
    body = await json_body(request)
    row = await resubmit_claim(principal, request.match_info["claim_id"], body.get("quantity"), body.get("evidence"))
    return web.json_response(claim_json(row, {}))


# --- pages ------------------------------------------------------------------------------------------
