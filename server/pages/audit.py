"""The audit trail as a bureau officer reads it: each change on the clock of the unit it concerns (its
office's zone, named), the role and the action by name in the reader's language, the details' keys named
and their Rupiah and dates written the reader's way. The entries themselves keep their codes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from server.i18n import N_, NAMES, Formats, translate
from server.models import Unit
from server.payroll_models import AuditEntry
from server.services.attendance import WIB, unit_zones

ACTIONS = {
    "month.close": N_("Month closed"),
    "payroll.correct": N_("Payroll line corrected"),
    "grade.set": N_("Grade set"),
    "signatories.set": N_("Signatories set"),
    "employees.import": N_("Employees imported"),
    "gateway.enrolment_code": N_("Gateway enrolment code issued"),
    "gateway.enrolled": N_("Gateway enrolled"),
    "gateway.enrol_refused": N_("Gateway enrolment refused"),
    "gateway.enrol_rate_limited": N_("Gateway enrolment attempts limited"),
}
DETAILS = {
    "lines": N_("lines"),
    "net": N_("net"),
    "reason": N_("reason"),
    "net_before": N_("net before"),
    "net_after": N_("net after"),
    "grade": N_("grade"),
    "status": N_("status"),
    "from": N_("from"),
    "head_name": N_("head"),
    "head_nip": N_("head's NIP"),
    "head_title": N_("head's title"),
    "treasurer_name": N_("treasurer"),
    "treasurer_nip": N_("treasurer's NIP"),
    "office_heading": N_("letterhead"),
    "expires_at": N_("valid until"),
    "devices": N_("devices"),
    "created": N_("created"),
    "updated": N_("updated"),
    "refused": N_("refused"),
    "effective": N_("effective from"),
    "code_issued_by": N_("code issued by"),
    "broker_login": N_("broker login"),
    "why": N_("why"),
}
MONEY = {"net", "net_before", "net_after"}


@dataclass
class AuditRow:
    when: str
    zone: str
    username: str
    role: str
    action: str
    action_code: str
    target: str
    unit: str
    details: list[tuple[str, str]]


def _value(key: str, value: Any, fmt: Formats, zone: timezone = WIB) -> str:
    if key in MONEY and isinstance(value, int | float) and not isinstance(value, bool):
        return fmt.rupiah(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return fmt.number(value)
    if isinstance(value, str) and len(value) > 10 and value[4:5] == "-" and "T" in value:
        try:  # a moment (an expiry): on the office's clock, the zone named, never bare UTC
            return fmt.moment(datetime.fromisoformat(value), zone)
        except ValueError:
            return value
    if key in ("from", "effective") and isinstance(value, str):
        try:
            return fmt.date(date.fromisoformat(value))
        except ValueError:
            return value
    return str(value)


async def audit_rows(language: str, fallback: timezone = WIB, limit: int = 500) -> list[AuditRow]:
    fmt = Formats(language)
    zones = await unit_zones()
    names = dict(await Unit.all().values_list("code", "name"))
    rows = []
    for e in await AuditEntry.all().order_by("-at", "-id").limit(limit):
        zone = zones.get(e.unit_code or "", fallback)
        role = NAMES["role"].get(e.role)
        action = ACTIONS.get(e.action)
        rows.append(
            AuditRow(
                when=fmt.moment(e.at, zone),
                zone=zone.tzname(None) or "",
                username=e.username,
                role=translate(language, role) if role else e.role,
                action=translate(language, action) if action else e.action,
                action_code=e.action,
                target=e.target,
                unit=names.get(e.unit_code or "", ""),
                details=[
                    (translate(language, DETAILS[k]) if k in DETAILS else k, _value(k, v, fmt, zone))
                    for k, v in (e.detail or {}).items()
                ],
            )
        )
    return rows
