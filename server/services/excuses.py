"""Excused days (leave, official travel, work from home) as the scoring and the pages read them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from aiohttp import web

from scoring import Policy
from server.activity_models import ExcuseRecord
from server.auth import Scope, request_scope, require_role
from server.errors import Conflict, Invalid, NotFound
from server.services.accounts import Role
from server.services.attendance import NotVisible, employee_in_scope


def excuse_kinds() -> list[str]:
    return [rule.kind for rule in Policy().excuses]


def visible_excuses(scope: Scope) -> Any:
    if not scope.personnel:
        return ExcuseRecord.filter(nip__in=[])
    if scope.employee_nips is not None:
        return ExcuseRecord.filter(nip__in=sorted(scope.employee_nips))
    if scope.unit_codes is not None:
        return ExcuseRecord.filter(unit_code__in=sorted(scope.unit_codes))
    return ExcuseRecord.all()


async def excuses_for(nips: Iterable[str], first: date, last: date) -> dict[str, dict[date, str]]:
    """Excuse kind per day for each employee, between `first` and `last` inclusive."""
    found: dict[str, dict[date, str]] = {}
    rows = await ExcuseRecord.filter(nip__in=sorted(set(nips)), last_day__gte=first, first_day__lte=last).order_by(
        "created_at", "id"
    )
    for row in rows:
        day = max(row.first_day, first)
        while day <= min(row.last_day, last):
            found.setdefault(row.nip, {})[day] = row.kind  # the latest record wins a day
            day += timedelta(days=1)
    return found


MAX_SPAN_DAYS = 366


def excuse_json(row: ExcuseRecord) -> dict[str, Any]:
    return {
        "id": row.id,
        "nip": row.nip,
        "unit": row.unit_code,
        "kind": row.kind,
        "first_day": row.first_day.isoformat(),
        "last_day": row.last_day.isoformat(),
        "note": row.note,
        "recorded_by": row.recorded_by,
    }


def day_param(text: object, name: str) -> date:
    try:
        return date.fromisoformat(str(text))
    except ValueError:
        raise Invalid(f"{name}: expected a date as YYYY-MM-DD, got {text!r}") from None


async def record_excuse(request: web.Request, body: dict[str, Any]) -> ExcuseRecord:
    principal = require_role(request, Role.BUREAU_ADMIN, Role.UNIT_ADMIN)
    kind = body.get("kind")
    if kind not in excuse_kinds():
        raise Invalid(f"kind: expected one of {excuse_kinds()}")
    first, last = day_param(body.get("first_day"), "first_day"), day_param(body.get("last_day"), "last_day")
    if last < first or (last - first).days > MAX_SPAN_DAYS:
        raise Conflict(f"last_day: expected on or after first_day and within {MAX_SPAN_DAYS} days of it")
    note = body.get("note") or ""
    if not isinstance(note, str) or len(note) > 2000:
        raise Invalid("note: expected text of at most 2000 characters")
    try:
        employee = await employee_in_scope(await request_scope(request), str(body.get("nip")))
    except NotVisible:
        raise NotFound("no such employee in your scope") from None
    return await ExcuseRecord.create(
        nip=employee.nip,
        unit_code=employee.unit_id,  # type: ignore[attr-defined]
        kind=kind,
        first_day=first,
        last_day=last,
        note=note,
        recorded_by=principal.username,
    )
