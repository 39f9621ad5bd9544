"""The payroll pages: a unit-month's payroll in Rupiah (closed or SEMENTARA), closing it (the bureau), and
the audit trail the bureau administrator reads. The figures are server.services.payroll's, as in the API."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlencode

from aiohttp import web

from server.auth import request_scope, require_role
from server.models import Unit
from server.pages.audit import audit_rows
from server.pages.pages import reader_zone
from server.pages.render import language_of, render
from server.services.accounts import Role
from server.services.month import parse_month
from server.services.payroll import (
    PayLine,
    PayrollConflict,
    StillRecalculating,
    close_month,
    explained_month,
    sheet_for,
)

routes = web.RouteTableDef()


async def _units_in_scope(request: web.Request) -> list[tuple[str, str]]:
    scope = await request_scope(request)
    return [
        (code, name) for code, name in await Unit.filter(scope.unit_q()).order_by("code").values_list("code", "name")
    ]


@routes.get("/payroll")
async def payroll_page(request: web.Request) -> web.Response:
    principal = require_role(request, Role.BUREAU_ADMIN, Role.UNIT_ADMIN)
    try:
        month = parse_month(request.query.get("month"))
    except ValueError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    units = await _units_in_scope(request)
    unit = request.query.get("unit") or (units[0][0] if units else "")
    if unit not in dict(units):
        raise web.HTTPNotFound(text="no such unit in your scope")
    sheet = await sheet_for(unit, month)
    return render(
        request,
        "payroll.html",
        sheet=sheet,
        month=month,
        unit=unit,
        units=units,
        unit_name=dict(units)[unit],
        may_close=principal.role is Role.BUREAU_ADMIN and not sheet.final,
        error=request.query.get("error"),
        bases=_bases(sheet.lines),
    )


def _bases(lines: Sequence[PayLine]) -> dict[str, int]:
    """How many lines took their performance component from the plan, and how many from the minutes (each
    line's trace says which); nothing to say where none came from the plan."""
    found = [str((line.explain.get("performance") or {}).get("basis") or "") for line in lines]
    if "plan" not in found:
        return {}
    return {"plan": found.count("plan"), "minutes": found.count("minutes")}


@routes.post("/payroll/close")
async def payroll_close(request: web.Request) -> web.Response:
    principal = require_role(request, Role.BUREAU_ADMIN)
    form = await request.post()
    unit, month_text = str(form.get("unit", "")), str(form.get("month", ""))
    try:
        month = parse_month(month_text)
    except ValueError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    if unit not in dict(await _units_in_scope(request)):
        raise web.HTTPNotFound(text="no such unit in your scope")
    query = {"unit": unit, "month": month.strftime("%Y-%m")}
    try:
        await close_month(unit, month.year, month.month, await explained_month(unit, month),
                          principal.username, principal.role.value)  # fmt: skip
    except StillRecalculating:
        query["error"] = "recalculating"
    except PayrollConflict:
        query["error"] = "closed"
    raise web.HTTPSeeOther(location="/payroll?" + urlencode(query))


@routes.get("/audit")
async def audit_page(request: web.Request) -> web.Response:
    principal = require_role(request, Role.BUREAU_ADMIN)
    entries = await audit_rows(language_of(request), await reader_zone(principal))
    return render(request, "audit.html", entries=entries)
