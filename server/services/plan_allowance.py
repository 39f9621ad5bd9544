"""The figures an allowance policy with ``[performance] source = "plan"`` takes from the work plans and the
appraisal (issue 17; the rule is scoring/_plan_allowance.py, docs/scoring.md "The performance component
from the plan"):

- *work*: the employee's newest agreed plan (SKP) of the month's year, realised from 1 January to the end
  of the month (server/services/skp.py `realisation`, approved claims of linked activities only), against
  the part of the year's targets the policy expects by then (``target_share``), at most ``work_cap``;
- *behaviour*: the BerAKHLAK rating of the quarter holding the month, else of the year, where the superior
  has rated all seven values (server/services/appraisal.py).

No agreed plan: ``work`` is None, and the policy's ``without_plan`` decides. The payroll
(server/services/payroll.py) gathers these for a unit-month before it computes its lines, through the
``plan_source`` create_app gives it (the work plans' services import the payroll for their audit).
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction

from scoring import (
    InputError,
    PerformanceRule,
    behaviour_share,
    expected_share,
    plan_work_share,
)
from server.services.appraisal import Period as AppraisalPeriod
from server.services.appraisal import behaviour_records, behaviour_score
from server.services.payroll import PlanBasis
from server.services.skp import agreed_version, parse_period, realisation


async def plan_basis(nip: str, year: int, month: int, rule: PerformanceRule) -> PlanBasis:
    period = parse_period(f"{year}-{month:02d}")
    expected = expected_share(rule, month)
    row = await agreed_version(nip, year)
    work = None
    if row is not None:
        measured = await realisation(row, period)
        work = plan_work_share(measured.measurement, expected, rule.work_cap_bp)
    behaviour, rated = await _behaviour(nip, year, month)
    return PlanBasis(year, period.last, row.version if row else None, work, expected, behaviour, rated)


async def plan_bases(nips: Iterable[str], year: int, month: int, rule: PerformanceRule) -> dict[str, PlanBasis]:
    """Every employee's figures for the month (the payroll's PlanSource)."""
    return {nip: await plan_basis(nip, year, month, rule) for nip in nips}


async def _behaviour(nip: str, year: int, month: int) -> tuple[Fraction | None, str | None]:
    for period in (AppraisalPeriod(year, (month - 1) // 3 + 1), AppraisalPeriod(year)):
        records = await behaviour_records(nip, period)
        if not records:
            continue
        try:
            return behaviour_share(behaviour_score(records)), period.code
        except InputError:
            continue  # the superior has not rated all seven values of that period
    return None, None
