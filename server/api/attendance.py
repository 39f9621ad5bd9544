"""The JSON API (v1) for the registry, today, months, results, exports, gateways, accounts.

Every handler asks for the principal's Scope and filters by it; a record outside the scope answers 404
exactly like one that does not exist. Errors are JSON with a reason.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import Field

from scoring import WEEKDAY_NAMES, InputError
from server.access import PERSONNEL, RECAP_ROLES
from server.api.endpoint import Body, Path, Query, endpoint
from server.api.fields import Limit, Month, NipText, Offset, Text63, checked_by, page_of
from server.api.http import download
from server.auth import principal_of, request_scope, require_role
from server.errors import NotFound
from server.services.accounts import UserAccount, issue_api_token
from server.services.attendance import WIB, NotVisible, employee_in_scope, json_time, subtree_filter, unit_zones
from server.services.exports import XLSX_TYPE, recap_csv, recap_xlsx
from server.services.month import CODES, month_view, parse_month, policy_for
from server.services.reader_language import explanation_in
from server.services.recap import Recap, read_recap
from server.services.today import today_view

routes = web.RouteTableDef()

UNIT_TREE = "a unit code: that unit and the units below it"
CATEGORY = Literal["TL1", "TL2", "TL3", "TL4", "PSW1", "PSW2", "PSW3", "PSW4", "TK"]
NOT_SCORED = "null when the row is not scored yet (`scored` false)"
RECAP_ROW = {
    "type": "object",
    "required": [
        "nip",
        "name",
        "unit",
        "TK",
        "deduction_percent",
        "activity_minutes",
        "score_percent",
        "scored",
        "recalculating",
    ],
    "properties": {
        "nip": {"type": "string"},
        "name": {"type": "string"},
        "unit": {"type": "string"},
        "position": {"type": "string"},
        **{code: {"type": "integer", "minimum": 0, "nullable": True, "description": NOT_SCORED} for code in CODES},
        "deduction_percent": {"type": "number", "nullable": True, "description": NOT_SCORED},
        "activity_minutes": {"type": "integer", "nullable": True, "description": NOT_SCORED},
        "score_percent": {"type": "number", "nullable": True, "description": NOT_SCORED},
        "scored": {
            "type": "boolean",
            "description": "false: a member of a unit-month being rescored with no stored result yet (belum dihitung)",
        },
        "recalculating": {
            "type": "boolean",
            "description": "the unit-month is being rescored by the scoring workers: the figures are the last "
            "stored ones; ask again in a few seconds",
        },
    },
}
RECAP_PAGE = page_of(RECAP_ROW)
RECAP_PAGE["required"] = [*RECAP_PAGE["required"], "month", "recalculating", "recalculating_units"]
RECAP_PAGE["properties"] = {
    "month": {"type": "string"},
    **RECAP_PAGE["properties"],
    "recalculating": {
        "type": "boolean",
        "description": "some unit-month of the answer is being rescored (never scored on the request: the "
        "stored results are read); ask again in a few seconds",
    },
    "recalculating_units": {"type": "array", "items": {"type": "string"}, "description": "those units"},
}


def _label(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value.strip()) <= 100:
        raise ValueError("name: expected a label of 1-100 characters")
    return value.strip()


# 1-100 characters, not all blank (stored stripped).
TokenName = checked_by(
    _label, {"type": "string", "minLength": 1, "maxLength": 100, "pattern": "^[^\\x00]*[^\\s\\x00][^\\x00]*$"}
)
MonthParam = Annotated[Month, Field(description="YYYY-MM from 2000-01 to 2100-12 (default: this month)")]
UnitParam = Annotated[Text63 | None, Field(description=UNIT_TREE)]


class TokenIn(Body):
    name: TokenName


class NipPath(Path):
    nip: Annotated[str, Field(max_length=18, description="the employee's 18-digit NIP")]


class MonthQuery(Query):
    month: MonthParam = None


class RecapQuery(Query):
    month: MonthParam = None
    unit: UnitParam = None


class ResultsQuery(RecapQuery):
    nip: NipText | None = Field(None, description="one employee")
    category: CATEGORY | None = Field(None, description="only employees with at least one day of this code")
    limit: Limit = 100
    offset: Offset = 0


class TodayQuery(Query):
    unit: UnitParam = None
    status: Literal["present", "late", "absent", "on_leave", "not_yet_in", "day_off"] | None = Field(
        None, description="only employees in this state today"
    )
    limit: Limit = 100
    offset: Offset = 0


class PolicyQuery(Query):
    unit: UnitParam = None


@endpoint(routes, "GET", "/api/v1/me", "the caller's account")
async def me(request: web.Request) -> web.Response:
    principal = principal_of(request)
    return web.json_response(
        {
            "username": principal.username,
            "display_name": principal.display_name,
            "role": principal.role.value,
            "unit": principal.unit_code,
            "nip": principal.employee_nip,
            "language": principal.language,
        }
    )


@endpoint(
    routes,
    "POST",
    "/api/v1/tokens",
    "a new API token for the caller (shown once)",
    body=TokenIn,
    response={"type": "object", "required": ["token"]},
    status=201,
)
async def create_token(request: web.Request, body: TokenIn) -> web.Response:
    """A new API token for the caller (shown once). Body: {"name": "payroll export"}."""
    principal = principal_of(request)
    user = await UserAccount.get(id=principal.user_id)
    return web.json_response({"name": body.name, "token": await issue_api_token(user, body.name)}, status=201)


@endpoint(
    routes,
    "GET",
    "/api/v1/employees/{nip}/month",
    "one employee's month: days, categories, punches, rule, explanation",
    path=NipPath,
    query=MonthQuery,
    errors=(404,),
)
async def employee_month(request: web.Request, path: NipPath, query: MonthQuery) -> web.Response:
    """One employee's month: each day's category, punches, the rule applied; totals and the explanation."""
    require_role(request, *PERSONNEL)
    month = query.month or parse_month(None)
    try:
        employee = await employee_in_scope(await request_scope(request), path.nip)
    except NotVisible:
        raise NotFound("no such employee in your scope") from None
    try:
        view = await month_view(employee, month)
    except InputError as exc:
        raise NotFound(f"month: {exc}") from None
    return web.json_response(
        {
            "nip": view.nip,
            "name": view.name,
            "unit": view.unit_code,
            "month": view.month.strftime("%Y-%m"),
            "counts": {code: view.counts.get(code, 0) for code in CODES},
            "deduction_percent": view.deduction_bp / 100,
            "discipline_deduction_percent": view.discipline_deduction_bp / 100,
            "activity_minutes": view.activity_minutes,
            "target_minutes": view.target_minutes,
            "score_percent": view.score_bp / 100,
            "explanation": await explanation_in(view, request.headers.get("Accept-Language")),
            "days": [
                {
                    "date": d.day.isoformat(),
                    "kind": d.kind,
                    "category": d.category,
                    "codes": d.codes,
                    "rule": d.rule,
                    "minutes_late": d.minutes_late,
                    "minutes_early": d.minutes_early,
                    "deduction_percent": d.deduction_bp / 100,
                    "first_in": d.first_in,
                    "last_out": d.last_out,
                    "punches": d.punches,
                    "activities": d.activities,
                }
                for d in view.days
            ],
        }
    )


async def recap_of(request: web.Request, query: RecapQuery, **page: Any) -> Recap:
    """The stored recap (server/services/recap.py: never scored on the request)."""
    require_role(request, *RECAP_ROLES)
    month = query.month or parse_month(None)
    scope = await subtree_filter(await request_scope(request), query.unit)
    try:
        return await read_recap(scope, month, **page)
    except InputError as exc:  # a month before the policy came into force: nothing to score it by
        raise NotFound(f"month: {exc}") from None


@endpoint(
    routes,
    "GET",
    "/api/v1/results",
    "monthly recap, one row per employee",
    query=ResultsQuery,
    response=RECAP_PAGE,
    errors=(404,),
)
async def monthly_results(request: web.Request, query: ResultsQuery) -> web.Response:
    """The monthly recap: one row per employee and unit of the month in scope, as the scoring workers
    stored it (a unit-month being rescored is flagged `recalculating`; its members never scored yet are
    rows with `scored` false and no figures). Filters: unit (with its subtree), nip, and category (a code:
    only employees with at least one day of it). Sorted by unit, name and NIP."""
    limit, offset = query.limit, query.offset
    found = await recap_of(request, query, limit=limit, offset=offset, nip=query.nip, category=query.category)
    body = {"month": found.month.strftime("%Y-%m"), "total": found.total, "limit": limit, "offset": offset}
    flags = {"recalculating": bool(found.recalculating), "recalculating_units": found.recalculating}
    return web.json_response({**body, **flags, "items": [row.as_dict() for row in found.rows]})


@endpoint(
    routes,
    "GET",
    "/api/v1/exports/recap.csv",
    "monthly recap as CSV (payroll layout)",
    query=RecapQuery,
    response={"type": "string"},
    errors=(404,),
    media="text/csv",
)
async def export_recap_csv(request: web.Request, query: RecapQuery) -> web.Response:
    found = await recap_of(request, query)
    return download(recap_csv(found.rows, found.month), f"rekap-{found.month:%Y-%m}.csv", "text/csv; charset=utf-8")


@endpoint(
    routes,
    "GET",
    "/api/v1/exports/recap.xlsx",
    "monthly recap as XLSX (payroll layout)",
    query=RecapQuery,
    response={"type": "string", "format": "binary"},
    errors=(404,),
    media=XLSX_TYPE,
)
async def export_recap_xlsx(request: web.Request, query: RecapQuery) -> web.Response:
    found = await recap_of(request, query)
    return download(recap_xlsx(found.rows, found.month), f"rekap-{found.month:%Y-%m}.xlsx", XLSX_TYPE)


@endpoint(routes, "GET", "/api/v1/today", "today across the unit tree", query=TodayQuery)
async def today(request: web.Request, query: TodayQuery) -> web.Response:
    """Today across the unit tree: per unit present, late, absent, on leave, not yet in; the employees
    (paginated, filter: status)."""
    require_role(request, *PERSONNEL)
    limit, offset, status = query.limit, query.offset, query.status
    scope = await subtree_filter(await request_scope(request), query.unit)
    counts, rows = await today_view(scope)
    if status is not None:
        rows = [r for r in rows if r.status == status]
    total = len(rows)
    rows = rows[offset : offset + limit]
    return web.json_response(
        {
            "units": [vars(c) for c in counts],
            "total": total,
            "limit": limit,
            "offset": offset,
            "employees": [
                {
                    "nip": r.nip,
                    "name": r.name,
                    "unit": r.unit_code,
                    "first_in": json_time(r.first_in),
                    "status": r.status,
                }
                for r in rows
            ],
        }
    )


@endpoint(routes, "GET", "/api/v1/policy", "the attendance policy in force", query=PolicyQuery)
async def policy_in_force(request: web.Request, query: PolicyQuery) -> web.Response:
    """The attendance policy in force (for a unit's office zone with ?unit=): hours per weekday, grace,
    the TL/PSW/TK tables, the excuse kinds."""
    principal_of(request)
    unit = query.unit
    policy = policy_for((await unit_zones()).get(unit or "", WIB))
    return web.json_response(
        {
            "name": policy.name,
            "unit": unit,
            "time_zone": policy.time_zone,
            "grace_minutes": policy.attendance.grace_minutes,
            "excuses": [{"kind": r.kind, "code": r.code, "label": r.label} for r in policy.excuses],
            "title": policy.title,
            "effective_from": policy.effective_from.isoformat(),
            "hours": {
                WEEKDAY_NAMES[i]: (h.label() if (h := policy.hours.on(i)) else None)  # type: ignore[attr-defined]
                for i in range(7)
            },
            "bands": [
                {
                    "code": b.code,
                    "from_minutes": b.from_minutes,
                    "to_minutes": b.to_minutes,
                    "percent": b.deduction_bp / 100,
                }
                for b in (*policy.lateness.bands, *policy.early_leave.bands)
            ],
            "absence": {"code": policy.absence.code, "percent": policy.absence.deduction_bp / 100},
            "monthly_cap_percent": policy.discipline.monthly_cap_bp / 100,
            "as_of": datetime.now(UTC).isoformat(),
        }
    )
