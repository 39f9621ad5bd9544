"""Units and their offices: the organisation tree and where each unit's clocks stand."""

from __future__ import annotations

from aiohttp import web

from server.api.http import json_body
from server.api.registry import checked, office_json, unit_json
from server.errors import Conflict, NotFound
from server.models import Office, Unit
from server.services.registry import (
    RegistryError,
    check_code,
    check_kind,
    check_name,
    check_zone,
    create_unit,
    unit_subtree,
)

routes = web.RouteTableDef()


@routes.post("/api/v1/units")
async def post_unit(request: web.Request) -> web.Response:
    body = await json_body(request)
    code = checked(check_code, body.get("code"), "code")
    name = checked(check_name, body.get("name"))
    kind = checked(check_kind, body.get("kind"))
    parent = body.get("parent")
    if parent is not None:
        parent = checked(check_code, parent, "parent")
    try:
        unit = await create_unit(code, name, kind, parent)
    except RegistryError as exc:
        # The body is well formed (checked above); what is left is the tree: a missing parent, or a unit
        # that exists already or cannot sit where it was asked to.
        raise (NotFound(str(exc)) if str(exc).startswith("parent: no unit") else Conflict(str(exc))) from None
    return web.json_response(unit_json(unit), status=201)


@routes.get("/api/v1/units")
async def get_units(request: web.Request) -> web.Response:
    """All units, or with `under=code` that unit and everything below it."""
    query = Unit.all()
    if under := request.query.get("under"):
        try:
            query = Unit.filter(code__in=await unit_subtree(under))
        except NotFound as exc:
            raise NotFound(str(exc)) from None
    return web.json_response({"items": [unit_json(u) for u in await query.order_by("code")]})


@routes.get("/api/v1/units/{code}")
async def get_unit(request: web.Request) -> web.Response:
    unit = await Unit.get_or_none(code=request.match_info["code"])
    if unit is None:
        raise NotFound(f"no unit {request.match_info['code']!r}")
    children = await Unit.filter(parent_id=unit.code).order_by("code").values_list("code", flat=True)
    offices = await Office.filter(unit_id=unit.code).order_by("code").values_list("code", flat=True)
    return web.json_response({**unit_json(unit), "children": list(children), "offices": list(offices)})


@routes.post("/api/v1/offices")
async def post_office(request: web.Request) -> web.Response:
    body = await json_body(request)
    code = checked(check_code, body.get("code"), "code")
    name = checked(check_name, body.get("name"))
    zone = checked(check_zone, body.get("zone"))
    unit = await Unit.get_or_none(code=checked(check_code, body.get("unit"), "unit"))
    if unit is None:
        raise NotFound(f"unit: no unit {body.get('unit')!r}")
    if await Office.exists(code=code):
        raise Conflict(f"office {code!r} exists already")
    office = await Office.create(code=code, name=name, zone=zone, unit=unit)
    return web.json_response(office_json(office), status=201)


@routes.get("/api/v1/offices")
async def get_offices(request: web.Request) -> web.Response:
    query = Office.all()
    if unit := request.query.get("unit"):
        query = query.filter(unit_id=unit)
    return web.json_response({"items": [office_json(o) for o in await query.order_by("code")]})
