"""Excused days (leave, official travel, work from home): recorded by a bureau or unit administrator
for an employee in their scope, passed to the scoring as the policy's excuse kinds, and shown on the
dashboard as "on leave"."""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import Field

from server.api.endpoint import Body, Query, endpoint
from server.api.fields import OBJECT, Limit, NipText, Offset, checked_by, page_of
from server.auth import request_scope, require_role
from server.services.accounts import Role
from server.services.excuses import day_param, excuse_json, excuse_kinds, record_excuse, visible_excuses

routes = web.RouteTableDef()


def _kind(value: Any) -> str:
    if value not in excuse_kinds():
        raise ValueError(f"kind: expected one of {excuse_kinds()}")
    return value


def _day(name: str) -> Any:
    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"{name}: expected a date as YYYY-MM-DD, got {value!r}")
        day_param(value, name)
        return value

    return check


def _query_day(name: str) -> Any:
    return lambda value: day_param(value, name)


EXCUSE_KIND = {
    "type": "string",
    "enum": [
        "annual_leave",
        "sick_leave",
        "big_leave",
        "maternity_leave",
        "important_reasons_leave",
        "official_travel",
        "work_from_home",
    ],
}
# Documented by a subset of the days the check takes (from 1900, days 1-28), so generated examples stay valid.
DAY = {"type": "string", "pattern": "^(19[0-9]{2}|20[0-9]{2})-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])$"}
DATE = {"type": "string", "format": "date"}
ExcuseKind = checked_by(_kind, EXCUSE_KIND)
FirstDay = checked_by(_day("first_day"), DAY)
LastDay = checked_by(_day("last_day"), DAY)
From = checked_by(_query_day("from"), DATE, nullable=True)
To = checked_by(_query_day("to"), DATE, nullable=True)


class ExcusesQuery(Query):
    nip: NipText | None = Field(None, description="one employee")
    first: From = Field(None, alias="from", description="overlapping from")
    last: To = Field(None, alias="to", description="overlapping to")
    limit: Limit = 100
    offset: Offset = 0


class ExcuseIn(Body):
    nip: NipText
    kind: ExcuseKind
    first_day: FirstDay
    last_day: LastDay
    note: Annotated[str, Field(max_length=2000)] | None = None


@endpoint(
    routes,
    "GET",
    "/api/v1/excuses",
    "excused days (leave, official travel, work from home) in scope",
    query=ExcusesQuery,
    response=page_of(OBJECT),
)
async def list_excuses(request: web.Request, query: ExcusesQuery) -> web.Response:
    """Excused days in scope. Filters: nip, from, to (days the excuse overlaps)."""
    require_role(request, Role.BUREAU_ADMIN, Role.UNIT_ADMIN, Role.SUPERVISOR, Role.EMPLOYEE)
    limit, offset = query.limit, query.offset
    rows = visible_excuses(await request_scope(request))
    if query.nip:
        rows = rows.filter(nip=query.nip)
    if query.first is not None:
        rows = rows.filter(last_day__gte=query.first)
    if query.last is not None:
        rows = rows.filter(first_day__lte=query.last)
    total = await rows.count()
    page = await rows.order_by("-first_day", "id").offset(offset).limit(limit)
    return web.json_response(
        {"total": total, "limit": limit, "offset": offset, "items": [excuse_json(r) for r in page]}
    )


@endpoint(
    routes,
    "POST",
    "/api/v1/excuses",
    "record excused days for an employee in scope",
    body=ExcuseIn,
    status=201,
    errors=(404, 409),
)
async def post_excuse(request: web.Request, body: ExcuseIn) -> web.Response:
    """{"nip", "kind": one of the policy's excuse kinds, "first_day", "last_day", "note"}."""
    row = await record_excuse(request, body.model_dump())
    return web.json_response(excuse_json(row), status=201)
