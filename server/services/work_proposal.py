"""The work-result rating proposed from the realisation of the plan (issue 17), for the superior who rates.

The employee's newest agreed plan (SKP) of the appraisal period's year is realised from 1 January to the end
of the period (server/services/skp.py `realisation`: approved claims of linked activities), against the part
of the year's targets expected by then (a quarter ending in June: 6/12 of each yearly target; the year: all
of it), each indicator at most the appraisal policy's ``indicator_cap`` (scoring `plan_work_share`). The
appraisal policy's ``[work_result]`` thresholds turn that into a rating (scoring `WorkResultRules.propose`:
from ``above_from`` above expectation, from ``as_from`` as expected, else below). Only a proposal: the
superior rates, and a rating other than the proposal needs a reason, kept with the rating's audit entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from fractions import Fraction

from scoring import FULL_BP, AppraisalPolicy, Rating, plan_work_share
from server.services.skp import agreed_version, parse_period, realisation


@dataclass(frozen=True, slots=True)
class WorkProposal:
    rating: Rating
    achievement: Fraction
    """The plan's realisation against the targets expected by ``realised_to`` (1 is 100 %)."""
    expected: Fraction
    """The part of the year's targets expected by then."""
    version: int
    realised_to: date
    above_from_bp: int
    as_from_bp: int

    @property
    def achievement_bp(self) -> int:
        scaled = self.achievement * FULL_BP + Fraction(1, 2)
        return scaled.numerator // scaled.denominator


async def work_proposal(policy: AppraisalPolicy, nip: str, period_code: str) -> WorkProposal | None:
    """The proposal for ``nip``'s period (``"2025"`` or ``"2025-Q2"``); None without an agreed plan."""
    period = parse_period(period_code)
    row = await agreed_version(nip, period.year)
    if row is None:
        return None
    measured = await realisation(row, period)
    expected = Fraction(period.last.month, 12)
    rules = policy.work_result
    achievement = plan_work_share(measured.measurement, expected, rules.indicator_cap_bp)
    return WorkProposal(
        rules.propose(achievement),
        achievement,
        expected,
        row.version,
        period.last,
        rules.above_from_bp,
        rules.as_from_bp,
    )
