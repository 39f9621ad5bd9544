"""Which role may call which API route, and the scope checks on the route's path and query.

One table for every route under /api/v1, whoever wrote the handler: the registry's handlers know
nothing of roles, so the checks they need (is this NIP, unit or gateway inside the caller's scope; must
a unit-bound caller name a unit) happen here before the handler runs. A route missing from the table
is open to the bureau administrator only: a new endpoint is never open to everyone by accident.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from server import models
from server.auth import PRINCIPAL, Forbidden, Principal, Scope, request_scope
from server.models import Employee
from server.services.accounts import Role

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

BUR, UNI, SUP, EMP, OPS = Role.BUREAU_ADMIN, Role.UNIT_ADMIN, Role.SUPERVISOR, Role.EMPLOYEE, Role.OPERATIONS
ALL = (BUR, UNI, SUP, EMP, OPS)
PERSONNEL = (BUR, UNI, SUP, EMP)


# Who reads what, shared by the API and the pages.
PERSONNEL = (Role.BUREAU_ADMIN, Role.UNIT_ADMIN, Role.SUPERVISOR, Role.EMPLOYEE)
RECAP_ROLES = (Role.BUREAU_ADMIN, Role.UNIT_ADMIN, Role.SUPERVISOR)
DEVICE_ROLES = (Role.BUREAU_ADMIN, Role.UNIT_ADMIN, Role.OPERATIONS)
COMMAND_ROLES = (Role.BUREAU_ADMIN, Role.OPERATIONS)


@dataclass(frozen=True, slots=True)
class Rule:
    roles: tuple[Role, ...]
    # Query parameters naming a unit; for a unit-bound caller one of them must be given (and in scope).
    unit_params: tuple[str, ...] = ()
    needs_unit: bool = False
    # Handlers that filter rows by the caller's scope themselves (ours), so no unit is required.
    scoped_in_handler: bool = False


RULES: dict[tuple[str, str], Rule] = {
    # ours
    ("GET", "/api/v1/me"): Rule(ALL, scoped_in_handler=True),
    ("POST", "/api/v1/tokens"): Rule(ALL, scoped_in_handler=True),
    ("GET", "/api/v1/policy"): Rule(ALL, scoped_in_handler=True),
    ("GET", "/api/v1/today"): Rule((BUR, UNI, SUP), scoped_in_handler=True),
    ("GET", "/api/v1/employees/{nip}/month"): Rule(PERSONNEL, scoped_in_handler=True),
    ("GET", "/api/v1/results"): Rule((BUR, UNI, SUP), scoped_in_handler=True),
    ("GET", "/api/v1/exports/recap.csv"): Rule((BUR, UNI, SUP), scoped_in_handler=True),
    ("GET", "/api/v1/exports/recap.xlsx"): Rule((BUR, UNI, SUP), scoped_in_handler=True),
    ("GET", "/api/v1/activities"): Rule(PERSONNEL, scoped_in_handler=True),
    ("POST", "/api/v1/activities"): Rule(PERSONNEL, scoped_in_handler=True),
    ("POST", "/api/v1/activities/decisions"): Rule((SUP,), scoped_in_handler=True),
    ("POST", "/api/v1/activities/{claim_id}/resubmit"): Rule(PERSONNEL, scoped_in_handler=True),
    # requests and objections (server/api/requests.py, objections.py): listed within the caller's scope, filed
    # for the caller's own record, decided by whom the request policy names (checked in the services)
    ("GET", "/api/v1/requests"): Rule(PERSONNEL, scoped_in_handler=True),
    ("GET", "/api/v1/requests/queue"): Rule((BUR, UNI, SUP), scoped_in_handler=True),
    ("GET", "/api/v1/requests/{request_id}"): Rule(PERSONNEL, scoped_in_handler=True),
    ("POST", "/api/v1/requests"): Rule(PERSONNEL, scoped_in_handler=True),
    ("POST", "/api/v1/requests/{request_id}/decision"): Rule((BUR, UNI, SUP), scoped_in_handler=True),
    ("POST", "/api/v1/requests/{request_id}/cancel"): Rule(PERSONNEL, scoped_in_handler=True),
    ("GET", "/api/v1/objections"): Rule(PERSONNEL, scoped_in_handler=True),
    ("GET", "/api/v1/objections/queue"): Rule((BUR, SUP), scoped_in_handler=True),
    ("GET", "/api/v1/objections/{objection_id}"): Rule(PERSONNEL, scoped_in_handler=True),
    ("POST", "/api/v1/objections"): Rule(PERSONNEL, scoped_in_handler=True),
    ("POST", "/api/v1/objections/{objection_id}/decision"): Rule((BUR, SUP), scoped_in_handler=True),
    # an employee's dated history: the path's NIP must be in the caller's scope (checked here and in the handler)
    ("GET", "/api/v1/employees/{nip}/history"): Rule(PERSONNEL, scoped_in_handler=True),
    ("GET", "/api/v1/excuses"): Rule(PERSONNEL, scoped_in_handler=True),
    ("POST", "/api/v1/excuses"): Rule((BUR, UNI), scoped_in_handler=True),
    ("GET", "/api/v1/users"): Rule((BUR, UNI), scoped_in_handler=True),
    ("POST", "/api/v1/users"): Rule((BUR, UNI), scoped_in_handler=True),
    ("POST", "/api/v1/users/{username}/disable"): Rule((BUR, UNI), scoped_in_handler=True),
    # the payroll (server/api/payroll.py): a unit's payroll for its administrators; closing,
    # correcting and the audit trail for the bureau; the unit checks happen in the handlers.
    ("GET", "/api/v1/employees/{nip}/grades"): Rule((BUR, UNI, SUP, EMP), scoped_in_handler=True),
    ("POST", "/api/v1/employees/{nip}/grades"): Rule((BUR,)),
    ("GET", "/api/v1/payroll"): Rule((BUR, UNI), scoped_in_handler=True),
    ("POST", "/api/v1/payroll/close"): Rule((BUR,)),
    ("POST", "/api/v1/payroll/corrections"): Rule((BUR,)),
    ("GET", "/api/v1/exports/payroll.csv"): Rule((BUR, UNI), scoped_in_handler=True),
    ("GET", "/api/v1/exports/payroll.xlsx"): Rule((BUR, UNI), scoped_in_handler=True),
    ("GET", "/api/v1/exports/payroll.pdf"): Rule((BUR, UNI), scoped_in_handler=True),
    ("GET", "/api/v1/units/{code}/signatories"): Rule((BUR, UNI)),
    ("POST", "/api/v1/units/{code}/signatories"): Rule((BUR, UNI)),
    ("GET", "/api/v1/audit"): Rule((BUR,)),
    # work plans (server/api/skp.py, issue 17): a plan within the reader's scope (the path's NIP is checked
    # here); the organisation's roll-up, scoped in the service to the reader's units and team
    ("GET", "/api/v1/employees/{nip}/skp"): Rule(PERSONNEL, scoped_in_handler=True),
    ("GET", "/api/v1/organisation/performance"): Rule((BUR, UNI, SUP), scoped_in_handler=True),
    # the ingest API (server/api/punches.py)
    ("GET", "/api/v1/server/status"): Rule((BUR, OPS)),
    ("GET", "/api/v1/punches"): Rule((BUR, UNI), unit_params=("unit",), needs_unit=True),
    ("GET", "/api/v1/attendance/daily"): Rule((BUR, UNI), unit_params=("unit",), needs_unit=True),
    ("GET", "/api/v1/quarantine"): Rule((BUR, OPS), needs_unit=True),
    # the registry API (server/api/registry.py)
    ("POST", "/api/v1/units"): Rule((BUR,)),
    ("GET", "/api/v1/units"): Rule((BUR, UNI, OPS), unit_params=("under",), needs_unit=True),
    ("GET", "/api/v1/units/{code}"): Rule((BUR, UNI, OPS)),
    ("POST", "/api/v1/offices"): Rule((BUR,)),
    ("GET", "/api/v1/offices"): Rule((BUR, UNI, OPS), unit_params=("unit",), needs_unit=True),
    ("POST", "/api/v1/gateways"): Rule((BUR,)),
    ("GET", "/api/v1/gateways"): Rule((BUR, UNI, OPS), unit_params=("unit",), needs_unit=True),
    ("GET", "/api/v1/gateways/{gateway_id}"): Rule((BUR, UNI, OPS)),
    ("POST", "/api/v1/devices"): Rule((BUR,)),
    ("GET", "/api/v1/devices"): Rule((BUR, OPS), needs_unit=True),
    # Pending devices of a unit (never seen, punches held): its administrators list and assign them.
    ("GET", "/api/v1/units/{code}/pending-devices"): Rule((BUR, UNI, OPS)),
    ("POST", "/api/v1/units/{code}/pending-devices/{serial}/assign"): Rule((BUR, UNI)),
    ("POST", "/api/v1/employees"): Rule((BUR,)),
    ("GET", "/api/v1/employees"): Rule((BUR, UNI, SUP), unit_params=("unit",), needs_unit=True),
    ("GET", "/api/v1/employees/{nip}"): Rule(PERSONNEL),
    ("POST", "/api/v1/employees/import"): Rule((BUR,)),
    # Mapping a PIN names an employee in the body, which these checks do not read: the bureau only.
    ("POST", "/api/v1/units/{code}/pins"): Rule((BUR,)),
    ("GET", "/api/v1/units/{code}/pins"): Rule((BUR, UNI, OPS)),
    ("POST", "/api/v1/gateways/{gateway_id}/commands"): Rule((BUR, OPS)),
    ("GET", "/api/v1/gateways/{gateway_id}/commands"): Rule((BUR, UNI, OPS)),
    # configuration from the centre (server/api/gateway_configs.py): operations and the bureau send it
    ("PUT", "/api/v1/gateways/{gateway_id}/config"): Rule((BUR, OPS)),
    ("GET", "/api/v1/gateways/{gateway_id}/config"): Rule((BUR, UNI, OPS)),
    ("POST", "/api/v1/units/{code}/enrol"): Rule((BUR, OPS)),
    # gateway enrolment codes (server/api/gateway_enrolments.py): a unit administrator for their own units,
    # checked in the service.
    ("POST", "/api/v1/gateway-enrolments"): Rule((BUR, UNI), scoped_in_handler=True),
    ("GET", "/api/v1/gateways/{gateway_id}/enrolment"): Rule((BUR, UNI, OPS)),
    # Public (server/auth.py PUBLIC_PATHS): the code is the credential; a caller who also sends a login is
    # no different.
    ("POST", "/api/v1/enrol"): Rule(ALL, scoped_in_handler=True),
}
DEFAULT_RULE = Rule((BUR,))


class NotInScope(web.HTTPNotFound):
    def __init__(self, what: str) -> None:
        import json

        super().__init__(
            text=json.dumps({"error": "not_found", "reason": f"no such {what} in your scope"}),
            content_type="application/json",
        )


def rule_for(request: web.Request) -> Rule | None:
    """The route's rule; None for a path no route serves (the router answers 404/405 itself)."""
    match = request.match_info
    if match.http_exception is not None or match.route.resource is None:
        return None
    canonical = match.route.resource.canonical
    key = ("GET" if request.method == "HEAD" else request.method, canonical)
    rule = RULES.get(key)
    if rule is None:
        log.warning("no access rule for %s %s: open to the bureau administrator only", *key)
        return DEFAULT_RULE
    return rule


@web.middleware
async def authorize(request: web.Request, handler: Handler) -> web.StreamResponse:
    principal: Principal | None = request.get(PRINCIPAL)
    if principal is None or not request.path.startswith("/api/v1/"):
        return await handler(request)  # pages check roles in their handlers; the public API is public
    rule = rule_for(request)
    if rule is None:
        return await handler(request)
    if principal.role not in rule.roles:
        raise Forbidden(f"a {principal.role.value} account may not call {request.method} {request.path}")
    if rule.scoped_in_handler or principal.role is Role.BUREAU_ADMIN:
        if principal.role is not Role.BUREAU_ADMIN:
            await _check_path(request, await request_scope(request))
        return await handler(request)
    scope = await request_scope(request)
    await _check_path(request, scope)
    await _check_query(request, scope, rule, principal)
    return await handler(request)


async def _check_path(request: web.Request, scope: Scope) -> None:
    match = request.match_info
    if (nip := match.get("nip")) is not None:
        unit = await Employee.filter(nip=nip).values_list("unit_id", flat=True)
        if not unit or not scope.sees_employee(nip, unit[0]):
            raise NotInScope("employee")
    if (code := match.get("code")) is not None and not scope.sees_unit(code):
        raise NotInScope("unit")
    if (gateway_id := match.get("gateway_id")) is not None and not await _sees_gateway(scope, gateway_id):
        raise NotInScope("gateway")


async def _sees_gateway(scope: Scope, gateway_id: str) -> bool:

    if not scope.devices:
        return False
    gateway = getattr(models, "Gateway", None)
    if gateway is None:
        return scope.unit_codes is None
    units = await gateway.filter(gateway_id=gateway_id).values_list("unit_code", flat=True)
    return bool(units) and scope.sees_unit(units[0])


async def _check_query(request: web.Request, scope: Scope, rule: Rule, principal: Principal) -> None:
    resource = request.match_info.route.resource
    if principal.role is Role.SUPERVISOR and resource is not None and resource.canonical == "/api/v1/employees":
        # The registry's employee list knows supervisors: a supervisor lists their own team.
        if request.query.get("supervisor") != principal.employee_nip or "unit" in request.query:
            raise Forbidden(f"a supervisor lists their team: ?supervisor={principal.employee_nip}")
        return
    given = [request.query[name] for name in rule.unit_params if name in request.query]
    for unit in given:
        if not scope.sees_unit(unit):
            raise NotInScope("unit")
    if rule.needs_unit and scope.unit_codes is not None and not given:
        if not rule.unit_params:
            raise Forbidden("your account covers some units only; this list spans every unit")
        names = " or ".join(rule.unit_params)
        raise Forbidden(f"your account covers some units only: name one with ?{names}=")
