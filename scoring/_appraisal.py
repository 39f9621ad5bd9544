"""The periodic appraisal: behaviour from BerAKHLAK feedback, the predicate from the matrix, and the
unit's predicate distribution against the bounds its organisation rating sets (PermenPANRB 6/2022)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from ._appraisal_policy import (
    AppraisalPolicy,
    CoreValue,
    DistributionRule,
    OrganisationRating,
    Predicate,
    Rating,
    policy_summary,
)
from ._errors import InputError
from ._percent import FULL_BP, format_bp


def predicate(policy: AppraisalPolicy, work_result: Rating, behaviour: Rating) -> Predicate:
    """The predicate the matrix gives a work-result rating and a behaviour rating."""
    for work, behave, result in policy.matrix:
        if work is Rating(work_result) and behave is Rating(behaviour):
            return result
    raise InputError(f"no matrix cell for {work_result} x {behaviour}")  # the policy checks all nine exist


# --- behaviour ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BehaviourFeedback:
    """One rater's rating of one core value, with a short evidence note."""

    rater: str
    """Who rated, e.g. the superior's NIP; only for the record."""
    role: str
    """``superior``, ``peer``, ``subordinate`` or another role the policy weighs."""
    value: CoreValue
    rating: Rating
    note: str = ""


@dataclass(frozen=True, slots=True)
class ValueScore:
    value: CoreValue
    points: Fraction
    """The weighted mean of the raters' points for this value."""
    by_role: tuple[tuple[str, Fraction, int], ...]
    """(role, mean points of that role's raters, weight in bp after renormalising)."""
    notes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BehaviourScore:
    values: tuple[ValueScore, ...]
    points: Fraction
    """The mean of the seven values' points."""
    rating: Rating
    policy: AppraisalPolicy

    def explain(self) -> dict[str, Any]:
        rules = self.policy.behaviour
        return {
            "policy": policy_summary(self.policy),
            "points": {r.value: p for r, p in rules.points},
            "rule": (
                f"mean of the seven values >= {_num(rules.above_from)}: above expectation; "
                f"under {_num(rules.below_under)}: below expectation; otherwise as expected"
            ),
            "values": [
                {
                    "value": v.value.value,
                    "points": _num(v.points),
                    "by_role": [{"role": r, "points": _num(p), "weight": format_bp(w)} for r, p, w in v.by_role],
                    "notes": list(v.notes),
                }
                for v in self.values
            ],
            "points_mean": _num(self.points),
            "rating": self.rating.value,
            "rating_label": self.rating.label,
        }


def _num(value: Fraction) -> str:
    """Points shown to two decimals, rounded half up (the comparison itself is exact)."""
    hundredths = value * 100 + Fraction(1, 2)
    whole, frac = divmod(hundredths.numerator // hundredths.denominator, 100)
    return f"{whole}.{frac:02d}"


def score_behaviour(policy: AppraisalPolicy, feedback: Iterable[BehaviourFeedback]) -> BehaviourScore:
    """The behaviour rating from the raters' feedback on the seven BerAKHLAK core values."""
    rules = policy.behaviour
    weights = dict(rules.rater_weights_bp)
    by_value: dict[CoreValue, list[BehaviourFeedback]] = {v: [] for v in CoreValue}
    for item in feedback:
        if item.role not in weights:
            raise InputError(f"rater role {item.role!r} is not weighed by {policy.name} ({', '.join(weights)})")
        by_value[CoreValue(item.value)].append(item)
    values = tuple(_value_score(policy, value, items) for value, items in by_value.items())
    mean = sum((v.points for v in values), Fraction(0)) / len(values)
    if mean >= rules.above_from:
        rating = Rating.ABOVE
    elif mean < rules.below_under:
        rating = Rating.BELOW
    else:
        rating = Rating.AS_EXPECTED
    return BehaviourScore(values, mean, rating, policy)


def _value_score(policy: AppraisalPolicy, value: CoreValue, items: list[BehaviourFeedback]) -> ValueScore:
    rules = policy.behaviour
    roles = [role for role, _ in rules.rater_weights_bp if any(i.role == role for i in items)]
    if rules.require_superior and "superior" not in roles:
        raise InputError(f"the superior has not rated {value.value}; {policy.name} requires the superior's rating")
    if not roles:
        raise InputError(f"nobody has rated {value.value}")
    weights = dict(rules.rater_weights_bp)
    present_weight = sum(weights[r] for r in roles)
    by_role = []
    total = Fraction(0)
    for role in roles:
        ratings = [rules.point(i.rating) for i in items if i.role == role]
        role_mean = Fraction(sum(ratings), len(ratings))
        share = Fraction(weights[role], present_weight)
        total += share * role_mean
        by_role.append((role, role_mean, int(share * FULL_BP)))
    return ValueScore(value, total, tuple(by_role), tuple(i.note for i in items if i.note))


# --- the distribution of a unit's predicates ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DistributionViolation:
    rule: DistributionRule
    count: int
    total: int
    allowed: str
    """What would satisfy the rule in this unit, e.g. "at most 7 of 10"."""

    def describe(self) -> str:
        return f"{self.rule.describe()}: {self.count} of {self.total}; allowed {self.allowed}"


@dataclass(frozen=True, slots=True)
class DistributionCheck:
    organisation_rating: OrganisationRating
    counts: tuple[tuple[Predicate, int], ...]
    total: int
    violations: tuple[DistributionViolation, ...]
    rules: tuple[DistributionRule, ...]

    @property
    def ok(self) -> bool:
        return not self.violations

    def explain(self) -> dict[str, Any]:
        return {
            "organisation_rating": self.organisation_rating.value,
            "employees": self.total,
            "counts": {p.value: n for p, n in self.counts},
            "rules": [r.describe() for r in self.rules],
            "ok": self.ok,
            "violations": [v.describe() for v in self.violations],
        }


def check_distribution(
    policy: AppraisalPolicy, organisation_rating: OrganisationRating, predicates: Iterable[Predicate]
) -> DistributionCheck:
    """Check a unit's predicates against the bounds of its organisation rating (exact shares: a unit of
    3 with "at least 10 %" needs 1 employee)."""
    counted = Counter(Predicate(p) for p in predicates)
    total = sum(counted.values())
    rules = policy.rules_for(OrganisationRating(organisation_rating))
    violations = []
    for rule in rules:
        count = sum(counted[p] for p in rule.predicates)
        allowed = _allowed(rule, total)
        if not _satisfied(rule, count, total):
            violations.append(DistributionViolation(rule, count, total, allowed))
    counts = tuple((p, counted[p]) for p in Predicate)
    return DistributionCheck(OrganisationRating(organisation_rating), counts, total, tuple(violations), rules)


def _satisfied(rule: DistributionRule, count: int, total: int) -> bool:
    if rule.at_most_bp is not None and count * FULL_BP > rule.at_most_bp * total:
        return False
    if rule.at_least_bp is not None and count * FULL_BP < rule.at_least_bp * total:
        return False
    return count >= rule.at_least_count


def _allowed(rule: DistributionRule, total: int) -> str:
    parts = []
    if rule.at_most_bp is not None:
        parts.append(f"at most {rule.at_most_bp * total // FULL_BP} of {total}")
    least = rule.at_least_count
    if rule.at_least_bp is not None:
        least = max(least, -(-rule.at_least_bp * total // FULL_BP))
    if least:
        parts.append(f"at least {least} of {total}")
    return " and ".join(parts)
