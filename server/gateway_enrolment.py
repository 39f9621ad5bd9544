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
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tortoise import fields
from tortoise.models import Model

from server.payroll import record_audit
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


class EnrolmentError(ValueError):
    """Refused; `status` is the HTTP status, the text (Indonesian first) is shown to the user."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class GatewayEnrolment(Model):
    """One code issued for a gateway. `used_at` set: spent. Only the code's digest is kept."""

    id = fields.BigIntField(primary_key=True)
    gateway_id = fields.CharField(max_length=63, db_index=True)
    unit_code = fields.CharField(max_length=63)
    code_hash = fields.CharField(max_length=64, unique=True)
    timezone = fields.CharField(max_length=4, default="WIB")  # the office's zone: the devices' clocks show it
    devices = fields.JSONField(default=list)  # what the gateway.toml lists, as the administrator entered it
    created_by = fields.CharField(max_length=64)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    used_from = fields.CharField(max_length=64, null=True)
    broker_login = fields.CharField(max_length=16, null=True)  # "dynsec" or "static"
    passwd_line = fields.CharField(max_length=300, null=True)  # static fallback: the broker's password-file line

    class Meta:
        table = "gateway_enrolment"


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
    import io

    import segno

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
    """The enrolment this code opens, claimed for this attempt; EnrolmentError (audited) if none."""
    code = normalise_code(code_text)
    if code is None:
        await _refused(remote, None, "malformed")
        # 403 like an unknown code: any text is a code the document allows, this one just opens nothing.
        raise EnrolmentError(403, "kode pendaftaran: 20 huruf/angka dalam 5 kelompok (code: 20 characters in 5 groups)")
    digest = code_digest(code)
    now = datetime.now(UTC)
    claimed = await GatewayEnrolment.filter(code_hash=digest, used_at=None, expires_at__gt=now).update(
        used_at=now, used_from=remote[:64]
    )
    row = await GatewayEnrolment.get_or_none(code_hash=digest)
    if claimed != 1 or row is None:
        why = "unknown" if row is None else ("used" if row.used_at is not None else "expired")
        await _refused(remote, row, why)
        raise EnrolmentError(
            403,
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
