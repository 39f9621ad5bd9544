"""Work plans (SKP) that cascade, and output measured against them (PermenPANRB 6/2022).

Each employee's plan for a period holds planned work results (RHK, *Rencana Hasil Kerja*) with
indicators and targets. Each RHK of a staff member hangs under one RHK of their superior's plan (the
cascade, "intervensi"), up to the unit head's, whose RHK hang under the organisation's targets (RKAKL
outputs, organisational goals). The cascade is built from the plans as they are now, so a superior's
change reaches every child's view. Achievements are exact fractions, shown in basis points.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from fractions import Fraction
from typing import Any

from ._activities import Claim, ClaimState
from ._appraisal import BehaviourScore
from ._appraisal_policy import AppraisalPolicy, Rating
from ._errors import InputError
from ._percent import FULL_BP, format_bp


class PlanState(StrEnum):
    DRAFT = "draft"
    """Drafted by the employee, not yet agreed."""
    AGREED = "agreed"
    """Agreed by the superior: a change makes a new version."""


class IndicatorAspect(StrEnum):
    QUANTITY = "kuantitas"
    QUALITY = "kualitas"
    TIME = "waktu"
    COST = "biaya"


@dataclass(frozen=True, slots=True)
class Indicator:
    """A measurable indicator of an RHK: a target in whole units (reports, cases, days, percent points)."""

    code: str
    text: str
    target: int
    unit: str = ""
    aspect: IndicatorAspect = IndicatorAspect.QUANTITY
    higher_is_better: bool = True
    """False for time or cost: less than the target is better (achievement = target / realised)."""


@dataclass(frozen=True, slots=True)
class PlannedResult:
    """An RHK: what the employee plans to deliver, and which superior RHK (or organisation target) it serves."""

    code: str
    text: str
    indicators: tuple[Indicator, ...]
    parent: str | None = None
    """The code of the superior's RHK it hangs under; for a unit head, an organisation target's code."""


@dataclass(frozen=True, slots=True)
class WorkPlan:
    nip: str
    period: str
    """e.g. ``"2025"``, or ``"2025-Q1"`` where the policy reviews quarterly."""
    superior_nip: str | None
    """None for the unit head, whose RHK hang under the organisation's targets."""
    results: tuple[PlannedResult, ...]
    version: int = 1
    state: PlanState = PlanState.DRAFT


def agree_plan(plan: WorkPlan) -> WorkPlan:
    """The superior agrees the plan (a plan already agreed stays as it is)."""
    return replace(plan, state=PlanState.AGREED)


def revise_plan(plan: WorkPlan, results: Iterable[PlannedResult]) -> WorkPlan:
    """The plan with new RHK: a draft is changed in place; an agreed plan gets a new version, a draft
    again until the superior agrees it (the agreed version stays on record wherever it is stored)."""
    results = tuple(results)
    if plan.state is PlanState.DRAFT:
        return replace(plan, results=results)
    return replace(plan, results=results, version=plan.version + 1, state=PlanState.DRAFT)


@dataclass(frozen=True, slots=True)
class OrganisationTarget:
    """An RKAKL output or organisational target at the top of a unit's cascade."""

    code: str
    text: str
    kind: str = "rkakl_output"


class CascadeError(InputError):
    """Plans that do not form a cascade; ``problems`` lists every one (Indonesian, then English)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


RhkKey = tuple[str, str]
"""(NIP, RHK code)."""


@dataclass(frozen=True, slots=True)
class Cascade:
    """The plans of one unit and period, checked: every RHK has its parent."""

    plans: tuple[WorkPlan, ...]
    targets: tuple[OrganisationTarget, ...]

    def plan(self, nip: str) -> WorkPlan:
        for plan in self.plans:
            if plan.nip == nip:
                return plan
        raise InputError(f"no work plan for {nip}")

    def result(self, key: RhkKey) -> PlannedResult:
        for rhk in self.plan(key[0]).results:
            if rhk.code == key[1]:
                return rhk
        raise InputError(f"{key[0]} has no RHK {key[1]!r}")

    def parent(self, key: RhkKey) -> RhkKey | OrganisationTarget:
        """The superior's RHK an RHK hangs under, or the organisation target of a unit head's RHK."""
        plan, rhk = self.plan(key[0]), self.result(key)
        if plan.superior_nip is None:
            return next(t for t in self.targets if t.code == rhk.parent)
        return (plan.superior_nip, rhk.parent or "")

    def chain(self, key: RhkKey) -> list[str]:
        """What the employee sees above an RHK, top first: the organisation target, then each superior's
        RHK text as that superior's plan says it now, down to this RHK."""
        texts = [self.result(key).text]
        up = self.parent(key)
        while not isinstance(up, OrganisationTarget):
            texts.append(self.result(up).text)
            up = self.parent(up)
        texts.append(up.text)
        return texts[::-1]

    def children(self, key: RhkKey | OrganisationTarget) -> list[RhkKey]:
        """The RHK hanging directly under an RHK (or under an organisation target)."""
        out = []
        for plan in self.plans:
            for rhk in plan.results:
                if self.parent((plan.nip, rhk.code)) == key:
                    out.append((plan.nip, rhk.code))
        return out


def build_cascade(plans: Iterable[WorkPlan], targets: Iterable[OrganisationTarget] = ()) -> Cascade:
    """Check that the plans cascade: raises :class:`CascadeError` listing every RHK without a parent,
    every reference to a missing plan or RHK, duplicates and plans without indicators."""
    plans, targets = tuple(plans), tuple(targets)
    problems: list[str] = []
    by_nip: dict[str, WorkPlan] = {}
    for plan in plans:
        if plan.nip in by_nip:
            problems.append(f"{plan.nip}: dua rencana SKP untuk satu periode (two plans in one period)")
        by_nip[plan.nip] = plan
    target_codes = {t.code for t in targets}
    for plan in plans:
        problems += _plan_problems(plan)
        problems += _parent_problems(plan, by_nip, target_codes)
    problems += _loop_problems(by_nip)
    if problems:
        raise CascadeError(problems)
    return Cascade(plans, targets)


def _plan_problems(plan: WorkPlan) -> list[str]:
    problems = []
    codes = [r.code for r in plan.results]
    for code in sorted({c for c in codes if codes.count(c) > 1}):
        problems.append(f"{plan.nip}: RHK {code!r} ganda (duplicate RHK)")
    for rhk in plan.results:
        if not rhk.indicators:
            problems.append(f"{plan.nip}: RHK {rhk.code!r} tanpa indikator (an RHK needs an indicator)")
        for ind in rhk.indicators:
            if ind.target <= 0:
                problems.append(f"{plan.nip}: indikator {ind.code!r} target {ind.target} (a target above 0)")
    return problems


def _parent_problems(plan: WorkPlan, by_nip: dict[str, WorkPlan], target_codes: set[str]) -> list[str]:
    problems = []
    superior = by_nip.get(plan.superior_nip or "")
    if plan.superior_nip is not None and superior is None:
        return [f"{plan.nip}: rencana atasan {plan.superior_nip} tidak ada (the superior's plan is missing)"]
    allowed = target_codes if superior is None else {r.code for r in superior.results}
    above = "sasaran organisasi (organisation target)" if superior is None else f"RHK atasan {plan.superior_nip}"
    for rhk in plan.results:
        if rhk.parent is None:
            problems.append(f"{plan.nip}: RHK {rhk.code!r} tidak diintervensi {above} (an RHK without a parent)")
        elif rhk.parent not in allowed:
            problems.append(f"{plan.nip}: RHK {rhk.code!r} menginduk ke {rhk.parent!r} yang tidak ada di {above}")
    return problems


def _loop_problems(by_nip: dict[str, WorkPlan]) -> list[str]:
    problems = []
    for nip in by_nip:
        seen, current = {nip}, by_nip[nip].superior_nip
        while current is not None and current in by_nip:
            if current in seen:
                problems.append(f"{nip}: rantai atasan berputar (the chain of superiors loops)")
                break
            seen.add(current)
            current = by_nip[current].superior_nip
    return problems


# --- output against the plan ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutputRecord:
    """Output that realises an indicator: from an approved activity claim or recorded directly."""

    rhk: str
    indicator: str
    quantity: int
    evidence: str = ""
    source: str = ""


def outputs_from_claims(claims: Iterable[Claim], links: Mapping[str, tuple[str, str]]) -> list[OutputRecord]:
    """Approved claims of catalogue activities linked to an (RHK, indicator) realise it by their quantity;
    other claims realise nothing."""
    return [
        OutputRecord(links[c.activity][0], links[c.activity][1], c.quantity, c.evidence, f"claim {c.claim_id}")
        for c in claims
        if c.state is ClaimState.APPROVED and c.activity in links
    ]


@dataclass(frozen=True, slots=True)
class IndicatorMeasurement:
    indicator: Indicator
    realised: int
    achievement: Fraction
    """Realised against target, capped by the policy's indicator cap."""
    records: tuple[OutputRecord, ...]


@dataclass(frozen=True, slots=True)
class RhkMeasurement:
    rhk: PlannedResult
    indicators: tuple[IndicatorMeasurement, ...]

    @property
    def achievement(self) -> Fraction:
        return sum((i.achievement for i in self.indicators), Fraction(0)) / len(self.indicators)


@dataclass(frozen=True, slots=True)
class PlanMeasurement:
    plan: WorkPlan
    results: tuple[RhkMeasurement, ...]
    policy: AppraisalPolicy

    @property
    def achievement(self) -> Fraction:
        """The mean of the RHK achievements."""
        if not self.results:
            return Fraction(0)
        return sum((r.achievement for r in self.results), Fraction(0)) / len(self.results)

    @property
    def achievement_bp(self) -> int:
        return _bp(self.achievement)

    @property
    def suggested_rating(self) -> Rating:
        """The work-result rating the measured achievement suggests; the superior decides."""
        return self.policy.work_result.propose(self.achievement)

    def explain(self) -> dict[str, Any]:
        rules = self.policy.work_result
        return {
            "employee": self.plan.nip,
            "period": self.plan.period,
            "plan_version": self.plan.version,
            "results": [_rhk_entry(r) for r in self.results],
            "achievement": format_bp(self.achievement_bp),
            "rule": (
                f"indicator: realised / target (target / realised where less is better), at most "
                f"{format_bp(rules.indicator_cap_bp)}; RHK: mean of its indicators; plan: mean of its RHK"
            ),
            "suggested_rating": self.suggested_rating.value,
            "suggestion_rule": (
                f"from {format_bp(rules.above_from_bp)}: above expectation; from {format_bp(rules.as_from_bp)}: "
                "as expected; below that: below expectation (a suggestion: the superior rates)"
            ),
        }


def _rhk_entry(r: RhkMeasurement) -> dict[str, Any]:
    return {
        "rhk": r.rhk.code,
        "text": r.rhk.text,
        "parent": r.rhk.parent,
        "indicators": [
            {
                "indicator": i.indicator.code,
                "text": i.indicator.text,
                "target": i.indicator.target,
                "unit": i.indicator.unit,
                "realised": i.realised,
                "achievement": format_bp(_bp(i.achievement)),
                "evidence": [rec.evidence or rec.source for rec in i.records],
            }
            for i in r.indicators
        ],
        "achievement": format_bp(_bp(r.achievement)),
    }


def _bp(share: Fraction) -> int:
    scaled = share * FULL_BP + Fraction(1, 2)
    return scaled.numerator // scaled.denominator


def _achievement(indicator: Indicator, realised: int, cap: Fraction) -> Fraction:
    if indicator.higher_is_better:
        value = Fraction(realised, indicator.target)
    elif realised <= 0:
        value = Fraction(0)  # nothing recorded yet is nothing achieved, never "took no time at all"
    else:
        value = Fraction(indicator.target, realised)
    return min(value, cap)


def measure_plan(policy: AppraisalPolicy, plan: WorkPlan, outputs: Iterable[OutputRecord]) -> PlanMeasurement:
    """Realisation against target per indicator, per RHK and for the plan."""
    outputs = tuple(outputs)
    known = {(r.code, i.code) for r in plan.results for i in r.indicators}
    stray = sorted({(o.rhk, o.indicator) for o in outputs} - known)
    if stray:
        raise InputError(f"{plan.nip}: output for an indicator not in the plan: {stray[0][0]}/{stray[0][1]}")
    cap = Fraction(policy.work_result.indicator_cap_bp, FULL_BP)
    results = []
    for rhk in plan.results:
        measured = []
        for ind in rhk.indicators:
            records = tuple(o for o in outputs if (o.rhk, o.indicator) == (rhk.code, ind.code))
            realised = sum(o.quantity for o in records)
            measured.append(IndicatorMeasurement(ind, realised, _achievement(ind, realised, cap), records))
        results.append(RhkMeasurement(rhk, tuple(measured)))
    return PlanMeasurement(plan, tuple(results), policy)


@dataclass(frozen=True, slots=True)
class RollUp:
    """An RHK (or an organisation target) with its own achievement and its children's."""

    key: RhkKey | str
    own: Fraction | None
    """This RHK's own measured achievement (None for an organisation target or an unmeasured plan)."""
    children_mean: Fraction | None
    """The mean of the rolled-up achievements of what hangs directly under it (None: nothing does)."""

    @property
    def rolled(self) -> Fraction | None:
        """Own achievement where measured, else the children's mean."""
        return self.own if self.own is not None else self.children_mean


def roll_up(cascade: Cascade, measurements: Iterable[PlanMeasurement]) -> dict[RhkKey | str, RollUp]:
    """Achievements up the cascade, from staff to unit head to the organisation's targets (keyed by
    (NIP, RHK code), and by target code for the targets)."""
    own = {(m.plan.nip, r.rhk.code): r.achievement for m in measurements for r in m.results}
    out: dict[RhkKey | str, RollUp] = {}

    def visit(key: RhkKey | OrganisationTarget) -> Fraction | None:
        values = [v for v in (visit(c) for c in cascade.children(key)) if v is not None]
        mean = sum(values, Fraction(0)) / len(values) if values else None
        entry = RollUp(key.code, None, mean) if isinstance(key, OrganisationTarget) else RollUp(key, own.get(key), mean)
        out[entry.key] = entry
        return entry.rolled

    for target in cascade.targets:
        visit(target)
    return out


def appraisal_performance_bp(
    measurement: PlanMeasurement, behaviour: BehaviourScore | None = None, *, work_weight_bp: int = 8000
) -> int:
    """A performance component for the allowance from the plan instead of minutes (a policy option):
    work weight x plan achievement (at most 100 %) + the rest x behaviour (the mean points against
    "as expected", at most 100 %). Surabaya weighed work 80 % and behaviour 20 %."""
    work = min(measurement.achievement, Fraction(1))
    if behaviour is None:
        return _bp(work)
    expected = behaviour.policy.behaviour.point(Rating.AS_EXPECTED)
    behave = min(behaviour.points / expected, Fraction(1))
    weight = Fraction(work_weight_bp, FULL_BP)
    return _bp(weight * work + (1 - weight) * behave)
