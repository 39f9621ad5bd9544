"""Employees' requests: leave, official travel, work from home and corrections of attendance, filed by
the employee, decided step by step by the approvers the request policy names, and, once approved, the
day's excuse (an excuse_record row, as an administrator's) or a corrected punch (its own table).

The rules are data (scoring/presets/requests/national-common.toml): per request type who approves (by
number of days), by when it must be filed and whether evidence is required. A step named "supervisor"
is decided by a supervisor above the employee in the chain (by the unit's administrators when the
employee has no supervisor on record), "unit_admin" by an administrator of the employee's unit or the
personnel bureau. Nobody decides their own request. Every filing and decision is in the audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Any

from tortoise.transactions import in_transaction

from scoring import Approver, Evidence, Policy, RequestPolicy, RequestType, load_request_policy
from server.activity_models import ExcuseRecord
from server.auth import Principal, Scope, scope_for, subordinates
from server.errors import Conflict, Invalid, NotFound, Refused
from server.i18n import N_
from server.models import Employee
from server.request_models import CorrectedPunch, EmployeeRequest, RequestEvidence, RequestStatus
from server.services.accounts import Role
from server.services.attendance import WIB, unit_zones
from server.services.payroll import closed_month, record_audit
from wire.zones import OFFICE_ZONES

REQUEST_PRESET = "national-common"
MAX_EVIDENCE_BYTES = 4 * 1024**2
EVIDENCE_TYPES = {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png"}
MAX_REASON = 2000
DECIDERS = (Role.SUPERVISOR, Role.UNIT_ADMIN, Role.BUREAU_ADMIN)
PUNCH_STATES = {"in": 0, "out": 1}


@lru_cache(maxsize=1)
def request_policy() -> RequestPolicy:
    """The request policy in force; each type's excuse kind checked against the attendance policy's."""
    policy = load_request_policy(REQUEST_PRESET)
    kinds = {rule.kind for rule in Policy().excuses}
    for rule in policy.types:
        if rule.excuse is not None and rule.excuse not in kinds:
            raise ValueError(f"{policy.source}: type {rule.kind}: excuse {rule.excuse!r} is not one of {sorted(kinds)}")
    return policy


def request_types() -> tuple[RequestType, ...]:
    return request_policy().types


@dataclass(frozen=True, slots=True)
class Upload:
    """A file from a form: its name, declared type and bytes."""

    filename: str
    content_type: str
    data: bytes


# --- filing ----------------------------------------------------------------------------------------------


def _day(text: object, name: str) -> date:
    try:
        return date.fromisoformat(str(text or ""))
    except ValueError:
        raise Invalid(
            N_("{field}: expected a date as YYYY-MM-DD, got {value}").format(field=name, value=text)
        ) from None


def _clock(text: object) -> time:
    value = str(text or "")
    try:
        hours, minutes = value.split(":")
        if len(hours) != 2 or len(minutes) != 2:
            raise ValueError
        return time(int(hours), int(minutes))
    except ValueError:
        raise Invalid(N_("time: expected HH:MM, got {value}").format(value=value or "-")) from None


def _text(value: object, *, required: bool) -> str:
    text = str(value or "").strip()
    if len(text) > MAX_REASON:
        raise Invalid(N_("reason: at most 2000 characters"))
    if required and not text:
        raise Invalid(N_("reason: write why you ask for this"))
    return text


def _check_evidence(rule: RequestType, upload: Upload | None) -> Upload | None:
    if upload is not None and not upload.data:
        upload = None
    if upload is None:
        if rule.evidence is Evidence.REQUIRED:
            raise Invalid(N_("evidence: this request needs a letter or a document (PDF, JPEG or PNG)"))
        return None
    if rule.evidence is Evidence.NONE:
        raise Invalid(N_("evidence: this request takes no attachment"))
    if upload.content_type not in EVIDENCE_TYPES:
        raise Invalid(N_("evidence: expected a PDF, JPEG or PNG file"))
    if len(upload.data) > MAX_EVIDENCE_BYTES:
        raise Invalid(N_("evidence: at most 4 MB"))
    return upload


async def _zone_of(unit_code: str) -> timezone:
    return (await unit_zones()).get(unit_code, WIB)


@dataclass(frozen=True, slots=True)
class _Asked:
    first: date
    last: date
    punch_at: datetime | None = None
    punch_state: int | None = None


def _asked(rule: RequestType, fields: dict[str, Any], moment: datetime) -> _Asked:
    """The days (or, for a correction, the punch) a request asks for, checked against its type."""
    if rule.correction:
        day = _day(fields.get("date"), "date")
        direction = str(fields.get("direction") or "")
        if direction not in PUNCH_STATES:
            raise Invalid(N_("direction: choose in or out"))
        punch_at = datetime.combine(day, _clock(fields.get("time")), moment.tzinfo)
        if punch_at > moment:
            raise Invalid(N_("a correction is for a punch that has already been due, not one still to come"))
        return _Asked(day, day, punch_at, PUNCH_STATES[direction])
    first = _day(fields.get("first_day"), "first_day")
    last = _day(fields.get("last_day") or fields.get("first_day"), "last_day")
    if last < first:
        raise Invalid(N_("last_day: expected on or after the first day"))
    if (last - first).days + 1 > rule.max_days:
        raise Invalid(N_("at most {days} days for this request").format(days=rule.max_days))
    return _Asked(first, last)


async def _filer(principal: Principal) -> Employee:
    employee = await Employee.get_or_none(nip=principal.employee_nip) if principal.employee_nip else None
    if employee is None:
        raise Refused(N_("this account has no employee record to file requests for"))
    return employee


async def file_request(
    principal: Principal, fields: dict[str, Any], upload: Upload | None = None, *, now: datetime | None = None
) -> EmployeeRequest:
    """File a request for the principal's own employee record. ``fields``: kind, first_day, last_day,
    reason; for a correction date, time (HH:MM on the office clock) and direction (in, out)."""
    employee = await _filer(principal)
    rule = request_policy().type(str(fields.get("kind") or ""))
    if rule is None:
        raise Invalid(N_("kind: choose one of the request types"))
    unit = employee.unit_id  # type: ignore[attr-defined]
    zone = await _zone_of(unit)
    moment = (now or datetime.now(UTC)).astimezone(zone)
    asked = _asked(rule, fields, moment)
    reason = _text(fields.get("reason"), required=True)
    if not rule.filed_in_time(asked.last, moment.date()):
        deadline = rule.deadline.last_filing_day(asked.last).isoformat()
        message = N_("too late: a request for {day} had to be filed by {deadline}")
        raise Conflict(message.format(day=asked.last.isoformat(), deadline=deadline))
    upload = _check_evidence(rule, upload)
    await refuse_closed(unit, asked.first, asked.last)
    await _refuse_overlap(employee.nip, rule, asked.first, asked.last)
    steps = await _steps(employee, rule.steps_for((asked.last - asked.first).days + 1))
    async with in_transaction():
        row = await EmployeeRequest.create(
            nip=employee.nip,
            unit_code=unit,
            kind=rule.kind,
            first_day=asked.first,
            last_day=asked.last,
            reason=reason,
            punch_at=asked.punch_at,
            punch_state=asked.punch_state,
            utc_offset_minutes=int(zone.utcoffset(None).total_seconds() // 60),
            steps=[s.value for s in steps],
            policy=request_policy().name,
            filed_by=principal.username,
        )
        if upload is not None:
            await RequestEvidence.create(
                request=row,
                filename=upload.filename[-200:] or "bukti" + EVIDENCE_TYPES[upload.content_type],
                content_type=upload.content_type,
                size=len(upload.data),
                data=upload.data,
            )
        detail = {"nip": employee.nip, "first_day": asked.first.isoformat(), "last_day": asked.last.isoformat()}
        await record_audit(
            principal.username, principal.role.value, "request.file", f"#{row.id} {rule.kind}", unit, detail
        )
    return row


async def refuse_closed(unit_code: str, first: date, last: date) -> None:
    """A closed unit-month changes only by a recorded correction of the bureau, never by a request."""
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        if await closed_month(unit_code, year, month) is not None:
            message = N_("the month {month} of this unit is closed: ask the personnel bureau for a correction")
            raise Conflict(message.format(month=f"{year}-{month:02d}"))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


async def _refuse_overlap(nip: str, rule: RequestType, first: date, last: date) -> None:
    """Two leave requests for the same day cannot both stand; corrections may be several a day."""
    if rule.correction:
        return
    leave_kinds = [t.kind for t in request_types() if not t.correction]
    clash = await EmployeeRequest.filter(
        nip=nip,
        kind__in=leave_kinds,
        status__in=[RequestStatus.PENDING.value, RequestStatus.APPROVED.value],
        first_day__lte=last,
        last_day__gte=first,
    ).first()
    if clash is not None:
        raise Conflict(N_("there is already a request for these days (#{id})").format(id=clash.id))


async def _steps(employee: Employee, steps: tuple[Approver, ...]) -> tuple[Approver, ...]:
    """The policy's steps; with no supervisor on record, the unit's administrators decide that step."""
    if employee.supervisor_id is None:  # type: ignore[attr-defined]
        steps = tuple(Approver.UNIT_ADMIN if s is Approver.SUPERVISOR else s for s in steps)
        steps = tuple(dict.fromkeys(steps))
    return steps


async def cancel_request(principal: Principal, request_id: int) -> EmployeeRequest:
    """The employee takes back a request not decided yet."""
    row = await EmployeeRequest.get_or_none(id=request_id, nip=principal.employee_nip or "")
    if row is None:
        raise NotFound(N_("no such request in your scope"))
    if row.status != RequestStatus.PENDING.value or row.decisions:
        raise Conflict(N_("only a request nobody has decided yet can be cancelled"))
    row.status = RequestStatus.CANCELLED.value
    await row.save(update_fields=["status"])
    await record_audit(principal.username, principal.role.value, "request.cancel", f"#{row.id} {row.kind}",
                       row.unit_code, {"nip": row.nip})  # fmt: skip
    return row


# --- reading ---------------------------------------------------------------------------------------------


def visible_requests(scope: Scope) -> Any:
    """The requests of the employees in ``scope`` (a tortoise QuerySet): the API's list."""
    if not scope.personnel:
        return EmployeeRequest.filter(nip__in=[])
    if scope.employee_nips is not None:
        return EmployeeRequest.filter(nip__in=sorted(scope.employee_nips))
    if scope.unit_codes is not None:
        return EmployeeRequest.filter(unit_code__in=sorted(scope.unit_codes))
    return EmployeeRequest.all()


def request_json(row: EmployeeRequest, evidence: bool = False) -> dict[str, Any]:
    """A request as the API shows it: dates as ISO, a correction's punch on the office clock."""
    punch = punch_local(row)
    step = current_step(row)
    return {
        "id": row.id,
        "nip": row.nip,
        "unit": row.unit_code,
        "kind": row.kind,
        "first_day": row.first_day.isoformat(),
        "last_day": row.last_day.isoformat(),
        "reason": row.reason,
        "punch_at": punch.isoformat() if punch is not None else None,
        "direction": None if row.punch_state is None else ("in" if row.punch_state == PUNCH_STATES["in"] else "out"),
        "status": row.status,
        "steps": list(row.steps),
        "waiting_for": step.value if step is not None else None,
        "decisions": list(row.decisions),
        "decision_reason": row.decision_reason,
        "filed_by": row.filed_by,
        "filed_at": row.filed_at.astimezone(UTC).isoformat() if row.filed_at else None,
        "decided_at": row.decided_at.astimezone(UTC).isoformat() if row.decided_at else None,
        "evidence": evidence,
    }


async def my_requests(principal: Principal, limit: int = 100) -> list[EmployeeRequest]:
    if not principal.employee_nip:
        return []
    return await EmployeeRequest.filter(nip=principal.employee_nip).order_by("-filed_at", "-id").limit(limit)


def current_step(row: EmployeeRequest) -> Approver | None:
    if row.status != RequestStatus.PENDING.value or row.step >= len(row.steps):
        return None
    return Approver(row.steps[row.step])


def _decides(principal: Principal, scope: Scope, team: frozenset[str], row: EmployeeRequest) -> bool:
    step = current_step(row)
    if step is None or row.nip == principal.employee_nip:
        return False
    if step is Approver.SUPERVISOR:
        return principal.role is Role.SUPERVISOR and row.nip in team
    return principal.role in (Role.UNIT_ADMIN, Role.BUREAU_ADMIN) and scope.sees_unit(row.unit_code)


async def _team(principal: Principal) -> frozenset[str]:
    if principal.role is not Role.SUPERVISOR or not principal.employee_nip:
        return frozenset()
    return await subordinates(principal.employee_nip)


async def _candidates(principal: Principal, scope: Scope, team: frozenset[str]) -> Any:
    pending = EmployeeRequest.filter(status=RequestStatus.PENDING.value)
    if principal.role is Role.SUPERVISOR:
        return pending.filter(nip__in=sorted(team))
    if principal.role in (Role.UNIT_ADMIN, Role.BUREAU_ADMIN):
        return pending if scope.unit_codes is None else pending.filter(unit_code__in=sorted(scope.unit_codes))
    return pending.filter(nip__in=[])


async def queue(principal: Principal) -> list[EmployeeRequest]:
    """The pending requests whose current step is the principal's to decide, oldest first."""
    if principal.role not in DECIDERS:
        return []
    scope = await scope_for(principal)
    team = await _team(principal)
    rows = await (await _candidates(principal, scope, team)).order_by("filed_at", "id")
    return [row for row in rows if _decides(principal, scope, team, row)]


async def queue_count(principal: Principal) -> int:
    return len(await queue(principal))


async def visible_request(principal: Principal, request_id: int) -> EmployeeRequest:
    """A request the principal filed, or one of an employee in their scope (approvers, administrators)."""
    row = await EmployeeRequest.get_or_none(id=request_id)
    if row is None:
        raise NotFound(N_("no such request in your scope"))
    if row.nip == principal.employee_nip:
        return row
    scope = await scope_for(principal)
    if principal.role in DECIDERS and scope.sees_employee(row.nip, row.unit_code):
        return row
    raise NotFound(N_("no such request in your scope"))


async def approved_by_day(nip: str, first: date, last: date) -> dict[date, list[EmployeeRequest]]:
    """The approved requests behind each day of an employee's month: the explanation names them."""
    found: dict[date, list[EmployeeRequest]] = {}
    rows = await EmployeeRequest.filter(
        nip=nip, status=RequestStatus.APPROVED.value, first_day__lte=last, last_day__gte=first
    ).order_by("id")
    for row in rows:
        day = max(row.first_day, first)
        while day <= min(row.last_day, last):
            found.setdefault(day, []).append(row)
            day += timedelta(days=1)
    return found


async def with_evidence(request_ids: list[int]) -> set[int]:
    rows = await RequestEvidence.filter(request_id__in=request_ids).values_list("request_id", flat=True)
    return set(rows)


async def evidence_of(principal: Principal, request_id: int) -> RequestEvidence:
    row = await visible_request(principal, request_id)
    found = await RequestEvidence.filter(request_id=row.id).order_by("id").first()
    if found is None:
        raise NotFound(N_("this request has no attachment"))
    return found


# --- deciding --------------------------------------------------------------------------------------------


async def decide_request(principal: Principal, request_id: int, decision: str, reason: object) -> EmployeeRequest:
    """Approve or reject the step the principal decides. The last approval applies the request."""
    if decision not in ("approve", "reject"):
        raise Invalid(N_("decision: expected approve or reject"))
    why = _text(reason, required=False)
    if decision == "reject" and not why:
        raise Invalid(N_("reason: a rejection needs a reason the employee can read"))
    if principal.role not in DECIDERS:
        raise Refused(N_("only supervisors and administrators decide requests"))
    scope = await scope_for(principal)
    team = await _team(principal)
    async with in_transaction() as tx:
        row = await EmployeeRequest.filter(id=request_id).using_db(tx).select_for_update().first()
        if row is None or not scope.sees_employee(row.nip, row.unit_code):
            raise NotFound(N_("no such request in your scope"))
        if not _decides(principal, scope, team, row):
            raise Conflict(N_("this request is not waiting for your decision"))
        if decision == "approve":
            await refuse_closed(row.unit_code, row.first_day, row.last_day)
        now = datetime.now(UTC)
        made = {"step": row.step, "approver": row.steps[row.step], "by": principal.username}
        made |= {"role": principal.role.value, "at": now.isoformat(), "decision": decision, "reason": why}
        row.decisions = [*row.decisions, made]
        if decision == "reject":
            row.status, row.decision_reason, row.decided_at = RequestStatus.REJECTED.value, why, now
        elif row.step + 1 < len(row.steps):
            row.step += 1
        else:
            row.step += 1
            row.status, row.decided_at, row.decision_reason = RequestStatus.APPROVED.value, now, why
            await _apply(row, principal, tx)
        await row.save(using_db=tx)
        await record_audit(principal.username, principal.role.value, f"request.{decision}", f"#{row.id} {row.kind}",
                           row.unit_code, {"nip": row.nip, "step": row.step, "reason": why})  # fmt: skip
    return row


async def _apply(row: EmployeeRequest, principal: Principal, tx: Any) -> None:
    """An approved request becomes the day's excuse, or a corrected punch (never a device punch)."""
    rule = request_policy().type(row.kind)
    if rule is None:
        raise Conflict(N_("the request policy no longer has this request type"))
    if rule.correction:
        await CorrectedPunch.create(
            nip=row.nip,
            unit_code=row.unit_code,
            punched_at=row.punch_at,
            utc_offset_minutes=row.utc_offset_minutes,
            state=row.punch_state if row.punch_state is not None else 0,
            request=row,
            approved_by=principal.username,
            using_db=tx,
        )
        return
    excuse = await ExcuseRecord.create(
        nip=row.nip,
        unit_code=row.unit_code,
        kind=rule.excuse,
        first_day=row.first_day,
        last_day=row.last_day,
        note=f"permohonan #{row.id}: {row.reason}"[:2000],
        recorded_by=principal.username,
        using_db=tx,
    )
    row.excuse_id = excuse.id


def punch_local(row: EmployeeRequest | CorrectedPunch) -> datetime | None:
    """The punch a correction asks for, on the office's clock it was filed in."""
    moment = row.punch_at if isinstance(row, EmployeeRequest) else row.punched_at
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    named = {int(z.utcoffset(None).total_seconds() // 60): z for z in OFFICE_ZONES.values()}
    zone = named.get(row.utc_offset_minutes) or timezone(timedelta(minutes=row.utc_offset_minutes))
    return moment.astimezone(zone)
