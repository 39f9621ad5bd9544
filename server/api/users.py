"""Accounts, over the API and on the accounts page: the bureau administrator manages every account; a
unit administrator the supervisor and employee accounts of employees in their subtree."""

from __future__ import annotations

from aiohttp import web

from server.api.http import json_body, page_params
from server.auth import request_scope, require_role
from server.services.accounts import Role, UserAccount
from server.services.users import FIELDS, create_account, disable_account, manages, user_json

routes = web.RouteTableDef()


@routes.get("/api/v1/users")
async def list_users(request: web.Request) -> web.Response:

    principal = require_role(request, Role.BUREAU_ADMIN, Role.UNIT_ADMIN)
    limit, offset = page_params(request)
    scope = await request_scope(request)
    users = [u for u in await UserAccount.all().order_by("username") if await manages(principal, scope, u)]
    items = [user_json(u) for u in users]
    return web.json_response(
        {"total": len(items), "limit": limit, "offset": offset, "items": items[offset : offset + limit]}
    )


@routes.post("/api/v1/users")
async def post_user(request: web.Request) -> web.Response:
    """{"username", "password", "role", "unit"?, "nip"?, "name"?, "language"?}"""

    require_role(request, Role.BUREAU_ADMIN, Role.UNIT_ADMIN)
    body = await json_body(request)
    user = await create_account(request, {name: body.get(name) for name in FIELDS})
    return web.json_response(user_json(user), status=201)


@routes.post("/api/v1/users/{username}/disable")
async def disable_user(request: web.Request) -> web.Response:
    """Disable an account: its sessions end and its API tokens are revoked at once."""
    return web.json_response(user_json(await disable_account(request, request.match_info["username"])))


# --- pages ------------------------------------------------------------------------------------------
