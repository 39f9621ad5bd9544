"""Dated employee history: edit, move, end, each from a date, so every past day keeps its unit.

An employee's history is the rows of :class:`server.history_models.EmployeeAssignment`, each valid from
its date until the next one. An employee without any row (registered before history was kept, or by the
API) belongs to their unit at all times, as before. The first dated change writes the state before it as
a row valid "since records began" (:data:`EARLIEST`), then the change. The employee row (unit, position,
supervisor) and the held grade (server.payroll_models.EmployeeGrade) follow the row valid today.

The month's members of a unit (:func:`unit_members`) are the employees with an active row in it on any
day of the month, each with the spans of days they were: the scoring leaves every other day out (no TK,
no planned day), and the payroll pays the unit only its own days. A change dated in a closed month is
refused: that month's figures are frozen and a late change there is a recorded payroll correction.

A change dated after today is recorded with its row at once (the months after it read it) and waits as
a pending :class:`server.history_models.ScheduledChange`: the employee row, the held grade and the
employee's areas follow it on its day, in the office's zone, when the life-cycle runner applies it
(:func:`apply_scheduled`, run by server/services/life_cycle.py); until then it can be cancelled. A
change of unit, office or status valid today changes the employee's areas at once
(server.services.areas.follow_assignment); either way the areas whose devices must be told are kept on
the ScheduledChange for the runner to send.

Refusals are :class:`HistoryError`: a message marked for the catalogue with its values kept apart, so the
page shows it in the reader's language (Indonesian first).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tortoise.transactions import in_transaction

from server.history_models import EmployeeAssignment, ScheduledChange, UnitGoLive
from server.i18n import N_, TranslatedError
from server.models import Employee, Office, Unit
from server.payroll_models import EmployeeGrade, MonthClose
from server.services.areas import follow_assignment
from server.services.attendance import WIB
from server.services.members import ACTIVE
from server.services.payroll import record_audit, set_grade
from server.services.stale import mark_stale, months_between

EARLIEST = date(1900, 1, 1)
"""The valid_from of the state an employee was in before their first dated change: since records began."""
END_STATUSES = ("transferred", "retired", "dismissed", "leave_outside_state")
STATUSES = (ACTIVE, *END_STATUSES)
ACTIONS = ("start", "edit", "move", "end")
MAX_REASON = 500
MAX_AHEAD = timedelta(days=366)  # a change is scheduled at most a year ahead (a decree's usual lead time)
PENDING, APPLIED, CANCELLED = "pending", "applied", "cancelled"


class HistoryError(TranslatedError):
    """A change refused: ``message`` is marked for the catalogue, ``values`` fill it in."""


@dataclass(frozen=True, slots=True)
class Change:
    """What a dated change sets; ``None`` keeps the value held before."""

    action: str
    valid_from: date
    unit_code: str | None = None
    office_code: str | None = None
    position: str | None = None
    grade: int | None = None
    supervisor_nip: str | None = None
    status: str | None = None
    reason: str = ""


def today_local() -> date:
    return datetime.now(UTC).astimezone(WIB).date()


def valid_on(rows: list[EmployeeAssignment], day: date) -> EmployeeAssignment | None:
    """The row (of one employee's, oldest first) valid on ``day``: later rows are still scheduled."""
    found = None
    for row in rows:
        if row.valid_from <= day:
            found = row
    return found


async def scheduled_of(nip: str) -> list[ScheduledChange]:
    """The employee's changes still waiting for their day, soonest first."""
    return list(await ScheduledChange.filter(nip=nip, status=PENDING).order_by("valid_from"))


async def history_of(nip: str) -> list[EmployeeAssignment]:
    """The employee's rows, oldest first."""
    return list(await EmployeeAssignment.filter(nip=nip).order_by("valid_from"))


async def set_go_live(unit_code: str, live_from: date | None, by: str, role: str) -> None:
    """The unit is scored from ``live_from`` (``None``: from always)."""
    if not await Unit.exists(code=unit_code):
        raise HistoryError(N_("Unit {unit} is not registered"), unit=unit_code)
    async with in_transaction():
        if live_from is None:
            await UnitGoLive.filter(unit_code=unit_code).delete()
        else:
            await UnitGoLive.update_or_create({"live_from": live_from, "recorded_by": by}, unit_code=unit_code)
        await record_audit(by, role, "unit.go_live", unit_code, unit_code,
                           {"live_from": live_from.isoformat() if live_from else None})  # fmt: skip
    day = live_from or today_local()
    await mark_stale(months_between(unit_code, min(day, today_local()), today_local()))


# --- a dated change ---------------------------------------------------------------------------------


async def _baseline(employee: Employee) -> dict[str, Any]:
    """The employee's state before any history: their row and the grade held now."""
    grade = await EmployeeGrade.filter(nip=employee.nip, last_day__isnull=True).order_by("-first_day").first()
    return {
        "unit_code": employee.unit_id,  # type: ignore[attr-defined]
        "office_code": None,
        "position": employee.position or "",
        "grade": grade.grade if grade else None,
        "supervisor_nip": employee.supervisor_id,  # type: ignore[attr-defined]
        "status": ACTIVE,
    }


def _state(row: EmployeeAssignment) -> dict[str, Any]:
    names = ("unit_code", "office_code", "position", "grade", "supervisor_nip", "status")
    return {name: getattr(row, name) for name in names}


def _check_reason(change: Change) -> None:
    if len(change.reason) > MAX_REASON:
        raise HistoryError(N_("The reason is longer than {limit} characters"), limit=MAX_REASON)


def _check_date(change: Change, latest: date | None, today: date) -> None:
    if change.valid_from > today + MAX_AHEAD:
        raise HistoryError(N_("The effective date can be at most a year after today"))
    if change.valid_from < date(2000, 1, 1):
        raise HistoryError(N_("The effective date must be in the year 2000 or later"))
    if latest is not None and latest != EARLIEST and change.valid_from < latest:
        raise HistoryError(
            N_("The effective date cannot be before the last recorded change ({day})"), day=latest.isoformat()
        )


async def _check_not_closed(units: Iterable[str], day: date) -> None:
    for unit in sorted(set(units)):
        closed = await MonthClose.filter(unit_code=unit).order_by("-year", "-month").first()
        if closed is not None and (day.year, day.month) <= (closed.year, closed.month):
            raise HistoryError(
                N_(
                    "The month {month} of unit {unit} is already closed: date the change after it, "
                    "or record a payroll correction"
                ),
                month=f"{closed.year}-{closed.month:02d}",
                unit=unit,
            )


async def _check_unit_and_office(state: Mapping[str, Any], change: Change, before: Mapping[str, Any]) -> None:
    if change.action == "move":
        if not change.unit_code or not await Unit.exists(code=change.unit_code):
            raise HistoryError(N_("Unit {unit} is not registered"), unit=change.unit_code or "-")
        if change.unit_code == before["unit_code"] and before["status"] == ACTIVE:
            raise HistoryError(N_("The employee is already in unit {unit}"), unit=change.unit_code)
    if state["office_code"]:
        office = await Office.get_or_none(code=state["office_code"])
        if office is None:
            raise HistoryError(N_("Office {office} is not registered"), office=state["office_code"])
        if office.unit_id != state["unit_code"]:  # type: ignore[attr-defined]
            raise HistoryError(
                N_("Office {office} does not belong to unit {unit}"), office=office.code, unit=state["unit_code"]
            )


async def _check_supervisor(nip: str, supervisor: str | None) -> None:
    if supervisor is None:
        return
    if supervisor == nip:
        raise HistoryError(N_("An employee cannot be their own supervisor"))
    seen = {nip}
    current: str | None = supervisor
    while current is not None:
        found = await Employee.get_or_none(nip=current)
        if found is None:
            raise HistoryError(N_("Supervisor {nip} is not registered"), nip=current)
        if current in seen:
            raise HistoryError(
                N_("Supervisor {nip} reports to this employee: the chain would go round"), nip=supervisor
            )
        seen.add(current)
        current = found.supervisor_id  # type: ignore[attr-defined]


def _check_fields(state: Mapping[str, Any], change: Change, before: Mapping[str, Any]) -> None:
    if change.action not in ACTIONS:
        raise HistoryError(N_("Unknown change {action}"), action=change.action)
    if state["grade"] is not None and not 1 <= state["grade"] <= 17:
        raise HistoryError(N_("The grade (kelas jabatan) must be 1 to 17, not {grade}"), grade=state["grade"])
    if len(state["position"]) > 200:
        raise HistoryError(N_("The position is longer than {limit} characters"), limit=200)
    if change.action == "end":
        if change.status not in END_STATUSES:
            raise HistoryError(N_("Choose why the employment ends"))
        if before["status"] != ACTIVE:
            raise HistoryError(N_("The employment has already ended"))
    elif before["status"] != ACTIVE and change.action != "move":
        raise HistoryError(N_("The employment has ended: move the employee to a unit to reinstate them"))
    if change.action == "edit" and state == before:
        raise HistoryError(N_("Nothing changes: enter a new position, grade, supervisor or office"))


def _new_state(before: Mapping[str, Any], change: Change) -> dict[str, Any]:
    state = dict(before)
    for name in ("unit_code", "office_code", "position", "grade", "supervisor_nip"):
        value = getattr(change, name)
        if value is not None:
            state[name] = value or None if name != "position" else value
    if change.action == "move":
        state["status"] = ACTIVE
        if change.office_code is None:
            state["office_code"] = None  # the old unit's office is not the new one's
    elif change.action == "end":
        state["status"] = change.status
    return state


async def apply_change(
    nip: str, change: Change, by: str, role: str, *, today: date | None = None
) -> EmployeeAssignment:
    """Record a dated change to the employee; refused with a :class:`HistoryError`. Returns the new row."""
    today = today or today_local()
    employee = await Employee.get_or_none(nip=nip)
    if employee is None:
        raise HistoryError(N_("Employee {nip} is not registered"), nip=nip)
    _check_reason(change)
    rows = await history_of(nip)
    if change.action == "start":
        return await _set_start(employee, rows, change, by, role, today)
    before = _state(rows[-1]) if rows else await _baseline(employee)
    _check_date(change, rows[-1].valid_from if rows else None, today)
    state = _new_state(before, change)
    _check_fields(state, change, before)
    await _check_unit_and_office(state, change, before)
    await _check_supervisor(
        nip, state["supervisor_nip"] if state["supervisor_nip"] != before["supervisor_nip"] else None
    )
    await _check_not_closed({before["unit_code"], state["unit_code"]}, change.valid_from)
    async with in_transaction():
        if not rows:
            await EmployeeAssignment.create(nip=nip, valid_from=EARLIEST, action="start", recorded_by=by, **before)
        row = await EmployeeAssignment.filter(nip=nip, valid_from=change.valid_from).first()
        values = {**state, "action": change.action, "reason": change.reason.strip(), "recorded_by": by}
        if row is None:
            row = await EmployeeAssignment.create(nip=nip, valid_from=change.valid_from, **values)
        else:  # a second change the same day: one state from that day
            row.update_from_dict(values)
            await row.save()
        scheduled = change.valid_from > today
        if not scheduled:
            await _follow(employee, state, before, change, by)
            areas = await follow_assignment(nip, before, state)
        await _record_effect(row, state, scheduled=scheduled, areas=[] if scheduled else areas, by=by)
        detail = {**_audit_detail(change, before, state), "scheduled": scheduled}
        await record_audit(by, role, f"employee.{change.action}", nip, state["unit_code"], detail)
    await _mark(change.valid_from, {before["unit_code"], state["unit_code"]}, today)
    return row


async def _zone_of(state: Mapping[str, Any]) -> str:
    """The zone whose midnight starts the change's day: its office's, else its unit's first office's."""
    office = await Office.get_or_none(code=state["office_code"]) if state["office_code"] else None
    if office is None:
        office = await Office.filter(unit_id=state["unit_code"]).order_by("code").first()
    return office.zone.upper() if office is not None else "WIB"


async def _record_effect(
    row: EmployeeAssignment, state: Mapping[str, Any], *, scheduled: bool, areas: list[str], by: str
) -> None:
    """A scheduled change waits as pending; one applied now whose areas changed leaves them to be told."""
    existing = await ScheduledChange.get_or_none(assignment_id=row.id)
    if scheduled:
        values = {"nip": row.nip, "valid_from": row.valid_from, "zone": await _zone_of(state), "status": PENDING,
                  "recorded_by": by}  # fmt: skip
    elif areas or (existing is not None and existing.areas):
        told = sorted(set(areas) | set(existing.areas if existing else ()))
        values = {"nip": row.nip, "valid_from": row.valid_from, "zone": await _zone_of(state), "status": APPLIED,
                  "areas": told, "done_by": by, "done_at": datetime.now(UTC), "devices_told_at": None}  # fmt: skip
    else:
        return
    if existing is None:
        await ScheduledChange.create(assignment_id=row.id, **values)
    else:
        await ScheduledChange.filter(id=existing.id).update(**values)


async def apply_scheduled(scheduled_id: int, by: str) -> ScheduledChange | None:
    """Apply a pending change whose day has come: the employee row and grade follow it, their areas
    change. Idempotent and safe against other replicas: the status moves from pending to applied in the
    transaction that does the work (a row lock on PostgreSQL), so a second caller finds nothing to do
    (None), as does a caller after a cancellation."""
    async with in_transaction():
        if not await ScheduledChange.filter(id=scheduled_id, status=PENDING).update(
            status=APPLIED, done_by=by, done_at=datetime.now(UTC)
        ):
            return None
        scheduled = await ScheduledChange.get(id=scheduled_id)
        rows = await history_of(scheduled.nip)
        at = next((k for k, r in enumerate(rows) if r.id == scheduled.assignment_id), None)
        employee = await Employee.get_or_none(nip=scheduled.nip)
        if at is None or employee is None:  # the row (or employee) is gone: nothing left to apply
            await ScheduledChange.filter(id=scheduled_id).update(status=CANCELLED)
            return None
        row = rows[at]
        state = _state(row)
        before = _state(rows[at - 1]) if at > 0 else state
        await _follow(employee, state, before, Change(row.action, row.valid_from), by)
        areas = await follow_assignment(scheduled.nip, before, state)
        await ScheduledChange.filter(id=scheduled_id).update(areas=areas)
        await record_audit(by, "system", f"employee.{row.action}.applied", scheduled.nip, state["unit_code"],
                           {"valid_from": row.valid_from.isoformat(), "areas": areas})  # fmt: skip
    await _mark(row.valid_from, {before["unit_code"], state["unit_code"]}, max(row.valid_from, today_local()))
    return await ScheduledChange.get(id=scheduled_id)


async def cancel_scheduled(nip: str, scheduled_id: int, by: str, role: str) -> None:
    """A pending change is withdrawn before its day: its history row goes, nothing of it was applied."""
    async with in_transaction():
        if not await ScheduledChange.filter(id=scheduled_id, nip=nip, status=PENDING).update(
            status=CANCELLED, done_by=by, done_at=datetime.now(UTC)
        ):
            raise HistoryError(N_("This scheduled change is no longer pending: it was applied or cancelled"))
        scheduled = await ScheduledChange.get(id=scheduled_id)
        row = await EmployeeAssignment.get_or_none(id=scheduled.assignment_id)
        if row is not None:
            if await EmployeeAssignment.filter(nip=nip, valid_from__gt=row.valid_from).exists():
                raise HistoryError(N_("Cancel the later scheduled change first"))
            await row.delete()
        await record_audit(by, role, "employee.scheduled.cancelled", nip, row.unit_code if row else None,
                           {"valid_from": scheduled.valid_from.isoformat()})  # fmt: skip


async def _set_start(
    employee: Employee, rows: list[EmployeeAssignment], change: Change, by: str, role: str, today: date
) -> EmployeeAssignment:
    """The employee started in their first unit on ``valid_from``: no day before it is scored."""
    if change.valid_from > today:  # a start is the past's boundary, not a scheduled change
        raise HistoryError(N_("The effective date cannot be after today"))
    _check_date(change, None, today)
    if len(rows) > 1 and change.valid_from >= rows[1].valid_from:
        raise HistoryError(
            N_("The start date must be before the first recorded change ({day})"), day=rows[1].valid_from.isoformat()
        )
    state = _state(rows[0]) if rows else await _baseline(employee)
    await _check_not_closed({state["unit_code"]}, min(change.valid_from, rows[0].valid_from if rows else today))
    async with in_transaction():
        if rows:
            await EmployeeAssignment.filter(id=rows[0].id).update(valid_from=change.valid_from, recorded_by=by)
            row = await EmployeeAssignment.get(id=rows[0].id)
        else:
            row = await EmployeeAssignment.create(nip=employee.nip, valid_from=change.valid_from, action="start",
                                                  reason=change.reason.strip(), recorded_by=by, **state)  # fmt: skip
        await record_audit(by, role, "employee.start", employee.nip, state["unit_code"],
                           {"valid_from": change.valid_from.isoformat(), "reason": change.reason.strip()})  # fmt: skip
    old = rows[0].valid_from if rows else EARLIEST
    await _mark(change.valid_from if old == EARLIEST else min(old, change.valid_from), {state["unit_code"]}, today)
    return row


async def _follow(
    employee: Employee, state: Mapping[str, Any], before: Mapping[str, Any], change: Change, by: str
) -> None:
    """The employee row and the held grade follow the row valid from today (a scheduled one on its day)."""
    if state["grade"] is not None and state["grade"] != before["grade"]:
        held = (
            await EmployeeGrade.filter(nip=employee.nip, first_day__lte=change.valid_from)
            .order_by("-first_day")
            .first()
        )
        await set_grade(employee.nip, state["grade"], held.status if held else "pns", change.valid_from, by)
    employee.unit_id = state["unit_code"]  # type: ignore[attr-defined]
    employee.position = state["position"] or ""
    employee.supervisor_id = state["supervisor_nip"]  # type: ignore[attr-defined]
    await employee.save()


def _audit_detail(change: Change, before: Mapping[str, Any], state: Mapping[str, Any]) -> dict[str, Any]:
    changed = {name: [before[name], state[name]] for name in state if before[name] != state[name]}
    return {"valid_from": change.valid_from.isoformat(), "changed": changed, "reason": change.reason.strip()}


async def _mark(day: date, units: set[str], today: date) -> None:
    """Every month from the change's to this one, in both units, is scored again."""
    keys = set()
    for unit in units:
        keys |= months_between(unit, day, today)
    await mark_stale(keys)


async def follow_import(nip: str, grade: int | None, effective: date, by: str) -> None:
    """An import updated an employee who has a history: the file's state is a dated row from
    ``effective`` (or the last applied change's date, if later), so the history and the employee row agree.

    A change still scheduled is never overwritten: the import is the state from its day, the scheduled
    change stays pending for its own day, and takes from the import what it does not change itself (a
    transfer scheduled for next month keeps its new unit, and carries the position the file gave today).
    """
    rows = await history_of(nip)
    employee = await Employee.get_or_none(nip=nip)
    if not rows or employee is None:
        return  # no history kept for them: the employee row is the whole story, as before
    pending = set(await ScheduledChange.filter(nip=nip, status=PENDING).values_list("assignment_id", flat=True))
    settled = [row for row in rows if row.id not in pending] or rows[:1]
    day = max(effective, settled[-1].valid_from)
    # The state the file replaces: the row valid on its day, a change scheduled before that day included
    # (a retirement on the 20th is not undone by a file dated the 1st of next month), one on that day not.
    latest = [row for row in rows if row.valid_from < day or (row.valid_from == day and row.id not in pending)][-1]
    before = _state(latest)
    state = {
        **before,
        "unit_code": employee.unit_id,  # type: ignore[attr-defined]
        "position": employee.position or "",
        "supervisor_nip": employee.supervisor_id,  # type: ignore[attr-defined]
        "grade": grade if grade is not None else before["grade"],
    }
    if state["unit_code"] != before["unit_code"]:
        state.update(status=ACTIVE, office_code=None)
    if state == before:
        return
    scheduled = [row for row in rows if row.id in pending and row.valid_from >= day]
    units = {before["unit_code"], state["unit_code"]}
    async with in_transaction():
        if not any(row.valid_from == day for row in scheduled):  # a change due that very day holds the import
            action = "move" if state["unit_code"] != before["unit_code"] else "edit"
            values = {**state, "action": action, "reason": "import", "recorded_by": by}
            await EmployeeAssignment.update_or_create(values, nip=nip, valid_from=day)
        old_before, new_before = before, state
        for row in scheduled:  # each keeps what it changes, and takes the import's value of the rest
            old_state = _state(row)
            carried = {k: new_before[k] for k, v in old_state.items() if v == old_before[k] and v != new_before[k]}
            if carried:
                await EmployeeAssignment.filter(id=row.id).update(**carried)
            units.add(old_state["unit_code"])
            old_before, new_before = old_state, {**old_state, **carried}
    await _mark(day, units, max(day, today_local()))
