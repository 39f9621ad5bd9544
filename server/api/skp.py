"""Work plans (SKP) read over the API (issue 17): an employee's plan for a year in every version with the
realisation of the agreed one, and the organisation's performance rolled up the unit tree. Read only:
drafting and agreeing happen in the pages (server/pages/skp.py); the rules are server/services/skp.py's."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from aiohttp import web
from pydantic import Field

from server.api.endpoint import Path, Query, endpoint
from server.api.fields import OBJECT
from server.auth import principal_of
from server.errors import NotFound
from server.models import Employee
from server.services.organisation import Discipline, EmployeeLine, UnitNode, flatten, organisation
from server.services.skp import (
    agreed_version,
    appraisal_policy,
    parse_period,
    period_of,
    realisation,
    sees_plan,
    versions,
    work_plan,
)
from server.services.work_proposal import work_proposal

routes = web.RouteTableDef()

Year = Annotated[int, Field(ge=2020, le=2100, description="the plan's year (default: this year)")]
PeriodKey = Annotated[
    str,
    Field(
        pattern=r"^(20[2-9][0-9]|2100)(-Q[1-4]|-(0[1-9]|1[0-2]))?$",
        description="YYYY, YYYY-Qn or YYYY-MM: realisation from 1 January to its end (default: today's quarter); "
        "its year is the year asked for",
    ),
]


class NipPath(Path):
    nip: Annotated[str, Field(max_length=18, description="the employee's 18-digit NIP")]


class PlanQuery(Query):
    year: Year | None = None
    period: PeriodKey | None = None


def _share(value: Any) -> str | None:
    return None if value is None else f"{float(value) * 100:.2f}%"


async def _proposal(nip: str, period_key: str) -> dict[str, Any] | None:
    """The work-result rating the appraisal page proposes for the period (server/services/work_proposal.py):
    realisation against the part of the yearly targets expected by the period's end."""
    found = await work_proposal(appraisal_policy(), nip, period_key)
    if found is None:
        return None
    return {
        "rating": found.rating.value,
        "achievement_bp": found.achievement_bp,
        "expected": f"{found.expected.numerator}/{found.expected.denominator}",
        "realised_to": found.realised_to.isoformat(),
        "version": found.version,
    }


@endpoint(
    routes,
    "GET",
    "/api/v1/employees/{nip}/skp",
    "an employee's work plan (SKP) for a year: every version, and the realisation of the agreed one",
    path=NipPath,
    query=PlanQuery,
    response=OBJECT,
    errors=(404,),
)
async def get_plan(request: web.Request, path: NipPath, query: PlanQuery) -> web.Response:
    principal = principal_of(request)
    employee = await Employee.get_or_none(nip=path.nip)
    if employee is None or not await sees_plan(principal, employee):
        raise NotFound("no such employee in your scope")
    chosen = parse_period(query.period) if query.period else None
    year = chosen.year if chosen else query.year or date.today().year
    rows = await versions(employee.nip, year)
    out: list[dict[str, Any]] = []
    for row in rows:
        plan = await work_plan(row)
        out.append({
            "version": row.version,
            "state": row.state,
            "submitted": row.submitted_at is not None,
            "agreed_by": row.agreed_by,
            "agreed_at": row.agreed_at.isoformat() if row.agreed_at else None,
            "superseded": row.superseded_at is not None,
            "superior": row.superior_nip,
            "results": [
                {"rhk": r.code, "text": r.text, "parent": r.parent,
                 "indicators": [{"indicator": i.code, "text": i.text, "aspect": i.aspect.value, "target": i.target,
                                 "unit": i.unit} for i in r.indicators]}
                for r in plan.results
            ],
        })  # fmt: skip
    counted = await agreed_version(employee.nip, year)
    measured = None
    if counted is not None:
        period = chosen or period_of(year, counted.review, None)
        found = await realisation(counted, period)
        measured = {**found.measurement.explain(), "period": period.key, "minutes": found.minutes}
        measured["proposal"] = await _proposal(employee.nip, period.key)
    return web.json_response({"nip": employee.nip, "year": year, "versions": out, "realisation": measured})


class OrganisationQuery(Query):
    year: Year | None = None
    period: PeriodKey | None = None


def _node(node: UnitNode) -> dict[str, Any]:
    check = node.distribution
    return {
        "unit": node.code,
        "name": node.name,
        "kind": node.kind,
        "depth": node.depth,
        "achievement": _share(node.achievement),
        "employees_measured": node.measured,
        "minutes": node.minutes,
        "discipline": _discipline(node.discipline),
        "own_discipline": _discipline(node.own_discipline),
        "predicates": node.predicates,
        "own_predicates": node.own_predicates,
        "organisation_rating": node.organisation_rating,
        "distribution": None
        if check is None
        else {"ok": check.ok, "problems": [p.text for p in node.distribution_problems]},
        "distribution_partial": node.distribution_partial,
        "breaking": node.breaking,
        "targets": [{"code": t.code, "text": t.text, "achievement": _share(v)} for t, v in node.targets],
        "problems": node.problems,
        "employees": [_line(e) for e in node.employees],
    }


def _discipline(found: Discipline) -> dict[str, Any]:
    mean = found.mean_deduction_bp
    return {"months": found.months, "TL": found.late, "PSW": found.early, "TK": found.absent,
            "mean_deduction": None if mean is None else f"{float(mean) / 100:.2f}%"}  # fmt: skip


def _line(line: EmployeeLine) -> dict[str, Any]:
    return {"nip": line.nip, "name": line.name, "plan_state": line.plan_state,
            "achievement": _share(line.achievement), "minutes": line.minutes,
            "discipline": _discipline(line.discipline), "predicate": line.predicate}  # fmt: skip


@endpoint(
    routes,
    "GET",
    "/api/v1/organisation/performance",
    "the organisation's performance in scope, employee -> unit -> echelon II -> echelon I -> ministry",
    query=OrganisationQuery,
    response=OBJECT,
)
async def get_organisation(request: web.Request, query: OrganisationQuery) -> web.Response:
    chosen = parse_period(query.period) if query.period else None
    year = chosen.year if chosen else query.year or date.today().year
    period, roots = await organisation(principal_of(request), year, None, chosen)
    return web.json_response({"year": year, "period": period.key, "units": [_node(n) for n in flatten(roots)]})
