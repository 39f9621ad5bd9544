"""Accounts as the bureau manages them: who may create and disable whose account. Refusals are domain errors."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from server.auth import Principal, Scope, request_scope, require_role
from server.errors import Conflict, Invalid, NotFound, Refused
from server.models import Employee
from server.services.accounts import AccountError, ApiToken, Role, UserAccount, WebSession, create_user
from server.services.attendance import NotVisible, employee_in_scope

UNIT_ADMIN_MAY_CREATE = (Role.SUPERVISOR, Role.EMPLOYEE)


# As server/api/users.py documents it: ASCII, with at least one letter or digit.
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


async def manages(principal: Principal, scope: Scope, user: UserAccount) -> bool:
    if principal.role is Role.BUREAU_ADMIN:
        return True
    if Role(user.role) not in UNIT_ADMIN_MAY_CREATE or not user.employee_nip:
        return False

    units = await Employee.filter(nip=user.employee_nip).values_list("unit_id", flat=True)
    return bool(units) and scope.sees_employee(user.employee_nip, units[0])


async def _within_scope(request: web.Request, principal: Principal, fields: dict[str, Any]) -> None:
    """A unit administrator creates only supervisors and employees, of an employee and a unit they cover."""
    scope = await request_scope(request)
    if principal.role is Role.UNIT_ADMIN:
        if fields["role"] not in [r.value for r in UNIT_ADMIN_MAY_CREATE]:
            raise Refused("a unit administrator creates supervisor and employee accounts")
        try:
            await employee_in_scope(scope, fields["nip"] or "")
        except NotVisible:
            raise NotFound("no such employee in your scope") from None
    if fields["unit"] is not None and not scope.sees_unit(fields["unit"]):
        raise NotFound("no such unit in your scope")


async def create_account(request: web.Request, fields: dict[str, Any]) -> UserAccount:
    principal = require_role(request, Role.BUREAU_ADMIN, Role.UNIT_ADMIN)
    fields = {name: (value or None) for name, value in fields.items()}
    for name, value in fields.items():
        if value is not None and not isinstance(value, str):
            raise Invalid(f"{name}: expected text")
    if not fields["username"] or not fields["password"] or not fields["role"]:
        raise Invalid("username, password and role are required")
    if not USERNAME.match(fields["username"]):
        raise Invalid(f"username: expected 1-64 ASCII letters, digits, '.', '_' or '-', got {fields['username']!r}")
    await _within_scope(request, principal, fields)
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
            raise Invalid(text) from None
        raise (NotFound(text) if "is not in the registry" in text else Conflict(text)) from None


async def disable_account(request: web.Request, username: str) -> UserAccount:
    principal = require_role(request, Role.BUREAU_ADMIN, Role.UNIT_ADMIN)
    user = await UserAccount.get_or_none(username=username)
    if user is None or not await manages(principal, await request_scope(request), user):
        raise NotFound("no such account in your scope")
    if user.id == principal.user_id:
        raise Conflict("an administrator cannot disable their own account")
    user.active = False
    await user.save(update_fields=["active"])
    await WebSession.filter(user_id=user.id).delete()
    await ApiToken.filter(user_id=user.id).update(revoked=True)
    return user


FIELDS = ("username", "password", "role", "unit", "nip", "name", "language")
