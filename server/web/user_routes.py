"""Accounts, over the API and on the accounts page: the bureau administrator manages every account; a
unit administrator the supervisor and employee accounts of employees in their subtree."""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from server.accounts import AccountError, ApiToken, Role, UserAccount, WebSession, create_user
from server.api import BadRequest, Conflict
from server.auth import Principal, Scope, request_scope, require_role
from server.web.api_v1 import NotFound

routes = web.RouteTableDef()
UNIT_ADMIN_MAY_CREATE = (Role.SUPERVISOR, Role.EMPLOYEE)
# As server/openapi.py documents it: ASCII, with at least one letter or digit.
USERNAME = re.compile(r"^(?=.{1,64}$)[A-Za-z0-9._-]*[A-Za-z0-9][A-Za-z0-9._-]*$")


def user_json(user: UserAccount) -> dict[str, Any]:
    return {
        "username": user.username,
        "display_name": user.display_name,
        "role": Role(user.role).value,
        "unit": user.unit_code,
        "nip": user.employee_nip,
        "language": user.language,
        "active": user.active,
    }


async def _manages(principal: Principal, scope: Scope, user: UserAccount) -> bool:
    if principal.role is Role.BUREAU_ADMIN:
        return True
    if Role(user.role) not in UNIT_ADMIN_MAY_CREATE or not user.employee_nip:
        return False
    from server.models import Employee

    units = await Employee.filter(nip=user.employee_nip).values_list("unit_id", flat=True)
    return bool(units) and scope.sees_employee(user.employee_nip, units[0])


@routes.get("/api/v1/users")
async def list_users(request: web.Request) -> web.Response:
    from server.web.api_v1 import page_params

    principal = require_role(request, Role.BUREAU_ADMIN, Role.UNIT_ADMIN)
    limit, offset = page_params(request)
    scope = await request_scope(request)
    users = [u for u in await UserAccount.all().order_by("username") if await _manages(principal, scope, u)]
    items = [user_json(u) for u in users]
    return web.json_response(
        {"total": len(items), "limit": limit, "offset": offset, "items": items[offset : offset + limit]}
    )


async def _create(request: web.Request, fields: dict[str, Any]) -> UserAccount:
    principal = require_role(request, Role.BUREAU_ADMIN, Role.UNIT_ADMIN)
    fields = {name: (value or None) for name, value in fields.items()}
    for name, value in fields.items():
        if value is not None and not isinstance(value, str):
            raise BadRequest(f"{name}: expected text")
    if not fields["username"] or not fields["password"] or not fields["role"]:
        raise BadRequest("username, password and role are required")
    if not USERNAME.match(fields["username"]):
        raise BadRequest(f"username: expected 1-64 ASCII letters, digits, '.', '_' or '-', got {fields['username']!r}")
    if principal.role is Role.UNIT_ADMIN:
        if fields["role"] not in [r.value for r in UNIT_ADMIN_MAY_CREATE]:
            raise web.HTTPForbidden(
                text=json.dumps(
                    {"error": "forbidden", "reason": "a unit administrator creates supervisor and employee accounts"}
                ),
                content_type="application/json",
            )
        from server.web.data import NotVisible, employee_in_scope

        try:
            await employee_in_scope(await request_scope(request), fields["nip"] or "")
        except NotVisible:
            raise NotFound("no such employee in your scope") from None
    try:
        return await create_user(
            fields["username"],
            fields["password"],
            fields["role"],
            display_name=fields["name"],
            unit_code=fields["unit"],
            employee_nip=fields["nip"],
            language=fields["language"] or "id",
        )
    except AccountError as exc:
        # The body's shape is checked above, as the document describes it; what is left is the registry.
        text = str(exc)
        if text.startswith(("role:", "username:", "password:", "language:")):
            raise BadRequest(text) from None
        raise (NotFound(text) if "is not in the registry" in text else Conflict(text)) from None


async def _disable(request: web.Request, username: str) -> UserAccount:
    principal = require_role(request, Role.BUREAU_ADMIN, Role.UNIT_ADMIN)
    user = await UserAccount.get_or_none(username=username)
    if user is None or not await _manages(principal, await request_scope(request), user):
        raise NotFound("no such account in your scope")
    if user.id == principal.user_id:
        raise Conflict("an administrator cannot disable their own account")
    user.active = False
    await user.save(update_fields=["active"])
    await WebSession.filter(user_id=user.id).delete()
    await ApiToken.filter(user_id=user.id).update(revoked=True)
    return user


FIELDS = ("username", "password", "role", "unit", "nip", "name", "language")


@routes.post("/api/v1/users")
async def post_user(request: web.Request) -> web.Response:
    """{"username", "password", "role", "unit"?, "nip"?, "name"?, "language"?}"""
    from server.web.api_v1 import json_body

    require_role(request, Role.BUREAU_ADMIN, Role.UNIT_ADMIN)
    body = await json_body(request)
    user = await _create(request, {name: body.get(name) for name in FIELDS})
    return web.json_response(user_json(user), status=201)


@routes.post("/api/v1/users/{username}/disable")
async def disable_user(request: web.Request) -> web.Response:
    """Disable an account: its sessions end and its API tokens are revoked at once."""
    return web.json_response(user_json(await _disable(request, request.match_info["username"])))


# --- pages ------------------------------------------------------------------------------------------


@routes.get("/accounts")
async def accounts_page(request: web.Request) -> web.Response:
    from server.models import Unit
    from server.web.render import render

    principal = require_role(request, Role.BUREAU_ADMIN, Role.UNIT_ADMIN)
    scope = await request_scope(request)
    users = [u for u in await UserAccount.all().order_by("username") if await _manages(principal, scope, u)]
    roles = [r.value for r in (Role if principal.role is Role.BUREAU_ADMIN else UNIT_ADMIN_MAY_CREATE)]
    return render(
        request,
        "accounts.html",
        accounts=[user_json(u) for u in users],
        roles=roles,
        least_role=Role.EMPLOYEE.value,  # preselected: a new account gets the least it needs
        may_enable=True,
        unit_names=dict(await Unit.all().values_list("code", "name")),
        done=request.query.get("done"),
        error=request.query.get("error"),
    )


def _back(**query: str) -> web.HTTPSeeOther:
    from urllib.parse import urlencode

    return web.HTTPSeeOther(location="/accounts?" + urlencode(query))


def _reason(exc: web.HTTPException) -> str:
    try:
        return str(json.loads(exc.text or "{}").get("reason", exc.reason))
    except ValueError:
        return exc.reason


@routes.post("/accounts")
async def accounts_create(request: web.Request) -> web.Response:
    form = await request.post()
    try:
        user = await _create(request, {name: form.get(name) for name in FIELDS})
    except (web.HTTPBadRequest, web.HTTPNotFound, web.HTTPForbidden, web.HTTPConflict) as exc:
        raise _back(error=_reason(exc)) from None
    raise _back(done=user.username)


@routes.post("/accounts/{username}/disable")
async def accounts_disable(request: web.Request) -> web.Response:
    try:
        user = await _disable(request, request.match_info["username"])
    except (web.HTTPBadRequest, web.HTTPNotFound, web.HTTPConflict) as exc:
        raise _back(error=_reason(exc)) from None
    raise _back(done=user.username)


@routes.post("/accounts/{username}/enable")
async def accounts_enable(request: web.Request) -> web.Response:
    """A disabled account let in again (its old sessions and tokens stay ended: it logs in afresh)."""
    principal = require_role(request, Role.BUREAU_ADMIN, Role.UNIT_ADMIN)
    user = await UserAccount.get_or_none(username=request.match_info["username"])
    if user is None or not await _manages(principal, await request_scope(request), user):
        raise _back(error="no such account in your scope")
    user.active = True
    await user.save(update_fields=["active"])
    raise _back(done=user.username)
