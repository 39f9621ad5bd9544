"""Server-rendered pages. Every page reads through the principal's Scope, like the API."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from scoring import InputError
from server import models
from server.access import COMMAND_ROLES, DEVICE_ROLES, PERSONNEL, RECAP_ROLES
from server.auth import (
    LOGIN_CSRF_COOKIE,
    LOGIN_THROTTLE,
    SESSION_COOKIE,
    check_csrf,
    principal_of,
    request_scope,
    require_role,
    served_over_tls,
    set_session_cookie,
)
from server.context import CONSUMER
from server.i18n import N_, Formats, translate
from server.models import Employee, Gateway, Unit
from server.pages.charts import MonthFigures, comparison_bars, grouped_bars, month_columns
from server.pages.render import language_of, render
from server.services.accounts import Role, authenticate_password, end_session, start_session
from server.services.attendance import (
    DRIFT_WARNING_S,
    WIB,
    NotVisible,
    days_of,
    employee_in_scope,
    gateways_in_scope,
    subtree_filter,
    unit_zones,
)
from server.services.commands import send_command
from server.services.excuses import excuse_kinds, excuses_for
from server.services.month import (
    CODES,
    band_words,
    build_view,
    localise,
    month_view,
    next_month,
    parse_month,
    plain_words,
    policy_for,
    previous_month,
    results_for,
    stale_units,
)
from server.services.recap import SORTABLE, Recap, read_recap
from server.services.requests import approved_by_day
from server.services.today import today_view, tree_rollup
from wire.contract import CommandAction

routes = web.RouteTableDef()

MAX_LISTED = 500  # employees listed by name on the dashboard; the counts always cover everyone


def home_for(role: Role) -> str:
    if role is Role.OPERATIONS:
        return "/devices"
    if role is Role.EMPLOYEE:
        return "/my/month"
    return "/dashboard"


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site: never an absolute URL an attacker could bounce a login through."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


def _month_or_400(request: web.Request) -> date:
    try:
        return parse_month(request.query.get("month"))
    except ValueError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None


async def unit_names() -> dict[str, str]:
    """Every unit's name by its code: pages show units by name, the code beside it as a hint."""

    return dict(await Unit.all().values_list("code", "name"))


async def reader_zone(principal: Any) -> timezone:
    """The zone of the reader's own unit (its office's), for what belongs to no one office; WIB if none."""
    zones = await unit_zones()
    unit = principal.unit_code
    if unit is None and principal.employee_nip:
        employee = await Employee.get_or_none(nip=principal.employee_nip)
        unit = employee.unit_id if employee else None  # type: ignore[attr-defined]
    return zones.get(unit or "", WIB)


@routes.get("/login")
async def login_form(request: web.Request) -> web.Response:
    return _login_page(request, error=None)


def _login_page(request: web.Request, error: str | None, status: int = 200) -> web.Response:
    import secrets

    # Reuse the browser's token: a second login page (another tab, the favicon's redirect) must not
    # invalidate the form already on screen.
    current = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    token = current if 20 <= len(current) <= 64 and current.replace("-", "").replace("_", "").isalnum() else ""
    token = token or secrets.token_urlsafe(24)
    response = render(request, "login.html", status=status, error=error, csrf=token, next=request.query.get("next", ""))
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="Strict", secure=served_over_tls(request), path="/login"
    )
    return response


@routes.post("/login")
async def login_submit(request: web.Request) -> web.Response:

    form = await request.post()
    await check_csrf(request, request.cookies.get(LOGIN_CSRF_COOKIE, ""))
    username = str(form.get("username", ""))[:64]
    password = str(form.get("password", ""))[:1024]
    throttle = request.app[LOGIN_THROTTLE]
    address = request.remote or "?"
    attempt = await throttle.attempt(username, address)
    wait = attempt.retry_after_s
    language = language_of(request)
    if wait > 0:
        message = translate(
            language, N_("Too many failed attempts. Try again in {minutes} minutes."), minutes=max(1, round(wait / 60))
        )
        response = _login_page(request, message, status=429)
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    user = await authenticate_password(username, password)
    if user is None:
        await throttle.failed(attempt)
        return _login_page(request, translate(language, N_("Wrong username or password.")), status=401)
    await throttle.succeeded(attempt)
    token, _ = await start_session(user)
    target = _safe_next(str(form.get("next", ""))) or home_for(Role(user.role))
    response = web.HTTPSeeOther(location=target)
    set_session_cookie(response, request, token)
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/login")
    raise response


@routes.post("/logout")
async def logout(request: web.Request) -> web.Response:
    if token := request.cookies.get(SESSION_COOKIE):
        await end_session(token)
    response = web.HTTPSeeOther(location="/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


@routes.get("/")
async def index(request: web.Request) -> web.Response:
    raise web.HTTPSeeOther(location=home_for(principal_of(request).role))


@routes.get("/dashboard")
async def dashboard(request: web.Request) -> web.Response:
    principal = require_role(request, Role.BUREAU_ADMIN, Role.UNIT_ADMIN, Role.SUPERVISOR)
    scope = await subtree_filter(await request_scope(request), request.query.get("unit") or None)
    counts, rows = await today_view(scope)
    tree = await tree_rollup(counts, scope)
    totals: Counter[str] = Counter()
    for c in counts:
        totals.update({k: getattr(c, k) for k in ("employees", "present", "late", "absent", "on_leave", "not_yet_in")})
    gateways = await gateways_in_scope(scope) if principal.role in DEVICE_ROLES else []
    warnings = [
        (d.serial, round(d.clock_drift_s))
        for g in gateways
        for d in g.devices
        if d.clock_drift_s is not None and abs(d.clock_drift_s) >= DRIFT_WARNING_S
    ]
    devices = [d for g in gateways for d in g.devices]
    zone = await reader_zone(principal)
    now = datetime.now(UTC)
    return render(
        request,
        "dashboard.html",
        today=now.astimezone(zone).date(),
        now=now,
        zone=zone,
        unit_names=await unit_names(),
        online=sum(1 for g in gateways if g.online),
        devices_ok=sum(1 for d in devices if d.reachable),
        devices_total=len(devices),
        tree=tree,
        totals=totals,
        rows=rows[:MAX_LISTED],
        more=max(0, len(rows) - MAX_LISTED),
        gateways=gateways,
        show_devices=principal.role in DEVICE_ROLES,
        drift_warnings=warnings,
        backlog=sum(g.backlog or 0 for g in gateways),
    )


RECAP_PAGE = 100  # rows per page of the recap: a ministry's 30,000 are 300 pages, each one indexed read


@routes.get("/recap")
async def recap_page(request: web.Request) -> web.Response:
    """The monthly recap as stored (server/services/recap.py: never scored on a view), sorted and paged by
    the database; a unit-month being rescored is announced, its members not scored yet say so."""
    require_role(request, *RECAP_ROLES)
    month = _month_or_400(request)
    unit = request.query.get("unit") or None
    scope = await subtree_filter(await request_scope(request), unit)
    sort = request.query.get("sort", "unit")
    sort = sort if sort in SORTABLE else "unit"
    descending = request.query.get("dir") == "desc"
    try:
        page = max(1, min(1_000_000, int(request.query.get("page", "1"))))
    except ValueError:
        page = 1
    try:
        found = await read_recap(
            scope, month, limit=RECAP_PAGE, offset=(page - 1) * RECAP_PAGE, sort=sort, descending=descending
        )
    except InputError:  # a month before the policy came into force: nothing was or will be scored
        found = Recap(month, [], 0, [])
    pages = max(1, -(-found.total // RECAP_PAGE))
    names = await unit_names()
    return render(
        request,
        "recap.html",
        unit_names=names,
        code_names={  # "terlambat 1 sampai 30 menit, 0,50% per kejadian": the code itself is beside it
            code: band_words(policy_for(WIB), code, language_of(request)).partition(": ")[2] for code in CODES
        },
        rows=found.rows,
        total=found.total,
        page=page,
        pages=pages,
        first_row=(page - 1) * RECAP_PAGE + 1,
        recalculating=[names.get(u, u) for u in found.recalculating],
        month=month,
        unit=unit or "",
        sort=sort,
        descending=descending,
        units=[(u, names.get(u, u)) for u in found.units],
        codes=CODES,
        sortable=SORTABLE,
    )


@routes.get("/my/month")
async def my_month(request: web.Request) -> web.Response:
    principal = require_role(request, *PERSONNEL)
    if not principal.employee_nip:
        raise web.HTTPSeeOther(location=home_for(principal.role))
    raise web.HTTPSeeOther(location=f"/employees/{principal.employee_nip}/month?" + request.query_string)


@routes.get("/employees/{nip}/month")
async def employee_month_page(request: web.Request) -> web.Response:

    principal = require_role(request, *PERSONNEL)
    month = _month_or_400(request)
    try:
        employee = await employee_in_scope(await request_scope(request), request.match_info["nip"])
    except NotVisible:
        raise web.HTTPNotFound() from None
    view = await month_view(employee, month)
    lead = view.days[0].day.weekday()
    zone = (await unit_zones()).get(view.unit_code, WIB)
    policy = policy_for(zone)
    language = language_of(request)
    last = next_month(month) - timedelta(days=1)
    upcoming = (await excuses_for([employee.nip], month, last)).get(employee.nip, {})
    localise(view, policy, language, upcoming)
    return render(
        request,
        "month.html",
        view=view,
        unit_name=(await unit_names()).get(view.unit_code, view.unit_code),
        zone_name=zone.tzname(None),
        today=datetime.now(UTC).astimezone(zone).date(),
        explanation=plain_words(view.explained, language, policy),
        requests_by_day=await approved_by_day(employee.nip, view.days[0].day, view.days[-1].day),
        excuse_kinds=excuse_kinds() if principal.role in (Role.BUREAU_ADMIN, Role.UNIT_ADMIN) else [],
        recorded=request.query.get("recorded"),
        error=request.query.get("error"),
        lead=lead,
        month=month,
        previous=previous_month(month),
        following=next_month(month),
    )


@routes.get("/charts")
async def charts(request: web.Request) -> web.Response:
    """Lateness, early leave and absence of the month: per unit, per weekday, day by day, and the units
    compared by their share of working days on time. Days still to come are not counted (today
    included: it counts once it has passed, as in the recap)."""

    require_role(request, *RECAP_ROLES)
    month = _month_or_400(request)
    scope = await request_scope(request)
    employees = await Employee.filter(scope.employee_q()).order_by("unit_id", "name")
    results = await results_for(employees, month)  # as stored: never scored on a view
    recalculating = await stale_units({e.unit_id for e in employees}, month)  # type: ignore[attr-defined]
    figures = MonthFigures()
    kinds: dict[date, str] = {}
    for employee in employees:
        if employee.nip not in results:
            continue  # not in the unit that month (started after it, ended before it)
        view = build_view(employee, month, results[employee.nip])
        for day in view.days:
            scored = day.kind in ("working", "shift")
            figures.add(view.unit_code, day.day, day.codes, scored)
            kinds.setdefault(day.day, day.kind if day.kind in ("working", "future") else "off")
    if not kinds:
        kinds = {d: "off" if d.weekday() >= 5 else "working" for d in days_of(month)}
    names = await unit_names()
    units = sorted(figures.by_unit)
    fmt = Formats(language_of(request))
    counted_to = max((d for d, k in kinds.items() if k == "working"), default=None)
    return render(
        request,
        "charts.html",
        month=month,
        recalculating=[names.get(u, u) for u in recalculating],
        counted_to=counted_to,
        by_unit=grouped_bars([(names.get(u, u), u, figures.by_unit[u]) for u in units]),
        by_weekday=grouped_bars([(fmt.weekday(i, "wide"), "", figures.by_weekday[i]) for i in range(5)]),
        by_day=month_columns([(d, figures.by_day.get(d, Counter()), kinds[d]) for d in sorted(kinds)]),
        comparison=comparison_bars(
            [(names.get(u, u), u, figures.clean_days[u], figures.scored_days[u]) for u in units]
        ),
    )


@routes.get("/devices")
async def devices_page(request: web.Request) -> web.Response:
    principal = require_role(request, *DEVICE_ROLES)
    gateways = await gateways_in_scope(await request_scope(request))
    commands: dict[str, list[Any]] = {}

    if (record := getattr(models, "GatewayCommand", None)) is not None and gateways:
        recent = await record.filter(gateway_id__in=[g.gateway_id for g in gateways]).order_by("-created_at").limit(100)
        for command in recent:
            commands.setdefault(command.gateway_id, []).append(command)
    pending: dict[str, list[Any]] = {}
    if gateways:
        for claim in await models.PendingDevice.filter(gateway_id__in=[g.gateway_id for g in gateways]).order_by("id"):
            pending.setdefault(claim.gateway_id, []).append(claim)
    return render(
        request,
        "devices.html",
        zones=await unit_zones(),  # each gateway's times on its office's clock
        default_zone=await reader_zone(principal),
        unit_names=await unit_names(),
        commands=commands,
        pending=pending,
        gateways=gateways,
        may_command=principal.role in COMMAND_ROLES,
        drift_limit=DRIFT_WARNING_S,
        sent=request.query.get("sent"),
        sent_to=request.query.get("to"),
    )


@routes.post("/devices/{gateway_id}/commands")
async def devices_command(request: web.Request) -> web.Response:
    require_role(request, *COMMAND_ROLES)
    form = await request.post()
    action = str(form.get("action", ""))
    gateway_id = request.match_info["gateway_id"]
    if action == "sync_clock":
        args: dict[str, Any] = {}
    elif action == "write_user":
        pin, name = str(form.get("pin", "")).strip(), str(form.get("name", "")).strip()
        if not pin.isdigit() or len(pin) > 24 or not 1 <= len(name) <= 24:
            raise web.HTTPBadRequest(text=N_("PIN: digits only; name: 1-24 characters"))
        args = {"pin": pin, "name": name}
    else:
        raise web.HTTPBadRequest(text=N_("action: expected sync_clock or write_user"))
    await _send_command(request, gateway_id, action, args)
    from urllib.parse import urlencode

    raise web.HTTPSeeOther(location="/devices?" + urlencode({"sent": action, "to": gateway_id}))


async def _send_command(request: web.Request, gateway_id: str, action: str, args: dict[str, Any]) -> None:
    """Through the registry's command path (recorded, published on the gateway's command topic), for a
    gateway inside the caller's scope only."""

    visible = {g.gateway_id for g in await gateways_in_scope(await request_scope(request))}
    gateway = await Gateway.get_or_none(gateway_id=gateway_id) if gateway_id in visible else None
    if gateway is None:
        raise web.HTTPNotFound()
    await send_command(request.app.get(CONSUMER), gateway, CommandAction(action), args)
