"""Who is asking, and what they may see: sessions, CSRF, login throttling, API tokens, role scopes.

The `authenticate` middleware resolves every request to a :class:`Principal` (or refuses it), checks the
CSRF token on state-changing requests made with a session cookie, and handlers ask for a :class:`Scope`
that every query they make is filtered by. Nothing outside a scope is ever loaded, so a page, the API
and an export cannot disagree about what a role may see.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from tortoise.expressions import Q

from server.models import DevicePin, Employee, Unit
from server.services.accounts import LoginWindow, Role, UserAccount, find_api_token_user, find_session

SESSION_COOKIE = "kinerja_session"
LOGIN_CSRF_COOKIE = "kinerja_login_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"

# Reachable without logging in.
# /api/v1/enrol: a gateway has no account, its one-time code is the credential (server/services/gateway_enrolment.py).
PUBLIC_PATHS = frozenset({"/login", "/api/v1/health", "/api/v1/openapi.json", "/api/docs", "/api/v1/enrol"})
PUBLIC_PREFIXES = ("/static/",)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    username: str
    display_name: str
    role: Role
    unit_code: str | None
    employee_nip: str | None
    language: str
    via: str  # "session" or "token"
    csrf_token: str = ""

    @classmethod
    def of(cls, user: UserAccount, via: str, csrf_token: str = "") -> Principal:
        return cls(
            user_id=user.id,
            username=user.username,
            display_name=user.display_name,
            role=Role(user.role),
            unit_code=user.unit_code,
            employee_nip=user.employee_nip,
            language=user.language,
            via=via,
            csrf_token=csrf_token,
        )


PRINCIPAL = web.RequestKey("principal", Principal)


class Forbidden(web.HTTPForbidden):
    def __init__(self, reason: str) -> None:
        super().__init__(text=_json({"error": "forbidden", "reason": reason}), content_type="application/json")


class Unauthorized(web.HTTPUnauthorized):
    def __init__(self, reason: str) -> None:
        super().__init__(
            text=_json({"error": "unauthorized", "reason": reason}),
            content_type="application/json",
            headers={"WWW-Authenticate": 'Bearer realm="kinerja"'},
        )


def _json(body: dict[str, Any]) -> str:
    import json

    return json.dumps(body)


def is_api(request: web.Request) -> bool:
    return request.path.startswith("/api/")


def _is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    principal = await _resolve(request)
    if principal is not None:
        request[PRINCIPAL] = principal
    if _is_public(request.path):
        return await handler(request)
    if principal is None:
        if is_api(request):
            raise Unauthorized("log in, or send an API token as 'Authorization: Bearer knj_...'")
        raise web.HTTPSeeOther(location="/login?" + _next_param(request))
    if principal.via == "session" and request.method not in SAFE_METHODS:
        await check_csrf(request, principal.csrf_token)
    return await handler(request)


def _next_param(request: web.Request) -> str:
    from urllib.parse import urlencode

    target = request.path_qs if request.method == "GET" else "/"
    return urlencode({"next": target})


async def _resolve(request: web.Request) -> Principal | None:
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Authorization: expected 'Bearer <token>'")
        user = await find_api_token_user(token.strip())
        if user is None:
            raise Unauthorized("the API token is unknown or revoked")
        return Principal.of(user, "token")
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie and len(cookie) < 200:
        session = await find_session(cookie)
        if session is not None:
            return Principal.of(session.user, "session", session.csrf_token)
    return None


async def check_csrf(request: web.Request, expected: str) -> None:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        raise Forbidden("missing or wrong CSRF token: reload the page and try again")


def principal_of(request: web.Request) -> Principal:
    principal = request.get(PRINCIPAL)
    if principal is None:
        raise Unauthorized("log in first")
    return principal


def require_role(request: web.Request, *roles: Role) -> Principal:
    principal = principal_of(request)
    if principal.role not in roles:
        raise Forbidden(f"a {principal.role.value} account may not do this")
    return principal


def served_over_tls(request: web.Request) -> bool:
    """TLS to this process, or (with KINERJA_BEHIND_TLS_PROXY=1) to the reverse proxy in front of it,
    which says so in X-Forwarded-Proto. The header is trusted only when the operator says a proxy is there."""
    if request.secure:
        return True
    behind_proxy = os.environ.get("KINERJA_BEHIND_TLS_PROXY", "").lower() in ("1", "true", "yes")
    return behind_proxy and request.headers.get("X-Forwarded-Proto", "").lower() == "https"


def set_session_cookie(response: web.StreamResponse, request: web.Request, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        secure=served_over_tls(request),
        samesite="Lax",
        path="/",
        max_age=12 * 3600,
    )


# --- login throttling -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    """What the throttle decided for one login attempt, and the windows it was counted in."""

    retry_after_s: float  # > 0: refused unchecked, try again in this many seconds
    windows: tuple[tuple[str, int], ...] = ()  # (key, window start) where it is counted as a failure


@dataclass
class LoginThrottle:
    """Failed logins counted per username and per client address over a fixed window, in the database
    so every replica behind the load balancer counts the same attempts. Past the limit further attempts
    are refused, even with the right password and without checking it, until the window is over.

    Concurrency: each attempt is first counted as a failure, in ONE atomic statement for both of its keys
    (INSERT ... ON CONFLICT DO UPDATE ... RETURNING, on PostgreSQL and SQLite alike), and the count that
    statement returns decides. Thirty attempts at once get the counts 1..30, so exactly `per_username` are
    checked. An attempt refused, or whose password was right, is then taken back out of the count: the
    counts hold failures only, and never drop below the failures already made."""

    per_username: int = 5
    per_address: int = 30
    window_s: float = 15 * 60

    @staticmethod
    def _keys(username: str, address: str) -> tuple[str, str]:
        return f"user:{username.lower()[:64]}", f"addr:{address[:64]}"

    @staticmethod
    def _db() -> tuple[Any, Callable[[int], str]]:

        client = LoginWindow._meta.db
        postgres = client.capabilities.dialect == "postgres"
        return client, (lambda n: f"${n}") if postgres else (lambda n: f"?{n}")

    async def attempt(self, username: str, address: str) -> LoginAttempt:
        """Count this attempt and say whether its password may be checked."""
        client, p = self._db()
        now_ms = int(datetime.now(UTC).timestamp() * 1000)
        expired_ms = now_ms - int(self.window_s * 1000)
        user_key, address_key = self._keys(username, address)
        table = '"login_window"'
        # execute_query_dict: tortoise's execute_query drops the rows of an INSERT on PostgreSQL.
        rows = await client.execute_query_dict(
            f'INSERT INTO {table} ("key", "window_start_ms", "failures") '
            f"VALUES ({p(1)}, {p(3)}, 1), ({p(2)}, {p(3)}, 1) "
            'ON CONFLICT ("key") DO UPDATE SET '
            f'"failures" = CASE WHEN {table}."window_start_ms" <= {p(4)} THEN 1 ELSE {table}."failures" + 1 END, '
            f'"window_start_ms" = CASE WHEN {table}."window_start_ms" <= {p(4)} THEN {p(3)} '
            f'ELSE {table}."window_start_ms" END '
            'RETURNING "key", "window_start_ms", "failures"',
            [user_key, address_key, now_ms, expired_ms],
        )
        counted = {row["key"]: (int(row["window_start_ms"]), int(row["failures"])) for row in rows}
        windows = tuple((key, counted[key][0]) for key in (user_key, address_key))
        waits = [
            (counted[key][0] - expired_ms) / 1000
            for key, limit in ((user_key, self.per_username), (address_key, self.per_address))
            if counted[key][1] > limit
        ]
        if waits:
            await self._take_back(windows)
            return LoginAttempt(max(max(waits), 1.0))
        return LoginAttempt(0.0, windows)

    async def failed(self, attempt: LoginAttempt) -> None:
        """The password was wrong: it stays counted. Windows that are over are forgotten."""
        client, p = self._db()
        expired_ms = int(datetime.now(UTC).timestamp() * 1000 - self.window_s * 1000)
        await client.execute_query(f'DELETE FROM "login_window" WHERE "window_start_ms" <= {p(1)}', [expired_ms])

    async def succeeded(self, attempt: LoginAttempt) -> None:
        """The right password: the username's failures are forgiven, the address's count loses this one."""
        client, p = self._db()
        (user_key, _), address_window = attempt.windows
        await client.execute_query(f'DELETE FROM "login_window" WHERE "key" = {p(1)}', [user_key])
        await self._take_back((address_window,))

    async def _take_back(self, windows: Iterable[tuple[str, int]]) -> None:
        client, p = self._db()
        for key, started_ms in windows:  # only in the window it was counted in, never below zero
            await client.execute_query(
                f'UPDATE "login_window" SET "failures" = "failures" - 1 '
                f'WHERE "key" = {p(1)} AND "window_start_ms" = {p(2)} AND "failures" > 0',
                [key, started_ms],
            )


LOGIN_THROTTLE = web.AppKey("login_throttle", LoginThrottle)


# --- scopes -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scope:
    """What one principal may see. `unit_codes` None means every unit; `employee_nips` None means every
    employee of the visible units. `personnel` and `devices` say which kinds of record are visible at all."""

    personnel: bool
    devices: bool
    unit_codes: frozenset[str] | None
    employee_nips: frozenset[str] | None

    @property
    def everything(self) -> bool:
        return self.unit_codes is None and self.employee_nips is None

    def sees_unit(self, code: str) -> bool:
        return self.unit_codes is None or code in self.unit_codes

    def sees_employee(self, nip: str, unit_code: str) -> bool:
        if not self.personnel:
            return False
        if self.employee_nips is not None:
            return nip in self.employee_nips
        return self.sees_unit(unit_code)

    def employee_q(self, prefix: str = "") -> Q:
        """A filter for Employee rows (or rows with an employee relation, given its `prefix`)."""
        if not self.personnel:
            return Q(**{f"{prefix}nip__in": []})
        if self.employee_nips is not None:
            return Q(**{f"{prefix}nip__in": sorted(self.employee_nips)})
        if self.unit_codes is not None:
            return Q(**{f"{prefix}unit_id__in": sorted(self.unit_codes)})
        return Q()

    def unit_q(self, column: str = "code") -> Q:
        if self.unit_codes is None:
            return Q()
        return Q(**{f"{column}__in": sorted(self.unit_codes)})


async def unit_subtree(root: str) -> frozenset[str]:
    """`root` and every unit below it."""

    children: dict[str | None, list[str]] = {}
    for code, parent in await Unit.all().values_list("code", "parent_id"):
        children.setdefault(parent, []).append(code)
    found = {root}
    frontier = [root]
    while frontier:
        nxt = [c for code in frontier for c in children.get(code, ()) if c not in found]
        found.update(nxt)
        frontier = nxt
    return frozenset(found)


async def subordinates(supervisor_nip: str) -> frozenset[str]:
    """Employees below `supervisor_nip` in the supervisor chain (direct and indirect). Empty until the
    registry has supervisor links."""

    if "supervisor" not in Employee._meta.fields_map:
        return frozenset()
    below: dict[str | None, list[str]] = {}
    for nip, boss in await Employee.all().values_list("nip", "supervisor_id"):
        below.setdefault(boss, []).append(nip)
    found: set[str] = set()
    frontier = [supervisor_nip]
    while frontier:
        nxt = [n for boss in frontier for n in below.get(boss, ()) if n not in found and n != supervisor_nip]
        found.update(nxt)
        frontier = nxt
    return frozenset(found)


async def _units_of(nips: Iterable[str]) -> frozenset[str]:

    return frozenset(await Employee.filter(nip__in=sorted(nips)).values_list("unit_id", flat=True))


async def scope_for(principal: Principal) -> Scope:
    role = principal.role
    if role is Role.BUREAU_ADMIN:
        return Scope(personnel=True, devices=True, unit_codes=None, employee_nips=None)
    if role is Role.UNIT_ADMIN:
        units = await unit_subtree(principal.unit_code) if principal.unit_code else frozenset()
        return Scope(personnel=True, devices=True, unit_codes=units, employee_nips=None)
    if role is Role.OPERATIONS:
        units = await unit_subtree(principal.unit_code) if principal.unit_code else None
        return Scope(personnel=False, devices=True, unit_codes=units, employee_nips=frozenset())
    own = frozenset({principal.employee_nip}) if principal.employee_nip else frozenset()
    nips = own | (await subordinates(principal.employee_nip) if role is Role.SUPERVISOR and own else frozenset())
    return Scope(personnel=True, devices=False, unit_codes=await _units_of(nips), employee_nips=nips)


SCOPE_CACHE = web.RequestKey("scope", Scope)


async def request_scope(request: web.Request) -> Scope:
    cached = request.get(SCOPE_CACHE)
    if cached is None:
        cached = await scope_for(principal_of(request))
        request[SCOPE_CACHE] = cached
    return cached


async def punch_q(scope: Scope) -> Q:
    """A filter for Punch rows: punches carry unit and device PIN, so a per-employee scope becomes the
    (unit, PIN) pairs mapped to those employees."""

    if not scope.personnel:
        return Q(id__in=[])
    if scope.employee_nips is not None:
        pairs = await DevicePin.filter(employee_id__in=sorted(scope.employee_nips)).values_list("unit_id", "pin")
        if not pairs:
            return Q(id__in=[])
        return Q(*[Q(unit_code=unit, pin=pin) for unit, pin in pairs], join_type="OR")
    if scope.unit_codes is not None:
        return Q(unit_code__in=sorted(scope.unit_codes))
    return Q()
