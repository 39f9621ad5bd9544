"""Enrol once with a code: a unit administrator registers a gateway and gets a one-time, short-lived code;
the gateway trades it (`kinerja gateway enrol <centre> <code>`, gateway/enrol.py) for its identity.

- The code is 100 random bits written as 20 Crockford base-32 characters in groups of four (read over a
  phone without ambiguity: O/0 and I/L/1 are the same letter). Only its SHA-256 is stored: with that
  much entropy a plain digest cannot be reversed, and a database leak gives no usable code.
- A code is used at most once: the claim is one conditional UPDATE (unused, unexpired, this digest),
  so of two concurrent attempts exactly one changes the row. If the identity cannot be made after the
  claim (the broker's plugin does not answer), the claim is undone so the technician can try again.
- The identity: gateway id, unit, the broker's address as gateways reach it, the CA certificate when
  configured, and a broker login unique to the gateway. With Mosquitto's dynamic-security plugin
  (KINERJA_BROKER_ADMIN_URL set) the login is created live (server/broker_identity.py) and replaces any
  earlier one; without it the centre still makes the password, and keeps the broker's password-file line
  for it (mosquitto's own `$7$` PBKDF2 form) for the administrator to add: the documented static
  fallback (`python -m server.edge`).
- Every code issued, every enrolment and every refused attempt is an AuditEntry (server/payroll_models.py).
  Wrong codes are limited per client address (ENROL_FAILURES_ALLOWED per ENROL_FAILURE_WINDOW_S); the
  first refusal by the limiter is audited, the flood after it is not, so the audit table cannot be filled.

The table is server/gateway_enrolment_models.py; the routes server/api/gateway_enrolments.py, the page
server/pages/gateway_enrolment.py. Refusals are server/errors.py's, their reasons Indonesian first with the
English after: the technician's command (gateway/enrol.py) shows the API's reason as it is.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import segno

from server.auth import Principal, Scope
from server.broker_identity import BrokerIdentities, new_password
from server.errors import Conflict, Invalid, NotFound, Refused, TooMany, Unavailable
from server.gateway_enrolment_models import GatewayEnrolment
from server.models import Gateway, Office, Unit
from server.services.payroll import record_audit
from server.services.registry import RegistryError, check_code
from wire.mqtt import MqttSettings

# Crockford's base 32: no I, L, O or U, so a code read aloud cannot be mistaken.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_CHARACTERS = 20  # 100 bits
DEFAULT_TTL = timedelta(hours=24)
MAX_TTL = timedelta(days=7)
ENROL_FAILURES_ALLOWED = 10
ENROL_FAILURE_WINDOW_S = 600.0
MAX_DEVICES = 64
# Mosquitto's password-file hash ($7$): PBKDF2-HMAC-SHA512, as mosquitto_passwd writes it.
_PASSWD_ITERATIONS = 101


@dataclass(frozen=True, slots=True)
class EnrolmentSettings:
    """How the centre hands out identities. From the environment:

    KINERJA_ENROL_TTL_H         hours a code lives (default 24, at most 168)
    KINERJA_GATEWAY_BROKER_URL  the broker as gateways reach it, e.g. mqtts://mqtt.example:8883?protocol=5
                                (default: the server's own KINERJA_MQTT_URL, without its login)
    KINERJA_GATEWAY_CA_FILE     the CA certificate (PEM) gateways need for mqtts://
    KINERJA_BROKER_ADMIN_URL    the dynamic-security administrator; unset: the static fallback
    KINERJA_PUBLIC_URL          the centre's address the enrol command names (default: the request's)
    """

    ttl: timedelta = DEFAULT_TTL
    gateway_broker_url: str | None = None
    ca_file: Path | None = None
    broker_admin: MqttSettings | None = None
    public_url: str | None = None
    broker_timeout_s: float = 10.0  # how long the dynamic-security plugin may take to answer
    failures_allowed: int = ENROL_FAILURES_ALLOWED
    failure_window_s: float = ENROL_FAILURE_WINDOW_S

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> EnrolmentSettings:
        env = dict(os.environ if env is None else env)
        hours = float(env.get("KINERJA_ENROL_TTL_H", "24"))
        if not 0 < hours <= MAX_TTL.total_seconds() / 3600:
            raise ValueError(f"KINERJA_ENROL_TTL_H: expected more than 0 and at most 168 hours, got {hours}")
        admin = env.get("KINERJA_BROKER_ADMIN_URL")
        ca = env.get("KINERJA_GATEWAY_CA_FILE")
        return cls(
            ttl=timedelta(hours=hours),
            gateway_broker_url=env.get("KINERJA_GATEWAY_BROKER_URL") or None,
            ca_file=Path(ca) if ca else None,
            broker_admin=MqttSettings.from_url(admin) if admin else None,
            public_url=(env.get("KINERJA_PUBLIC_URL") or "").rstrip("/") or None,
        )

    def broker_url(self, server_mqtt: MqttSettings) -> str:
        """What goes into the gateway's [mqtt] url: no login in it (the login is its own)."""
        parsed = MqttSettings.from_url(self.gateway_broker_url) if self.gateway_broker_url else server_mqtt
        scheme = "mqtts" if parsed.tls else "mqtt"
        return f"{scheme}://{parsed.host}:{parsed.port}?protocol={parsed.protocol}"


# --- codes -------------------------------------------------------------------------------------------


def new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_CHARACTERS))
    return "-".join(raw[i : i + 4] for i in range(0, CODE_CHARACTERS, 4))


def normalise_code(text: str) -> str | None:
    """The code as typed (any case, dashes or spaces, O for 0, I or L for 1), or None if it cannot be one."""
    cleaned = text.upper().replace("-", "").replace(" ", "").translate(str.maketrans("OIL", "011"))
    if len(cleaned) != CODE_CHARACTERS or any(ch not in ALPHABET for ch in cleaned):
        return None
    return cleaned


def code_digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def qr_svg(text: str) -> str:
    """The code's QR as an inline SVG (segno; error correction M, scales with the page)."""

    out = io.BytesIO()
    segno.make(text, error="m").save(out, kind="svg", scale=4, xmldecl=False, svgns=True, title="QR")
    return out.getvalue().decode()


def mosquitto_passwd_line(username: str, password: str) -> str:
    """One line of a Mosquitto password file ($7$: PBKDF2-HMAC-SHA512), as mosquitto_passwd writes it."""
    salt = os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, _PASSWD_ITERATIONS, 64)
    encoded = f"$7${_PASSWD_ITERATIONS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
    return f"{username}:{encoded}"


# --- wrong codes, per client address --------------------------------------------------------------------


@dataclass
class FailureLimiter:
    """Refused attempts per client address in a sliding window; in memory, per replica (enough to make
    guessing 100 bits hopeless; the audit trail shows the attempts)."""

    allowed: int
    window_s: float
    _seen: dict[str, list[float]] = field(default_factory=dict)
    _tripped: set[str] = field(default_factory=set)

    def retry_after(self, who: str) -> float | None:
        now = time.monotonic()
        recent = [t for t in self._seen.get(who, []) if now - t < self.window_s]
        if recent:
            self._seen[who] = recent
        else:
            self._seen.pop(who, None)
            self._tripped.discard(who)
        if len(recent) < self.allowed:
            return None
        return max(1.0, self.window_s - (now - recent[0]))

    def failed(self, who: str) -> None:
        self._seen.setdefault(who, []).append(time.monotonic())
        if len(self._seen) > 10_000:  # bounded: the oldest addresses go first
            del self._seen[next(iter(self._seen))]

    def first_trip(self, who: str) -> bool:
        if who in self._tripped:
            return False
        self._tripped.add(who)
        return True


# --- the service --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IssuedCode:
    gateway_id: str
    unit: str
    code: str
    expires_at: datetime


async def issue_code(
    gateway_id: str, unit: str, zone: str, devices: list[dict[str, Any]], ttl: timedelta, by: str, role: str
) -> IssuedCode:
    """A new code for the gateway; any earlier unused code of it stops working."""
    now = datetime.now(UTC)
    code = new_code()
    await GatewayEnrolment.filter(gateway_id=gateway_id, used_at=None).update(expires_at=now)
    await GatewayEnrolment.create(
        gateway_id=gateway_id,
        unit_code=unit,
        timezone=zone,
        code_hash=code_digest(normalise_code(code) or ""),
        devices=devices,
        created_by=by,
        created_at=now,
        expires_at=now + ttl,
    )
    await record_audit(
        by,
        role,
        "gateway.enrolment_code",
        gateway_id,
        unit,
        {"expires_at": (now + ttl).isoformat(), "devices": len(devices)},
    )
    return IssuedCode(gateway_id, unit, code, now + ttl)


async def claim(code_text: str, remote: str) -> GatewayEnrolment:
    """The enrolment this code opens, claimed for this attempt; Refused (audited) if none."""
    code = normalise_code(code_text)
    if code is None:
        await _refused(remote, None, "malformed")
        # 403 like an unknown code: any text is a code the document allows, this one just opens nothing.
        raise Refused("kode pendaftaran: 20 huruf/angka dalam 5 kelompok (code: 20 characters in 5 groups)")
    digest = code_digest(code)
    now = datetime.now(UTC)
    claimed = await GatewayEnrolment.filter(code_hash=digest, used_at=None, expires_at__gt=now).update(
        used_at=now, used_from=remote[:64]
    )
    row = await GatewayEnrolment.get_or_none(code_hash=digest)
    if claimed != 1 or row is None:
        why = "unknown" if row is None else ("used" if row.used_at is not None else "expired")
        await _refused(remote, row, why)
        raise Refused(
            "kode pendaftaran tidak dikenal, sudah dipakai, atau kedaluwarsa; minta kode baru ke administrator unit"
            " (the enrolment code is unknown, used or expired; ask the unit administrator for a new one)",
        )
    return row


async def release(row: GatewayEnrolment) -> None:
    """Undo a claim whose identity could not be made: the code may be tried again until it expires."""
    await GatewayEnrolment.filter(id=row.id).update(used_at=None, used_from=None)


async def enrolled(row: GatewayEnrolment, remote: str, login: str, passwd_line: str | None) -> None:
    await GatewayEnrolment.filter(id=row.id).update(broker_login=login, passwd_line=passwd_line)
    await record_audit(
        f"gateway:{row.gateway_id}", "gateway", "gateway.enrolled", row.gateway_id, row.unit_code,
        {"from": remote, "broker_login": login, "code_issued_by": row.created_by},
    )  # fmt: skip


async def _refused(remote: str, row: GatewayEnrolment | None, why: str) -> None:
    await record_audit(
        "anonymous", "gateway", "gateway.enrol_refused", row.gateway_id if row else "-",
        row.unit_code if row else None, {"from": remote, "why": why},
    )  # fmt: skip


async def audit_rate_limited(remote: str) -> None:
    await record_audit("anonymous", "gateway", "gateway.enrol_rate_limited", "-", None, {"from": remote})


# --- the device list the administrator enters (the gateway checks it fully before writing its config) ---

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
PROFILE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
HOST = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.:-]{0,252}$")
SERIAL_NUMBER = re.compile(r"^[0-9A-Za-z_.:-]{1,64}$")
SERIAL_PATH = re.compile(r"^/dev/[A-Za-z0-9_./-]{1,100}$")
_TEXT_FIELDS = {
    "name": NAME,
    "profile": PROFILE,
    "host": HOST,
    "serial_number": SERIAL_NUMBER,
    "serial_path": SERIAL_PATH,
}
_INT_FIELDS = {"port": (1, 65535), "comm_key": (0, 999_999)}
_NUMBER_FIELDS = {"poll_interval_s": (0.1, 86_400), "timeout_s": (0.1, 600)}
ZONES = ("WIB", "WITA", "WIT")


def check_device_entries(value: Any) -> list[dict[str, Any]]:
    """The device list's shape, each entry as the gateway's config parser reads it (Invalid: 400)."""
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_DEVICES:
        raise Invalid(f"devices: daftar 1-{MAX_DEVICES} perangkat (expected a list of 1-{MAX_DEVICES} devices)")
    devices = []
    for index, entry in enumerate(value):
        where = f"devices[{index}]"
        if not isinstance(entry, dict):
            raise Invalid(f"{where}: harus objek (expected an object)")
        for key, item in entry.items():
            _check_device_field(f"{where}.{key}", key, item)
        if "name" not in entry:
            raise Invalid(f"{where}.name: wajib diisi (required)")
        devices.append(dict(entry))
    return devices


def check_devices(value: Any) -> list[dict[str, Any]]:
    """check_device_entries, and no two devices of one name (Conflict: 409)."""
    devices = check_device_entries(value)
    names = [d["name"] for d in devices]
    if len(set(names)) != len(names):
        # 409, not 400: the document cannot say "unique by name", so a schema-valid body may still clash.
        raise Conflict("devices: nama perangkat harus unik (device names must be unique)")
    return devices


def _check_device_field(where: str, key: str, item: Any) -> None:
    """One field of one device entry, as the gateway's config parser will read it."""
    if key in _TEXT_FIELDS:
        if not isinstance(item, str) or not _TEXT_FIELDS[key].match(item):
            raise Invalid(f"{where}: nilai tidak sah {item!r} (invalid value)")
    elif key in _INT_FIELDS or key in _NUMBER_FIELDS:
        integral = key in _INT_FIELDS
        low, high = _INT_FIELDS[key] if integral else _NUMBER_FIELDS[key]
        kinds = int if integral else int | float
        if isinstance(item, bool) or not isinstance(item, kinds) or not low <= item <= high:
            what = ("bilangan", "an integer") if integral else ("angka", "a number")
            raise Invalid(f"{where}: {what[0]} {low}-{high} (expected {what[1]} {low}-{high})")
    elif key == "transport":
        if item not in ("tcp", "udp"):
            raise Invalid(f"{where}: tcp atau udp (expected tcp or udp)")
    else:
        raise Invalid(f"{where}: bidang tidak dikenal (unknown field)")


def check_slug(value: Any, what: str) -> str:
    try:
        return check_code(value, what)
    except RegistryError as exc:
        raise Invalid(f"{what}: kode tidak sah ({exc})") from None


# --- issuing a code ---------------------------------------------------------------------------------


def _not_null(value: Any, what: str) -> Any:
    if value is None:
        raise Invalid(f"{what}: tidak boleh null, tinggalkan saja (null is not a value: leave it out)")
    return value


def check_office(value: Any) -> str:
    """A registration's office, when given: a code (null is not a value, the field is left out)."""
    return check_slug(_not_null(value, "office"), "office")


def check_timezone(value: Any) -> str:
    """A registration's zone, when given (left out: its office's)."""
    if _not_null(value, "timezone") not in ZONES:
        raise Invalid(f"timezone: WIB, WITA atau WIT (expected WIB, WITA or WIT), got {value!r}")
    return str(value)


def _optional_office_and_zone(body: dict[str, Any]) -> tuple[str | None, str | None]:
    """The two fields a registration may leave out; left out means "not given", and null is not a value."""
    office_code = check_office(body["office"]) if "office" in body else None
    zone = check_timezone(body["timezone"]) if "timezone" in body else None
    return office_code, zone


async def register_and_issue(
    principal: Principal, scope: Scope, body: dict[str, Any], settings: EnrolmentSettings, origin: str
) -> dict[str, Any]:
    """Register the gateway (or take it again, same unit) and issue its code: the API's and the page's.
    `origin` is the centre's address as the request reached it, used when no public URL is configured."""
    gateway_id = check_slug(body.get("gateway_id"), "gateway_id")
    unit_code = check_slug(body.get("unit"), "unit")
    office_code, zone = _optional_office_and_zone(body)
    devices = check_devices(body.get("devices"))
    if not scope.sees_unit(unit_code) or not await Unit.exists(code=unit_code):
        raise NotFound(f"unit: tidak ada unit {unit_code!r} dalam cakupan Anda (no such unit in your scope)")
    office = None
    if office_code is not None:
        office = await Office.get_or_none(code=office_code)
        if office is None or office.unit_id != unit_code:  # type: ignore[attr-defined]
            raise NotFound(f"office: tidak ada kantor {office_code!r} di unit {unit_code} (no such office)")
    if zone is None:
        first = office or await Office.filter(unit_id=unit_code).order_by("code").first()
        zone = first.zone if first is not None else "WIB"
    gateway = await Gateway.get_or_none(gateway_id=gateway_id)
    if gateway is not None and gateway.registered and gateway.unit_code != unit_code:
        raise Conflict(f"gateway {gateway_id!r} sudah terdaftar di unit lain (registered to another unit)")
    known = gateway is not None
    if gateway is None:
        gateway = Gateway(gateway_id=gateway_id)
    gateway.unit_code = unit_code
    if office is not None or not known:
        gateway.office_id = office_code  # type: ignore[attr-defined]
    gateway.registered = True
    await gateway.save(update_fields=["unit_code", "office_id", "registered"] if known else None)
    issued = await issue_code(
        gateway_id, unit_code, zone, devices, settings.ttl, principal.username, principal.role.value
    )
    centre = settings.public_url or origin
    command = f"sudo kinerja gateway enrol {centre} {issued.code}"
    return {
        "gateway_id": gateway_id,
        "unit": unit_code,
        "code": issued.code,
        "expires_at": issued.expires_at.isoformat(),
        "command": command,
        "qr_svg": qr_svg(command),
    }


async def enrolment_state(scope: Scope, gateway_id: str) -> dict[str, Any]:
    """How the gateway's latest code stands; NotFound when none was issued or its unit is outside the scope."""
    row = await GatewayEnrolment.filter(gateway_id=gateway_id).order_by("-id").first()
    if row is None or not scope.sees_unit(row.unit_code):
        raise NotFound(f"gateway {gateway_id!r}: belum ada kode pendaftaran (no enrolment code issued)")
    state = "enrolled" if row.used_at else ("pending" if row.expires_at > datetime.now(UTC) else "expired")
    return {
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


# --- the gateway's call -----------------------------------------------------------------------------------


async def refuse_if_flooding(limiter: FailureLimiter, remote: str) -> None:
    """TooMany (429, with Retry-After) while this address has used up its wrong codes; checked before the code
    is looked at (the API's model has checked only the body's shape), so a flood costs no database work."""
    if (wait := limiter.retry_after(remote)) is not None:
        if limiter.first_trip(remote):
            await audit_rate_limited(remote)
        seconds = int(wait) + 1
        raise TooMany(
            f"terlalu banyak kode salah; coba lagi dalam {seconds} detik (too many wrong codes; retry later)",
            retry_after=seconds,
        )


async def enrol(
    code: Any, remote: str, settings: EnrolmentSettings, limiter: FailureLimiter, server_mqtt: MqttSettings
) -> dict[str, Any]:
    """Trade a code for the gateway's identity. A wrong code counts against the address; a claim whose
    identity cannot be made is undone, so the technician can try the same code again."""
    if not isinstance(code, str) or len(code) > 64:
        limiter.failed(remote)
        raise Invalid("code: kode pendaftaran wajib diisi (the enrolment code is required)")
    try:
        row = await claim(code, remote)
    except Refused:
        limiter.failed(remote)
        raise
    try:
        identity, passwd_line = await _identity(settings, server_mqtt, row)
    except Exception:
        await release(row)  # the technician can try the same code again
        raise
    await enrolled(row, remote, identity["mqtt"]["login"], passwd_line)
    return identity


async def _identity(
    settings: EnrolmentSettings, server_mqtt: MqttSettings, row: GatewayEnrolment
) -> tuple[dict[str, Any], str | None]:
    """The identity the gateway is handed, and the static fallback's password-file line (None with dynsec)."""
    ca_pem = None
    if settings.ca_file is not None:
        try:
            ca_pem = settings.ca_file.read_text()
        except OSError as exc:
            raise Unavailable(
                f"sertifikat CA pusat tidak terbaca; hubungi administrator pusat ({exc.strerror})"
            ) from None
    passwd_line = None
    if settings.broker_admin is not None:
        try:
            async with BrokerIdentities(settings.broker_admin, timeout_s=settings.broker_timeout_s) as broker:
                credentials = await broker.create_gateway_identity(row.unit_code, row.gateway_id, replace=True)
        except (ConnectionError, TimeoutError, OSError, RuntimeError) as exc:
            raise Unavailable(
                "broker pusat tidak menjawab; kode masih berlaku, coba lagi sebentar lagi"
                f" (the centre's broker did not answer; the code still works, try again: {exc})",
                retry_after=30,
            ) from None
        login, username, password, client_id = (
            "dynsec",
            credentials.username,
            credentials.password,
            credentials.client_id,
        )
    else:
        login, username, password, client_id = "static", row.gateway_id, new_password(), row.gateway_id
        passwd_line = mosquitto_passwd_line(username, password)
    identity = {
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
    }
    return identity, passwd_line
