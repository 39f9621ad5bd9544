"""The accounts page: list, create, disable, enable (administrators), on server/services/users.py."""

from __future__ import annotations

from aiohttp import web

from server.auth import request_scope, require_role
from server.errors import DomainError, page_message
from server.models import Unit
from server.pages.render import render
from server.services.accounts import Role, UserAccount
from server.services.users import FIELDS, UNIT_ADMIN_MAY_CREATE, create_account, disable_account, manages, user_json

routes = web.RouteTableDef()


@routes.get("/accounts")
async def accounts_page(request: web.Request) -> web.Response:

    principal = require_role(request, Role.BUREAU_ADMIN, Role.UNIT_ADMIN)
    scope = await request_scope(request)
    users = [u for u in await UserAccount.all().order_by("username") if await manages(principal, scope, u)]
    roles = [r.value for r in (Role if principal.role is Role.BUREAU_ADMIN else UNIT_ADMIN_MAY_CREATE)]
    return render(
        request,
        "accounts.html",
        accounts=[user_json(u) for u in users],
        roles=roles,
        least_role=Role.EMPLOYEE.value,  # preselected: a new account gets the least it needs
        may_enable=True,
        unit_names=dict(await Unit.all().values_list("code", "name")),
        # The unit chosen from the units the administrator covers, by name (the code the value and a hint).
        unit_choices=await Unit.filter(scope.unit_q()).order_by("name", "code").values_list("code", "name"),
        unit_required=principal.role is Role.UNIT_ADMIN,
        done=request.query.get("done"),
        error=request.query.get("error"),
    )


def _back(**query: str) -> web.HTTPSeeOther:
    from urllib.parse import urlencode

    return web.HTTPSeeOther(location="/accounts?" + urlencode(query))


@routes.post("/accounts")
async def accounts_create(request: web.Request) -> web.Response:
    form = await request.post()
    try:
        user = await create_account(request, {name: form.get(name) for name in FIELDS})
    except DomainError as exc:
        raise _back(error=page_message(exc)) from None
    raise _back(done=user.username)


@routes.post("/accounts/{username}/disable")
async def accounts_disable(request: web.Request) -> web.Response:
    try:
        user = await disable_account(request, request.match_info["username"])
    except DomainError as exc:
        raise _back(error=page_message(exc)) from None
    raise _back(done=user.username)


@routes.post("/accounts/{username}/enable")
async def accounts_enable(request: web.Request) -> web.Response:
    """A disabled account let in again (its old sessions and tokens stay ended: it logs in afresh)."""
    principal = require_role(request, Role.BUREAU_ADMIN, Role.UNIT_ADMIN)
    user = await UserAccount.get_or_none(username=request.match_info["username"])
    if user is None or not await manages(principal, await request_scope(request), user):
        raise _back(error="no such account in your scope")
    user.active = True
    await user.save(update_fields=["active"])
    raise _back(done=user.username)
