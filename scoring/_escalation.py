"""Yearly escalation of unexcused absence (government regulation on civil-servant discipline, 2021).

The system does not impose sanctions; it flags to the personnel bureau which threshold a year's
count of TK days has reached, and a run of 10 consecutive working days of TK.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

# (first count, last count or None, sanction), as the regulation lists them
ANNUAL_THRESHOLDS: tuple[tuple[int, int | None, str], ...] = (
    (3, 3, "verbal reprimand"),
    (4, 6, "written reprimand"),
    (7, 10, "statement of dissatisfaction"),
    (11, 13, "25% allowance cut for 6 months"),
    (14, 16, "25% allowance cut for 9 months"),
    (17, 20, "25% allowance cut for 12 months"),
    (21, 24, "demotion"),
    (25, 27, "release from position"),
    (28, None, "dismissal proceedings"),
)
CONSECUTIVE_DISMISSAL = 10


@dataclass(frozen=True, slots=True)
class EscalationFlag:
    year: int
    absent_days: int
    sanction: str
    reason: str
    days: tuple[date, ...]


def absence_escalation(absent_days: Iterable[date], working_days: Sequence[date]) -> list[EscalationFlag]:
    """Flags for one year: ``absent_days`` are the year's TK days, ``working_days`` every working day
    of that year (see :func:`scoring.working_days`), used to find consecutive runs across
    weekends and holidays."""
    days = tuple(sorted(set(absent_days)))
    if not days:
        return []
    year = days[0].year
    if any(d.year != year for d in days):
        raise ValueError("absent days of one year at a time")
    flags = []
    count = len(days)
    for first, last, sanction in ANNUAL_THRESHOLDS:
        if count >= first and (last is None or count <= last):
            span = f"{first}" if first == last else (f"{first} or more" if last is None else f"{first} to {last}")
            flags.append(EscalationFlag(year, count, sanction, f"{count} days absent without reason ({span})", days))
    position = {d: i for i, d in enumerate(working_days)}
    run: list[date] = []
    longest: list[date] = []
    for d in days:
        i = position.get(d)
        if i is None:
            continue
        if run and position[run[-1]] == i - 1:
            run.append(d)
        else:
            run = [d]
        if len(run) > len(longest):
            longest = list(run)
    if len(longest) >= CONSECUTIVE_DISMISSAL:
        flags.append(
            EscalationFlag(
                year,
                count,
                "dismissal proceedings",
                f"{len(longest)} consecutive working days absent without reason",
                tuple(longest),
            )
        )
    return flags
