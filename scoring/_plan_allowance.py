"""The allowance's performance component from the work plan instead of minutes (a policy option).

An allowance policy's ``[performance]`` table says where the component comes from (``source``):
``minutes`` (the default: the monthly result's effective minutes against the month's target) or
``plan``, the realisation of the employee's agreed work plan (SKP) weighed with the behaviour rating,
as Surabaya did (work 80 %, behaviour 20 %). For ``plan``:

- *work* is the plan's realisation for the year up to the end of the month, against the part of the
  year's targets expected by then (``target_share = "elapsed"``: May, 5/12 of each yearly target; or
  ``"whole_year"``). An indicator counts at most the appraisal policy's ``indicator_cap``, an RHK is the
  mean of its indicators, the plan the mean of its RHK (as ``measure_plan``); the plan then counts at
  most ``work_cap`` (100 %: over-achievement pays no more than the target);
- *behaviour* is the BerAKHLAK mean points against "as expected" (2 of 3 points: 100 %), at most 100 %;
- component = work weight x work + behaviour weight x behaviour; without a behaviour rating for the
  period, the work alone (its weight is then 100 %);
- without an agreed plan for the year: the minutes (``without_plan = "minutes"``) or 0 % (``"zero"``).

Every figure is an exact fraction; the component is rounded half up to a basis point once.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from ._allowance_policy import PerformanceRule, PerformanceSource, TargetShare, WithoutPlan
from ._appraisal import BehaviourScore
from ._appraisal_policy import Rating
from ._percent import FULL_BP, format_bp
from ._skp import PlanMeasurement

MINUTES_SOURCE = "monthly result (effective minutes against target)"


@dataclass(frozen=True, slots=True)
class PerformanceComponent:
    """The performance component of one employee-month and where it came from."""

    performance_bp: int
    basis: PerformanceSource
    """``minutes`` or ``plan``: the source actually used (``minutes`` for a plan policy's fallback)."""
    source: str
    """One sentence for the allowance trace (English; the server shows it in Indonesian)."""
    work: Fraction | None = None
    behaviour: Fraction | None = None

    def explain(self) -> dict[str, Any]:
        found: dict[str, Any] = {"basis": self.basis.value, "component": format_bp(self.performance_bp)}
        if self.work is not None:
            found["work"] = _pct(self.work)
        if self.behaviour is not None:
            found["behaviour"] = _pct(self.behaviour)
        return found


def expected_share(rule: PerformanceRule, month: int) -> Fraction:
    """The part of the year's targets expected by the end of ``month`` (1-12)."""
    if rule.target_share is TargetShare.WHOLE_YEAR:
        return Fraction(1)
    return Fraction(month, 12)


def plan_work_share(measurement: PlanMeasurement, expected: Fraction, cap_bp: int = FULL_BP) -> Fraction:
    """The plan's realisation against ``expected`` of its yearly targets: an indicator where more is better
    realised / (target x expected), one where less is better as measured (target / realised), each at most
    the appraisal policy's indicator cap; RHK the mean of their indicators, the plan the mean of its RHK,
    at most ``cap_bp``. With ``expected`` 1 it is the measurement's own achievement (capped)."""
    if not measurement.results or expected <= 0:
        return Fraction(0)
    indicator_cap = Fraction(measurement.policy.work_result.indicator_cap_bp, FULL_BP)
    means = []
    for rhk in measurement.results:
        shares = []
        for m in rhk.indicators:
            if m.indicator.higher_is_better:
                shares.append(min(Fraction(m.realised) / (m.indicator.target * expected), indicator_cap))
            else:
                shares.append(m.achievement)
        means.append(sum(shares, Fraction(0)) / len(shares))
    return min(sum(means, Fraction(0)) / len(means), Fraction(cap_bp, FULL_BP))


def behaviour_share(score: BehaviourScore) -> Fraction:
    """The behaviour rating as a share: the mean points against "as expected", at most 100 %."""
    expected = score.policy.behaviour.point(Rating.AS_EXPECTED)
    return min(score.points / expected, Fraction(1))


def performance_component(
    rule: PerformanceRule,
    *,
    minutes_bp: int,
    work: Fraction | None = None,
    behaviour: Fraction | None = None,
    year: int | None = None,
) -> PerformanceComponent:
    """The month's performance component under ``rule``: ``minutes_bp`` (the monthly result's) for the
    ``minutes`` source; for ``plan``, ``work`` (None: no agreed plan) and ``behaviour`` (None: no rating)
    weighed by the rule. ``year`` only names the plan's year in the trace."""
    if rule.source is PerformanceSource.MINUTES:
        return PerformanceComponent(minutes_bp, PerformanceSource.MINUTES, MINUTES_SOURCE)
    named = "" if year is None else f" for {year}"
    if work is None:
        if rule.without_plan is WithoutPlan.ZERO:
            return PerformanceComponent(
                0, PerformanceSource.PLAN, f"plan realisation: no agreed work plan{named}, counted as 0%"
            )
        return PerformanceComponent(
            minutes_bp, PerformanceSource.MINUTES, f"{MINUTES_SOURCE}: no agreed work plan{named}"
        )
    work = min(max(work, Fraction(0)), Fraction(rule.work_cap_bp, FULL_BP))
    if behaviour is None:
        return PerformanceComponent(
            _bp(work),
            PerformanceSource.PLAN,
            f"plan realisation: work {_pct(work)} (no behaviour rating for the period)",
            work,
        )
    behaviour = min(max(behaviour, Fraction(0)), Fraction(1))
    ww, bw = Fraction(rule.work_weight_bp, FULL_BP), Fraction(rule.behaviour_weight_bp, FULL_BP)
    text = (
        f"plan realisation: {format_bp(rule.work_weight_bp)} x work {_pct(work)}"
        f" + {format_bp(rule.behaviour_weight_bp)} x behaviour {_pct(behaviour)}"
    )
    return PerformanceComponent(_bp(ww * work + bw * behaviour), PerformanceSource.PLAN, text, work, behaviour)


def plan_rule_text(rule: PerformanceRule) -> str:
    """The rule of a ``plan`` source in one sentence, for the trace."""
    share = "the year's targets"
    if rule.target_share is TargetShare.ELAPSED:
        share = "the part of the year's targets expected by the end of the month"
    return f"work: plan realisation to the end of the month against {share}, at most {format_bp(rule.work_cap_bp)}"


def _bp(share: Fraction) -> int:
    scaled = share * FULL_BP + Fraction(1, 2)
    return scaled.numerator // scaled.denominator


def _pct(share: Fraction) -> str:
    return format_bp(_bp(share))
