"""The periodic appraisal (PermenPANRB 6/2022) on the server: the performance dialogue, the BerAKHLAK
behaviour ratings, the rating and its predicate, the unit's organisation rating and the predicate
distribution it bounds, finalising a unit's period, and the yearly result in SIASN's SKP layout.

The rules are the appraisal policy's (scoring/presets/appraisal, APPRAISAL_PRESET): the predicate
matrix, the distribution bounds, how raters are weighed. Who does what, from the supervisor relation
in master data (server/models.Employee.supervisor):

- the superior (the employee's direct supervisor) writes feedback, rates the seven core values and sets
  the work-result rating; the rating's behaviour part is always score_behaviour's, never typed;
- a peer (same supervisor) or a subordinate (supervised by the employee) rates the values only where
  the policy weighs that role (the shipped preset weighs the superior alone);
- the employee reads their own periods and answers the feedback;
- a unit administrator reads their unit tree, finalises its periods; the bureau reads everything, sets
  each unit's organisation rating for the year and finalises too.

A unit's period is finalised only when every member has a rating, the organisation rating is set, and
the distribution keeps the rating's bounds; after that its ratings and behaviour ratings are refused.
The work-result rating is the superior's; the plan's realisation proposes it (server/services/work_proposal.py,
the thresholds the policy's [work_result]), and a rating other than the proposal needs a reason, which the
rating's audit entry keeps (with the proposal) and the page shows.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from functools import lru_cache

from scoring import (
    FULL_BP,
    AppraisalPolicy,
    BehaviourFeedback,
    BehaviourScore,
    CoreValue,
    DistributionCheck,
    InputError,
    OrganisationRating,
    Predicate,
    Rating,
    check_distribution,
    load_appraisal_policy,
    predicate,
    score_behaviour,
)
from server.appraisal_models import AppraisalFeedback, AppraisalRating, BehaviourRatingRecord, OrganisationRatingRecord
from server.auth import Principal, scope_for
from server.errors import Conflict, Invalid, NotFound, Refused
from server.i18n import N_
from server.models import Employee, Unit
from server.payroll_models import AuditEntry
from server.services.accounts import Role
from server.services.attendance import WIB, unit_zones
from server.services.members import unit_members, unit_of
from server.services.payroll import record_audit
from server.services.work_proposal import WorkProposal, work_proposal

APPRAISAL_PRESET = "permenpanrb-6-2022"
SUPERIOR, PEER, SUBORDINATE, EMPLOYEE = "superior", "peer", "subordinate", "employee"
FEEDBACK_LIMIT = 4000
NOTE_LIMIT = 500
REASON_LIMIT = 500
_PERIOD = re.compile(r"^(\d{4})(?:-Q([1-4]))?$")
VALUE_LABELS = {
    CoreValue.BERORIENTASI_PELAYANAN: "Berorientasi Pelayanan",
    CoreValue.AKUNTABEL: "Akuntabel",
    CoreValue.KOMPETEN: "Kompeten",
    CoreValue.HARMONIS: "Harmonis",
    CoreValue.LOYAL: "Loyal",
    CoreValue.ADAPTIF: "Adaptif",
    CoreValue.KOLABORATIF: "Kolaboratif",
}
ORGANISATION_LABELS = {
    OrganisationRating.ISTIMEWA: "Istimewa",
    OrganisationRating.BAIK: "Baik",
    OrganisationRating.BUTUH_PERBAIKAN: "Butuh Perbaikan",
    OrganisationRating.KURANG: "Kurang",
    OrganisationRating.SANGAT_KURANG: "Sangat Kurang",
}


@lru_cache(maxsize=1)
def appraisal_policy() -> AppraisalPolicy:
    return load_appraisal_policy(APPRAISAL_PRESET)


# --- periods ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Period:
    """``"2026"`` (the year) or ``"2026-Q2"`` (a quarter's review), as the work plans name them."""

    year: int
    quarter: int | None = None

    @property
    def code(self) -> str:
        return f"{self.year}" if self.quarter is None else f"{self.year}-Q{self.quarter}"

    @property
    def first(self) -> date:
        return date(self.year, 1 if self.quarter is None else 3 * self.quarter - 2, 1)

    @property
    def last(self) -> date:
        if self.quarter is None or self.quarter == 4:
            return date(self.year, 12, 31)
        return date(self.year, 3 * self.quarter + 1, 1) - timedelta(days=1)

    @property
    def yearly(self) -> bool:
        return self.quarter is None


def parse_period(text: object, today: date | None = None) -> Period:
    """A period code; none given: this year."""
    value = str(text or "").strip()
    if not value:
        return Period((today or datetime.now(WIB).date()).year)
    match = _PERIOD.match(value)
    if match is None or not 2000 <= int(match.group(1)) <= 2100:
        raise Invalid(N_("period: expected a year such as 2026 or a quarter such as 2026-Q1"))
    return Period(int(match.group(1)), int(match.group(2)) if match.group(2) else None)


def periods_of(year: int) -> list[Period]:
    return [Period(year), *(Period(year, q) for q in range(1, 5))]


# --- who may do what --------------------------------------------------------------------------------------


async def _employee(nip: str) -> Employee:
    employee = await Employee.get_or_none(nip=nip[:18])
    if employee is None:
        raise NotFound(N_("no such employee in your scope"))
    return employee


async def _rater_or_reader(principal: Principal, nip: str) -> tuple[Employee, bool, str | None]:
    """The employee, whether the principal reads their whole appraisal, and the role they rate in. A peer or
    subordinate the policy weighs reaches the employee only to rate (else not found: nothing revealed)."""
    employee = await _employee(nip)
    scope = await scope_for(principal)
    # The direct superior in master data reads and rates, whatever their account's role.
    unit_code: str = employee.unit_id  # type: ignore[attr-defined]
    reads = scope.sees_employee(employee.nip, unit_code) or _is_superior(principal, employee)
    role = await rater_role(principal, employee)
    if not reads and role is None:
        raise NotFound(N_("no such employee in your scope"))
    return employee, reads, role


async def rater_role(principal: Principal, employee: Employee) -> str | None:
    """The role in which the principal rates the employee's behaviour, if any the policy weighs."""
    if _is_superior(principal, employee):
        return SUPERIOR
    me = principal.employee_nip
    if not me or me == employee.nip or principal.role not in (Role.SUPERVISOR, Role.EMPLOYEE):
        return None
    weighed = dict(appraisal_policy().behaviour.rater_weights_bp)
    boss = employee.supervisor_id  # type: ignore[attr-defined]
    if boss == me:
        return SUPERIOR
    own_boss = await Employee.filter(nip=me).values_list("supervisor_id", flat=True)
    role = None
    if own_boss and own_boss[0] == employee.nip:
        role = SUBORDINATE
    elif own_boss and boss is not None and own_boss[0] == boss:
        role = PEER
    return role if role in weighed else None


def _is_superior(principal: Principal, employee: Employee) -> bool:
    """The employee's direct supervisor in master data; for one with none there (a unit head whose superior
    is outside the system), the bureau, recording what that superior decided."""
    boss: str | None = employee.supervisor_id  # type: ignore[attr-defined]
    if boss is None:
        return principal.role is Role.BUREAU_ADMIN and principal.employee_nip != employee.nip
    return bool(principal.employee_nip) and boss == principal.employee_nip


def _rater_nip(principal: Principal) -> str:
    """Who rated, on the record: their NIP, or the bureau account's name where it rates the top of a chain."""
    return principal.employee_nip or principal.username[:18]


async def _unit_in_scope(principal: Principal, unit_code: str) -> Unit:
    unit = await Unit.get_or_none(code=unit_code[:63])
    scope = await scope_for(principal)
    if unit is None or principal.role is Role.OPERATIONS or not scope.sees_unit(unit.code):
        raise NotFound(N_("no such unit in your scope"))
    return unit


async def _refuse_final(nip: str, period: Period) -> None:
    if await AppraisalRating.filter(nip=nip, period=period.code, final_at__isnull=False).exists():
        raise Conflict(N_("The appraisal of this period is final: it can no longer be changed."))


def _text(value: object, limit: int, what: str, *, required: bool) -> str:
    text = str(value or "").strip()
    if required and not text:
        raise Invalid(N_("Please write the feedback or the answer."))
    if len(text) > limit:
        raise Invalid(N_("{what}: at most {limit} characters").format(what=what, limit=limit))
    if any(ord(c) < 32 and c not in "\n\t" for c in text.replace("\r\n", "\n")):
        raise Invalid(N_("{what}: control characters are not allowed").format(what=what))
    return text.replace("\r\n", "\n")


def _rating(value: object, what: str) -> Rating:
    try:
        return Rating(str(value or ""))
    except ValueError:
        raise Invalid(N_("{what}: choose above, as or below expectation").format(what=what)) from None


# --- the dialogue -----------------------------------------------------------------------------------------


async def add_feedback(principal: Principal, nip: str, period_code: object, body: object) -> AppraisalFeedback:
    """The superior's feedback on the period, or the employee's answer to it."""
    employee, reads, _ = await _rater_or_reader(principal, nip)
    if not reads:
        raise NotFound(N_("no such employee in your scope"))
    period = parse_period(period_code)
    if _is_superior(principal, employee):
        role = SUPERIOR
    elif principal.employee_nip == employee.nip:
        role = EMPLOYEE
        if not await AppraisalFeedback.filter(nip=employee.nip, period=period.code, author_role=SUPERIOR).exists():
            raise Conflict(N_("There is no feedback from your superior on this period to answer yet."))
    else:
        raise Refused(N_("Only the employee's direct superior writes feedback; the employee answers it."))
    text = _text(body, FEEDBACK_LIMIT, "feedback", required=True)
    row = await AppraisalFeedback.create(
        nip=employee.nip,
        year=period.year,
        period=period.code,
        author_nip=_rater_nip(principal),
        author_role=role,
        body=text,
        written_by=principal.username,
    )
    await record_audit(
        principal.username,
        principal.role.value,
        "appraisal.feedback",
        employee.nip,
        employee.unit_id,
        {"period": period.code, "role": role, "id": row.id},
    )  # type: ignore[attr-defined]
    return row


# --- behaviour --------------------------------------------------------------------------------------------


async def record_behaviour(
    principal: Principal, nip: str, period_code: object, ratings: dict[str, tuple[object, object]]
) -> str:
    """The principal's ratings of the seven core values (value -> (rating, evidence note)), in the role
    the supervisor relation gives them. All seven at once: a value left out would silently keep an old
    rating or leave the behaviour unscorable."""
    employee, _, role = await _rater_or_reader(principal, nip)
    period = parse_period(period_code)
    if role is None:
        raise Refused(
            N_("Only the superior rates this employee's behaviour (peers and subordinates if the policy weighs them).")
        )
    await _refuse_final(employee.nip, period)
    rows = []
    for value in CoreValue:
        rating, note = ratings.get(value.value, (None, None))
        label = VALUE_LABELS[value]
        rows.append((value, _rating(rating, label), _text(note, NOTE_LIMIT, label, required=False)))
    for value, rating, note in rows:
        await BehaviourRatingRecord.update_or_create(
            defaults={
                "rater_role": role,
                "rating": rating.value,
                "note": note,
                "recorded_by": principal.username,
                "year": period.year,
            },
            nip=employee.nip,
            period=period.code,
            rater_nip=_rater_nip(principal),
            core_value=value.value,
        )
    await record_audit(
        principal.username,
        principal.role.value,
        "appraisal.behaviour",
        employee.nip,
        employee.unit_id,
        {
            "period": period.code,
            "role": role,  # type: ignore[attr-defined]
            "ratings": {v.value: r.value for v, r, _ in rows},
        },
    )
    rated = await AppraisalRating.get_or_none(nip=employee.nip, period=period.code)
    if rated is not None:  # the predicate follows the behaviour it was computed from
        await _store_rating(principal, employee, period, Rating(rated.work_result))
    return role


async def behaviour_records(nip: str, period: Period) -> list[BehaviourRatingRecord]:
    return list(
        await BehaviourRatingRecord.filter(nip=nip, period=period.code).order_by("rater_role", "rater_nip", "id")
    )


def behaviour_score(records: Sequence[BehaviourRatingRecord]) -> BehaviourScore:
    """score_behaviour over the stored ratings; InputError when the superior has not rated every value."""
    feedback = [
        BehaviourFeedback(r.rater_nip, r.rater_role, CoreValue(r.core_value), Rating(r.rating), r.note) for r in records
    ]
    return score_behaviour(appraisal_policy(), feedback)


# --- the rating -------------------------------------------------------------------------------------------


async def set_rating(
    principal: Principal, nip: str, period_code: object, work_result: object, reason: object = None
) -> AppraisalRating:
    """The superior's work-result rating; behaviour from the ratings recorded, the predicate by the matrix.
    A rating other than the one the plan's realisation proposes needs ``reason`` (the pages always pass the
    text typed), kept in the audit entry with the proposal. ``reason`` None: a caller recording a decision
    taken elsewhere (the demo's seed), not asked for one."""
    employee, reads, _ = await _rater_or_reader(principal, nip)
    if not reads:
        raise NotFound(N_("no such employee in your scope"))
    period = parse_period(period_code)
    if not _is_superior(principal, employee):
        raise Refused(N_("Only the employee's direct superior sets the rating."))
    await _refuse_final(employee.nip, period)
    work = _rating(work_result, "work result")
    why = _text(reason, REASON_LIMIT, "reason", required=False)
    proposal = await work_proposal(appraisal_policy(), employee.nip, period.code)
    if proposal is not None and work is not proposal.rating and not why and reason is not None:
        raise Invalid(
            N_("The realisation of the plan proposes {proposed}: write the reason for choosing otherwise.").format(
                proposed=proposal.rating.label
            )
        )
    return await _store_rating(principal, employee, period, work, proposal=proposal, reason=why)


async def _store_rating(
    principal: Principal,
    employee: Employee,
    period: Period,
    work: Rating,
    *,
    proposal: WorkProposal | None = None,
    reason: str | None = None,
) -> AppraisalRating:
    """Store the rating; ``reason`` None (a re-store after the behaviour changed) keeps the reason and the
    proposal the rating was set with."""
    try:
        score = behaviour_score(await behaviour_records(employee.nip, period))
    except InputError:
        raise Conflict(
            N_("Rate the seven BerAKHLAK core values first: the behaviour rating comes from them.")
        ) from None
    policy = appraisal_policy()
    result = predicate(policy, work, score.rating)
    unit_code = await unit_of(employee.nip, period.first, period.last, employee.unit_id)  # type: ignore[attr-defined]
    if reason is None:
        kept = await rating_reason(employee.nip, period)
        choice = {k: kept[k] for k in ("proposed", "achievement", "reason") if k in kept}
    else:
        choice = {"reason": reason} if reason else {}
        if proposal is not None:
            choice |= {"proposed": proposal.rating.value, "achievement": proposal.achievement_bp}
    row, _ = await AppraisalRating.update_or_create(
        defaults={
            "unit_code": unit_code,
            "year": period.year,
            "work_result": work.value,
            "behaviour": score.rating.value,
            "behaviour_points": score.explain()["points_mean"],
            "predicate": result.value,
            "policy": policy.name,
            "rated_by": principal.username,
        },
        nip=employee.nip,
        period=period.code,
    )
    await record_audit(
        principal.username,
        principal.role.value,
        "appraisal.rating",
        employee.nip,
        unit_code,
        {
            "period": period.code,
            "work_result": work.value,
            "behaviour": score.rating.value,
            "predicate": result.value,
            **choice,
        },
    )
    return row


async def rating_reason(nip: str, period: Period) -> dict[str, object]:
    """What the latest rating of the period was set with: ``proposed`` (the rating the realisation proposed,
    with its ``achievement`` in basis points) and the superior's ``reason`` where they chose otherwise."""
    entries = await AuditEntry.filter(action="appraisal.rating", target=nip).order_by("-at", "-id").limit(50)
    for entry in entries:
        if isinstance(entry.detail, dict) and entry.detail.get("period") == period.code:
            return dict(entry.detail)
    return {}


# --- one employee's period, as the page shows it ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EmployeeAppraisal:
    employee: Employee
    period: Period
    zone: timezone
    thread: list[AppraisalFeedback]
    behaviour: list[BehaviourRatingRecord]
    score: BehaviourScore | None
    rating: AppraisalRating | None
    rater_role: str | None
    is_superior: bool
    is_self: bool
    can_answer: bool
    history: list[tuple[str, int, str]]
    """(period, messages, predicate or "") of every period with a record, newest first."""
    own_ratings: dict[str, tuple[str, str]] = field(default_factory=dict)
    """The reader's own ratings (value -> (rating, note)), to fill their form."""
    proposal: WorkProposal | None = None
    """The work-result rating the plan's realisation proposes (None: no agreed plan, or not the reader's)."""
    reason: str = ""
    """The superior's reason for a rating other than the proposal, as the rating was set."""

    @property
    def final(self) -> bool:
        return self.rating is not None and self.rating.final_at is not None


async def employee_appraisal(principal: Principal, nip: str, period_code: object) -> EmployeeAppraisal:
    """The period as the principal may see it; a peer or subordinate who only rates sees their own ratings."""
    employee, reads, role = await _rater_or_reader(principal, nip)
    period = parse_period(period_code)
    thread = list(await AppraisalFeedback.filter(nip=employee.nip, period=period.code).order_by("written_at", "id"))
    records = await behaviour_records(employee.nip, period)
    if not reads:
        thread, records = [], [r for r in records if r.rater_nip == _rater_nip(principal)]
    try:
        score = behaviour_score(records) if records and reads else None
    except InputError:
        score = None
    zone = (await unit_zones()).get(employee.unit_id, WIB)  # type: ignore[attr-defined]
    own = {r.core_value: (r.rating, r.note) for r in records if r.rater_nip == _rater_nip(principal)}
    is_self = principal.employee_nip == employee.nip
    proposal = await work_proposal(appraisal_policy(), employee.nip, period.code) if reads else None
    reason = str((await rating_reason(employee.nip, period)).get("reason") or "") if reads else ""
    return EmployeeAppraisal(
        employee=employee,
        period=period,
        zone=zone,
        thread=thread,
        behaviour=records,
        score=score,
        rating=await AppraisalRating.get_or_none(nip=employee.nip, period=period.code) if reads else None,
        rater_role=role,
        is_superior=_is_superior(principal, employee),
        is_self=is_self,
        can_answer=is_self and any(m.author_role == SUPERIOR for m in thread),
        history=await _history(employee.nip) if reads else [],
        own_ratings=own,
        proposal=proposal,
        reason=reason,
    )


async def _history(nip: str) -> list[tuple[str, int, str]]:
    messages: dict[str, int] = {}
    for period in await AppraisalFeedback.filter(nip=nip).values_list("period", flat=True):
        messages[period] = messages.get(period, 0) + 1
    predicates = dict(await AppraisalRating.filter(nip=nip).values_list("period", "predicate"))
    for period in await BehaviourRatingRecord.filter(nip=nip).distinct().values_list("period", flat=True):
        messages.setdefault(period, 0)
    periods = set(messages) | set(predicates)
    return [(p, messages.get(p, 0), predicates.get(p, "")) for p in sorted(periods, key=_period_order, reverse=True)]


def _period_order(code: str) -> tuple[int, int]:
    year, _, quarter = code.partition("-Q")
    return int(year), int(quarter or 5)  # the year's appraisal after its quarters


async def team(principal: Principal, period: Period) -> list[tuple[Employee, AppraisalRating | None]]:
    """The principal's direct subordinates with their rating for the period."""
    if not principal.employee_nip:
        return []
    staff = await Employee.filter(supervisor_id=principal.employee_nip).order_by("name", "nip")
    ratings = {r.nip: r for r in await AppraisalRating.filter(nip__in=[e.nip for e in staff], period=period.code)}
    return [(e, ratings.get(e.nip)) for e in staff]


@dataclass(frozen=True, slots=True)
class RatingDuty:
    """An employee whose behaviour the reader is asked to rate as a peer or a subordinate."""

    employee: Employee
    role: str
    """PEER (same supervisor) or SUBORDINATE (the reader's own supervisor)."""
    weight_bp: int
    """The role's weight in the policy (basis points of the behaviour rating)."""
    rated: int
    """How many of the seven core values the reader has rated for the period."""

    @property
    def done(self) -> bool:
        return self.rated >= len(CoreValue)


async def rating_duties(principal: Principal, period: Period) -> list[RatingDuty]:
    """Whom the reader rates beside the superior, as rater_role allows it: their peers (the employees with
    the same supervisor) and their own supervisor (as a subordinate), each only where the policy weighs
    that role; empty under a policy that weighs the superior alone (the shipped preset)."""
    me = principal.employee_nip
    if not me or principal.role not in (Role.SUPERVISOR, Role.EMPLOYEE):
        return []
    weighed = dict(appraisal_policy().behaviour.rater_weights_bp)
    boss = (await Employee.filter(nip=me).values_list("supervisor_id", flat=True) or [None])[0]
    if boss is None:
        return []
    found: list[tuple[Employee, str]] = []
    if SUBORDINATE in weighed and (superior := await Employee.get_or_none(nip=boss)) is not None:
        found.append((superior, SUBORDINATE))
    if PEER in weighed:
        peers = await Employee.filter(supervisor_id=boss).exclude(nip=me).order_by("name", "nip")
        found.extend((peer, PEER) for peer in peers)
    rated: dict[str, int] = {}
    nips = [e.nip for e, _ in found]
    for nip in await BehaviourRatingRecord.filter(rater_nip=me, period=period.code, nip__in=nips).values_list(
        "nip", flat=True
    ):
        rated[nip] = rated.get(nip, 0) + 1
    return [RatingDuty(e, role, weighed[role], rated.get(e.nip, 0)) for e, role in found]


# --- the unit: organisation rating, distribution, finalising -----------------------------------------------


async def set_organisation_rating(
    principal: Principal, unit_code: str, year: int, rating: object
) -> OrganisationRatingRecord:
    if principal.role is not Role.BUREAU_ADMIN:
        raise Refused(N_("Only the personnel bureau sets a unit's organisation rating."))
    unit = await _unit_in_scope(principal, unit_code)
    try:
        value = OrganisationRating(str(rating or ""))
    except ValueError:
        raise Invalid(
            N_("organisation rating: choose one of Istimewa, Baik, Butuh Perbaikan, Kurang, Sangat Kurang")
        ) from None
    if await AppraisalRating.filter(unit_code=unit.code, year=year, final_at__isnull=False).exists():
        raise Conflict(
            N_("The unit's appraisal of this year is final: its organisation rating can no longer be changed.")
        )
    row, _ = await OrganisationRatingRecord.update_or_create(
        defaults={"rating": value.value, "set_by": principal.username}, unit_code=unit.code, year=year
    )
    await record_audit(
        principal.username,
        principal.role.value,
        "appraisal.organisation_rating",
        unit.code,
        unit.code,
        {"year": year, "rating": value.value},
    )
    return row


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a unit's period is not ready to be final: an English message (translated on the page) and its values."""

    message: str
    values: dict[str, object]

    @property
    def text(self) -> str:
        return self.message.format(**self.values)


@dataclass(frozen=True, slots=True)
class UnitAppraisal:
    unit: Unit
    period: Period
    organisation_rating: OrganisationRating | None
    members: list[tuple[Employee, AppraisalRating | None]]
    """Every member of the unit in the period, whether the reader may open them or not."""
    visible: frozenset[str]
    check: DistributionCheck | None
    problems: list[Problem]
    final: bool

    @property
    def rated(self) -> int:
        return sum(1 for _, r in self.members if r is not None)

    def count(self, predicate_code: str) -> int:
        return sum(1 for _, r in self.members if r is not None and r.predicate == predicate_code)


def violation_problems(check: DistributionCheck) -> list[Problem]:
    problems = []
    for violation in check.violations:
        rule = violation.rule
        names = " / ".join(p.label for p in Predicate if p in rule.predicates)
        values: dict[str, object] = {
            "predicates": names,
            "count": violation.count,
            "total": violation.total,
            "rating": ORGANISATION_LABELS[check.organisation_rating],
        }
        if rule.at_most_bp is not None and violation.count * FULL_BP > rule.at_most_bp * violation.total:
            limit = rule.at_most_bp * violation.total // FULL_BP
            message = N_(
                "A unit rated {rating} may have at most {limit} of {total} employees with {predicates}; it has {count}."
            )
        else:
            limit = rule.at_least_count
            if rule.at_least_bp is not None:
                limit = max(limit, -(-rule.at_least_bp * violation.total // FULL_BP))
            message = N_(
                "A unit rated {rating} needs at least {limit} of {total} employees with {predicates}; it has {count}."
            )
        problems.append(Problem(message, {**values, "limit": limit}))
    return problems


async def unit_appraisal(principal: Principal, unit_code: str, period_code: object) -> UnitAppraisal:
    unit = await _unit_in_scope(principal, unit_code)
    period = parse_period(period_code)
    nips = list(await unit_members(unit.code, period.first, period.last))
    employees = {e.nip: e for e in await Employee.filter(nip__in=nips)}
    ratings = {r.nip: r for r in await AppraisalRating.filter(nip__in=nips, period=period.code)}
    members = sorted(
        ((employees[n], ratings.get(n)) for n in nips if n in employees), key=lambda m: (m[0].name, m[0].nip)
    )
    scope = await scope_for(principal)
    visible = frozenset(e.nip for e, _ in members if scope.sees_employee(e.nip, e.unit_id))  # type: ignore[attr-defined]
    org = await OrganisationRatingRecord.get_or_none(unit_code=unit.code, year=period.year)
    org_rating = OrganisationRating(org.rating) if org else None
    problems: list[Problem] = []
    check = None
    unrated = sum(1 for _, r in members if r is None)
    if unrated:
        problems.append(
            Problem(N_("{count} of {total} employees have no rating yet."), {"count": unrated, "total": len(members)})
        )
    if org_rating is None:
        problems.append(
            Problem(N_("The bureau has not set the unit's organisation rating for {year}."), {"year": period.year})
        )
    else:
        check = check_distribution(appraisal_policy(), org_rating, [Predicate(r.predicate) for _, r in members if r])
        problems.extend(violation_problems(check))
    final = bool(members) and all(r is not None and r.final_at is not None for _, r in members)
    return UnitAppraisal(unit, period, org_rating, members, visible, check, problems, final)


async def finalise_unit(
    principal: Principal, unit_code: str, period_code: object, *, now: datetime | None = None
) -> int:
    """Mark every rating of the unit's period final; refused while the distribution (or anything else)
    keeps it from being final, naming the first reason."""
    if principal.role not in (Role.BUREAU_ADMIN, Role.UNIT_ADMIN):
        raise Refused(N_("Only the unit's administrator or the personnel bureau finalises a unit's appraisal."))
    view = await unit_appraisal(principal, unit_code, period_code)
    if not view.members:
        raise Conflict(N_("The unit has no employees in this period."))
    if view.final:
        raise Conflict(N_("The appraisal of this period is final: it can no longer be changed."))
    if view.problems:
        raise Conflict(view.problems[0].text)
    moment = now or datetime.now(UTC)
    count = await AppraisalRating.filter(nip__in=[e.nip for e, _ in view.members], period=view.period.code).update(
        final_at=moment, final_by=principal.username
    )
    await record_audit(
        principal.username,
        principal.role.value,
        "appraisal.final",
        view.unit.code,
        view.unit.code,
        {"period": view.period.code, "ratings": count},
    )
    return count


async def units_overview(principal: Principal, period: Period) -> list[UnitAppraisal]:
    """The units a unit administrator or the bureau reads, with their distribution for the period (units
    with members only)."""
    if principal.role not in (Role.BUREAU_ADMIN, Role.UNIT_ADMIN):
        return []
    scope = await scope_for(principal)
    codes = [c for c in await Unit.all().order_by("code").values_list("code", flat=True) if scope.sees_unit(c)]
    views = [await unit_appraisal(principal, code, period.code) for code in codes]
    return [v for v in views if v.members]


# --- the yearly export (BKN SIASN's SKP submission) ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SkpResultRow:
    nip: str
    name: str
    unit_code: str
    year: int
    work_result: str
    behaviour: str
    predicate: str
    final: bool


async def yearly_results(principal: Principal, year: int, unit_code: str | None = None) -> list[SkpResultRow]:
    """The yearly result of every employee the principal reads, unit by unit (each member of a unit in the
    year, rated or not, so a missing rating shows as an empty row): the bureau all units, a unit
    administrator their tree, a superior themselves and those below them, an employee themselves."""
    scope = await scope_for(principal)
    if not scope.personnel:
        raise Refused(N_("This account reads no personnel records."))
    period = Period(year)
    codes = [c for c in await Unit.all().order_by("code").values_list("code", flat=True) if scope.sees_unit(c)]
    if unit_code is not None:
        if unit_code not in codes:
            raise NotFound(N_("no such unit in your scope"))
        below = set(await _subtree(unit_code))
        codes = [c for c in codes if c in below]
    rows: list[SkpResultRow] = []
    seen: set[str] = set()
    names = {}
    for code in codes:
        nips = [n for n in await unit_members(code, period.first, period.last) if n not in seen]
        employees = {e.nip: e for e in await Employee.filter(nip__in=nips)}
        ratings = {r.nip: r for r in await AppraisalRating.filter(nip__in=nips, period=period.code)}
        for nip in nips:
            employee = employees.get(nip)
            if employee is None or not scope.sees_employee(nip, employee.unit_id):  # type: ignore[attr-defined]
                continue
            rating = ratings.get(nip)
            if rating is not None and rating.unit_code != code:
                continue  # moved during the year: listed once, in the unit they were rated in
            seen.add(nip)
            names[nip] = employee.name
            rows.append(
                SkpResultRow(
                    nip=nip,
                    name=employee.name,
                    unit_code=code,
                    year=year,
                    work_result=Rating(rating.work_result).label if rating else "",
                    behaviour=Rating(rating.behaviour).label if rating else "",
                    predicate=Predicate(rating.predicate).label if rating else "",
                    final=bool(rating and rating.final_at),
                )
            )
    return sorted(rows, key=lambda r: (r.unit_code, r.name.casefold(), r.nip))


async def _subtree(code: str) -> list[str]:
    parents = dict(await Unit.all().values_list("code", "parent_id"))
    found = [code]
    frontier = [code]
    while frontier:
        frontier = [c for c, p in parents.items() if p in frontier and c not in found]
        found.extend(frontier)
    return found
