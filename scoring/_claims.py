"""Activity claims against attendance: which day a claim belongs to, and how much of it counts.

A claim belongs to the day whose presence covers it (the day before, for a night shift past
midnight), else to its calendar day. Presence is the arrival-to-departure span (with one punch
missing: to the scheduled end or from the start); official travel and work from home count as
present all day; a weekend or holiday with punches, from its first to its last punch. A claim outside
presence is flagged; approved minutes beyond the day's presence are cut (unless the policy says not
to) and flagged. Days are indexed from 1 here, so the day before the month (index 0) needs no
special case.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from typing import Any, NamedTuple

from ._activities import Claim, ClaimState
from ._daily import EXCUSED
from ._plan import SECONDS_PER_DAY, MonthPlan

OUTSIDE_PRESENCE = "outside_presence"
OVER_PRESENCE_SPAN = "over_presence_span"

_UNLIMITED = 1 << 40


class ClaimOutcome(NamedTuple):
    """A claim as scored: the day it was attributed to, its effective minutes and its flags."""

    claim: Claim
    day_index: int
    effective_minutes: int
    flags: tuple[str, ...]


class MergedClaims(NamedTuple):
    """The month's claims as scored, in flat integers (see :attr:`MonthlyResult.claim_rows`)."""

    rows: list[int]
    flags: dict[int, tuple[str, ...]]
    claimed: int
    approved: int
    effective: int


class _Presence:
    """Per day of the month (index 0 the day before, the last the day after): when the employee was
    present, how many minutes of that are not claimed yet, and when the day's slot ends."""

    __slots__ = ("cap", "day0", "known", "left", "slot_end", "times", "window_hi", "window_lo")

    def __init__(self, plan: MonthPlan, records: list[tuple[Any, ...]], times: Sequence[int]) -> None:
        size = len(plan.days) + 2
        self.cap = plan.policy.performance.cap_claims_to_presence
        self.day0 = plan.day0 - SECONDS_PER_DAY  # midnight before the month's first day: index 0
        self.times = times
        self.window_lo = [0] * size
        self.window_hi = [-1] * size  # an empty window covers nothing
        self.left = [0] * size  # minutes of presence not yet claimed
        self.known = [False] * size
        self.slot_end = [0] * size
        self._slot_windows(plan, records)
        if not self.cap:
            self.left = [_UNLIMITED] * size

    def _slot_windows(self, plan: MonthPlan, records: list[tuple[Any, ...]]) -> None:
        """Presence on planned days: arrival to departure (a missing punch: from the start, to the end);
        official travel and work from home: around the clock; absence or leave: none."""
        window_lo, window_hi, left = self.window_lo, self.window_hi, self.left
        known, slot_end = self.known, self.slot_end
        all_day_codes = {r.code for r in plan.policy.excuses if r.counts_as_presence}
        for index, status, codes, _, _, arrival, departure, _, _, _, _, _, start, end, _, _ in records:
            i = index + 1
            if known[i]:
                continue
            known[i] = True
            slot_end[i] = end
            if status == EXCUSED:
                if codes[0] in all_day_codes:
                    window_lo[i], window_hi[i] = start - SECONDS_PER_DAY, end + SECONDS_PER_DAY
                    left[i] = _UNLIMITED
                continue
            lo = start if arrival is None else arrival
            hi = end if departure is None else departure
            if (arrival is not None or departure is not None) and hi > lo:
                window_lo[i], window_hi[i] = lo, hi
                left[i] = (hi - lo) // 60

    def open_day_off(self, i: int, ndays: int) -> None:
        """A day without a slot (weekend, holiday): present from its first to its last punch."""
        self.known[i] = True
        if not 1 <= i <= ndays:
            return
        times = self.times
        midnight = self.day0 + i * SECONDS_PER_DAY
        a = bisect_left(times, midnight)
        b = bisect_left(times, midnight + SECONDS_PER_DAY, a)
        if b - a >= 2 and times[b - 1] > times[a]:
            self.window_lo[i], self.window_hi[i] = times[a], times[b - 1]
            self.left[i] = (times[b - 1] - times[a]) // 60 if self.cap else _UNLIMITED

    def outside(self, i: int, start: int, end: int) -> tuple[int, tuple[str, ...]]:
        """A claim outside day ``i``'s presence: inside (or near) a night shift that began the day
        before, it belongs to that shift; otherwise it stays on its day, flagged."""
        flags: tuple[str, ...] = (OUTSIDE_PRESENCE,)
        j = i - 1
        if j >= 0 and self.slot_end[j] > start:
            if self.window_lo[j] <= start and end <= self.window_hi[j]:
                flags = ()
            if flags == () or self.slot_end[i] == 0:
                i = j
        return i, flags


def merge_claims(
    plan: MonthPlan, claims: Sequence[Claim], records: list[tuple[Any, ...]], times: Sequence[int]
) -> MergedClaims:
    """Attribute each claim to a day, flag claims outside presence, cap each day's minutes to presence."""
    if not claims:
        return MergedClaims([], {}, 0, 0, 0)
    presence = _Presence(plan, records, times)
    ndays = len(plan.days)
    size = ndays + 2
    day0 = presence.day0
    window_lo, window_hi, left, known = presence.window_lo, presence.window_hi, presence.left, presence.known
    # flat integers rather than a tuple per claim: millions of small tuples would keep the collector busy
    rows: list[int] = []
    append = rows.append
    flagged: dict[int, tuple[str, ...]] = {}
    claimed = approved = effective = 0
    approved_state = ClaimState.APPROVED
    for position, claim in enumerate(claims):
        start = claim.start
        minutes = claim.minutes
        end = start + minutes * 60
        i = (start - day0) // SECONDS_PER_DAY
        if not 0 <= i < size:
            continue
        if not known[i]:
            presence.open_day_off(i, ndays)
        if window_lo[i] <= start and end <= window_hi[i]:
            flags: tuple[str, ...] = ()
        else:
            i, flags = presence.outside(i, start, end)
        if not 1 <= i <= ndays:
            continue  # another month's claim
        claimed += minutes
        counted = 0
        if claim.state is approved_state:
            approved += minutes
            room = left[i]
            if minutes > room:
                counted = room if room > 0 else 0
                flags = (*flags, OVER_PRESENCE_SPAN)
            else:
                counted = minutes
            left[i] = room - counted
            effective += counted
        append(position)
        append(i - 1)
        append(counted)
        if flags:
            flagged[position] = flags
    return MergedClaims(rows, flagged, claimed, approved, effective)
