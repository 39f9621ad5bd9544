"""Activity claims as the API and the pages read and write them: checked input, the supervisor's decisions, the
attendance-merge flags beside each claim. Refusals are domain errors (server/errors.py)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from scoring import ClaimState, Policy
from server.activity_models import ActivityClaimRecord
from server.auth import Principal, Scope, subordinates
from server.errors import Conflict, Invalid, NotFound
from server.i18n import translate_text
from server.models import Employee
from server.services.activities import (
    DECISIONS,
    MAX_QUANTITY,
    ActivityError,
    OverLimit,
    catalogue,
    decide,
    record_claim,
    resubmit,
    visible_claims,
)
from server.services.attendance import WIB, unit_zones
from server.services.excuses import excuses_for
from server.services.month import month_bounds, parse_month, policy_for, unit_month
from server.services.results import punch_times

HOUR_MINUTE = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")  # as server/api/activities.py documents it


STATES = tuple(state.value for state in ClaimState)


class ClaimOverLimit(Conflict):
    """A claim over the policy's sanity limits (409): beside the English reason, the limit in figures and the
    reason in Indonesian, as the pages say it."""

    def __init__(self, exc: OverLimit) -> None:
        super().__init__(str(exc))
        self.breach = exc.breach

    def body(self) -> dict[str, Any]:
        limit = {"name": self.breach.limit, "allowed": self.breach.allowed, "asked": self.breach.asked}
        return {**super().body(), "message": translate_text("id", self.reason, record=False), "limit": limit}


async def presence_minutes(nip: str, zone: timezone, day: date, policy: Policy, now: datetime) -> int | None:
    """The day's presence span so far, in minutes: first to last punch of the calendar day (device and
    corrected punches), up to now while the day runs. ``None``: the day's excuse counts as presence (travel,
    work from home), so there is no span to hold the claims to."""
    all_day = {rule.kind for rule in policy.excuses if rule.counts_as_presence}
    if (await excuses_for([nip], day, day)).get(nip, {}).get(day) in all_day:
        return None
    midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
    times = await punch_times(nip, midnight, midnight + timedelta(days=1))
    if times and now < midnight + timedelta(days=1):
        times.append(int(now.timestamp()))  # still at work: present until now
    return (max(times) - min(times)) // 60 if len(times) >= 2 else 0


def claim_json(row: ActivityClaimRecord, flags: dict[str, list[str]]) -> dict[str, Any]:
    return {
        "claim_id": row.claim_id,
        "nip": row.nip,
        "unit": row.unit_code,
        "activity": row.activity,
        "activity_name": row.activity_name,
        "start": row.start.astimezone(UTC).isoformat(),
        "quantity": row.quantity,
        "minutes": row.minutes,
        "output": row.output,
        "evidence": row.evidence,
        "state": row.state,
        "reason": row.reason,
        "flags": flags.get(row.claim_id, []),
    }


async def merge_flags(rows: list[ActivityClaimRecord]) -> dict[str, list[str]]:
    """The scoring's attendance-merge flags for each claim (outside presence, over the presence span)."""
    months: set[tuple[str, date]] = set()
    zones = await unit_zones()
    for row in rows:
        local = row.start.astimezone(zones.get(row.unit_code, WIB))
        months.add((row.unit_code, local.date().replace(day=1)))
    flags: dict[str, list[str]] = {}
    for unit, month in sorted(months):
        for result in (await unit_month(unit, month)).values():
            flags.update(result.claim_flags)
    return flags


async def claims_query(scope: Scope, query: Any) -> Any:

    rows = visible_claims(scope)
    if (state := query.get("status")) is not None:
        if state not in STATES:
            raise Invalid(f"status: expected one of {list(STATES)}")
        rows = rows.filter(state=state)
    if nip := query.get("nip"):
        rows = rows.filter(nip=nip)
    if "month" in query:
        if not query["month"]:
            raise Invalid("month: expected YYYY-MM, got ''")
        try:
            month = parse_month(query["month"])
        except ValueError as exc:
            raise Invalid(str(exc)) from None
        first, end = month_bounds(month, WIB)
        rows = rows.filter(start__gte=first, start__lt=end)
    return rows


async def record(principal: Principal, fields: dict[str, Any]) -> ActivityClaimRecord:

    if not principal.employee_nip:
        raise Conflict("this account has no employee record to claim activities for")
    try:
        day = date.fromisoformat(str(fields.get("date", "")))
    except ValueError:
        raise Invalid("date: expected YYYY-MM-DD") from None
    try:
        quantity = int(fields.get("quantity", 1))
    except (TypeError, ValueError):
        raise Invalid("quantity: expected a whole number") from None
    if not 1 <= quantity <= MAX_QUANTITY:
        raise Invalid(f"quantity: expected 1..{MAX_QUANTITY}")
    if not HOUR_MINUTE.match(str(fields.get("start", ""))):
        raise Invalid(f"start: expected HH:MM, got {fields.get('start')!r}")
    activity = str(fields.get("activity", ""))
    if activity not in {known.code for known in catalogue().activities}:
        raise NotFound(f"activity: no activity {activity!r} in the catalogue")
    employee = await Employee.get(nip=principal.employee_nip)
    zone = (await unit_zones()).get(employee.unit_id, WIB)  # type: ignore[attr-defined]
    policy = policy_for(zone)
    presence = await presence_minutes(employee.nip, zone, day, policy, datetime.now(UTC))
    try:
        return await record_claim(
            principal,
            employee.unit_id,  # type: ignore[attr-defined]
            zone,
            activity,
            day,
            str(fields.get("start", "")),
            quantity,
            str(fields.get("evidence", "")),
            rules=policy.performance,
            presence_minutes=presence,
        )
    except OverLimit as exc:
        raise ClaimOverLimit(exc) from None
    except ActivityError as exc:  # the shape was checked above: what is left is a rule (e.g. not in the future)
        raise Conflict(str(exc)) from None


async def decide_claims(principal: Principal, claim_ids: list[str], decision: str, reason: str) -> int:

    if decision not in DECISIONS:
        raise Invalid(f"decision: expected one of {list(DECISIONS)}")
    if decision != "approve" and not reason.strip():
        raise Conflict("reason: a rejection or a correction request needs a reason the employee can read")
    team = await subordinates(principal.employee_nip) if principal.employee_nip else frozenset()
    try:
        return len(await decide(principal, team, claim_ids, decision, reason))
    except LookupError:
        raise NotFound("a claim is not one of your subordinates'") from None
    except ActivityError as exc:
        raise Conflict(str(exc)) from None


async def resubmit_claim(principal: Principal, claim_id: str, quantity: Any, evidence: Any) -> ActivityClaimRecord:

    try:
        amount = None if quantity in (None, "") else int(quantity)
    except (TypeError, ValueError):
        raise Invalid("quantity: expected a whole number") from None
    if evidence is not None and not isinstance(evidence, str):
        raise Invalid("evidence: expected text")
    limits = None
    row = await ActivityClaimRecord.get_or_none(claim_id=claim_id, nip=principal.employee_nip or "")
    if row is not None:  # the same limits as a new claim (none found: resubmit says so)
        zone = (await unit_zones()).get(row.unit_code, WIB)
        policy = policy_for(zone)
        day = row.start.astimezone(zone).date()
        limits = (zone, policy.performance, await presence_minutes(row.nip, zone, day, policy, datetime.now(UTC)))
    try:
        return await resubmit(principal, claim_id, amount, evidence, limits=limits)
    except OverLimit as exc:
        raise ClaimOverLimit(exc) from None
    except LookupError:
        raise NotFound("no such claim of yours") from None
    except ActivityError as exc:
        raise Conflict(str(exc)) from None
