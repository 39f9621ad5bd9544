"""The organisation's performance (issue 17): every unit the reader sees, as a tree from the top, each node
with its figures and its employees', rolled up employee -> unit -> echelon II -> echelon I -> ministry.
Read only, from what is stored: plans and approved claims (server/services/skp.py), the stored monthly
results (server.results_models.MonthlyScore: never scored on request), the appraisal's ratings and the
unit's organisation rating (server/appraisal_models.py). The roll-up rules (docs/web.md, "Organisation
performance"):

- **Target realisation**: a node's figure is the mean of its employees' plan achievements (each employee
  with an agreed plan for the year counts once, their achievement capped per indicator by the policy),
  over the node's own employees and every employee of the units below it. A unit head is one employee
  among the others, so a head's own RHK never stand for the whole unit. Each unit's organisation targets
  are shown beside it with their realisation through the cascade (scoring.roll_up).
- **Approved activity minutes**: the period's approved claims (linked to the plan or not), summed.
- **Discipline**: the stored monthly results of the period's months (TL: arriving late, PSW: leaving
  early, TK: absent without notice; each a count of the codes' occurrences, whatever their band), summed;
  the discipline deduction is the mean over the employee-months stored.
- **Predicates**: the period's ratings (AppraisalRating, by the unit the employee was rated in), counted per
  predicate and summed up the tree. The distribution rule is the unit's own (its organisation rating's
  bounds, scoring.check_distribution), checked per unit over every rating of the unit, and only where
  the reader sees every rated employee of it; a node above lists the units below it that break the rule.

Who sees what: the bureau every unit; a unit administrator their subtree; a supervisor (a unit head) the
units of their team and, in them, themselves and the employees below them; anyone else is refused. The
figures a node shows are those of the employees the reader sees, except the targets' cascade (the unit's).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction

from scoring import (
    CascadeError,
    DistributionCheck,
    OrganisationRating,
    OrganisationTarget,
    PlanMeasurement,
    PlanState,
    Predicate,
    build_cascade,
    check_distribution,
    roll_up,
)
from server.appraisal_models import AppraisalRating, OrganisationRatingRecord
from server.auth import Principal, Scope, scope_for
from server.errors import Refused
from server.i18n import N_
from server.models import Employee, Unit
from server.results_models import MonthlyScore
from server.services.accounts import Role
from server.services.appraisal import Problem, violation_problems
from server.services.attendance import WIB, unit_zones
from server.services.skp import (
    Period,
    ReviewPeriod,
    appraisal_policy,
    approved_claims,
    current_version,
    organisation_targets,
    period_of,
    realisation,
)
from server.skp_models import WorkPlanRecord

PREDICATES = tuple(p.value for p in Predicate)


@dataclass
class Discipline:
    """Discipline from stored monthly results: code counts and the discipline deduction's sum over the
    employee-months stored (its mean is what the page shows)."""

    months: int = 0
    late: int = 0
    """TL codes (terlambat: arriving late), every band."""
    early: int = 0
    """PSW codes (pulang sebelum waktunya: leaving early), every band."""
    absent: int = 0
    """TK days (tanpa keterangan: absent without notice)."""
    deduction_bp: int = 0
    """The discipline deductions summed, basis points."""

    def add(self, other: Discipline) -> None:
        self.months += other.months
        self.late += other.late
        self.early += other.early
        self.absent += other.absent
        self.deduction_bp += other.deduction_bp

    def add_month(self, codes: dict[str, int], deduction_bp: int) -> None:
        self.months += 1
        for code, count in codes.items():
            if code.startswith("PSW"):
                self.early += count
            elif code.startswith("TL"):
                self.late += count
            elif code == "TK":
                self.absent += count
        self.deduction_bp += deduction_bp

    @property
    def mean_deduction_bp(self) -> Fraction | None:
        return Fraction(self.deduction_bp, self.months) if self.months else None


@dataclass
class EmployeeLine:
    nip: str
    name: str
    plan_state: str | None
    achievement: Fraction | None
    minutes: int
    discipline: Discipline = field(default_factory=Discipline)
    predicate: str | None = None


@dataclass
class UnitNode:
    code: str
    name: str
    kind: str
    depth: int = 0
    targets: list[tuple[OrganisationTarget, Fraction | None]] = field(default_factory=list)
    """The unit's organisation targets, each with its realisation through the cascade."""
    employees: list[EmployeeLine] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """Why the unit's plans do not cascade (then its targets show no realisation)."""
    own_minutes: int = 0
    minutes: int = 0
    """Approved activity minutes of this unit and every unit below it in the period."""
    measured: int = 0
    """Employees with an agreed plan, here and below."""
    achievement_sum: Fraction = Fraction(0)
    achievement: Fraction | None = None
    """The mean plan achievement of the employees with an agreed plan, here and below."""
    own_discipline: Discipline = field(default_factory=Discipline)
    discipline: Discipline = field(default_factory=Discipline)
    own_predicates: dict[str, int] = field(default_factory=dict)
    predicates: dict[str, int] = field(default_factory=dict)
    """Ratings per predicate, here and below."""
    organisation_rating: str | None = None
    distribution: DistributionCheck | None = None
    """The unit's own predicates against its organisation rating's bounds (None: not checked)."""
    distribution_problems: list[Problem] = field(default_factory=list)
    distribution_partial: bool = False
    """The reader does not see every rated employee of the unit: the rule is not checked for them."""
    breaking: list[str] = field(default_factory=list)
    """The units here and below whose distribution breaks the rule (their codes)."""
    children: list[UnitNode] = field(default_factory=list)

    @property
    def rated(self) -> int:
        return sum(self.predicates.values())


async def organisation(
    principal: Principal, year: int, period_key: str | None, period: Period | None = None
) -> tuple[Period, list[UnitNode]]:
    """The units the reader sees as a tree from the top, each filled and rolled up (see the module)."""
    scope = await scope_for(principal)
    if principal.role not in (Role.BUREAU_ADMIN, Role.UNIT_ADMIN, Role.SUPERVISOR) or not scope.personnel:
        raise Refused(N_("the organisation's performance is for supervisors and administrators"))
    period = period or period_of(year, ReviewPeriod.QUARTERLY.value, period_key)
    units = {u.code: u for u in await Unit.filter(scope.unit_q()).order_by("code")}
    nodes = {code: UnitNode(code, u.name, u.kind) for code, u in units.items()}
    for node in nodes.values():
        await _fill_unit(node, scope, year, period)
    roots = []
    for code, unit in units.items():
        parent = unit.parent_id  # type: ignore[attr-defined]
        if parent in nodes:
            nodes[parent].children.append(nodes[code])
        else:
            roots.append(nodes[code])
    for root in roots:
        _total(root, 0)
    return period, roots


async def _fill_unit(node: UnitNode, scope: Scope, year: int, period: Period) -> None:
    zone = (await unit_zones()).get(node.code, WIB)
    measured: dict[str, PlanMeasurement] = {}
    for row in await _newest_agreed(node.code, year):
        measured[row.nip] = (await realisation(row, period)).measurement
    discipline = await _discipline(node.code, scope, year, period)
    ratings = list(await AppraisalRating.filter(unit_code=node.code, period=period.key).order_by("nip"))
    predicate_of = {r.nip: r.predicate for r in ratings if scope.sees_employee(r.nip, node.code)}
    for employee in await Employee.filter(scope.employee_q(), unit_id=node.code).order_by("name"):
        current = await current_version(employee.nip, year)
        minutes = sum(c.minutes for c in await approved_claims(employee.nip, period.first, period.last, zone))
        own = measured.get(employee.nip)
        node.employees.append(
            EmployeeLine(employee.nip, employee.name, current.state if current else None,
                         own.achievement if own else None, minutes,
                         discipline.get(employee.nip, Discipline()), predicate_of.get(employee.nip))
        )  # fmt: skip
        node.own_minutes += minutes
        if own is not None:
            node.measured += 1
            node.achievement_sum += own.achievement
    for found in discipline.values():
        node.own_discipline.add(found)  # an employee who left the unit keeps their months here
    node.own_predicates = {p: 0 for p in PREDICATES}
    for value in predicate_of.values():
        node.own_predicates[value] = node.own_predicates.get(value, 0) + 1
    await _check_distribution(node, ratings, len(predicate_of), year)
    await _fill_targets(node, year, measured)


async def _discipline(unit_code: str, scope: Scope, year: int, period: Period) -> dict[str, Discipline]:
    """The stored monthly results of the unit in the period's months, per employee the reader sees."""
    rows = await MonthlyScore.filter(
        unit_code=unit_code, year=year, month__gte=period.first.month, month__lte=period.last.month
    ).values_list("nip", "codes", "discipline_deduction_bp")
    out: dict[str, Discipline] = {}
    for nip, codes, deduction in rows:
        if scope.sees_employee(nip, unit_code):
            out.setdefault(nip, Discipline()).add_month(codes or {}, deduction)
    return out


async def _check_distribution(node: UnitNode, ratings: list[AppraisalRating], visible: int, year: int) -> None:
    if not ratings:
        return
    org = await OrganisationRatingRecord.get_or_none(unit_code=node.code, year=year)
    node.organisation_rating = org.rating if org else None
    if visible < len(ratings):
        node.distribution_partial = True
        return
    if org is None:
        return
    node.distribution = check_distribution(
        appraisal_policy(), OrganisationRating(org.rating), [Predicate(r.predicate) for r in ratings]
    )
    node.distribution_problems = violation_problems(node.distribution)


async def _fill_targets(node: UnitNode, year: int, measured: dict[str, PlanMeasurement]) -> None:
    """The unit's targets rolled up the cascade from every agreed plan of the unit (the unit's figure,
    whoever reads it)."""
    targets = await organisation_targets(node.code, year)
    if not targets:
        return
    try:
        cascade = build_cascade([m.plan for m in measured.values()], targets)
    except CascadeError as exc:
        node.problems = list(exc.problems)
        node.targets = [(t, None) for t in targets]
        return
    rolled = roll_up(cascade, measured.values())
    node.targets = [(t, rolled[t.code].rolled) for t in targets]


async def _newest_agreed(unit_code: str, year: int) -> list[WorkPlanRecord]:
    rows = await WorkPlanRecord.filter(unit_code=unit_code, year=year, state=PlanState.AGREED.value).order_by(
        "nip", "-version"
    )
    newest: dict[str, WorkPlanRecord] = {}
    for row in rows:
        newest.setdefault(row.nip, row)
    return list(newest.values())


def _total(node: UnitNode, depth: int) -> None:
    node.depth = depth
    node.minutes = node.own_minutes
    node.discipline = Discipline()
    node.discipline.add(node.own_discipline)
    node.predicates = dict(node.own_predicates)
    node.breaking = [node.code] if node.distribution_problems else []
    for child in node.children:
        _total(child, depth + 1)
        node.minutes += child.minutes
        node.measured += child.measured
        node.achievement_sum += child.achievement_sum
        node.discipline.add(child.discipline)
        for value, count in child.predicates.items():
            node.predicates[value] = node.predicates.get(value, 0) + count
        node.breaking += child.breaking
    node.achievement = node.achievement_sum / node.measured if node.measured else None


def flatten(roots: Iterable[UnitNode]) -> list[UnitNode]:
    out: list[UnitNode] = []
    for root in roots:
        out.append(root)
        out.extend(flatten(root.children))
    return out
