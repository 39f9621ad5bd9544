"""The yearly appraisal result as a file for BKN SIASN's SKP submission (no network here: the bureau
uploads it). Scoped in the handler: the bureau every unit, a unit administrator their tree, a superior
themselves and those below them, an employee themselves. Installed by `install` with its access rules."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web
from pydantic import Field

from server.access import RULES, Rule
from server.api.endpoint import Query, endpoint
from server.api.fields import Text63
from server.api.http import download
from server.auth import PRINCIPAL
from server.services.accounts import Role
from server.services.appraisal import SkpResultRow, yearly_results
from server.services.appraisal_exports import skp_csv, skp_xlsx
from server.services.attendance import WIB
from server.services.exports import XLSX_TYPE

routes = web.RouteTableDef()

PERSONNEL = (Role.BUREAU_ADMIN, Role.UNIT_ADMIN, Role.SUPERVISOR, Role.EMPLOYEE)
ACCESS: dict[tuple[str, str], Rule] = {
    ("GET", "/api/v1/exports/skp.csv"): Rule(PERSONNEL, scoped_in_handler=True),
    ("GET", "/api/v1/exports/skp.xlsx"): Rule(PERSONNEL, scoped_in_handler=True),
}


class SkpQuery(Query):
    year: int | None = Field(None, ge=2000, le=2100, description="the appraisal year (default: this year)")
    unit: Text63 | None = Field(None, description="a unit code: that unit and the units below it")


async def _rows(request: web.Request, query: SkpQuery) -> tuple[int, list[SkpResultRow]]:
    year = query.year or datetime.now(WIB).year
    return year, await yearly_results(request[PRINCIPAL], year, query.unit)


@endpoint(
    routes,
    "GET",
    "/api/v1/exports/skp.csv",
    "yearly appraisal result as CSV (BKN SIASN SKP layout)",
    query=SkpQuery,
    response={"type": "string"},
    errors=(404,),
    media="text/csv",
)
async def export_skp_csv(request: web.Request, query: SkpQuery) -> web.Response:
    year, rows = await _rows(request, query)
    return download(skp_csv(rows), f"skp-{year}.csv", "text/csv; charset=utf-8")


@endpoint(
    routes,
    "GET",
    "/api/v1/exports/skp.xlsx",
    "yearly appraisal result as XLSX (BKN SIASN SKP layout)",
    query=SkpQuery,
    response={"type": "string", "format": "binary"},
    errors=(404,),
    media=XLSX_TYPE,
)
async def export_skp_xlsx(request: web.Request, query: SkpQuery) -> web.Response:
    year, rows = await _rows(request, query)
    return download(skp_xlsx(rows, year), f"skp-{year}.xlsx", XLSX_TYPE)


def install(app: web.Application) -> None:
    RULES.update(ACCESS)
    app.add_routes(routes)
