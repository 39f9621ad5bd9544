"""Accounts, over the API and on the accounts page: the bureau administrator manages every account; a
unit administrator the supervisor and employee accounts of employees in their subtree."""

from __future__ import annotations

from typing import Annotated, Literal

from aiohttp import web
from pydantic import Field

from server.api.endpoint import Body, Path, Query, endpoint
from server.api.fields import OBJECT, Limit, NipText, Offset, checked_by, page_of, slug
from server.auth import request_scope, require_role
from server.services.accounts import Role, UserAccount
from server.services.users import USERNAME, create_account, disable_account, manages, user_json

routes = web.RouteTableDef()


def _username(value: object) -> str:
    if not isinstance(value, str) or not USERNAME.match(value):
        raise ValueError(f"username: expected 1-64 ASCII letters, digits, '.', '_' or '-', got {value!r}")
    return value


Username = checked_by(
    _username, {"type": "string", "maxLength": 64, "pattern": "^[A-Za-z0-9._-]*[A-Za-z0-9][A-Za-z0-9._-]*$"}
)


UnitCode = slug("unit", nullable=True)


class UsersQuery(Query):
    limit: Limit = 100
    offset: Offset = 0


class UserIn(Body):
    username: Username
    password: Annotated[str, Field(min_length=10, max_length=1000)]
    role: Literal["bureau_admin", "unit_admin", "supervisor", "employee", "operations"]
    unit: UnitCode = None
    nip: NipText | None = None
    name: Annotated[str, Field(max_length=200)] | None = None
    language: Literal["id", "en"] | None = None


class UserPath(Path):
    username: Annotated[str, Field(max_length=64, description="the account")]


@endpoint(routes, "GET", "/api/v1/users", "accounts the caller manages", query=UsersQuery, response=page_of(OBJECT))
async def list_users(request: web.Request, query: UsersQuery) -> web.Response:
    principal = require_role(request, Role.BUREAU_ADMIN, Role.UNIT_ADMIN)
    scope = await request_scope(request)
    users = [u for u in await UserAccount.all().order_by("username") if await manages(principal, scope, u)]
    items = [user_json(u) for u in users]
    limit, offset = query.limit, query.offset
    return web.json_response(
        {"total": len(items), "limit": limit, "offset": offset, "items": items[offset : offset + limit]}
    )


@endpoint(routes, "POST", "/api/v1/users", "create an account", body=UserIn, status=201, errors=(404, 409))
async def post_user(request: web.Request, body: UserIn) -> web.Response:
    require_role(request, Role.BUREAU_ADMIN, Role.UNIT_ADMIN)
    user = await create_account(request, body.model_dump())
    return web.json_response(user_json(user), status=201)


@endpoint(
    routes,
    "POST",
    "/api/v1/users/{username}/disable",
    "disable an account: sessions end, API tokens are revoked",
    path=UserPath,
    errors=(404, 409),
)
async def disable_user(request: web.Request, path: UserPath) -> web.Response:
    """Disable an account: its sessions end and its API tokens are revoked at once."""
    return web.json_response(user_json(await disable_account(request, path.username)))
