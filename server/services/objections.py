"""Objections (keberatan): an employee objects to a day's category, a rejected request, a rejected
activity claim or a month's result, with a reason; the request policy says who decides
(scoring/presets/requests: the superior's superior, or the bureau) and by when it must be filed.

The decider is fixed at filing: "second_supervisor" resolves to the employee's supervisor's own
supervisor (the bureau when the chain has no second step), so the supervisor objected to never decides.
An upheld objection records what the decider says, through the records the scoring already reads:

- a day: the day's excuse (an excuse_record row) or a corrected punch (an approved correction request
  and its corrected_punch row, as an approved correction makes), both re-scored through the stale queue;
- a rejected request: the request approved and applied as an approval would;
- a rejected claim: the claim approved;
- a month: in an open month nothing changes by itself (its figures are live); in a closed month the
  employee's payroll line is recomputed and the late change recorded as a correction (who, when, why:
  the objection and the decision's reason), as the bureau's own corrections are, so the payroll report
  shows it.

A closed unit-month takes no other upheld change: the bureau corrects it (the decision is refused, in
Indonesian). The decision and its reason stay on the objection the employee reads; every filing and
decision is in the audit trail.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from tortoise.transactions import in_transaction

from scoring import ObjectionDecider, ObjectionRule, ObjectionSubject
from server.activity_models import ActivityClaimRecord, ExcuseRecord
from server.auth import Principal, Scope
from server.errors import Conflict, Invalid, NotFound, Refused
from server.i18n import N_
from server.models import Employee
from server.objection_models import Objection, ObjectionStatus
from server.request_models import CorrectedPunch, EmployeeRequest, RequestStatus
from server.services.accounts import Role
from server.services.excuses import excuse_kinds
from server.services.payroll import closed_month, correct_line, explained_month, record_audit
from server.services.requests import (
    PUNCH_STATES,
    _apply,
    _clock,
    _day,
    _filer,
    _text,
    _zone_of,
    refuse_closed,
    request_policy,
    request_types,
)

DECIDERS = (Role.SUPERVISOR, Role.BUREAU_ADMIN)
REMEDIES = ("excuse", "punch")


def objection_rules() -> tuple[ObjectionRule, ...]:
    return request_policy().objections


def _rule(subject: str) -> ObjectionRule:
    rule = request_policy().objection(subject)
    if rule is None:
        raise Invalid(N_("subject: choose a day, a rejected request or claim, or a month"))
    return rule


def _month_last(first: date) -> date:
    return (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def _local_day(moment: datetime | None, fallback: date, offset_minutes: int = 420) -> date:
    if moment is None:
        return fallback
    return (moment.astimezone(UTC) + timedelta(minutes=offset_minutes)).date()


async def _day_category(employee: Employee, day: date) -> str:
    from server.services.month import month_view  # the month view pulls in the scoring; only here

    view = await month_view(employee, day.replace(day=1))
    found = next((d for d in view.days if d.day == day), None)
    return str(found.category) if found is not None else ""


async def _subject(employee: Employee, subject: str, fields: dict[str, Any]) -> dict[str, Any]:
    """What is objected to: its day, the row it names, and the day the filing deadline counts from."""
    if subject == ObjectionSubject.DAY:
        day = _day(fields.get("date"), "date")
        return {"day": day, "since": day, "category": await _day_category(employee, day)}
    if subject == ObjectionSubject.MONTH:
        text = str(fields.get("month") or "")
        first = _day(text + "-01" if len(text) == 7 else text, "month")
        return {"day": first.replace(day=1), "since": _month_last(first)}
    ref = str(fields.get("ref") or "").strip()
    if subject == ObjectionSubject.REQUEST:
        row = await EmployeeRequest.get_or_none(id=int(ref), nip=employee.nip) if ref.isdigit() else None
        if row is None or row.status != RequestStatus.REJECTED.value:
            raise Invalid(N_("request: choose one of your rejected requests"))
        since = _local_day(row.decided_at, row.last_day, row.utc_offset_minutes)
        return {"day": row.first_day, "since": since, "request_id": row.id}
    claim = await ActivityClaimRecord.get_or_none(claim_id=ref[:32], nip=employee.nip)
    if claim is None or claim.state != "rejected":
        raise Invalid(N_("claim: choose one of your rejected activity claims"))
    day = _local_day(claim.start, claim.start.date())
    return {"day": day, "since": _local_day(claim.decided_at, day), "claim_id": claim.claim_id}


async def _second_supervisor(employee: Employee) -> str | None:
    boss = employee.supervisor_id  # type: ignore[attr-defined]
    if boss is None:
        return None
    above = await Employee.filter(nip=boss).values_list("supervisor_id", flat=True)
    return above[0] if above and above[0] else None


async def file_objection(principal: Principal, fields: dict[str, Any], *, now: datetime | None = None) -> Objection:
    """File an objection for the principal's own record. ``fields``: subject (day, request, claim, month),
    date (a day), ref (a rejected request's id or claim's id), month (YYYY-MM), reason."""
    employee = await _filer(principal)
    subject = str(fields.get("subject") or "")
    rule = _rule(subject)
    reason = _text(fields.get("reason"), required=True)
    found = await _subject(employee, subject, fields)
    unit = employee.unit_id  # type: ignore[attr-defined]
    today = (now or datetime.now(UTC)).astimezone(await _zone_of(unit)).date()
    if found["day"] > today:
        raise Invalid(N_("an objection is for a day that has already passed"))
    if not rule.deadline.last_filing_day(found["since"]) >= today:
        message = N_("too late: an objection to this had to be filed by {deadline}")
        raise Conflict(message.format(deadline=rule.deadline.last_filing_day(found["since"]).isoformat()))
    decider_nip = None
    decider = rule.decided_by
    if decider is ObjectionDecider.SECOND_SUPERVISOR:
        decider_nip = await _second_supervisor(employee)
        decider = ObjectionDecider.BUREAU if decider_nip is None else decider
    same = Objection.filter(nip=employee.nip, subject=subject, day=found["day"], status=ObjectionStatus.PENDING.value)
    if await same.filter(request_id=found.get("request_id"), claim_id=found.get("claim_id")).exists():
        raise Conflict(N_("there is already an objection to this waiting for a decision"))
    async with in_transaction():
        row = await Objection.create(
            nip=employee.nip,
            unit_code=unit,
            subject=subject,
            day=found["day"],
            request_id=found.get("request_id"),
            claim_id=found.get("claim_id"),
            category=found.get("category", ""),
            reason=reason,
            decider=decider.value,
            decider_nip=decider_nip,
            policy=request_policy().name,
            filed_by=principal.username,
        )
        await record_audit(principal.username, principal.role.value, "objection.file", f"#{row.id} {subject}", unit,
                           {"nip": employee.nip, "day": row.day.isoformat(), "decider": decider.value})  # fmt: skip
    return row


# --- reading ---------------------------------------------------------------------------------------------


def visible_objections(scope: Scope) -> Any:
    """The objections of the employees in ``scope`` (a tortoise QuerySet): the API's list."""
    if not scope.personnel:
        return Objection.filter(nip__in=[])
    if scope.employee_nips is not None:
        return Objection.filter(nip__in=sorted(scope.employee_nips))
    if scope.unit_codes is not None:
        return Objection.filter(unit_code__in=sorted(scope.unit_codes))
    return Objection.all()


async def visible_objection(principal: Principal, scope: Scope, objection_id: int) -> Objection:
    """One objection: the employee's own, one the principal decides, or one of an employee in scope."""
    row = await Objection.get_or_none(id=objection_id)
    if row is None or not (
        row.nip == principal.employee_nip or _decider_of(principal, row) or scope.sees_employee(row.nip, row.unit_code)
    ):
        raise NotFound(N_("no such objection in your scope"))
    return row


def objection_json(row: Objection) -> dict[str, Any]:
    return {
        "id": row.id,
        "nip": row.nip,
        "unit": row.unit_code,
        "subject": row.subject,
        "day": row.day.isoformat(),
        "month": row.day.strftime("%Y-%m") if row.subject == ObjectionSubject.MONTH else None,
        "request_id": row.request_id,
        "claim_id": row.claim_id,
        "category": row.category,
        "reason": row.reason,
        "decider": row.decider,
        "decider_nip": row.decider_nip,
        "status": row.status,
        "decision_reason": row.decision_reason,
        "decided_by": row.decided_by,
        "decided_at": row.decided_at.astimezone(UTC).isoformat() if row.decided_at else None,
        "remedy": row.remedy,
        "remedy_ref": row.remedy_ref,
        "filed_by": row.filed_by,
        "filed_at": row.filed_at.astimezone(UTC).isoformat() if row.filed_at else None,
    }


async def my_objections(principal: Principal, limit: int = 100) -> list[Objection]:
    if not principal.employee_nip:
        return []
    return await Objection.filter(nip=principal.employee_nip).order_by("-filed_at", "-id").limit(limit)


def _decider_of(principal: Principal, row: Objection) -> bool:
    """The superior's superior named at filing, or the bureau: never the employee, never anyone else."""
    if row.nip == principal.employee_nip:
        return False
    if row.decider == ObjectionDecider.BUREAU:
        return principal.role is Role.BUREAU_ADMIN
    mine = bool(principal.employee_nip) and row.decider_nip == principal.employee_nip
    return principal.role is Role.SUPERVISOR and mine


def decides(principal: Principal, row: Objection) -> bool:
    return row.status == ObjectionStatus.PENDING.value and _decider_of(principal, row)


async def queue(principal: Principal) -> list[Objection]:
    """The pending objections the principal decides, oldest first."""
    pending = Objection.filter(status=ObjectionStatus.PENDING.value)
    if principal.role is Role.BUREAU_ADMIN:
        rows = await pending.filter(decider=ObjectionDecider.BUREAU.value).order_by("filed_at", "id")
    elif principal.role is Role.SUPERVISOR and principal.employee_nip:
        rows = await pending.filter(decider_nip=principal.employee_nip).order_by("filed_at", "id")
    else:
        return []
    return [row for row in rows if decides(principal, row)]


async def queue_count(principal: Principal) -> int:
    return len(await queue(principal))


async def rejected_to_object(principal: Principal) -> tuple[list[EmployeeRequest], list[ActivityClaimRecord]]:
    """The principal's rejected requests and claims, for the form's choice."""
    nip = principal.employee_nip or ""
    requests = await EmployeeRequest.filter(nip=nip, status=RequestStatus.REJECTED.value).order_by("-id").limit(50)
    claims = await ActivityClaimRecord.filter(nip=nip, state="rejected").order_by("-start").limit(50)
    return requests, claims


# --- deciding --------------------------------------------------------------------------------------------


async def decide_objection(
    principal: Principal, objection_id: int, decision: str, reason: object, remedy: dict[str, Any] | None = None
) -> Objection:
    """Uphold or reject with a reason the employee reads. Upholding an objection to a day records the
    remedy the decider gives: ``{"remedy": "excuse", "excuse_kind": ...}`` or ``{"remedy": "punch",
    "time": "HH:MM", "direction": "in"|"out"}``."""
    if decision not in ("uphold", "reject"):
        raise Invalid(N_("decision: expected uphold or reject"))
    why = _text(reason, required=False)
    if not why:
        raise Invalid(N_("reason: a decision on an objection needs a reason the employee can read"))
    if principal.role not in DECIDERS:
        raise Refused(N_("only the superior's superior or the personnel bureau decides objections"))
    # A closed month's results are read before the transaction: reading may score and store them.
    closed_results = await _closed_month_results(objection_id) if decision == "uphold" else None
    async with in_transaction() as tx:
        row = await Objection.filter(id=objection_id).using_db(tx).select_for_update().first()
        if row is None or not (_decider_of(principal, row) or row.nip == principal.employee_nip):
            raise NotFound(N_("no such objection in your scope"))
        if not decides(principal, row):
            raise Conflict(N_("this objection is not waiting for your decision"))
        if decision == "uphold" and row.subject == ObjectionSubject.MONTH:
            await _month_remedy(principal, row, closed_results, why)
        elif decision == "uphold":
            await _remedy(principal, row, remedy or {}, tx)
        row.status = ObjectionStatus.UPHELD.value if decision == "uphold" else ObjectionStatus.REJECTED.value
        row.decision_reason, row.decided_by, row.decided_at = why, principal.username, datetime.now(UTC)
        await row.save(using_db=tx)
        detail = {"nip": row.nip, "reason": why, "remedy": row.remedy, "remedy_ref": row.remedy_ref}
        await record_audit(principal.username, principal.role.value, f"objection.{decision}",
                           f"#{row.id} {row.subject}", row.unit_code, detail)  # fmt: skip
    return row


async def _closed_month_results(objection_id: int) -> dict[str, dict[str, Any]] | None:
    """The unit-month's results, when the objection is to a month's result and that month is closed."""
    row = await Objection.get_or_none(id=objection_id)
    if row is None or row.subject != ObjectionSubject.MONTH:
        return None
    if await closed_month(row.unit_code, row.day.year, row.day.month) is None:
        return None
    return await explained_month(row.unit_code, row.day)


async def _month_remedy(
    principal: Principal, row: Objection, closed_results: dict[str, dict[str, Any]] | None, why: str
) -> None:
    """An upheld objection to a month's result: in a closed month, the employee's payroll line recomputed
    as a recorded correction (who, when, why) the payroll report shows; an open month's figures are live."""
    if closed_results is None:
        return
    reason = f"keberatan #{row.id} dikabulkan: {why}"[:2000]
    try:
        correction = await correct_line(
            row.unit_code, row.day.year, row.day.month, row.nip, reason, closed_results,
            principal.username, principal.role.value,
        )  # fmt: skip
    except LookupError:
        raise Conflict(N_("the employee has no result in that month to correct")) from None
    row.remedy, row.remedy_ref = "correction", str(correction.id)


async def _remedy(principal: Principal, row: Objection, remedy: dict[str, Any], tx: Any) -> None:
    """What an upheld objection changes, refused in a closed month (the bureau corrects that)."""
    await refuse_closed(row.unit_code, row.day, row.day)
    if row.subject == ObjectionSubject.DAY:
        await _day_remedy(principal, row, remedy, tx)
    elif row.subject == ObjectionSubject.REQUEST:
        request = await EmployeeRequest.filter(id=row.request_id).using_db(tx).select_for_update().first()
        if request is None or request.status != RequestStatus.REJECTED.value:
            raise Conflict(N_("the request objected to is no longer rejected"))
        await refuse_closed(request.unit_code, request.first_day, request.last_day)
        request.status, request.decided_at = RequestStatus.APPROVED.value, datetime.now(UTC)
        request.decision_reason = f"keberatan #{row.id} dikabulkan"
        await _apply(request, principal, tx)
        await request.save(using_db=tx)
        row.remedy, row.remedy_ref = "request", str(request.id)
    else:
        claim = await ActivityClaimRecord.filter(claim_id=row.claim_id).using_db(tx).first()
        if claim is None or claim.state != "rejected":
            raise Conflict(N_("the claim objected to is no longer rejected"))
        claim.state, claim.reason = "approved", ""
        claim.decided_by, claim.decided_at = principal.username, datetime.now(UTC)
        await claim.save(using_db=tx, update_fields=["state", "reason", "decided_by", "decided_at"])
        row.remedy, row.remedy_ref = "claim", claim.claim_id


async def _day_remedy(principal: Principal, row: Objection, remedy: dict[str, Any], tx: Any) -> None:
    kind = str(remedy.get("remedy") or "")
    note = f"keberatan #{row.id}: {row.reason}"[:2000]
    if kind == "excuse":
        excuse = str(remedy.get("excuse_kind") or "")
        if excuse not in excuse_kinds():
            raise Invalid(N_("excuse: choose the kind of excuse the day gets"))
        made = await ExcuseRecord.create(
            nip=row.nip, unit_code=row.unit_code, kind=excuse, first_day=row.day, last_day=row.day, note=note,
            recorded_by=principal.username, using_db=tx,
        )  # fmt: skip
        row.remedy, row.remedy_ref = "excuse", str(made.id)
        return
    if kind != "punch":
        raise Invalid(N_("remedy: an upheld objection to a day records an excuse or a corrected punch"))
    direction = str(remedy.get("direction") or "")
    if direction not in PUNCH_STATES:
        raise Invalid(N_("direction: choose in or out"))
    zone = await _zone_of(row.unit_code)
    punch_at = datetime.combine(row.day, _clock(remedy.get("time")), zone)
    correction = next(t for t in request_types() if t.correction)
    made = {"step": 0, "approver": "objection", "by": principal.username, "role": principal.role.value,
            "at": datetime.now(UTC).isoformat(), "decision": "approve", "reason": f"keberatan #{row.id}"}  # fmt: skip
    request = await EmployeeRequest.create(
        nip=row.nip, unit_code=row.unit_code, kind=correction.kind, first_day=row.day, last_day=row.day,
        reason=note, punch_at=punch_at, punch_state=PUNCH_STATES[direction],
        utc_offset_minutes=int(zone.utcoffset(None).total_seconds() // 60), status=RequestStatus.APPROVED.value,
        steps=[], step=0, decisions=[made], policy=request_policy().name, filed_by=row.filed_by,
        decided_at=datetime.now(UTC), using_db=tx,
    )  # fmt: skip
    await CorrectedPunch.create(nip=row.nip, unit_code=row.unit_code, punched_at=punch_at,
                                utc_offset_minutes=request.utc_offset_minutes, state=PUNCH_STATES[direction],
                                request=request, approved_by=principal.username, using_db=tx)  # fmt: skip
    row.remedy, row.remedy_ref = "punch", str(request.id)
