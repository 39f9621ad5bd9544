"""Excused days (leave, official travel, work from home): recorded by a bureau or unit administrator
for an employee in their scope, passed to the scoring as the policy's excuse kinds, and shown on the
dashboard as "on leave"."""

from __future__ import annotations

from aiohttp import web

from server.api.http import json_body, page_params
from server.auth import request_scope, require_role
from server.services.accounts import Role
from server.services.excuses import day_param, excuse_json, record_excuse, visible_excuses

routes = web.RouteTableDef()


@routes.get("/api/v1/excuses")
async def list_excuses(request: web.Request) -> web.Response:
    """Excused days in scope. Filters: nip, from, to (days the excuse overlaps)."""

    require_role(request, Role.BUREAU_ADMIN, Role.UNIT_ADMIN, Role.SUPERVISOR, Role.EMPLOYEE)
    limit, offset = page_params(request)
    query = visible_excuses(await request_scope(request))
    if nip := request.query.get("nip"):
        query = query.filter(nip=nip)
    for name, column in (("from", "last_day__gte"), ("to", "first_day__lte")):
        if name in request.query:
            query = query.filter(**{column: day_param(request.query[name], name)})
    total = await query.count()
    rows = await query.order_by("-first_day", "id").offset(offset).limit(limit)
    return web.json_response(
        {"total": total, "limit": limit, "offset": offset, "items": [excuse_json(r) for r in rows]}
    )


@routes.post("/api/v1/excuses")
async def post_excuse(request: web.Request) -> web.Response:
    """{"nip", "kind": one of the policy's excuse kinds, "first_day", "last_day", "note"}."""

    row = await record_excuse(request, await json_body(request))
    return web.json_response(excuse_json(row), status=201)
