"""The excuse form on the employee month page (administrators), on server/services/excuses.py."""

from __future__ import annotations

from aiohttp import web

from server.errors import Conflict, Invalid, page_message
from server.services.excuses import record_excuse

routes = web.RouteTableDef()


@routes.post("/employees/{nip}/excuses")
async def record_excuse_page(request: web.Request) -> web.Response:
    """The form on the employee month page (administrators)."""
    from urllib.parse import urlencode

    form = await request.post()
    nip = request.match_info["nip"]
    fields = {name: form.get(name) for name in ("kind", "first_day", "last_day", "note")}
    try:
        row = await record_excuse(request, {**fields, "nip": nip})
    except (Invalid, Conflict) as exc:  # outside the scope: the 404 page
        raise web.HTTPSeeOther(location=f"/employees/{nip}/month?" + urlencode({"error": page_message(exc)})) from None
    raise web.HTTPSeeOther(location=f"/employees/{nip}/month?month={row.first_day:%Y-%m}&recorded=1")
