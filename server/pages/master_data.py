"""Master-data pages: importing employees from a SIASN/SIMPEG spreadsheet (XLSX or CSV) with a preview,
row-by-row refusals in the reader's language, and a confirmation that writes. The bureau administrator
imports into every unit, a unit administrator only into their units (a row of another unit is refused).

The uploaded file travels back in the preview's confirmation form (base64): the server keeps no half-done
import, and the confirmation plans the same bytes again, so what is written is what the database allows
at that moment, not a stale preview."""

from __future__ import annotations

import base64
import binascii
from datetime import date

from aiohttp import web
from tortoise.expressions import Q
from tortoise.functions import Count

from server.auth import request_scope, require_role
from server.errors import Invalid
from server.history_models import UnitGoLive
from server.i18n import N_, translate, translate_text
from server.models import Employee, Office, Unit
from server.pages.forms import parse_day, show_day
from server.pages.render import language_of, render
from server.payroll_models import EmployeeGrade
from server.services.accounts import Role
from server.services.attendance import NotVisible, employee_in_scope, subtree_filter
from server.services.employee_import import FIELDS, ImportFileError, apply_plan, plan_import
from server.services.history import (
    EARLIEST,
    END_STATUSES,
    Change,
    HistoryError,
    apply_change,
    cancel_scheduled,
    history_of,
    scheduled_of,
    set_go_live,
    today_local,
    valid_on,
)
from server.services.payroll import record_audit

routes = web.RouteTableDef()
MAX_LISTED = 500  # employees listed on one page; the count covers everyone the filter finds

FIELD_LABELS = {
    "nip": "NIP",
    "name": "Nama",
    "position": "Jabatan",
    "grade": "Kelas Jabatan",
    "unit": "Unit Kerja",
    "supervisor_nip": "NIP Atasan",
    "pin": "PIN",
}


def _mapping(form: dict[str, str]) -> dict[str, str]:
    return {name: form.get(f"column_{name}", "").strip() for name in FIELDS if form.get(f"column_{name}", "").strip()}


def _form_text(form: object, key: str) -> str:
    value = form.get(key)  # type: ignore[attr-defined]
    return value if isinstance(value, str) else ""


def _page(request: web.Request, status: int = 200, **context: object) -> web.Response:
    context.setdefault("plan", None)
    context.setdefault("error", None)
    context.setdefault("result", None)
    context.setdefault("mapping", {})
    context.setdefault("payload", "")
    context.setdefault("effective", show_day(date.today()))
    return render(request, "employee_import.html", status=status, labels=FIELD_LABELS, fields=FIELDS, **context)


@routes.get("/employees/import")
async def import_page(request: web.Request) -> web.Response:
    require_role(request, Role.BUREAU_ADMIN, Role.UNIT_ADMIN)
    return _page(request)


@routes.post("/employees/import")
async def import_post(request: web.Request) -> web.Response:
    principal = require_role(request, Role.BUREAU_ADMIN, Role.UNIT_ADMIN)
    scope = await request_scope(request)
    form = await request.post()
    texts = {key: _form_text(form, key) for key in form}
    mapping = _mapping(texts)
    upload = form.get("file")
    language = language_of(request)
    try:
        effective = parse_day(texts.get("effective") or date.today().isoformat())  # day/month/year as typed
    except Invalid:
        return _page(request, 400, error=_error(language, "date"), mapping=mapping)
    if upload is not None and hasattr(upload, "file"):
        data = upload.file.read()  # type: ignore[union-attr]
    else:
        try:
            data = base64.b64decode(texts.get("payload", ""), validate=True)
        except (binascii.Error, ValueError):
            data = b""
    if not data:
        return _page(request, 400, error=_error(language, "nofile"), mapping=mapping)
    try:
        plan = await plan_import(data, mapping, scope.unit_codes)
    except ImportFileError as exc:
        return _page(request, 400, error=exc.text(language), mapping=mapping)
    payload = base64.b64encode(data).decode()
    if texts.get("confirm") != "1":
        return _page(request, plan=plan, mapping=mapping, payload=payload, effective=show_day(effective))
    result = await apply_plan(plan, effective, principal.username)
    await record_audit(
        principal.username, principal.role.value, "employees.import", f"{result.created + result.updated} rows", None,
        {"created": result.created, "updated": result.updated, "refused": result.refused,
         "effective": effective.isoformat()},
    )  # fmt: skip
    return _page(request, plan=plan, result=result, mapping=mapping, effective=show_day(effective))


def _error(language: str, what: str) -> str:
    messages = {
        "nofile": N_("Choose an XLSX or CSV file first."),
        "date": N_("The effective date must be a date (day/month/year, for example 03/12/2026)."),
    }
    return translate(language, messages[what])


@routes.get("/master/employees")
async def employees_page(request: web.Request) -> web.Response:
    """The employees a bureau or unit administrator looks after, filtered by unit (and its subtree) and
    by a part of the NIP or name; each with the grade held today."""
    require_role(request, Role.BUREAU_ADMIN, Role.UNIT_ADMIN)
    scope = await request_scope(request)
    units = await Unit.filter(scope.unit_q()).order_by("code").values_list("code", "name")
    unit = request.query.get("unit", "")
    if unit and unit not in dict(units):
        raise web.HTTPNotFound(text="no such unit in your scope")
    narrowed = await subtree_filter(scope, unit or None)
    query = Employee.filter(narrowed.employee_q())
    text = request.query.get("q", "").strip()[:100]
    if text:
        query = query.filter(Q(nip__icontains=text) | Q(name__icontains=text))
    total = await query.count()
    employees = await query.order_by("unit_id", "name").limit(MAX_LISTED)
    today = date.today()
    grades = {
        g.nip: g.grade
        for g in await EmployeeGrade.filter(
            Q(last_day__isnull=True) | Q(last_day__gte=today), nip__in=[e.nip for e in employees], first_day__lte=today
        )
    }
    return render(
        request, "master_employees.html", employees=employees, grades=grades, units=units, unit=unit, q=text,
        total=total, shown=len(employees), unit_names=dict(units),
    )  # fmt: skip


@routes.get("/master/units")
async def units_page(
    request: web.Request, error: str | None = None, status: int = 200, form: dict[str, str] | None = None
) -> web.Response:
    """The unit tree (ministry, echelon I, echelon II, work units) with each unit's offices and zones."""
    require_role(request, Role.BUREAU_ADMIN, Role.UNIT_ADMIN)
    scope = await request_scope(request)
    units = await Unit.filter(scope.unit_q()).order_by("code")
    visible = {u.code for u in units}
    children: dict[str | None, list[Unit]] = {}
    for u in units:
        parent = u.parent_id if u.parent_id in visible else None  # type: ignore[attr-defined]
        children.setdefault(parent, []).append(u)
    offices: dict[str, list[Office]] = {}
    for office in await Office.filter(unit_id__in=sorted(visible)).order_by("code"):
        offices.setdefault(office.unit_id, []).append(office)  # type: ignore[attr-defined]
    counts = dict(
        await Employee.filter(unit_id__in=sorted(visible))
        .annotate(n=Count("nip"))
        .group_by("unit_id")
        .values_list("unit_id", "n")
    )
    live = dict(await UnitGoLive.filter(unit_code__in=sorted(visible)).values_list("unit_code", "live_from"))
    return render(
        request, "master_units.html", status=status, children=children, offices=offices, counts=counts, live=live,
        unit_choices=[(u.code, u.name) for u in units], error=error, form=form or {},
    )  # fmt: skip


@routes.post("/master/units/go-live")
async def go_live_post(request: web.Request) -> web.Response:
    """The unit is scored from the date given, typed day/month/year (empty: from always); audited."""
    principal = require_role(request, Role.BUREAU_ADMIN, Role.UNIT_ADMIN)
    scope = await request_scope(request)
    form = await request.post()
    unit, text = _form_text(form, "unit").strip(), _form_text(form, "live_from").strip()
    try:
        if not scope.sees_unit(unit):
            raise HistoryError(N_("Unit {unit} is not registered"), unit=unit or "-")
        day = parse_day(text) if text else None
        await set_go_live(unit, day, principal.username, principal.role.value)
    except (HistoryError, Invalid) as exc:  # the typed values stay in the form
        typed = {"unit": unit, "live_from": text}
        return await units_page(request, error=_error_text(request, exc), status=400, form=typed)
    raise web.HTTPSeeOther(location="/master/units")


def _error_text(request: web.Request, exc: HistoryError | Invalid) -> str:
    """A refusal in the reader's language: a HistoryError carries its msgid, an Invalid its English reason."""
    language = language_of(request)
    return exc.text(language) if isinstance(exc, HistoryError) else translate_text(language, exc.reason)


# --- one employee: the dated history, and edit, move, end and start, each from a date -----------------

STATUS_LABELS = {
    "active": N_("Active"),
    "transferred": N_("Transferred to another agency"),
    "retired": N_("Retired"),
    "dismissed": N_("Dismissed"),
    "leave_outside_state": N_("On leave outside the state"),
}
ACTION_LABELS = {
    "start": N_("Started"),
    "edit": N_("Data changed"),
    "move": N_("Moved to a unit"),
    "end": N_("Employment ended"),
}
DONE_NOTICES = {  # after a redirect, besides "recorded" with the action's label
    "scheduled": N_("The change is scheduled: it takes effect on its date."),
    "cancelled": N_("The scheduled change is cancelled."),
}


async def _offices_by_unit(units: list[str]) -> dict[str, list[Office]]:
    """The offices a move may name, by unit (the new unit's office is checked when the move is made)."""
    found: dict[str, list[Office]] = {}
    for office in await Office.filter(unit_id__in=units).order_by("code"):
        found.setdefault(office.unit_id, []).append(office)  # type: ignore[attr-defined]
    return found


async def _employee_context(request: web.Request, nip: str) -> dict[str, object]:
    scope = await request_scope(request)
    try:
        employee = await employee_in_scope(scope, nip)
    except NotVisible:
        raise web.HTTPNotFound(text="no such employee in your scope") from None
    units = await Unit.filter(scope.unit_q()).order_by("code").values_list("code", "name")
    names = dict(await Unit.all().values_list("code", "name"))
    rows = await history_of(nip)
    today = today_local()
    grade = await EmployeeGrade.filter(
        Q(last_day__isnull=True) | Q(last_day__gte=today), nip=nip, first_day__lte=today
    ).first()
    scheduled = await scheduled_of(nip)
    waiting = {change.assignment_id: change for change in scheduled}
    by_id = {row.id: row for row in rows}
    return {
        "employee": employee,
        "supervisor": await Employee.get_or_none(nip=employee.supervisor_id) if employee.supervisor_id else None,  # type: ignore[attr-defined]
        "rows": list(reversed(rows)),
        "current": valid_on(rows, today),  # today's row: later ones are scheduled
        "latest": rows[-1] if rows else None,  # what the next change starts from
        "scheduled": [(change, by_id[change.assignment_id]) for change in scheduled if change.assignment_id in by_id],
        "waiting": waiting,
        "grade": grade.grade if grade else None,
        "units": units,
        "unit_names": names,
        "offices": await Office.filter(unit_id=employee.unit_id).order_by("code"),  # type: ignore[attr-defined]
        "unit_offices": await _offices_by_unit([code for code, _name in units]),
        "statuses": STATUS_LABELS,
        "end_statuses": END_STATUSES,
        "actions": ACTION_LABELS,
        "done_notices": DONE_NOTICES,
        "earliest": EARLIEST,
        "today": show_day(today),  # the effective date's default, day/month/year
        "error": None,
        "form": {},
        "done": request.query.get("done", ""),
    }


@routes.get("/master/employees/{nip}")
async def employee_page(request: web.Request) -> web.Response:
    """One employee: today's data, the dated history, and the forms that change it from a date."""
    require_role(request, Role.BUREAU_ADMIN, Role.UNIT_ADMIN)
    context = await _employee_context(request, request.match_info["nip"])
    return render(request, "master_employee.html", **context)


def _change_of(texts: dict[str, str]) -> Change:
    """The form as a change; an unreadable date (Invalid, from forms.py) or grade (HistoryError) is refused."""
    action = texts.get("action", "")
    valid_from = parse_day(texts.get("valid_from", ""))  # typed day/month/year
    grade_text = texts.get("grade", "").strip()
    if grade_text and not grade_text.isdigit():
        raise HistoryError(N_("The grade (kelas jabatan) must be 1 to 17, not {grade}"), grade=grade_text[:10])
    position = texts.get("position", "").strip()
    return Change(
        action=action,
        valid_from=valid_from,
        unit_code=texts.get("unit", "").strip() or None,
        office_code=texts.get("office", "").strip() if "office" in texts else None,
        position=position if action == "edit" and position else None,
        grade=int(grade_text) if grade_text else None,
        supervisor_nip=texts.get("supervisor", "").strip() if "supervisor" in texts else None,
        status=texts.get("status", "").strip() or None,
        reason=texts.get("reason", ""),
    )


@routes.post("/master/employees/{nip}/change")
async def employee_change(request: web.Request) -> web.Response:
    principal = require_role(request, Role.BUREAU_ADMIN, Role.UNIT_ADMIN)
    nip = request.match_info["nip"]
    context = await _employee_context(request, nip)
    form = await request.post()
    texts = {key: _form_text(form, key) for key in form}
    scope = await request_scope(request)
    try:
        change = _change_of(texts)
        if change.action == "move" and change.unit_code and not scope.sees_unit(change.unit_code):
            raise HistoryError(N_("Unit {unit} is not registered"), unit=change.unit_code)
        row = await apply_change(nip, change, principal.username, principal.role.value)
    except (HistoryError, Invalid) as exc:
        context.update(error=_error_text(request, exc), form=texts)
        return render(request, "master_employee.html", status=400, **context)
    done = "scheduled" if row.valid_from > today_local() else change.action
    raise web.HTTPSeeOther(location=f"/master/employees/{nip}?done={done}")


@routes.post("/master/employees/{nip}/scheduled/{scheduled}/cancel")
async def scheduled_cancel(request: web.Request) -> web.Response:
    """A scheduled change withdrawn before its day."""
    principal = require_role(request, Role.BUREAU_ADMIN, Role.UNIT_ADMIN)
    nip = request.match_info["nip"]
    context = await _employee_context(request, nip)
    await request.post()
    if not request.match_info["scheduled"].isdigit():
        raise web.HTTPNotFound(text="no such scheduled change")
    try:
        await cancel_scheduled(nip, int(request.match_info["scheduled"]), principal.username, principal.role.value)
    except HistoryError as exc:
        context.update(error=_error_text(request, exc))
        return render(request, "master_employee.html", status=400, **context)
    raise web.HTTPSeeOther(location=f"/master/employees/{nip}?done=cancelled")
