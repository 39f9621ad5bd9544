"""Activity outputs (e-Kinerja): an employee's entries, the supervisor's decisions, and the claims the
scoring needs. The rules of a claim (standard minutes, the allowed state changes) are the scoring
library's (`scoring.Claim`, `scoring.Catalogue`); this module stores and scopes."""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

from scoring import (
    Catalogue,
    Claim,
    ClaimState,
    LimitBreach,
    PerformanceRules,
    ScoringError,
    check_claim,
    load_catalogue,
)
from server.activity_models import ActivityClaimRecord
from server.auth import Principal, Scope
from server.i18n import N_  # the reasons are English for the API, translated where a page shows them

DEFAULT_CATALOGUE = Path(__file__).with_name("catalogue.toml")
MAX_QUANTITY = 100
MAX_TEXT = 2000


class ActivityError(ValueError):
    """An entry or decision that cannot be taken; the message says why."""


class OverLimit(ActivityError):
    """A claim over one of the policy's sanity limits (scoring.check_claim): which, and by how much."""

    def __init__(self, message: str, breach: LimitBreach) -> None:
        super().__init__(message)
        self.breach = breach


LIMIT_MESSAGES = {
    "per_claim": N_("quantity: at most {allowed} of this activity in one claim (the policy's limit), not {asked}"),
    "per_day": N_(
        "quantity: at most {allowed} of this activity in one day (the policy's limit); with this claim the day "
        "would hold {asked}"
    ),
    "presence": N_(
        "minutes: the day's claims may hold at most {allowed} minutes (presence from the first to the last punch, "
        "plus {margin} minutes); with this claim they would hold {asked}"
    ),
    "no_presence": N_(
        "minutes: no presence is recorded on this day; ask for a correction of attendance first, then claim the "
        "activity"
    ),
}


def limit_message(breach: LimitBreach, rules: PerformanceRules) -> str:
    """The refusal in the API's English (a msgid: the pages say it in the reader's language)."""
    key = "no_presence" if breach.limit == "presence" and breach.allowed == 0 else breach.limit
    return LIMIT_MESSAGES[key].format(allowed=breach.allowed, asked=breach.asked, margin=rules.presence_margin_minutes)


async def _check_limits(
    nip: str,
    claim: Claim,
    zone: timezone,
    day: date,
    rules: PerformanceRules,
    presence_minutes: int | None,
    *,
    leave_out: str = "",
) -> None:
    """The policy's limits against the employee's other claims of the day (not rejected ones; ``leave_out``:
    the claim being resubmitted, counted as the new one)."""
    midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
    rows = await ActivityClaimRecord.filter(
        nip=nip, start__gte=midnight, start__lt=midnight + timedelta(days=1), state__not=ClaimState.REJECTED.value
    ).exclude(claim_id=leave_out)
    breach = check_claim(rules, claim, [claim_of(row) for row in rows], presence_minutes)
    if breach is not None:
        raise OverLimit(limit_message(breach, rules), breach)


@lru_cache(maxsize=4)
def _catalogue_at(path: str) -> Catalogue:
    return load_catalogue(path)


def catalogue() -> Catalogue:
    return _catalogue_at(os.environ.get("KINERJA_ACTIVITY_CATALOGUE", str(DEFAULT_CATALOGUE)))


async def record_claim(
    principal: Principal,
    unit_code: str,
    zone: timezone,
    activity: str,
    day: date,
    start_time: str,
    quantity: int,
    evidence: str,
    *,
    rules: PerformanceRules | None = None,
    presence_minutes: int | None = None,
) -> ActivityClaimRecord:
    """An employee's own claim, with the catalogue's standard minutes; with ``rules``, refused (:class:`OverLimit`)
    over the policy's limits, given the day's presence span so far (``None``: no presence limit)."""
    if not principal.employee_nip:
        raise ActivityError(N_("this account has no employee record to claim activities for"))
    try:
        hour, minute = (int(part) for part in start_time.split(":"))
        start = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
    except ValueError:
        raise ActivityError(N_("start: expected HH:MM, got {value}").format(value=repr(start_time))) from None
    if start > datetime.now(UTC) + timedelta(hours=1):
        raise ActivityError(N_("start: an activity is claimed after it was done, not before"))
    if not 1 <= quantity <= MAX_QUANTITY:
        raise ActivityError(N_("quantity: expected 1..{maximum}").format(maximum=MAX_QUANTITY))
    try:
        claim = catalogue().claim(uuid.uuid4().hex, activity, start, quantity, evidence=evidence[:MAX_TEXT])
    except ScoringError as exc:
        raise ActivityError(str(exc)) from None
    if rules is not None:
        await _check_limits(principal.employee_nip, claim, zone, day, rules, presence_minutes)
    return await ActivityClaimRecord.create(
        claim_id=claim.claim_id,
        nip=principal.employee_nip,
        unit_code=unit_code,
        activity=claim.activity,
        activity_name=catalogue().activity(claim.activity).name,
        start=start.astimezone(UTC),
        quantity=claim.quantity,
        minutes=claim.minutes,
        output=claim.output,
        evidence=claim.evidence,
    )


def claim_of(row: ActivityClaimRecord) -> Claim:
    start = int(row.start.timestamp())
    return claim_from(
        row.claim_id, row.activity, start, row.quantity, row.minutes, row.output, row.evidence, row.state, row.reason
    )


def claim_from(
    claim_id: str,
    activity: str,
    start: int,
    quantity: int,
    minutes: int,
    output: str,
    evidence: str,
    state: str,
    reason: str,
) -> Claim:
    """A claim from its stored columns (``start`` in epoch seconds): what :func:`claim_of` makes of a row."""
    return Claim(claim_id, activity, start, quantity, minutes, output, evidence, ClaimState(state), reason)


def visible_claims(scope: Scope):  # noqa: ANN201 - a tortoise QuerySet
    if not scope.personnel:
        return ActivityClaimRecord.filter(nip__in=[])
    if scope.employee_nips is not None:
        return ActivityClaimRecord.filter(nip__in=sorted(scope.employee_nips))
    if scope.unit_codes is not None:
        return ActivityClaimRecord.filter(unit_code__in=sorted(scope.unit_codes))
    return ActivityClaimRecord.all()


DECISIONS = ("approve", "reject", "correct")


async def decide(
    principal: Principal, subordinates: frozenset[str], claim_ids: Sequence[str], decision: str, reason: str
) -> list[ActivityClaimRecord]:
    """Approve, reject (with a reason) or send back for correction (with a note) submitted claims of the
    supervisor's subordinates, all or none."""
    if not claim_ids:
        raise ActivityError(N_("choose at least one claim"))
    rows = await ActivityClaimRecord.filter(claim_id__in=list(claim_ids), nip__in=sorted(subordinates))
    if len(rows) != len(set(claim_ids)):
        raise LookupError("a claim is not one of your subordinates'")
    decided = []
    for row in rows:
        claim = claim_of(row)
        try:
            if decision == "approve":
                claim = claim.approve()
            elif decision == "reject":
                claim = claim.reject(reason[:MAX_TEXT])
            else:
                claim = claim.request_correction(reason[:MAX_TEXT])
        except ScoringError as exc:
            raise ActivityError(str(exc)) from None
        row.state, row.reason = claim.state.value, claim.reason
        row.decided_by, row.decided_at = principal.username, datetime.now(UTC)
        decided.append(row)
    for row in decided:
        await row.save(update_fields=["state", "reason", "decided_by", "decided_at"])
    return decided


async def resubmit(
    principal: Principal,
    claim_id: str,
    quantity: int | None,
    evidence: str | None,
    *,
    limits: tuple[timezone, PerformanceRules, int | None] | None = None,
) -> ActivityClaimRecord:
    """The employee's corrected claim (quantity, evidence), back to the supervisor; with ``limits`` (the
    office's zone, the policy's rules, the day's presence span) held to the policy's limits as a new claim is."""
    row = await ActivityClaimRecord.get_or_none(claim_id=claim_id, nip=principal.employee_nip or "")
    if row is None:
        raise LookupError("no such claim of yours")
    if quantity is not None and not 1 <= quantity <= MAX_QUANTITY:
        raise ActivityError(N_("quantity: expected 1..{maximum}").format(maximum=MAX_QUANTITY))
    try:
        claim = claim_of(row).resubmit(
            quantity=quantity, evidence=None if evidence is None else evidence[:MAX_TEXT], catalogue=catalogue()
        )
    except ScoringError as exc:
        raise ActivityError(str(exc)) from None
    if limits is not None:
        zone, rules, presence = limits
        day = row.start.astimezone(zone).date()
        await _check_limits(row.nip, claim, zone, day, rules, presence, leave_out=row.claim_id)
    row.quantity, row.minutes, row.evidence = claim.quantity, claim.minutes, claim.evidence
    row.state, row.reason, row.decided_by, row.decided_at = claim.state.value, claim.reason, None, None
    await row.save()
    return row


async def claims_for_unit_month(unit_code: str, first: datetime, end: datetime) -> dict[str, list[Claim]]:
    """Claims of a unit's month, keyed by NIP (a day's margin either side for night shifts)."""
    rows = await ActivityClaimRecord.filter(
        unit_code=unit_code, start__gte=first - timedelta(days=1), start__lt=end + timedelta(days=1)
    ).order_by("start")
    found: dict[str, list[Claim]] = {}
    for row in rows:
        found.setdefault(row.nip, []).append(claim_of(row))
    return found
