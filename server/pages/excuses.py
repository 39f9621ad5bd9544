"""The excuse form on the employee month page (administrators), on server/services/excuses.py."""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web

from server.auth import require_role
from server.errors import Conflict, Invalid, page_message
from server.pages.forms import form_day
from server.services.accounts import Role
from server.services.excuses import record_excuse

routes = web.RouteTableDef()


@routes.post("/employees/{nip}/excuses")
async def record_excuse_page(request: web.Request) -> web.Response:
    """The form on the employee month page (administrators)."""
    require_role(request, Role.BUREAU_ADMIN, Role.UNIT_ADMIN)  # before the dates are read: others are refused
    form = await request.post()
    nip = request.match_info["nip"]
    try:
        days = {name: form_day(form.get(name)) for name in ("first_day", "last_day")}  # typed day/month/year
        row = await record_excuse(request, {"kind": form.get("kind"), "note": form.get("note"), **days, "nip": nip})
    except (Invalid, Conflict) as exc:  # outside the scope: the 404 page
        raise web.HTTPSeeOther(location=f"/employees/{nip}/month?" + urlencode({"error": page_message(exc)})) from None
    raise web.HTTPSeeOther(location=f"/employees/{nip}/month?month={row.first_day:%Y-%m}&recorded=1")
