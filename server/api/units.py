"""Units and their offices: the organisation tree and where each unit's clocks stand."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import Field

from server.api.endpoint import Body, Path, Query, endpoint
from server.api.fields import Code, Kind, Name, ParentCode, Text63, UnitCode, Zone
from server.api.registry import office_json, unit_json
from server.errors import Conflict, NotFound
from server.models import Office, Unit
from server.services.registry import RegistryError, create_unit, unit_subtree

routes = web.RouteTableDef()


class UnitIn(Body):
    code: Code
    name: Name
    kind: Kind
    parent: ParentCode = None


class UnitsQuery(Query):
    under: Text63 | None = Field(None, description="a unit code: that unit and its subtree")


class UnitPath(Path):
    code: Text63 = Field(description="a unit code")


class OfficeIn(Body):
    code: Code
    name: Name
    unit: UnitCode
    zone: Zone


class OfficesQuery(Query):
    unit: Text63 | None = Field(None, description="a unit code: its offices")


@endpoint(routes, "POST", "/api/v1/units", "create a unit", body=UnitIn, status=201, errors=(404, 409))
async def post_unit(request: web.Request, body: UnitIn) -> web.Response:
    try:
        unit = await create_unit(body.code, body.name, body.kind, body.parent)
    except RegistryError as exc:
        # The body is well formed (the model checked it); what is left is the tree: a missing parent, or a unit
        # that exists already or cannot sit where it was asked to.
        raise (NotFound(str(exc)) if str(exc).startswith("parent: no unit") else Conflict(str(exc))) from None
    return web.json_response(unit_json(unit), status=201)


@endpoint(
    routes, "GET", "/api/v1/units", "units (with `under`: that unit and its subtree)", query=UnitsQuery, errors=(404,)
)
async def get_units(request: web.Request, query: UnitsQuery) -> web.Response:
    """All units, or with `under=code` that unit and everything below it."""
    units = Unit.all()
    if query.under:
        units = Unit.filter(code__in=await unit_subtree(query.under))
    return web.json_response({"items": [unit_json(u) for u in await units.order_by("code")]})


@endpoint(routes, "GET", "/api/v1/units/{code}", "one unit with its children and offices", path=UnitPath, errors=(404,))
async def get_unit(request: web.Request, path: UnitPath) -> web.Response:
    unit = await Unit.get_or_none(code=path.code)
    if unit is None:
        raise NotFound(f"no unit {path.code!r}")
    children = await Unit.filter(parent_id=unit.code).order_by("code").values_list("code", flat=True)
    offices = await Office.filter(unit_id=unit.code).order_by("code").values_list("code", flat=True)
    answer: dict[str, Any] = {**unit_json(unit), "children": list(children), "offices": list(offices)}
    return web.json_response(answer)


@endpoint(routes, "POST", "/api/v1/offices", "create an office", body=OfficeIn, status=201, errors=(404, 409))
async def post_office(request: web.Request, body: OfficeIn) -> web.Response:
    unit = await Unit.get_or_none(code=body.unit)
    if unit is None:
        raise NotFound(f"unit: no unit {body.unit!r}")
    if await Office.exists(code=body.code):
        raise Conflict(f"office {body.code!r} exists already")
    office = await Office.create(code=body.code, name=body.name, zone=body.zone, unit=unit)
    return web.json_response(office_json(office), status=201)


@endpoint(routes, "GET", "/api/v1/offices", "offices", query=OfficesQuery)
async def get_offices(request: web.Request, query: OfficesQuery) -> web.Response:
    offices = Office.all()
    if query.unit:
        offices = offices.filter(unit_id=query.unit)
    return web.json_response({"items": [office_json(o) for o in await offices.order_by("code")]})
