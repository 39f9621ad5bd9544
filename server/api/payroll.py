"""The payroll API: grades, the payroll of a unit-month, its close and late corrections, the reports
(CSV, XLSX, PDF), the unit's signatories and the audit trail. Access: server/access.py RULES (a unit
administrator sees their units' payroll; closing, correcting and the audit trail are the bureau's)."""

from __future__ import annotations

from datetime import date
from typing import Any

from aiohttp import web

import server.api.payroll_openapi  # noqa: F401  (documents these routes in the OpenAPI document)
from server.api.http import download, json_body, page_params
from server.auth import request_scope, require_role
from server.errors import Conflict, Invalid, NotFound
from server.models import Employee, Unit
from server.payroll_models import AuditEntry, EmployeeGrade, UnitSignatory
from server.services.accounts import Role
from server.services.attendance import NotVisible, employee_in_scope
from server.services.month import parse_month
from server.services.payroll import (
    STATUSES,
    PayLine,
    PayrollConflict,
    PayrollSheet,
    close_month,
    correct_line,
    explained_month,
    record_audit,
    set_grade,
    sheet_for,
    signatories,
)
from server.services.payroll_exports import XLSX_TYPE, payroll_csv, payroll_pdf, payroll_xlsx

routes = web.RouteTableDef()
PAYROLL_ROLES = (Role.BUREAU_ADMIN, Role.UNIT_ADMIN)


def _month(text: object) -> date:
    if not isinstance(text, str) or not text:
        raise Invalid("month: expected YYYY-MM")
    try:
        return parse_month(text)
    except ValueError as exc:
        raise Invalid(str(exc)) from None


async def _unit_in_scope(request: web.Request, code: object) -> Unit:

    if not isinstance(code, str) or not code:
        raise Invalid("unit: expected a unit code")
    scope = await request_scope(request)
    unit = await Unit.get_or_none(code=code)
    if unit is None or not scope.sees_unit(code) or not scope.personnel:
        raise NotFound("no such unit in your scope")
    return unit


def line_json(line: PayLine, *, explained: bool = False) -> dict[str, Any]:
    found: dict[str, Any] = {
        "nip": line.nip,
        "name": line.name,
        "position": line.position,
        "grade": line.grade,
        "status": line.status,
        "gross": line.gross,
        "deduction_bp": line.deduction_bp,
        "cut": line.cut,
        "net": line.net,
    }
    if explained:
        found["explain"] = line.explain
    return found


def sheet_json(sheet: PayrollSheet) -> dict[str, Any]:
    return {
        "unit": sheet.unit_code,
        "month": f"{sheet.year}-{sheet.month:02d}",
        "final": sheet.final,
        "closed_by": sheet.closed_by,
        "closed_at": sheet.closed_at.isoformat() if sheet.closed_at else None,
        "lines": [line_json(line) for line in sheet.lines],
        "totals": {"gross": sheet.total_gross, "cut": sheet.total_cut, "net": sheet.total_net},
        "corrections": [
            {
                "nip": c.nip,
                "reason": c.reason,
                "corrected_by": c.corrected_by,
                "corrected_at": c.corrected_at.isoformat(),
                "gross_before": c.gross_before,
                "gross_after": c.gross_after,
                "net_before": c.net_before,
                "net_after": c.net_after,
            }
            for c in sheet.corrections
        ],
        "missing": [{"nip": nip, "reason": why} for nip, why in sheet.missing],
    }


async def _employee(request: web.Request, nip: str) -> Employee:

    try:
        return await employee_in_scope(await request_scope(request), nip)
    except NotVisible:
        raise NotFound("no such employee in your scope") from None


@routes.get("/api/v1/employees/{nip}/grades")
async def list_grades(request: web.Request) -> web.Response:
    """The employee's grades (kelas jabatan) and statuses, oldest first."""
    employee = await _employee(request, request.match_info["nip"])
    rows = await EmployeeGrade.filter(nip=employee.nip).order_by("first_day")
    return web.json_response(
        {
            "nip": employee.nip,
            "items": [
                {
                    "grade": r.grade,
                    "status": r.status,
                    "first_day": r.first_day.isoformat(),
                    "last_day": r.last_day.isoformat() if r.last_day else None,
                }
                for r in rows
            ],
        }
    )


@routes.post("/api/v1/employees/{nip}/grades")
async def add_grade(request: web.Request) -> web.Response:
    """From `from` on the employee holds `grade` with `status`; the grade held before ends the day before."""

    principal = require_role(request, Role.BUREAU_ADMIN)
    employee = await _employee(request, request.match_info["nip"])
    body = await json_body(request)
    grade, status = body.get("grade"), body.get("status", "pns")
    if not isinstance(grade, int) or isinstance(grade, bool) or not 1 <= grade <= 17:
        raise Invalid("grade: kelas jabatan 1-17")
    if status not in STATUSES:
        raise Invalid(f"status: expected one of {list(STATUSES)}")
    try:
        first_day = date.fromisoformat(str(body.get("from")))
    except ValueError:
        raise Invalid("from: expected a date as YYYY-MM-DD") from None
    row = await set_grade(employee.nip, grade, status, first_day, principal.username)
    await record_audit(principal.username, principal.role.value, "grade.set", employee.nip,
                       employee.unit_id, {"grade": grade, "status": status, "from": first_day.isoformat()})  # type: ignore[attr-defined]  # fmt: skip
    return web.json_response({"nip": employee.nip, "grade": row.grade, "status": row.status,
                              "first_day": row.first_day.isoformat()}, status=201)  # fmt: skip


@routes.get("/api/v1/payroll")
async def get_payroll(request: web.Request) -> web.Response:
    """The payroll of a unit-month: one line per employee, totals; final once the month is closed."""
    require_role(request, *PAYROLL_ROLES)
    unit = await _unit_in_scope(request, request.query.get("unit"))
    sheet = await sheet_for(unit.code, _month(request.query.get("month")))
    return web.json_response(sheet_json(sheet))


@routes.post("/api/v1/payroll/close")
async def close_payroll(request: web.Request) -> web.Response:
    """Close a unit-month: its payroll lines are frozen; later changes are recorded corrections."""

    principal = require_role(request, Role.BUREAU_ADMIN)
    body = await json_body(request)
    unit = await _unit_in_scope(request, body.get("unit"))
    month = _month(body.get("month"))
    try:
        await close_month(unit.code, month.year, month.month, await explained_month(unit.code, month),
                          principal.username, principal.role.value)  # fmt: skip
    except PayrollConflict as exc:
        raise Conflict(str(exc)) from None
    return web.json_response(sheet_json(await sheet_for(unit.code, month)), status=201)


@routes.post("/api/v1/payroll/corrections")
async def correct_payroll(request: web.Request) -> web.Response:
    """A late change to a closed month: the employee's line recomputed now, with who, when and why."""

    principal = require_role(request, Role.BUREAU_ADMIN)
    body = await json_body(request)
    unit = await _unit_in_scope(request, body.get("unit"))
    month = _month(body.get("month"))
    reason, nip = body.get("reason"), body.get("nip")
    if not isinstance(reason, str) or not reason.strip() or len(reason) > 2000:
        raise Invalid("reason: a correction says why (1-2000 characters)")
    if not isinstance(nip, str):
        raise Invalid("nip: expected the employee's NIP")
    try:
        await correct_line(unit.code, month.year, month.month, nip, reason, await explained_month(unit.code, month),
                           principal.username, principal.role.value)  # fmt: skip
    except PayrollConflict as exc:
        raise Conflict(str(exc)) from None
    except LookupError as exc:
        raise NotFound(str(exc)) from None
    return web.json_response(sheet_json(await sheet_for(unit.code, month)), status=201)


@routes.get("/api/v1/units/{code}/signatories")
async def get_signatories(request: web.Request) -> web.Response:
    unit = await _unit_in_scope(request, request.match_info["code"])
    return web.json_response(_signatory_json(await signatories(unit.code)))


SIGNATORY_FIELDS = ("head_name", "head_nip", "head_title", "treasurer_name", "treasurer_nip", "office_heading")


@routes.post("/api/v1/units/{code}/signatories")
async def set_signatories(request: web.Request) -> web.Response:
    """Who signs the unit's payroll report (the unit head and the treasurer) and the office heading."""

    principal = require_role(request, Role.BUREAU_ADMIN, Role.UNIT_ADMIN)
    unit = await _unit_in_scope(request, request.match_info["code"])
    body = await json_body(request)
    values: dict[str, str] = {}
    for name in SIGNATORY_FIELDS:
        value = body.get(name, "")
        limit = 18 if name.endswith("_nip") else 300 if name == "office_heading" else 200
        if not isinstance(value, str) or len(value) > limit:
            raise Invalid(f"{name}: expected text of at most {limit} characters")
        if name.endswith("_nip") and value and not (value.isascii() and value.isdigit() and len(value) == 18):
            raise Invalid(f"{name}: NIP harus 18 digit (a NIP is 18 digits)")
        values[name] = value.strip()
    row, _ = await UnitSignatory.update_or_create(defaults=values, unit_code=unit.code)
    await record_audit(principal.username, principal.role.value, "signatories.set", unit.code, unit.code, values)
    return web.json_response(_signatory_json(row))


def _signatory_json(row: UnitSignatory) -> dict[str, Any]:
    return {"unit": row.unit_code, **{name: getattr(row, name) for name in SIGNATORY_FIELDS}}


async def _report(request: web.Request) -> tuple[PayrollSheet, UnitSignatory, Unit, date]:
    require_role(request, *PAYROLL_ROLES)
    unit = await _unit_in_scope(request, request.query.get("unit"))
    month = _month(request.query.get("month"))
    return await sheet_for(unit.code, month), await signatories(unit.code), unit, month


def _filename(sheet: PayrollSheet, extension: str) -> str:
    draft = "" if sheet.final else "-SEMENTARA"
    return f"tukin-{sheet.unit_code}-{sheet.year}-{sheet.month:02d}{draft}.{extension}"


@routes.get("/api/v1/exports/payroll.csv")
async def payroll_csv_export(request: web.Request) -> web.Response:

    sheet, signatory, unit, _ = await _report(request)
    return download(payroll_csv(sheet, signatory, unit.name), _filename(sheet, "csv"), "text/csv; charset=utf-8")


@routes.get("/api/v1/exports/payroll.xlsx")
async def payroll_xlsx_export(request: web.Request) -> web.Response:

    sheet, signatory, unit, _ = await _report(request)
    return download(payroll_xlsx(sheet, signatory, unit.name), _filename(sheet, "xlsx"), XLSX_TYPE)


@routes.get("/api/v1/exports/payroll.pdf")
async def payroll_pdf_export(request: web.Request) -> web.Response:

    sheet, signatory, unit, _ = await _report(request)
    return download(payroll_pdf(sheet, signatory, unit.name), _filename(sheet, "pdf"), "application/pdf")


@routes.get("/api/v1/audit")
async def audit_trail(request: web.Request) -> web.Response:
    """What users changed, newest first (the bureau administrator's)."""

    require_role(request, Role.BUREAU_ADMIN)
    limit, offset = page_params(request)
    query = AuditEntry.all()
    if unit := request.query.get("unit"):
        query = query.filter(unit_code=unit)
    total = await query.count()
    rows = await query.order_by("-at", "-id").offset(offset).limit(limit)
    return web.json_response({"total": total, "limit": limit, "offset": offset, "items": [audit_json(r) for r in rows]})


def audit_json(row: AuditEntry) -> dict[str, Any]:
    return {"at": row.at.isoformat(), "username": row.username, "role": row.role, "action": row.action,
            "target": row.target, "unit": row.unit_code, "detail": row.detail}  # fmt: skip
