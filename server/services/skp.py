"""Work plans (SKP) that cascade and realisation from approved activity claims (PermenPANRB 6/2022, issue
17). The rules are the scoring library's (`build_cascade`, `measure_plan`, `outputs_from_claims`); this
module stores versions, scopes who may read and change what, and gathers the claims. The organisation's
performance rolled up the unit tree is server/services/organisation.py's.

- An employee drafts their plan for a year: RHK, each hanging under an RHK of their superior's agreed
  plan (or, for the unit head, under one of the unit's organisation targets), with indicators and the
  catalogue activities whose approved claims realise them; then submits it.
- Their superior (the employee's supervisor on record; without one, the unit's administrators) agrees it.
  An agreed version is never changed: a change makes the next version, a draft until it is agreed in turn,
  while the agreed one keeps counting; every version stays readable.
- The cascade runs inside a unit: a plan's superior is the supervisor when the supervisor is in the same
  unit; the unit head's RHK hang under the unit's targets. The cascade is read from the plans as they
  are now, so a superior's agreed change shows in every child's view.
- A period's realisation is the year to date: approved claims from 1 January to the end of the period
  (the plan's review: quarterly or monthly) in the office's time, against the year's targets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from functools import lru_cache

from tortoise.transactions import in_transaction

from scoring import (
    AppraisalPolicy,
    Cascade,
    CascadeError,
    Indicator,
    IndicatorAspect,
    OrganisationTarget,
    PlanMeasurement,
    PlannedResult,
    PlanState,
    WorkPlan,
    build_cascade,
    load_appraisal_policy,
    measure_plan,
    outputs_from_claims,
)
from server.activity_models import ActivityClaimRecord
from server.auth import Principal, Scope, scope_for
from server.errors import Conflict, Invalid, NotFound, Refused
from server.i18n import N_
from server.models import Employee, Unit
from server.services.accounts import Role
from server.services.activities import catalogue, claim_of
from server.services.attendance import WIB, unit_zones
from server.services.payroll import record_audit
from server.skp_models import (
    ActivityLinkRecord,
    IndicatorRecord,
    OrganisationTargetRecord,
    PlannedResultRecord,
    ReviewPeriod,
    WorkPlanRecord,
)

APPRAISAL_PRESET = "permenpanrb-6-2022"
TARGET_KINDS = ("rkakl_output", "organisation_goal")
MAX_TEXT = 500
MAX_TARGET = 1_000_000
MIN_YEAR, MAX_YEAR = 2020, 2100
_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}\Z")


@lru_cache(maxsize=1)
def appraisal_policy() -> AppraisalPolicy:
    return load_appraisal_policy(APPRAISAL_PRESET)


# --- small checks ------------------------------------------------------------------------------------------


def parse_year(value: object) -> int:
    text = str(value or "").strip()
    if not text.isdigit() or not MIN_YEAR <= int(text) <= MAX_YEAR:
        raise Invalid(N_("year: expected a year from {first} to {last}").format(first=MIN_YEAR, last=MAX_YEAR))
    return int(text)


_NEEDS_TEXT = {
    "rhk": N_("the RHK needs a text"),
    "indicator": N_("the indicator needs a text"),
    "target": N_("the target needs a text"),
}


def _text(value: object, what: str) -> str:
    text = " ".join(str(value or "").split())
    if not text:
        raise Invalid(_NEEDS_TEXT[what])
    if len(text) > MAX_TEXT:
        raise Invalid(N_("a text of at most {maximum} characters").format(maximum=MAX_TEXT))
    return text


def _code(value: object) -> str:
    text = str(value or "").strip()
    if not _CODE.match(text):
        raise Invalid(N_("code: letters, digits, '.', '-' or '_', at most 32"))
    return text


def _target(value: object) -> int:
    text = str(value or "").strip()
    if not text.isdigit() or not 1 <= int(text) <= MAX_TARGET:
        raise Invalid(N_("target: expected a whole number from 1 to {maximum}").format(maximum=MAX_TARGET))
    return int(text)


# --- periods -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Period:
    """A review period of a plan's year: the whole year, a quarter or a month (``"2026"``, ``"2026-Q1"``,
    ``"2026-03"``); realisation counts from 1 January to ``last``."""

    key: str
    year: int
    first: date
    last: date


def periods_of(year: int, review: str) -> list[Period]:
    out = []
    if review == ReviewPeriod.MONTHLY.value:
        for month in range(1, 13):
            first = date(year, month, 1)
            out.append(Period(f"{year}-{month:02d}", year, first, _month_end(year, month)))
    else:
        for quarter in range(1, 5):
            first = date(year, 3 * quarter - 2, 1)
            out.append(Period(f"{year}-Q{quarter}", year, first, _month_end(year, 3 * quarter)))
    out.append(Period(str(year), year, date(year, 1, 1), date(year, 12, 31)))
    return out


def _month_end(year: int, month: int) -> date:
    return (date(year + month // 12, month % 12 + 1, 1)) - timedelta(days=1)


def parse_period(key: str) -> Period:
    """Any well-formed period (``"2026"``, ``"2026-Q2"``, ``"2026-05"``), whatever the plan's review: what
    the API takes, so a well-formed request is always answered."""
    year = parse_year(key[:4])
    rest = key[4:]
    if not rest:
        return Period(key, year, date(year, 1, 1), date(year, 12, 31))
    if rest.startswith("-Q") and rest[2:] in ("1", "2", "3", "4"):
        quarter = int(rest[2:])
        return Period(key, year, date(year, 3 * quarter - 2, 1), _month_end(year, 3 * quarter))
    if rest[1:].isdigit() and len(rest) == 3 and 1 <= int(rest[1:]) <= 12:
        month = int(rest[1:])
        return Period(key, year, date(year, month, 1), _month_end(year, month))
    raise Invalid(N_("period: expected YYYY, YYYY-Qn or YYYY-MM"))


def period_of(year: int, review: str, key: str | None, today: date | None = None) -> Period:
    """The named period of the year; without a name, the one holding today (the year when today is not in it)."""
    periods = periods_of(year, review)
    if key:
        for period in periods:
            if period.key == key:
                return period
        raise Invalid(N_("period: no period {period} in {year}").format(period=key, year=year))
    today = today or date.today()
    return next((p for p in periods if p.first <= today <= p.last), periods[-1])


# --- who is above whom ---------------------------------------------------------------------------------------


async def _employee(nip: str) -> Employee:
    employee = await Employee.get_or_none(nip=nip)
    if employee is None:
        raise NotFound(N_("no such employee in your scope"))
    return employee


async def cascade_superior(employee: Employee) -> str | None:
    """The superior whose plan this employee's RHK hang under: the supervisor when in the same unit; None for
    the unit head (no supervisor, or one in another unit), whose RHK hang under the unit's targets."""
    boss = employee.supervisor_id  # type: ignore[attr-defined]
    if boss is None:
        return None
    unit = await Employee.filter(nip=boss).values_list("unit_id", flat=True)
    return boss if unit and unit[0] == employee.unit_id else None  # type: ignore[attr-defined]


async def may_agree(principal: Principal, employee: Employee) -> bool:
    """The employee's supervisor agrees the plan; without a supervisor on record, the unit's administrators
    (the bureau or the unit administrator of the unit)."""
    boss = employee.supervisor_id  # type: ignore[attr-defined]
    if boss is not None:
        return principal.role is Role.SUPERVISOR and principal.employee_nip == boss
    if principal.role in (Role.BUREAU_ADMIN, Role.UNIT_ADMIN):
        return (await scope_for(principal)).sees_unit(employee.unit_id)  # type: ignore[attr-defined]
    return False


async def sees_plan(principal: Principal, employee: Employee) -> bool:
    scope = await scope_for(principal)
    return scope.sees_employee(employee.nip, employee.unit_id)  # type: ignore[attr-defined]


# --- reading plans -------------------------------------------------------------------------------------------


async def versions(nip: str, year: int) -> list[WorkPlanRecord]:
    return list(await WorkPlanRecord.filter(nip=nip, year=year).order_by("version"))


async def current_version(nip: str, year: int) -> WorkPlanRecord | None:
    """The newest version: the one its owner works on."""
    return await WorkPlanRecord.filter(nip=nip, year=year).order_by("-version").first()


async def agreed_version(nip: str, year: int) -> WorkPlanRecord | None:
    """The newest agreed version: the plan that counts (for the cascade and the realisation)."""
    return await WorkPlanRecord.filter(nip=nip, year=year, state=PlanState.AGREED.value).order_by("-version").first()


async def work_plan(row: WorkPlanRecord) -> WorkPlan:
    """The scoring library's plan of one stored version."""
    results = []
    for rhk in await PlannedResultRecord.filter(plan_id=row.id).order_by("position", "id"):
        indicators = tuple(
            Indicator(i.code, i.text, i.target, i.unit, IndicatorAspect(i.aspect), i.higher_is_better)
            for i in await IndicatorRecord.filter(result_id=rhk.id).order_by("id")
        )
        results.append(PlannedResult(rhk.code, rhk.text, indicators, rhk.parent_code))
    return WorkPlan(row.nip, str(row.year), row.superior_nip, tuple(results), row.version, PlanState(row.state))


async def links_of(row: WorkPlanRecord) -> dict[str, tuple[str, str]]:
    """Activity code -> (RHK code, indicator code) of one version."""
    return {
        link.activity: (link.rhk_code, link.indicator_code) for link in await ActivityLinkRecord.filter(plan_id=row.id)
    }


async def organisation_targets(unit_code: str, year: int) -> list[OrganisationTarget]:
    rows = await OrganisationTargetRecord.filter(unit_code=unit_code, year=year).order_by("code")
    return [OrganisationTarget(r.code, r.text, r.kind) for r in rows]


async def target_rows(scope: Scope, year: int) -> list[OrganisationTargetRecord]:
    query = OrganisationTargetRecord.filter(year=year)
    if scope.unit_codes is not None:
        query = query.filter(unit_code__in=sorted(scope.unit_codes))
    return list(await query.order_by("unit_code", "code"))


async def chain_plans(nip: str, year: int, own: WorkPlan | None = None) -> list[WorkPlan]:
    """This employee's plan (``own``, or the agreed version) with the agreed plans up the chain of
    superiors to the unit head, as they are now."""
    plans: list[WorkPlan] = []
    if own is None:
        row = await agreed_version(nip, year)
        if row is None:
            return []
        own = await work_plan(row)
    plans.append(own)
    seen, above = {own.nip}, own.superior_nip
    while above is not None and above not in seen:
        seen.add(above)
        row = await agreed_version(above, year)
        if row is None:
            break  # build_cascade names the missing plan
        plan = await work_plan(row)
        plans.append(plan)
        above = plan.superior_nip
    return plans


async def cascade_for(nip: str, year: int, unit_code: str, own: WorkPlan | None = None) -> Cascade:
    """The chain of plans checked against each other: raises CascadeError listing what does not cascade."""
    return build_cascade(await chain_plans(nip, year, own), await organisation_targets(unit_code, year))


@dataclass(frozen=True, slots=True)
class ParentChoice:
    code: str
    text: str
    source: str
    """"target" (an organisation target) or the superior's NIP."""


async def parent_choices(employee: Employee, year: int) -> list[ParentChoice]:
    """What an RHK of this employee may hang under: the RHK of the superior's agreed plan, or for the unit
    head the unit's organisation targets."""
    boss = await cascade_superior(employee)
    if boss is None:
        return [ParentChoice(t.code, t.text, "target") for t in await organisation_targets(employee.unit_id, year)]  # type: ignore[attr-defined]
    row = await agreed_version(boss, year)
    if row is None:
        return []
    return [ParentChoice(r.code, r.text, boss) for r in (await work_plan(row)).results]


# --- changing a plan -----------------------------------------------------------------------------------------


async def _owner(principal: Principal) -> Employee:
    if not principal.employee_nip:
        raise Refused(N_("this account has no employee record to plan for"))
    return await _employee(principal.employee_nip)


async def editable_version(principal: Principal, year: int) -> WorkPlanRecord:
    """The owner's draft for the year, to change: made on first use; an agreed plan gets its next version (a
    copy of the agreed one, with its RHK, indicators and activities) so the agreed version is kept as it was;
    a submitted draft goes back to the owner until submitted again."""
    employee = await _owner(principal)
    current = await current_version(employee.nip, year)
    if current is not None and current.state == PlanState.DRAFT.value:
        if current.submitted_at is not None:  # changed after submitting: the superior waits for it again
            current.submitted_at = None
            await current.save(update_fields=["submitted_at"])
        return current
    superior = await cascade_superior(employee)
    async with in_transaction():
        row = await WorkPlanRecord.create(
            nip=employee.nip,
            unit_code=employee.unit_id,  # type: ignore[attr-defined]
            year=year,
            version=1 if current is None else current.version + 1,
            state=PlanState.DRAFT.value,
            review=current.review if current else ReviewPeriod.QUARTERLY.value,
            superior_nip=superior,
            created_by=principal.username,
        )
        if current is not None:
            await _copy(current, row)
    return row


async def _copy(source: WorkPlanRecord, into: WorkPlanRecord) -> None:
    for rhk in await PlannedResultRecord.filter(plan_id=source.id).order_by("position", "id"):
        copy = await PlannedResultRecord.create(
            plan_id=into.id, code=rhk.code, text=rhk.text, parent_code=rhk.parent_code, position=rhk.position
        )
        for ind in await IndicatorRecord.filter(result_id=rhk.id).order_by("id"):
            await IndicatorRecord.create(
                result_id=copy.id, code=ind.code, text=ind.text, aspect=ind.aspect, target=ind.target,
                unit=ind.unit, higher_is_better=ind.higher_is_better,
            )  # fmt: skip
    for link in await ActivityLinkRecord.filter(plan_id=source.id):
        await ActivityLinkRecord.create(
            plan_id=into.id, activity=link.activity, rhk_code=link.rhk_code, indicator_code=link.indicator_code
        )


async def _result(plan: WorkPlanRecord, code: str) -> PlannedResultRecord:
    row = await PlannedResultRecord.get_or_none(plan_id=plan.id, code=code)
    if row is None:
        raise NotFound(N_("no RHK {code} in this plan").format(code=code))
    return row


async def add_result(principal: Principal, year: int, text: object, parent: object) -> PlannedResultRecord:
    """A new RHK in the owner's draft, under a parent from :func:`parent_choices`."""
    employee = await _owner(principal)
    text, parent_code = _text(text, "rhk"), str(parent or "").strip()
    choices = {c.code for c in await parent_choices(employee, year)}
    if parent_code not in choices:
        raise Invalid(N_("parent: choose an RHK of your superior's agreed plan (or your unit's target)"))
    plan = await editable_version(principal, year)
    count = await PlannedResultRecord.filter(plan_id=plan.id).count()
    codes = set(await PlannedResultRecord.filter(plan_id=plan.id).values_list("code", flat=True))
    number = count + 1
    while f"RHK{number}" in codes:
        number += 1
    return await PlannedResultRecord.create(
        plan_id=plan.id, code=f"RHK{number}", text=text, parent_code=parent_code, position=number
    )


async def add_indicator(
    principal: Principal, year: int, rhk: object, text: object, aspect: object, target: object, unit: object
) -> IndicatorRecord:
    plan = await editable_version(principal, year)
    result = await _result(plan, str(rhk or ""))
    try:
        kind = IndicatorAspect(str(aspect or IndicatorAspect.QUANTITY.value))
    except ValueError:
        raise Invalid(N_("aspect: choose quantity, quality, time or cost")) from None
    count = await IndicatorRecord.filter(result_id=result.id).count()
    unit_text = " ".join(str(unit or "").split())[:64]
    return await IndicatorRecord.create(
        result_id=result.id,
        code=f"{result.code}.{count + 1}",
        text=_text(text, "indicator"),
        aspect=kind.value,
        target=_target(target),
        unit=unit_text,
        higher_is_better=kind not in (IndicatorAspect.TIME, IndicatorAspect.COST),
    )


async def edit_result(principal: Principal, year: int, rhk: object, text: object) -> PlannedResultRecord:
    """The wording of an RHK in the owner's draft (its subordinates see the new wording once it is agreed)."""
    plan = await editable_version(principal, year)
    result = await _result(plan, str(rhk or ""))
    result.text = _text(text, "rhk")
    await result.save(update_fields=["text"])
    return result


async def remove_result(principal: Principal, year: int, rhk: object) -> None:
    """An RHK out of the owner's draft, refused while a subordinate's agreed plan hangs under it."""
    employee = await _owner(principal)
    plan = await editable_version(principal, year)
    result = await _result(plan, str(rhk or ""))
    for child in await _children_rows(employee.nip, year):
        if result.code in {r.parent_code for r in await PlannedResultRecord.filter(plan_id=child.id)}:
            raise Conflict(
                N_("RHK {code} carries RHK of {nip}'s agreed plan: they change theirs first").format(
                    code=result.code, nip=child.nip
                )
            )
    async with in_transaction():
        await ActivityLinkRecord.filter(plan_id=plan.id, rhk_code=result.code).delete()
        await result.delete()


async def _children_rows(nip: str, year: int) -> list[WorkPlanRecord]:
    """The agreed plans that hang under this employee's plan now."""
    rows = await WorkPlanRecord.filter(superior_nip=nip, year=year, state=PlanState.AGREED.value).order_by("-version")
    newest: dict[str, WorkPlanRecord] = {}
    for row in rows:
        newest.setdefault(row.nip, row)
    return list(newest.values())


async def link_activity(principal: Principal, year: int, activity: object, indicator: object) -> ActivityLinkRecord:
    """A catalogue activity whose approved claims realise one indicator of the owner's draft."""
    code = str(activity or "").strip()
    if code not in {a.code for a in catalogue().activities}:
        raise Invalid(N_("activity: not in the catalogue"))
    plan = await editable_version(principal, year)
    rhk_code, _, _ = str(indicator or "").partition(".")
    result = await _result(plan, rhk_code)
    if not await IndicatorRecord.filter(result_id=result.id, code=str(indicator)).exists():
        raise Invalid(N_("indicator: choose one of the plan's indicators"))
    await ActivityLinkRecord.filter(plan_id=plan.id, activity=code).delete()
    return await ActivityLinkRecord.create(
        plan_id=plan.id, activity=code, rhk_code=result.code, indicator_code=str(indicator)
    )


async def set_review(principal: Principal, year: int, review: object) -> None:
    try:
        value = ReviewPeriod(str(review or ""))
    except ValueError:
        raise Invalid(N_("review: quarterly or monthly")) from None
    plan = await editable_version(principal, year)
    plan.review = value.value
    await plan.save(update_fields=["review"])


def _cascade_refusal(exc: CascadeError) -> Invalid:
    return Invalid(N_("the plan does not cascade: {problems}").format(problems="; ".join(exc.problems)))


async def submit_plan(principal: Principal, year: int) -> WorkPlanRecord:
    """The owner's draft to the superior, once it cascades (every RHK under a parent that exists, indicators
    with targets above 0, no loop of superiors)."""
    employee = await _owner(principal)
    plan = await current_version(employee.nip, year)
    if plan is None or plan.state != PlanState.DRAFT.value:
        raise Conflict(N_("no draft plan for {year} to submit").format(year=year))
    own = await work_plan(plan)
    if not own.results:
        raise Invalid(N_("the plan has no RHK yet"))
    try:
        await cascade_for(employee.nip, year, plan.unit_code, own)
    except CascadeError as exc:
        raise _cascade_refusal(exc) from None
    plan.submitted_at = datetime.now(UTC)
    await plan.save(update_fields=["submitted_at"])
    await record_audit(principal.username, principal.role.value, "skp.submit", employee.nip, plan.unit_code,
                       {"year": year, "version": plan.version})  # fmt: skip
    return plan


async def agree_submitted(principal: Principal, nip: str, year: int) -> WorkPlanRecord:
    """The superior agrees the submitted draft: it becomes the agreed version, the one before it is kept as
    superseded."""
    employee = await _employee(nip)
    if not await sees_plan(principal, employee):
        raise NotFound(N_("no such employee in your scope"))
    if not await may_agree(principal, employee):
        raise Refused(N_("only the employee's superior agrees the plan"))
    plan = await current_version(nip, year)
    if plan is None or plan.state != PlanState.DRAFT.value or plan.submitted_at is None:
        raise Conflict(N_("no submitted plan for {year} to agree").format(year=year))
    try:
        await cascade_for(nip, year, plan.unit_code, await work_plan(plan))
    except CascadeError as exc:
        raise _cascade_refusal(exc) from None
    now = datetime.now(UTC)
    async with in_transaction():
        await WorkPlanRecord.filter(nip=nip, year=year, state=PlanState.AGREED.value, superseded_at=None).update(
            superseded_at=now
        )
        plan.state, plan.agreed_by, plan.agreed_at = PlanState.AGREED.value, principal.username, now
        await plan.save(update_fields=["state", "agreed_by", "agreed_at"])
    await record_audit(principal.username, principal.role.value, "skp.agree", nip, plan.unit_code,
                       {"year": year, "version": plan.version})  # fmt: skip
    return plan


async def add_target(
    principal: Principal, unit_code: object, year: int, code: object, text: object, kind: object
) -> OrganisationTargetRecord:
    """An organisation target of a unit, by the bureau or the unit's administrator."""
    if principal.role not in (Role.BUREAU_ADMIN, Role.UNIT_ADMIN):
        raise Refused(N_("only the bureau or the unit's administrator enters organisation targets"))
    unit = str(unit_code or "")
    if not await Unit.exists(code=unit) or not (await scope_for(principal)).sees_unit(unit):
        raise NotFound(N_("no such unit in your scope"))
    kind_text = str(kind or "rkakl_output")
    if kind_text not in TARGET_KINDS:
        raise Invalid(N_("kind: an RKAKL output or an organisation goal"))
    target_code = _code(code)
    if await OrganisationTargetRecord.exists(unit_code=unit, year=year, code=target_code):
        raise Conflict(N_("target {code} already exists for {year}").format(code=target_code, year=year))
    row = await OrganisationTargetRecord.create(
        unit_code=unit, year=year, code=target_code, text=_text(text, "target"), kind=kind_text,
        created_by=principal.username,
    )  # fmt: skip
    await record_audit(principal.username, principal.role.value, "skp.target", target_code, unit, {"year": year})
    return row


# --- what the superior sees ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TeamPlan:
    employee: Employee
    current: WorkPlanRecord | None
    agreed: WorkPlanRecord | None
    may_agree: bool


async def team_plans(principal: Principal, year: int) -> list[TeamPlan]:
    """The plans the reader agrees: their direct subordinates' (administrators: the unit's employees
    without a supervisor on record)."""
    if principal.role is Role.SUPERVISOR and principal.employee_nip:
        employees = await Employee.filter(supervisor_id=principal.employee_nip).order_by("name")
    elif principal.role in (Role.BUREAU_ADMIN, Role.UNIT_ADMIN):
        scope = await scope_for(principal)
        employees = await Employee.filter(scope.employee_q(), supervisor_id=None).order_by("name")
    else:
        return []
    out = []
    for employee in employees:
        out.append(
            TeamPlan(
                employee,
                await current_version(employee.nip, year),
                await agreed_version(employee.nip, year),
                await may_agree(principal, employee),
            )
        )
    return out


# --- realisation ---------------------------------------------------------------------------------------------


async def _zone(unit_code: str) -> timezone:
    return (await unit_zones()).get(unit_code, WIB)


async def approved_claims(nip: str, first: date, last: date, zone: timezone) -> list[ActivityClaimRecord]:
    start = datetime(first.year, first.month, first.day, tzinfo=zone).astimezone(UTC)
    end = datetime(last.year, last.month, last.day, tzinfo=zone).astimezone(UTC) + timedelta(days=1)
    return list(
        await ActivityClaimRecord.filter(nip=nip, state="approved", start__gte=start, start__lt=end).order_by("start")
    )


@dataclass(frozen=True, slots=True)
class Realisation:
    """One plan version measured for the year to the end of a period."""

    row: WorkPlanRecord
    period: Period
    measurement: PlanMeasurement
    links: dict[str, tuple[str, str]]
    minutes: int
    """Approved activity minutes in the period itself (every activity, linked or not)."""


async def realisation(row: WorkPlanRecord, period: Period) -> Realisation:
    zone = await _zone(row.unit_code)
    links = await links_of(row)
    year_claims = await approved_claims(row.nip, date(row.year, 1, 1), period.last, zone)
    outputs = outputs_from_claims([claim_of(c) for c in year_claims], links)
    measurement = measure_plan(appraisal_policy(), await work_plan(row), outputs)
    in_period = await approved_claims(row.nip, period.first, period.last, zone)
    return Realisation(row, period, measurement, links, sum(c.minutes for c in in_period))
