"""The JSON API (v1) for the registry, today, months, results, exports, gateways, accounts.

Every handler asks for the principal's Scope and filters by it; a record outside the scope answers 404
exactly like one that does not exist. Errors are JSON with a reason.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from scoring import WEEKDAY_NAMES, InputError
from server.access import PERSONNEL, RECAP_ROLES
from server.api.http import download, json_body, page_params
from server.auth import principal_of, request_scope, require_role
from server.errors import Invalid, NotFound
from server.models import Employee
from server.services.accounts import UserAccount, issue_api_token
from server.services.attendance import WIB, NotVisible, employee_in_scope, json_time, subtree_filter, unit_zones
from server.services.exports import XLSX_TYPE, recap_csv, recap_xlsx
from server.services.month import CODES, month_view, parse_month, policy_for, recap
from server.services.reader_language import explanation_in
from server.services.today import today_view

routes = web.RouteTableDef()

TODAY_STATUSES = ("present", "late", "absent", "on_leave", "not_yet_in", "day_off")


def month_param(request: web.Request) -> Any:
    if request.query.get("month") == "":
        raise Invalid("month: expected YYYY-MM, got ''")
    try:
        return parse_month(request.query.get("month"))
    except ValueError as exc:
        raise Invalid(str(exc)) from None


@routes.get("/api/v1/me")
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


@routes.post("/api/v1/tokens")
async def create_token(request: web.Request) -> web.Response:
    """A new API token for the caller (shown once). Body: {"name": "payroll export"}."""
    principal = principal_of(request)
    body = await json_body(request)
    name = body.get("name")
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 100:
        raise Invalid("name: expected a label of 1-100 characters")

    user = await UserAccount.get(id=principal.user_id)
    return web.json_response({"name": name.strip(), "token": await issue_api_token(user, name.strip())}, status=201)


@routes.get("/api/v1/employees/{nip}/month")
async def employee_month(request: web.Request) -> web.Response:
    """One employee's month: each day's category, punches, the rule applied; totals and the explanation."""
    require_role(request, *PERSONNEL)
    month = month_param(request)
    try:
        employee = await employee_in_scope(await request_scope(request), request.match_info["nip"])
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


async def recap_rows(request: web.Request) -> tuple[Any, list[Any]]:
    require_role(request, *RECAP_ROLES)
    month = month_param(request)
    scope = await subtree_filter(await request_scope(request), request.query.get("unit"))
    employees = await Employee.filter(scope.employee_q()).order_by("unit_id", "name", "nip")
    try:
        return month, await recap(employees, month)
    except InputError as exc:  # a month before the policy came into force: nothing to score it by
        raise NotFound(f"month: {exc}") from None


@routes.get("/api/v1/results")
async def monthly_results(request: web.Request) -> web.Response:
    """The monthly recap: one row per employee in scope. Filters: unit (with its subtree), nip, and
    category (a code: only employees with at least one day of it)."""
    limit, offset = page_params(request)
    category = request.query.get("category")
    if category is not None and category not in CODES:
        raise Invalid(f"category: expected one of {list(CODES)}")
    month, rows = await recap_rows(request)
    if nip := request.query.get("nip"):
        if len(nip) > 18:
            raise Invalid(f"nip: expected a NIP of at most 18 characters, got {len(nip)}")
        rows = [row for row in rows if row.nip == nip]
    if category is not None:
        rows = [row for row in rows if row.counts.get(category, 0) > 0]
    items = [row.as_dict() for row in rows]
    body = {"month": month.strftime("%Y-%m"), "total": len(items), "limit": limit, "offset": offset}
    return web.json_response({**body, "items": items[offset : offset + limit]})


@routes.get("/api/v1/exports/recap.csv")
async def export_recap_csv(request: web.Request) -> web.Response:

    month, rows = await recap_rows(request)
    return download(recap_csv(rows, month), f"rekap-{month:%Y-%m}.csv", "text/csv; charset=utf-8")


@routes.get("/api/v1/exports/recap.xlsx")
async def export_recap_xlsx(request: web.Request) -> web.Response:

    month, rows = await recap_rows(request)
    return download(recap_xlsx(rows, month), f"rekap-{month:%Y-%m}.xlsx", XLSX_TYPE)


@routes.get("/api/v1/today")
async def today(request: web.Request) -> web.Response:
    """Today across the unit tree: per unit present, late, absent, on leave, not yet in; the employees
    (paginated, filter: status)."""
    require_role(request, *PERSONNEL)
    limit, offset = page_params(request)
    status = request.query.get("status")
    if status is not None and status not in TODAY_STATUSES:
        raise Invalid(f"status: expected one of {list(TODAY_STATUSES)}")
    scope = await subtree_filter(await request_scope(request), request.query.get("unit"))
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


@routes.get("/api/v1/policy")
async def policy_in_force(request: web.Request) -> web.Response:
    """The attendance policy in force (for a unit's office zone with ?unit=): hours per weekday, grace,
    the TL/PSW/TK tables, the excuse kinds."""

    principal_of(request)
    unit = request.query.get("unit")
    if unit is not None and len(unit) > 63:
        raise Invalid("unit: expected a unit code of at most 63 characters")
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
