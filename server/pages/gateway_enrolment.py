"""The gateway enrolment page (issue 20): a unit administrator registers a gateway and gets its one-time code
with the command and its QR, on server/services/gateway_enrolment.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from server.auth import request_scope, require_role
from server.context import ENROLMENT
from server.errors import DomainError, page_message
from server.models import Office, Unit
from server.pages.render import render
from server.services.accounts import Role
from server.services.attendance import WIB, office_zone, unit_zones
from server.services.gateway_enrolment import register_and_issue

ISSUERS = (Role.BUREAU_ADMIN, Role.UNIT_ADMIN)
FIELDS = ("gateway_id", "unit", "office", "devices")

routes = web.RouteTableDef()


@routes.get("/gateways/enrol")
async def enrol_page(request: web.Request) -> web.Response:
    require_role(request, *ISSUERS)
    return await _page(request)


@routes.post("/gateways/enrol")
async def enrol_page_submit(request: web.Request) -> web.Response:
    principal = require_role(request, *ISSUERS)
    form = await request.post()
    fields = {key: str(form.get(key, "")).strip() for key in FIELDS}
    body: dict[str, Any] = {"gateway_id": fields["gateway_id"], "unit": fields["unit"], "devices": devices_of(fields)}
    if fields["office"]:
        body["office"] = fields["office"]
    try:
        issued = await register_and_issue(
            principal, await request_scope(request), body, request.app[ENROLMENT], str(request.url.origin())
        )
    except DomainError as exc:  # the form again, with what was typed and why it was refused
        return await _page(request, error=page_message(exc), status=exc.status, form=fields)
    return await _page(request, issued=issued, status=201)


def devices_of(fields: dict[str, str]) -> list[dict[str, Any]]:
    """One device a line: name profile host [port] [comm_key], as in the gateway's config."""
    devices: list[dict[str, Any]] = []
    for line in fields["devices"].splitlines():
        parts = line.split()
        if not parts:
            continue
        device: dict[str, Any] = {"name": parts[0]}
        for key, value in zip(("profile", "host", "port", "comm_key"), parts[1:], strict=False):
            device[key] = int(value) if key in ("port", "comm_key") and value.isdigit() else value
        devices.append(device)
    return devices


async def _page(
    request: web.Request,
    issued: dict[str, Any] | None = None,
    error: str | None = None,
    status: int = 200,
    form: dict[str, str] | None = None,
) -> web.Response:
    scope = await request_scope(request)
    context: dict[str, Any] = {}
    if issued is not None:  # when the code stops working, on the gateway's office clock (its zone named)
        office = await Office.get_or_none(code=(form or {}).get("office") or "")
        zones = await unit_zones()
        context["zone"] = office_zone(office.zone) if office is not None else zones.get(issued["unit"], WIB)
        context["expires_at"] = datetime.fromisoformat(issued["expires_at"])
    return render(
        request,
        "gateway_enrol.html",
        status=status,
        issued=issued,
        error=error,
        form=form or {},
        # the unit chosen by name from those the administrator covers (the code the value and a hint)
        unit_choices=await Unit.filter(scope.unit_q()).order_by("name", "code").values_list("code", "name"),
        **context,
    )
