"""The payroll API: grades, the payroll of a unit-month, its close and late corrections, the reports
(CSV, XLSX, PDF), the unit's signatories and the audit trail. Access: server/access.py RULES (a unit
administrator sees their units' payroll; closing, correcting and the audit trail are the bureau's)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import Field

from server.api.endpoint import Body, Path, Query, endpoint
from server.api.fields import OBJECT, Limit, Offset, RequiredMonth, Text63, checked_by
from server.api.http import download
from server.auth import request_scope, require_role
from server.errors import Conflict, NotFound
from server.models import Employee, Unit
from server.payroll_models import AuditEntry, EmployeeGrade, UnitSignatory
from server.services.accounts import Role
from server.services.attendance import NotVisible, employee_in_scope
from server.services.payroll import (
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
SIGNATORY_FIELDS = ("head_name", "head_nip", "head_title", "treasurer_name", "treasurer_nip", "office_heading")
BINARY = {"type": "string", "format": "binary"}


def _grade(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 17:
        raise ValueError("grade: kelas jabatan 1-17")
    return value


def _from(value: Any) -> date:
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError("from: expected a date as YYYY-MM-DD") from None


def _reason(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 2000:
        raise ValueError("reason: a correction says why (1-2000 characters)")
    return value


def _signatory(name: str) -> Any:
    """A signatory field: text of at most its column's length, stored stripped; a NIP is 18 digits or empty."""
    limit = 18 if name.endswith("_nip") else 300 if name == "office_heading" else 200

    def check(value: Any) -> str:
        if not isinstance(value, str) or len(value) > limit:
            raise ValueError(f"{name}: expected text of at most {limit} characters")
        if name.endswith("_nip") and value and not (value.isascii() and value.isdigit() and len(value) == 18):
            raise ValueError(f"{name}: NIP harus 18 digit (a NIP is 18 digits)")
        return value.strip()

    schema = (
        {"type": "string", "pattern": "^([0-9]{18})?$"}
        if name.endswith("_nip")
        else {"type": "string", "maxLength": limit}
    )
    return checked_by(check, schema)


UnitText = Annotated[str, Field(min_length=1, max_length=63)]
Grade = checked_by(_grade, {"type": "integer", "minimum": 1, "maximum": 17})
FromDay = checked_by(_from, {"type": "string", "format": "date"})
Reason = checked_by(
    _reason, {"type": "string", "minLength": 1, "maxLength": 2000, "pattern": "^[^\\x00]*[^\\s\\x00][^\\x00]*$"}
)
HeadName, HeadNip, HeadTitle, TreasurerName, TreasurerNip, OfficeHeading = (_signatory(n) for n in SIGNATORY_FIELDS)
MONTH_PARAM = "YYYY-MM from 2000-01 to 2100-12 (default: this month)"


class NipPath(Path):
    nip: Annotated[str, Field(max_length=18, description="the employee's 18-digit NIP")]


class CodePath(Path):
    code: Text63 = Field(description="a unit code")


class GradeIn(Body):
    grade: Grade
    first_day: FromDay = Field(alias="from")
    status: Literal["pns", "cpns", "pppk"] = "pns"


class UnitMonthQuery(Query):
    unit: UnitText = Field(description="the unit code")
    month: RequiredMonth = Field(description=MONTH_PARAM)


class UnitMonthIn(Body):
    unit: UnitText
    month: RequiredMonth


class CorrectionIn(UnitMonthIn):
    nip: Annotated[str, Field(pattern="^[0-9]{18}$")]
    reason: Reason


class SignatoriesIn(Body):
    head_name: HeadName = ""
    head_nip: HeadNip = ""
    head_title: HeadTitle = ""
    treasurer_name: TreasurerName = ""
    treasurer_nip: TreasurerNip = ""
    office_heading: OfficeHeading = ""


class AuditQuery(Query):
    unit: Text63 | None = Field(None, description="one unit")
    limit: Limit = 100
    offset: Offset = 0


async def _unit_in_scope(request: web.Request, code: str) -> Unit:
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


@endpoint(
    routes,
    "GET",
    "/api/v1/employees/{nip}/grades",
    "the employee's grades (kelas jabatan) and statuses",
    path=NipPath,
    errors=(404,),
)
async def list_grades(request: web.Request, path: NipPath) -> web.Response:
    """The employee's grades (kelas jabatan) and statuses, oldest first."""
    employee = await _employee(request, path.nip)
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


@endpoint(
    routes,
    "POST",
    "/api/v1/employees/{nip}/grades",
    "the employee holds a grade from a day on (the grade before ends the day before)",
    path=NipPath,
    body=GradeIn,
    status=201,
    errors=(404,),
)
async def add_grade(request: web.Request, path: NipPath, body: GradeIn) -> web.Response:
    """From `from` on the employee holds `grade` with `status`; the grade held before ends the day before."""
    principal = require_role(request, Role.BUREAU_ADMIN)
    employee = await _employee(request, path.nip)
    grade, status, first_day = body.grade, body.status, body.first_day
    row = await set_grade(employee.nip, grade, status, first_day, principal.username)
    await record_audit(principal.username, principal.role.value, "grade.set", employee.nip,
                       employee.unit_id, {"grade": grade, "status": status, "from": first_day.isoformat()})  # type: ignore[attr-defined]  # fmt: skip
    return web.json_response({"nip": employee.nip, "grade": row.grade, "status": row.status,
                              "first_day": row.first_day.isoformat()}, status=201)  # fmt: skip


@endpoint(
    routes,
    "GET",
    "/api/v1/payroll",
    "the payroll of a unit-month (final once closed)",
    query=UnitMonthQuery,
    errors=(404, 409),
)
async def get_payroll(request: web.Request, query: UnitMonthQuery) -> web.Response:
    """The payroll of a unit-month: one line per employee, totals; final once the month is closed."""
    require_role(request, *PAYROLL_ROLES)
    unit = await _unit_in_scope(request, query.unit)
    sheet = await sheet_for(unit.code, query.month)
    return web.json_response(sheet_json(sheet))


@endpoint(
    routes,
    "POST",
    "/api/v1/payroll/close",
    "close a unit-month: its payroll lines are frozen",
    body=UnitMonthIn,
    status=201,
    errors=(404, 409),
)
async def close_payroll(request: web.Request, body: UnitMonthIn) -> web.Response:
    """Close a unit-month: its payroll lines are frozen; later changes are recorded corrections."""
    principal = require_role(request, Role.BUREAU_ADMIN)
    unit = await _unit_in_scope(request, body.unit)
    month = body.month
    try:
        await close_month(unit.code, month.year, month.month, await explained_month(unit.code, month),
                          principal.username, principal.role.value)  # fmt: skip
    except PayrollConflict as exc:
        raise Conflict(str(exc)) from None
    return web.json_response(sheet_json(await sheet_for(unit.code, month)), status=201)


@endpoint(
    routes,
    "POST",
    "/api/v1/payroll/corrections",
    "a recorded correction of a closed month's line (who, when, why)",
    body=CorrectionIn,
    status=201,
    errors=(404, 409),
)
async def correct_payroll(request: web.Request, body: CorrectionIn) -> web.Response:
    """A late change to a closed month: the employee's line recomputed now, with who, when and why."""
    principal = require_role(request, Role.BUREAU_ADMIN)
    unit = await _unit_in_scope(request, body.unit)
    month, reason, nip = body.month, body.reason, body.nip
    try:
        await correct_line(unit.code, month.year, month.month, nip, reason, await explained_month(unit.code, month),
                           principal.username, principal.role.value)  # fmt: skip
    except PayrollConflict as exc:
        raise Conflict(str(exc)) from None
    except LookupError as exc:
        raise NotFound(str(exc)) from None
    return web.json_response(sheet_json(await sheet_for(unit.code, month)), status=201)


@endpoint(
    routes,
    "GET",
    "/api/v1/units/{code}/signatories",
    "who signs the unit's payroll report",
    path=CodePath,
    errors=(404,),
)
async def get_signatories(request: web.Request, path: CodePath) -> web.Response:
    unit = await _unit_in_scope(request, path.code)
    return web.json_response(_signatory_json(await signatories(unit.code)))


@endpoint(
    routes,
    "POST",
    "/api/v1/units/{code}/signatories",
    "set the unit head, the treasurer and the office heading of the payroll report",
    path=CodePath,
    body=SignatoriesIn,
    errors=(404,),
)
async def set_signatories(request: web.Request, path: CodePath, body: SignatoriesIn) -> web.Response:
    """Who signs the unit's payroll report (the unit head and the treasurer) and the office heading."""
    principal = require_role(request, Role.BUREAU_ADMIN, Role.UNIT_ADMIN)
    unit = await _unit_in_scope(request, path.code)
    values: dict[str, str] = body.model_dump()
    row, _ = await UnitSignatory.update_or_create(defaults=values, unit_code=unit.code)
    await record_audit(principal.username, principal.role.value, "signatories.set", unit.code, unit.code, values)
    return web.json_response(_signatory_json(row))


def _signatory_json(row: UnitSignatory) -> dict[str, Any]:
    return {"unit": row.unit_code, **{name: getattr(row, name) for name in SIGNATORY_FIELDS}}


async def _report(request: web.Request, query: UnitMonthQuery) -> tuple[PayrollSheet, UnitSignatory, Unit, date]:
    require_role(request, *PAYROLL_ROLES)
    unit = await _unit_in_scope(request, query.unit)
    month = query.month
    return await sheet_for(unit.code, month), await signatories(unit.code), unit, month


def _filename(sheet: PayrollSheet, extension: str) -> str:
    draft = "" if sheet.final else "-SEMENTARA"
    return f"tukin-{sheet.unit_code}-{sheet.year}-{sheet.month:02d}{draft}.{extension}"


def _export(template: str, summary: str, media: str) -> Any:
    return endpoint(
        routes, "GET", template, summary, query=UnitMonthQuery, response=BINARY, errors=(404, 409), media=media
    )


@_export("/api/v1/exports/payroll.csv", "the payroll report, CSV for Excel in Indonesian", "text/csv")
async def payroll_csv_export(request: web.Request, query: UnitMonthQuery) -> web.Response:
    sheet, signatory, unit, _ = await _report(request, query)
    return download(payroll_csv(sheet, signatory, unit.name), _filename(sheet, "csv"), "text/csv; charset=utf-8")


@_export("/api/v1/exports/payroll.xlsx", "the payroll report, XLSX ready to print", XLSX_TYPE)
async def payroll_xlsx_export(request: web.Request, query: UnitMonthQuery) -> web.Response:
    sheet, signatory, unit, _ = await _report(request, query)
    return download(payroll_xlsx(sheet, signatory, unit.name), _filename(sheet, "xlsx"), XLSX_TYPE)


@_export("/api/v1/exports/payroll.pdf", "the payroll report, PDF", "application/pdf")
async def payroll_pdf_export(request: web.Request, query: UnitMonthQuery) -> web.Response:
    sheet, signatory, unit, _ = await _report(request, query)
    return download(payroll_pdf(sheet, signatory, unit.name), _filename(sheet, "pdf"), "application/pdf")


@endpoint(routes, "GET", "/api/v1/audit", "what users changed, newest first", query=AuditQuery, response=OBJECT)
async def audit_trail(request: web.Request, query: AuditQuery) -> web.Response:
    """What users changed, newest first (the bureau administrator's)."""
    require_role(request, Role.BUREAU_ADMIN)
    limit, offset = query.limit, query.offset
    entries = AuditEntry.all()
    if query.unit:
        entries = entries.filter(unit_code=query.unit)
    total = await entries.count()
    rows = await entries.order_by("-at", "-id").offset(offset).limit(limit)
    return web.json_response({"total": total, "limit": limit, "offset": offset, "items": [audit_json(r) for r in rows]})


def audit_json(row: AuditEntry) -> dict[str, Any]:
    return {"at": row.at.isoformat(), "username": row.username, "role": row.role, "action": row.action,
            "target": row.target, "unit": row.unit_code, "detail": row.detail}  # fmt: skip
