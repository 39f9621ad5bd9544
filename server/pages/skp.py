"""The work-plan pages (Rencana Kinerja, SKP; issue 17), on server/services/skp.py:

- /kinerja/skp: the employee's own plan for a year: draft RHK under the superior's agreed RHK (or the
  unit's targets), indicators and targets, the activities that realise them; submit; every version;
  realisation against target per RHK for a period; the yearly SKP document as PDF.
- /kinerja/skp/tim: the plans the reader agrees (a supervisor's direct subordinates; for the bureau and
  unit administrators, the unit heads without a supervisor on record); /kinerja/skp/pegawai/{nip}: one
  employee's plan, with the agreement.
- /kinerja/sasaran: the units' organisation targets (RKAKL outputs, goals), by the bureau or the unit
  administrator.
- /kinerja/organisasi: the organisation's performance rolled up employee -> unit -> echelon II ->
  echelon I -> ministry, within the reader's scope: realisation, minutes, discipline, predicates and each
  unit's distribution rule (server/services/organisation.py; the rules in docs/web.md).
"""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from scoring import IndicatorAspect, OrganisationRating, Predicate
from server.access import PERSONNEL, RECAP_ROLES
from server.auth import Principal, require_role, scope_for
from server.errors import DomainError, NotFound, page_message
from server.models import Employee, Unit
from server.pages.render import render
from server.services.accounts import Role
from server.services.activities import catalogue
from server.services.appraisal import ORGANISATION_LABELS
from server.services.attendance import WIB, unit_zones
from server.services.organisation import flatten, organisation
from server.services.skp import (
    TARGET_KINDS,
    add_indicator,
    add_result,
    add_target,
    agree_submitted,
    agreed_version,
    cascade_superior,
    edit_result,
    editable_version,
    link_activity,
    links_of,
    may_agree,
    parent_choices,
    parse_year,
    period_of,
    periods_of,
    realisation,
    remove_result,
    sees_plan,
    set_review,
    submit_plan,
    target_rows,
    team_plans,
    versions,
    work_plan,
)
from server.services.skp_exports import SkpDocument, skp_pdf

routes = web.RouteTableDef()
ADMINS = (Role.BUREAU_ADMIN, Role.UNIT_ADMIN)


def _year(request: web.Request) -> int:
    try:
        return parse_year(request.query.get("year") or date.today().year)
    except DomainError:
        return date.today().year


def _back(path: str, **query: object) -> web.HTTPSeeOther:
    clean = {k: str(v) for k, v in query.items() if v not in (None, "")}
    return web.HTTPSeeOther(location=path + ("?" + urlencode(clean) if clean else ""))


async def _plan_context(request: web.Request, principal: Principal, employee: Employee, year: int) -> dict[str, Any]:
    """What the plan page shows of one employee's year: the chosen version (the newest by default), the
    parents as the superior's plan says them now, the realisation of the version that counts."""
    rows = await versions(employee.nip, year)
    shown = rows[-1] if rows else None
    wanted = request.query.get("version", "")
    if wanted.isdigit():
        shown = next((r for r in rows if r.version == int(wanted)), shown)
    plan = await work_plan(shown) if shown else None
    choices = await parent_choices(employee, year)
    parents = {c.code: c.text for c in choices}
    counted = await agreed_version(employee.nip, year)
    review = (counted or shown).review if (counted or shown) else "quarterly"
    try:
        period = period_of(year, review, request.query.get("period") or None)
    except DomainError:
        period = period_of(year, review, None)
    measured = await realisation(counted, period) if counted else None
    superior = await cascade_superior(employee)
    boss = await Employee.get_or_none(nip=employee.supervisor_id) if employee.supervisor_id else None  # type: ignore[attr-defined]
    own = principal.employee_nip == employee.nip
    return {
        "employee": employee,
        "zone": (await unit_zones()).get(employee.unit_id, WIB),  # type: ignore[attr-defined]
        "year": year,
        "rows": rows,
        "shown": shown,
        "plan": plan,
        "links": await links_of(shown) if shown else {},
        "choices": choices,
        "parents": parents,
        "superior_nip": superior,
        "boss": boss,
        "counted": counted,
        "measured": measured,
        "period": period,
        "periods": periods_of(year, review),
        "own": own,
        "editable": own and (shown is None or shown is rows[-1]),
        "may_agree": await may_agree(principal, employee),
        "catalogue": catalogue().activities,
        "aspects": [a.value for a in IndicatorAspect],
        "years": range(date.today().year - 1, date.today().year + 2),
        "saved": request.query.get("saved"),
        "error": request.query.get("error"),
    }


@routes.get("/kinerja/skp")
async def my_plan_page(request: web.Request) -> web.Response:
    principal = require_role(request, *PERSONNEL)
    if not principal.employee_nip:
        raise web.HTTPForbidden()
    employee = await Employee.get(nip=principal.employee_nip)
    context = await _plan_context(request, principal, employee, _year(request))
    return render(request, "skp.html", base="/kinerja/skp", **context)


@routes.get("/kinerja/skp/pegawai/{nip}")
async def employee_plan_page(request: web.Request) -> web.Response:
    principal = require_role(request, *PERSONNEL)
    employee = await Employee.get_or_none(nip=request.match_info["nip"])
    if employee is None or not await sees_plan(principal, employee):
        raise web.HTTPNotFound()
    context = await _plan_context(request, principal, employee, _year(request))
    context["editable"] = False  # the owner edits on /kinerja/skp
    return render(request, "skp.html", base=f"/kinerja/skp/pegawai/{employee.nip}", **context)


@routes.post("/kinerja/skp")
async def my_plan_submit(request: web.Request) -> web.Response:
    principal = require_role(request, *PERSONNEL)
    form = await request.post()
    action = str(form.get("action", ""))
    try:
        year = parse_year(form.get("year"))
        if action == "rhk":
            await add_result(principal, year, form.get("text"), form.get("parent"))
        elif action == "rhk_text":
            await edit_result(principal, year, form.get("rhk"), form.get("text"))
        elif action == "rhk_delete":
            await remove_result(principal, year, form.get("rhk"))
        elif action == "indicator":
            await add_indicator(principal, year, form.get("rhk"), form.get("text"), form.get("aspect"),
                                form.get("target"), form.get("unit"))  # fmt: skip
        elif action == "link":
            await link_activity(principal, year, form.get("activity"), form.get("indicator"))
        elif action == "review":
            await set_review(principal, year, form.get("review"))
        elif action == "submit":
            await submit_plan(principal, year)
        elif action == "revise":
            await editable_version(principal, year)
        else:
            raise web.HTTPBadRequest()
    except DomainError as exc:
        raise _back("/kinerja/skp", year=form.get("year"), error=page_message(exc)) from None
    raise _back("/kinerja/skp", year=year, saved=action)


@routes.post("/kinerja/skp/pegawai/{nip}/setujui")
async def agree_submit(request: web.Request) -> web.Response:
    principal = require_role(request, *PERSONNEL)
    form = await request.post()
    nip = request.match_info["nip"]
    try:
        year = parse_year(form.get("year"))
        await agree_submitted(principal, nip, year)
    except NotFound:
        raise web.HTTPNotFound() from None
    except DomainError as exc:
        raise _back("/kinerja/skp/tim", year=form.get("year"), error=page_message(exc)) from None
    raise _back("/kinerja/skp/tim", year=year, agreed=nip)


@routes.get("/kinerja/skp/pegawai/{nip}/skp.pdf")
async def plan_pdf(request: web.Request) -> web.Response:
    principal = require_role(request, *PERSONNEL)
    employee = await Employee.get_or_none(nip=request.match_info["nip"])
    if employee is None or not await sees_plan(principal, employee):
        raise web.HTTPNotFound()
    year = _year(request)
    counted = await agreed_version(employee.nip, year)
    if counted is None:
        raise web.HTTPNotFound(text="no agreed plan for this year")
    try:
        period = period_of(year, counted.review, request.query.get("period") or None)
    except DomainError:
        period = period_of(year, counted.review, None)
    unit = await Unit.get(code=employee.unit_id)  # type: ignore[attr-defined]
    superior = await Employee.get_or_none(nip=employee.supervisor_id) if employee.supervisor_id else None  # type: ignore[attr-defined]
    parents = {c.code: c.text for c in await parent_choices(employee, year)}
    zone = (await unit_zones()).get(unit.code, WIB)
    document = SkpDocument(employee, unit.name, superior, await realisation(counted, period), parents, zone)
    filename = f"skp-{employee.nip}-{year}.pdf"
    return web.Response(
        body=skp_pdf(document),
        content_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@routes.get("/kinerja/skp/tim")
async def team_page(request: web.Request) -> web.Response:
    principal = require_role(request, Role.SUPERVISOR, *ADMINS)
    year = _year(request)
    return render(
        request,
        "skp_team.html",
        year=year,
        plans=await team_plans(principal, year),
        years=range(date.today().year - 1, date.today().year + 2),
        agreed=request.query.get("agreed"),
        error=request.query.get("error"),
    )


@routes.get("/kinerja/sasaran")
async def targets_page(request: web.Request) -> web.Response:
    principal = require_role(request, *ADMINS)
    scope = await scope_for(principal)
    year = _year(request)
    units = await Unit.filter(scope.unit_q()).order_by("code")
    return render(
        request,
        "skp_targets.html",
        year=year,
        rows=await target_rows(scope, year),
        units=units,
        unit_names={u.code: u.name for u in units},
        kinds=TARGET_KINDS,
        years=range(date.today().year - 1, date.today().year + 2),
        saved=request.query.get("saved"),
        error=request.query.get("error"),
    )


@routes.post("/kinerja/sasaran")
async def targets_submit(request: web.Request) -> web.Response:
    principal = require_role(request, *ADMINS)
    form = await request.post()
    try:
        year = parse_year(form.get("year"))
        await add_target(principal, form.get("unit"), year, form.get("code"), form.get("text"), form.get("kind"))
    except DomainError as exc:
        raise _back("/kinerja/sasaran", year=form.get("year"), error=page_message(exc)) from None
    raise _back("/kinerja/sasaran", year=year, saved=1)


@routes.get("/kinerja/organisasi")
async def organisation_page(request: web.Request) -> web.Response:
    principal = require_role(request, *RECAP_ROLES)
    year = _year(request)
    try:
        period, roots = await organisation(principal, year, request.query.get("period") or None)
    except DomainError:
        period, roots = await organisation(principal, year, None)
    nodes = flatten(roots)
    return render(
        request,
        "skp_organisation.html",
        year=year,
        period=period,
        periods=periods_of(year, "quarterly"),
        nodes=nodes,
        years=range(date.today().year - 1, date.today().year + 2),
        predicates=[(p.value, p.label) for p in Predicate],
        predicate_label={p.value: p.label for p in Predicate},
        organisation_label={o.value: ORGANISATION_LABELS[o] for o in OrganisationRating},
    )
