"""The appraisal pages (penilaian kinerja, PermenPANRB 6/2022), on server/services/appraisal.py:

- /kinerja/penilaian: the period chosen; the reader's own appraisal, their team (direct subordinates) with
  each predicate, and, for a unit administrator or the bureau, the units with their distribution;
- /kinerja/penilaian/pegawai/{nip}: one employee's period — the feedback dialogue (the superior writes,
  the employee answers), the BerAKHLAK behaviour ratings, the rating and predicate, the periods before;
- /kinerja/penilaian/rekan: whom the reader rates beside the superior (peers, their own superior as a
  subordinate) where the policy weighs those roles, with what they have rated so far;
- /kinerja/penilaian/unit/{code}: a unit's predicates against its organisation rating's bounds, with the
  warning while they break them; the bureau sets the organisation rating, the bureau or the unit's
  administrator finalises; the yearly export.

A refused form is shown again with what was typed and the reason in the reader's language.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from scoring import CoreValue, OrganisationRating, Predicate, Rating
from server.access import PERSONNEL
from server.auth import require_role
from server.errors import DomainError, page_message
from server.pages.render import render
from server.services.accounts import Role
from server.services.appraisal import (
    ORGANISATION_LABELS,
    VALUE_LABELS,
    add_feedback,
    appraisal_policy,
    employee_appraisal,
    finalise_unit,
    parse_period,
    periods_of,
    rating_duties,
    record_behaviour,
    set_organisation_rating,
    set_rating,
    team,
    unit_appraisal,
    units_overview,
)
from server.services.attendance import WIB

routes = web.RouteTableDef()
BASE = "/kinerja/penilaian"
UNIT_ROLES = (Role.BUREAU_ADMIN, Role.UNIT_ADMIN, Role.SUPERVISOR)


def _labels() -> dict[str, Any]:
    return {
        "values": [(v.value, VALUE_LABELS[v]) for v in CoreValue],
        "ratings": [(r.value, r.label) for r in Rating],
        "rating_label": {r.value: r.label for r in Rating},
        "predicate_label": {p.value: p.label for p in Predicate},
        "organisation_ratings": [(o.value, ORGANISATION_LABELS[o]) for o in OrganisationRating],
        "organisation_label": {o.value: ORGANISATION_LABELS[o] for o in OrganisationRating},
        "policy": appraisal_policy(),
    }


def _period_choices(year: int) -> list[Any]:
    this_year = datetime.now(WIB).year
    years = sorted({this_year, this_year - 1, year}, reverse=True)
    return [p for y in years for p in periods_of(y)]


def _back(path: str, **query: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(location=path + ("?" + urlencode(query) if query else ""))


def _period_or_400(request: web.Request, value: object) -> Any:
    try:
        return parse_period(value)
    except DomainError as exc:
        raise web.HTTPSeeOther(location=BASE + "?" + urlencode({"error": page_message(exc)})) from None


@routes.get(BASE)
async def overview_page(request: web.Request) -> web.Response:
    principal = require_role(request, *PERSONNEL)
    period = _period_or_400(request, request.query.get("period"))
    return render(
        request,
        "appraisal.html",
        period=period,
        periods=_period_choices(period.year),
        team=await team(principal, period),
        duties=await rating_duties(principal, period),
        units=await units_overview(principal, period),
        error=request.query.get("error"),
        **_labels(),
    )


async def _employee_page(request: web.Request, nip: str, period_code: object, **form: Any) -> web.Response:
    principal = require_role(request, *PERSONNEL)
    try:
        view = await employee_appraisal(principal, nip, period_code)
    except DomainError as exc:
        if exc.status == 404:
            raise  # the error page, in the reader's language
        raise _back(BASE, error=page_message(exc)) from None
    status = form.pop("status", 200)
    return render(
        request,
        "appraisal_employee.html",
        status=status,
        view=view,
        periods=_period_choices(view.period.year),
        saved=request.query.get("saved"),
        error=form.pop("error", None) or request.query.get("error"),
        draft=form.pop("draft", ""),
        behaviour_form=form.pop("behaviour_form", None) or view.own_ratings,
        rating_form=form.pop("rating_form", None) or _rating_form(view),
        **_labels(),
    )


@routes.get(BASE + "/rekan")
async def duties_page(request: web.Request) -> web.Response:
    principal = require_role(request, Role.SUPERVISOR, Role.EMPLOYEE)
    period = _period_or_400(request, request.query.get("period"))
    policy = appraisal_policy()
    return render(
        request,
        "appraisal_peers.html",
        period=period,
        periods=_period_choices(period.year),
        duties=await rating_duties(principal, period),
        weighed=dict(policy.behaviour.rater_weights_bp),
        **_labels(),
    )


def _rating_form(view: Any) -> tuple[str, str]:
    """The rating form as it opens: the rating set, else the one the plan's realisation proposes; the reason."""
    if view.rating is not None:
        return view.rating.work_result, view.reason
    return (view.proposal.rating.value if view.proposal else ""), ""


@routes.get(BASE + "/pegawai/{nip}")
async def employee_page(request: web.Request) -> web.Response:
    return await _employee_page(request, request.match_info["nip"], request.query.get("period"))


def _employee_url(nip: str, period: str, **query: str) -> str:
    return f"{BASE}/pegawai/{nip}?" + urlencode({"period": period, **query})


@routes.post(BASE + "/pegawai/{nip}/umpan-balik")
async def feedback_submit(request: web.Request) -> web.Response:
    principal = require_role(request, *PERSONNEL)
    nip = request.match_info["nip"]
    form = await request.post()
    period = str(form.get("period") or "")
    try:
        await add_feedback(principal, nip, period, form.get("body"))
    except DomainError as exc:
        if exc.status == 404:
            raise  # the error page, in the reader's language
        return await _employee_page(request, nip, period, status=exc.status, error=page_message(exc),
                                    draft=str(form.get("body") or ""))  # fmt: skip
    raise web.HTTPSeeOther(location=_employee_url(nip, period, saved="feedback") + "#dialogue")


@routes.post(BASE + "/pegawai/{nip}/perilaku")
async def behaviour_submit(request: web.Request) -> web.Response:
    principal = require_role(request, *PERSONNEL)
    nip = request.match_info["nip"]
    form = await request.post()
    period = str(form.get("period") or "")
    ratings = {v.value: (form.get(f"rating-{v.value}"), form.get(f"note-{v.value}")) for v in CoreValue}
    try:
        await record_behaviour(principal, nip, period, ratings)
    except DomainError as exc:
        if exc.status == 404:
            raise  # the error page, in the reader's language
        typed = {k: (str(r or ""), str(n or "")) for k, (r, n) in ratings.items()}
        return await _employee_page(request, nip, period, status=exc.status, error=page_message(exc),
                                    behaviour_form=typed)  # fmt: skip
    raise web.HTTPSeeOther(location=_employee_url(nip, period, saved="behaviour") + "#behaviour")


@routes.post(BASE + "/pegawai/{nip}/rating")
async def rating_submit(request: web.Request) -> web.Response:
    principal = require_role(request, *PERSONNEL)
    nip = request.match_info["nip"]
    form = await request.post()
    period = str(form.get("period") or "")
    try:
        await set_rating(principal, nip, period, form.get("work_result"), str(form.get("reason") or ""))
    except DomainError as exc:
        if exc.status == 404:
            raise  # the error page, in the reader's language
        typed = (str(form.get("work_result") or ""), str(form.get("reason") or ""))
        return await _employee_page(request, nip, period, status=exc.status, error=page_message(exc),
                                    rating_form=typed)  # fmt: skip
    raise web.HTTPSeeOther(location=_employee_url(nip, period, saved="rating") + "#rating")


async def _unit_page(request: web.Request, code: str, period_code: object, **extra: Any) -> web.Response:
    principal = require_role(request, *UNIT_ROLES)
    try:
        view = await unit_appraisal(principal, code, period_code)
    except DomainError as exc:
        if exc.status == 404:
            raise  # the error page, in the reader's language
        raise _back(BASE, error=page_message(exc)) from None
    status = extra.pop("status", 200)
    return render(
        request,
        "appraisal_unit.html",
        status=status,
        view=view,
        periods=_period_choices(view.period.year),
        saved=request.query.get("saved"),
        error=extra.pop("error", None) or request.query.get("error"),
        **_labels(),
    )


@routes.get(BASE + "/unit/{code}")
async def unit_page(request: web.Request) -> web.Response:
    return await _unit_page(request, request.match_info["code"], request.query.get("period"))


def _unit_url(code: str, period: str, **query: str) -> str:
    return f"{BASE}/unit/{code}?" + urlencode({"period": period, **query})


@routes.post(BASE + "/unit/{code}/rating-organisasi")
async def organisation_rating_submit(request: web.Request) -> web.Response:
    principal = require_role(request, *UNIT_ROLES)
    code = request.match_info["code"]
    form = await request.post()
    period_text = str(form.get("period") or "")
    try:
        period = parse_period(period_text)
        await set_organisation_rating(principal, code, period.year, form.get("rating"))
    except DomainError as exc:
        if exc.status == 404:
            raise  # the error page, in the reader's language
        return await _unit_page(request, code, period_text, status=exc.status, error=page_message(exc))
    raise web.HTTPSeeOther(location=_unit_url(code, period.code, saved="organisation"))


@routes.post(BASE + "/unit/{code}/final")
async def finalise_submit(request: web.Request) -> web.Response:
    principal = require_role(request, *UNIT_ROLES)
    code = request.match_info["code"]
    form = await request.post()
    period = str(form.get("period") or "")
    try:
        await finalise_unit(principal, code, period)
    except DomainError as exc:
        if exc.status == 404:
            raise  # the error page, in the reader's language
        return await _unit_page(request, code, period, status=exc.status, error=page_message(exc))
    raise web.HTTPSeeOther(location=_unit_url(code, period, saved="final"))
