"""The enrolment's HTTP side (server/gateway_enrolment.py has the rules): a unit administrator issues a
code (JSON API and a page), the gateway trades it for its identity, and the API says how an enrolment
stands. `install(app)` is the app's setup hook; `configure(settings)` makes one for tests and callers
that do not read the environment.

    POST /api/v1/gateway-enrolments           register a gateway and issue its code (bureau, unit admin)
    GET  /api/v1/gateways/{gateway_id}/enrolment    how its latest code stands
    POST /api/v1/enrol                        the gateway's call: {"code": ...} -> its identity (no login)
    GET, POST /gateways/enrol                 the page
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from aiohttp import web

from server.accounts import Role
from server.auth import request_scope, require_role
from server.context import SETTINGS
from server.gateway_enrolment import (
    MAX_DEVICES,
    EnrolmentError,
    EnrolmentSettings,
    FailureLimiter,
    GatewayEnrolment,
    audit_rate_limited,
    claim,
    enrolled,
    issue_code,
    mosquitto_passwd_line,
    qr_svg,
    release,
)
from server.models import Gateway, Office, Unit
from server.openapi import GATEWAY, OBJECT, PATH_PROVIDERS, SLUG, ZONE_ENUM, _errors, _fields, _get, _ok
from server.web.access import RULES, Rule
from wire.contract import ContractError, validate_slug

ENROL_PATH = "/api/v1/enrol"
ENROLMENT = web.AppKey("gateway_enrolment_settings", EnrolmentSettings)
LIMITER = web.AppKey("gateway_enrolment_limiter", FailureLimiter)
MAX_BODY = 64 * 1024

routes = web.RouteTableDef()

BUR, UNI, OPS = Role.BUREAU_ADMIN, Role.UNIT_ADMIN, Role.OPERATIONS
ISSUERS = (BUR, UNI)
RULES.update(
    {
        ("POST", "/api/v1/gateway-enrolments"): Rule(ISSUERS, scoped_in_handler=True),
        ("GET", "/api/v1/gateways/{gateway_id}/enrolment"): Rule((BUR, UNI, OPS)),
        # Public (server/auth.py PUBLIC_PATHS): a caller who also sends a login is no different.
        ("POST", ENROL_PATH): Rule(tuple(Role), scoped_in_handler=True),
    }
)


class Refused(web.HTTPException):
    """A JSON refusal with any status (aiohttp's classes fix one each)."""

    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None) -> None:
        self.status_code = status
        error = {400: "bad_request", 403: "forbidden", 404: "not_found", 409: "conflict", 429: "too_many_requests"}
        super().__init__(
            text=json.dumps({"error": error.get(status, "unavailable"), "reason": reason}),
            content_type="application/json",
            headers=headers,
        )


# --- the device list the administrator enters (the gateway checks it fully before writing its config) ---

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
PROFILE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
HOST = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.:-]{0,252}$")
SERIAL_NUMBER = re.compile(r"^[0-9A-Za-z_.:-]{1,64}$")
SERIAL_PATH = re.compile(r"^/dev/[A-Za-z0-9_./-]{1,100}$")
DEVICE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "pattern": NAME.pattern},
        "profile": {"type": "string", "pattern": PROFILE.pattern},
        "host": {"type": "string", "pattern": HOST.pattern},
        "port": {"type": "integer", "minimum": 1, "maximum": 65535},
        "transport": {"type": "string", "enum": ["tcp", "udp"]},
        "comm_key": {"type": "integer", "minimum": 0, "maximum": 999999},
        "serial_number": {"type": "string", "pattern": SERIAL_NUMBER.pattern},
        "serial_path": {"type": "string", "pattern": SERIAL_PATH.pattern},
        "poll_interval_s": {"type": "number", "minimum": 0.1, "maximum": 86400},
        "timeout_s": {"type": "number", "minimum": 0.1, "maximum": 600},
    },
    "additionalProperties": False,
}
_TEXT_FIELDS = {
    "name": NAME,
    "profile": PROFILE,
    "host": HOST,
    "serial_number": SERIAL_NUMBER,
    "serial_path": SERIAL_PATH,
}
_INT_FIELDS = {"port": (1, 65535), "comm_key": (0, 999_999)}
_NUMBER_FIELDS = {"poll_interval_s": (0.1, 86_400), "timeout_s": (0.1, 600)}


def check_devices(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_DEVICES:
        raise Refused(400, f"devices: daftar 1-{MAX_DEVICES} perangkat (expected a list of 1-{MAX_DEVICES} devices)")
    devices = []
    for index, entry in enumerate(value):
        where = f"devices[{index}]"
        if not isinstance(entry, dict):
            raise Refused(400, f"{where}: harus objek (expected an object)")
        for key, item in entry.items():
            if key in _TEXT_FIELDS:
                if not isinstance(item, str) or not _TEXT_FIELDS[key].match(item):
                    raise Refused(400, f"{where}.{key}: nilai tidak sah {item!r} (invalid value)")
            elif key in _INT_FIELDS:
                low, high = _INT_FIELDS[key]
                if isinstance(item, bool) or not isinstance(item, int) or not low <= item <= high:
                    raise Refused(400, f"{where}.{key}: bilangan {low}-{high} (expected an integer {low}-{high})")
            elif key in _NUMBER_FIELDS:
                low, high = _NUMBER_FIELDS[key]
                if isinstance(item, bool) or not isinstance(item, int | float) or not low <= item <= high:
                    raise Refused(400, f"{where}.{key}: angka {low}-{high} (expected a number {low}-{high})")
            elif key == "transport":
                if item not in ("tcp", "udp"):
                    raise Refused(400, f"{where}.transport: tcp atau udp (expected tcp or udp)")
            else:
                raise Refused(400, f"{where}.{key}: bidang tidak dikenal (unknown field)")
        if "name" not in entry:
            raise Refused(400, f"{where}.name: wajib diisi (required)")
        devices.append(dict(entry))
    names = [d["name"] for d in devices]
    if len(set(names)) != len(names):
        # 409, not 400: the document cannot say "unique by name", so a schema-valid body may still clash.
        raise Refused(409, "devices: nama perangkat harus unik (device names must be unique)")
    return devices


def _slug(value: Any, what: str) -> str:
    try:
        return validate_slug(value, what)
    except ContractError as exc:
        raise Refused(400, f"{what}: kode tidak sah ({exc})") from None


async def _json_body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if len(raw) > MAX_BODY:
        raise Refused(400, f"isi permintaan lebih dari {MAX_BODY} bita (the body is larger than {MAX_BODY} bytes)")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise Refused(400, "isi permintaan bukan JSON yang sah (the body is not valid JSON)") from None
    if not isinstance(body, dict):
        raise Refused(400, "isi permintaan harus objek JSON (the body must be a JSON object)")
    return body


# --- issuing a code ---------------------------------------------------------------------------------


async def register_and_issue(request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
    """Register the gateway (or take it again, same unit) and issue its code: the API's and the page's."""
    principal = require_role(request, *ISSUERS)
    gateway_id = _slug(body.get("gateway_id"), "gateway_id")
    unit_code = _slug(body.get("unit"), "unit")
    office_code = body.get("office")
    if office_code is not None:
        office_code = _slug(office_code, "office")
    devices = check_devices(body.get("devices"))
    zone = body.get("timezone")
    if zone is not None and zone not in ("WIB", "WITA", "WIT"):
        raise Refused(400, f"timezone: WIB, WITA atau WIT (expected WIB, WITA or WIT), got {zone!r}")
    if not (await request_scope(request)).sees_unit(unit_code) or not await Unit.exists(code=unit_code):
        raise Refused(404, f"unit: tidak ada unit {unit_code!r} dalam cakupan Anda (no such unit in your scope)")
    office = None
    if office_code is not None:
        office = await Office.get_or_none(code=office_code)
        if office is None or office.unit_id != unit_code:  # type: ignore[attr-defined]
            raise Refused(404, f"office: tidak ada kantor {office_code!r} di unit {unit_code} (no such office)")
    if zone is None:
        first = office or await Office.filter(unit_id=unit_code).order_by("code").first()
        zone = first.zone if first is not None else "WIB"
    gateway = await Gateway.get_or_none(gateway_id=gateway_id)
    if gateway is not None and gateway.registered and gateway.unit_code != unit_code:
        raise Refused(409, f"gateway {gateway_id!r} sudah terdaftar di unit lain (registered to another unit)")
    known = gateway is not None
    if gateway is None:
        gateway = Gateway(gateway_id=gateway_id)
    gateway.unit_code = unit_code
    if office is not None or not known:
        gateway.office_id = office_code  # type: ignore[attr-defined]
    gateway.registered = True
    await gateway.save(update_fields=["unit_code", "office_id", "registered"] if known else None)
    settings = request.app[ENROLMENT]
    issued = await issue_code(
        gateway_id, unit_code, zone, devices, settings.ttl, principal.username, principal.role.value
    )
    centre = settings.public_url or str(request.url.origin())
    command = f"sudo kinerja gateway enrol {centre} {issued.code}"
    return {
        "gateway_id": gateway_id,
        "unit": unit_code,
        "code": issued.code,
        "expires_at": issued.expires_at.isoformat(),
        "command": command,
        "qr_svg": qr_svg(command),
    }


@routes.post("/api/v1/gateway-enrolments")
async def post_enrolment(request: web.Request) -> web.Response:
    return web.json_response(await register_and_issue(request, await _json_body(request)), status=201)


@routes.get("/api/v1/gateways/{gateway_id}/enrolment")
async def get_enrolment(request: web.Request) -> web.Response:
    gateway_id = request.match_info["gateway_id"]
    row = await GatewayEnrolment.filter(gateway_id=gateway_id).order_by("-id").first()
    if row is None or not (await request_scope(request)).sees_unit(row.unit_code):
        raise Refused(404, f"gateway {gateway_id!r}: belum ada kode pendaftaran (no enrolment code issued)")
    from datetime import UTC, datetime

    state = "enrolled" if row.used_at else ("pending" if row.expires_at > datetime.now(UTC) else "expired")
    return web.json_response(
        {
            "gateway_id": row.gateway_id,
            "unit": row.unit_code,
            "state": state,
            "issued_by": row.created_by,
            "issued_at": row.created_at.isoformat(),
            "expires_at": row.expires_at.isoformat(),
            "enrolled_at": row.used_at.isoformat() if row.used_at else None,
            "broker_login": row.broker_login,
            # Static fallback: the line for the broker's password file (a hash, not the password).
            "passwd_line": row.passwd_line,
        }
    )


# --- the gateway's call -----------------------------------------------------------------------------------


@routes.post(ENROL_PATH)
async def post_enrol(request: web.Request) -> web.Response:
    remote = request.remote or "?"
    limiter = request.app[LIMITER]
    if (wait := limiter.retry_after(remote)) is not None:
        if limiter.first_trip(remote):
            await audit_rate_limited(remote)
        raise Refused(
            429,
            f"terlalu banyak kode salah; coba lagi dalam {int(wait) + 1} detik (too many wrong codes; retry later)",
            headers={"Retry-After": str(int(wait) + 1)},
        )
    body = await _json_body(request)
    code = body.get("code")
    if not isinstance(code, str) or len(code) > 64:
        limiter.failed(remote)
        raise Refused(400, "code: kode pendaftaran wajib diisi (the enrolment code is required)")
    try:
        row = await claim(code, remote)
    except EnrolmentError as exc:
        limiter.failed(remote)
        raise Refused(exc.status, str(exc)) from None
    settings = request.app[ENROLMENT]
    try:
        identity = await _identity(request, settings, row)
    except Exception:
        await release(row)  # the technician can try the same code again
        raise
    await enrolled(row, remote, identity["mqtt"]["login"], identity.pop("_passwd_line"))
    return web.json_response(identity)


async def _identity(request: web.Request, settings: EnrolmentSettings, row: GatewayEnrolment) -> dict[str, Any]:
    server_mqtt = request.app[SETTINGS].mqtt
    ca_pem = None
    if settings.ca_file is not None:
        try:
            ca_pem = settings.ca_file.read_text()
        except OSError as exc:
            raise Refused(
                503, f"sertifikat CA pusat tidak terbaca; hubungi administrator pusat ({exc.strerror})"
            ) from None
    passwd_line = None
    if settings.broker_admin is not None:
        from server.broker_identity import BrokerIdentities

        try:
            async with BrokerIdentities(settings.broker_admin, timeout_s=settings.broker_timeout_s) as broker:
                credentials = await broker.create_gateway_identity(row.unit_code, row.gateway_id, replace=True)
        except (ConnectionError, TimeoutError, OSError, RuntimeError) as exc:
            raise Refused(
                503,
                "broker pusat tidak menjawab; kode masih berlaku, coba lagi sebentar lagi"
                f" (the centre's broker did not answer; the code still works, try again: {exc})",
                headers={"Retry-After": "30"},
            ) from None
        login, username, password, client_id = (
            "dynsec",
            credentials.username,
            credentials.password,
            credentials.client_id,
        )
    else:
        from server.broker_identity import new_password

        login, username, password, client_id = "static", row.gateway_id, new_password(), row.gateway_id
        passwd_line = mosquitto_passwd_line(username, password)
    return {
        "gateway_id": row.gateway_id,
        "unit": row.unit_code,
        "timezone": row.timezone,
        "mqtt": {
            "url": settings.broker_url(server_mqtt),
            "username": username,
            "password": password,
            "client_id": client_id,
            "ca_pem": ca_pem,
            "login": login,
        },
        "devices": row.devices,
        "_passwd_line": passwd_line,
    }


# --- the page -------------------------------------------------------------------------------------------------


@routes.get("/gateways/enrol")
async def enrol_page(request: web.Request) -> web.Response:
    require_role(request, *ISSUERS)
    return _page(request, None, None)


@routes.post("/gateways/enrol")
async def enrol_page_submit(request: web.Request) -> web.Response:
    require_role(request, *ISSUERS)
    form = await request.post()
    fields = {key: str(form.get(key, "")).strip() for key in ("gateway_id", "unit", "office", "devices")}
    devices: list[dict[str, Any]] = []
    for line in fields["devices"].splitlines():
        # One device a line: name profile host [port] [comm_key], as in the gateway's config.
        parts = line.split()
        if not parts:
            continue
        device: dict[str, Any] = {"name": parts[0]}
        for key, value in zip(("profile", "host", "port", "comm_key"), parts[1:], strict=False):
            device[key] = int(value) if key in ("port", "comm_key") and value.isdigit() else value
        devices.append(device)
    body = {"gateway_id": fields["gateway_id"], "unit": fields["unit"], "devices": devices}
    if fields["office"]:
        body["office"] = fields["office"]
    try:
        issued = await register_and_issue(request, body)
    except Refused as exc:
        return _page(request, None, json.loads(exc.text or "{}").get("reason"), status=exc.status, form=fields)
    return _page(request, issued, None, status=201)


def _page(
    request: web.Request,
    issued: dict[str, Any] | None,
    error: str | None,
    status: int = 200,
    form: dict[str, str] | None = None,
) -> web.Response:
    from server.web.render import render

    return render(request, "gateway_enrol.html", status=status, issued=issued, error=error, form=form or {})


# --- OpenAPI and the app ------------------------------------------------------------------------------------

IDENTITY = {
    "type": "object",
    "required": ["gateway_id", "unit", "timezone", "mqtt", "devices"],
    "properties": {
        "gateway_id": {"type": "string"},
        "unit": {"type": "string"},
        "timezone": ZONE_ENUM,
        "mqtt": {
            "type": "object",
            "required": ["url", "username", "password", "client_id", "ca_pem", "login"],
            "properties": {
                "url": {"type": "string"},
                "username": {"type": "string"},
                "password": {"type": "string"},
                "client_id": {"type": "string"},
                "ca_pem": {"type": "string", "nullable": True},
                "login": {"type": "string", "enum": ["dynsec", "static"]},
            },
        },
        "devices": {"type": "array", "items": OBJECT},
    },
}
ISSUED = {
    "type": "object",
    "required": ["gateway_id", "unit", "code", "expires_at", "command", "qr_svg"],
    "properties": {
        "gateway_id": {"type": "string"},
        "unit": {"type": "string"},
        "code": {"type": "string"},
        "expires_at": {"type": "string", "format": "date-time"},
        "command": {"type": "string"},
        "qr_svg": {"type": "string"},
    },
}


def enrolment_paths() -> dict[str, Any]:
    body = _fields(
        {
            "gateway_id": SLUG,
            "unit": SLUG,
            "devices": {"type": "array", "minItems": 1, "maxItems": MAX_DEVICES, "items": DEVICE_SCHEMA},
        },
        office=SLUG,
        timezone=ZONE_ENUM,
    )
    enrol_body = _fields({"code": {"type": "string", "maxLength": 64}})
    public_errors = {k: v for k, v in _errors(400, 403, 429, 503).items() if k != "401"}
    return {
        "/api/v1/gateway-enrolments": {
            "post": {
                "summary": "register a gateway and issue its one-time enrolment code (shown once, with its QR)",
                "parameters": [],
                "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
                "responses": {**_ok(ISSUED, "201"), **_errors(400, 404, 409)},
            }
        },
        "/api/v1/gateways/{gateway_id}/enrolment": _get(
            "how the gateway's latest enrolment code stands (pending, enrolled, expired)", [GATEWAY], _ok(OBJECT), 404
        ),
        ENROL_PATH: {
            "post": {
                "summary": "a gateway trades its one-time code for its identity (the code is the credential)",
                "security": [],
                "parameters": [],
                "requestBody": {"required": True, "content": {"application/json": {"schema": enrol_body}}},
                "responses": {**_ok(IDENTITY), **public_errors},
            }
        },
    }


PATH_PROVIDERS.append(enrolment_paths)  # at import: the document is complete before any app serves it


def configure(settings: EnrolmentSettings) -> Callable[[web.Application], None]:
    """A setup hook that sets the enrolment settings (after install(), which reads the environment)."""

    def hook(app: web.Application) -> None:
        app[ENROLMENT] = settings
        app[LIMITER] = FailureLimiter(settings.failures_allowed, settings.failure_window_s)

    return hook


def install(app: web.Application) -> None:
    app[ENROLMENT] = EnrolmentSettings.from_env()
    app[LIMITER] = FailureLimiter(app[ENROLMENT].failures_allowed, app[ENROLMENT].failure_window_s)
    app.add_routes(routes)


__all__ = ["ENROLMENT", "ENROL_PATH", "configure", "install"]
