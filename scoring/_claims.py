"""Activity claims against attendance: which day a claim belongs to, and how much of it counts.

A claim belongs to the day whose presence covers it (the day before, for a night shift past
midnight), else to its calendar day. Presence is the arrival-to-departure span (with one punch
missing: to the scheduled end or from the start); official travel and work from home count as
present all day; a weekend or holiday with punches, from its first to its last punch. A claim outside
presence is flagged; approved minutes beyond the day's presence plus the policy's margin are cut (unless
the policy says not to) and flagged, and so is an approved quantity over the activity's limit (per claim,
per day). A day that has not ended yet (``MonthPlan.open_from``) is not held against presence: the
employee may still be at work. Days are indexed from 1 here, so the day before the month (index 0)
needs no special case.

:func:`check_claim` is the same set of limits for a claim about to be filed, so the filing refuses what
the scoring would cut.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from typing import Any, NamedTuple

from ._activities import Claim, ClaimState
from ._daily import EXCUSED
from ._plan import SECONDS_PER_DAY, MonthPlan
from ._policy import PerformanceRules

OUTSIDE_PRESENCE = "outside_presence"
OVER_PRESENCE_SPAN = "over_presence_span"
OVER_QUANTITY_LIMIT = "over_quantity_limit"

PER_CLAIM = "per_claim"
PER_DAY = "per_day"
PRESENCE = "presence"

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

    __slots__ = ("cap", "day0", "known", "left", "margin", "slot_end", "times", "window_hi", "window_lo")

    def __init__(self, plan: MonthPlan, records: list[tuple[Any, ...]], times: Sequence[int]) -> None:
        size = len(plan.days) + 2
        self.cap = plan.policy.performance.cap_claims_to_presence
        self.margin = plan.policy.performance.presence_margin_minutes  # only on a day with presence at all
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
                left[i] = (hi - lo) // 60 + self.margin

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
            self.left[i] = (times[b - 1] - times[a]) // 60 + self.margin if self.cap else _UNLIMITED

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


class _Quantities:
    """How much of each activity a day's approved claims have counted, against the policy's limits."""

    __slots__ = ("counted", "limits", "rules")

    def __init__(self, rules: PerformanceRules) -> None:
        self.rules = rules
        self.limits: dict[str, tuple[int, int]] = {}
        self.counted: dict[tuple[int, str], int] = {}

    def allowed(self, day: int, claim: Claim) -> int:
        """The claim's quantity that counts (at most its own), and counts it for the day."""
        limits = self.limits.get(claim.activity)
        if limits is None:
            limit = self.rules.limit_for(claim.activity)
            limits = self.limits[claim.activity] = (limit.per_claim or _UNLIMITED, limit.per_day or _UNLIMITED)
        per_claim, per_day = limits
        key = (day, claim.activity)
        used = self.counted.get(key, 0)
        allowed = max(0, min(claim.quantity, per_claim, per_day - used))
        self.counted[key] = used + allowed
        return allowed


def merge_claims(
    plan: MonthPlan, claims: Sequence[Claim], records: list[tuple[Any, ...]], times: Sequence[int]
) -> MergedClaims:
    """Attribute each claim to a day, flag claims outside presence, cap each day's minutes to presence
    (plus the margin) and each activity's quantity to its limits."""
    if not claims:
        return MergedClaims([], {}, 0, 0, 0)
    presence = _Presence(plan, records, times)
    quantities = _Quantities(plan.policy.performance)
    ndays = len(plan.days)
    size = ndays + 2
    open_from = size if plan.open_from is None else (plan.open_from - plan.first_day).days + 1
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
        if i >= open_from:
            flags = ()  # the day is not over: the employee may still be at work
        claimed += minutes
        counted = 0
        if claim.state is approved_state:
            approved += minutes
            counted, flags = _counted(claim, i, quantities, left, flags, i < open_from)
            effective += counted
        append(position)
        append(i - 1)
        append(counted)
        if flags:
            flagged[position] = flags
    return MergedClaims(rows, flagged, claimed, approved, effective)


def _counted(
    claim: Claim, i: int, quantities: _Quantities, left: list[int], flags: tuple[str, ...], ended: bool
) -> tuple[int, tuple[str, ...]]:
    """An approved claim's effective minutes: its quantity within the activity's limits, then what the
    day's presence has room for (a day not over yet: no presence cut)."""
    minutes = claim.minutes
    allowed = quantities.allowed(i, claim)
    if allowed < claim.quantity:
        minutes = minutes * allowed // claim.quantity
        flags = (*flags, OVER_QUANTITY_LIMIT)
    if not ended:
        return minutes, flags
    room = left[i]
    if minutes > room:
        counted = room if room > 0 else 0
        flags = (*flags, OVER_PRESENCE_SPAN)
    else:
        counted = minutes
    left[i] = room - counted
    return counted, flags


class LimitBreach(NamedTuple):
    """A limit a claim about to be filed goes over: which (``per_claim``, ``per_day`` or ``presence``),
    what it allows and what the claim would make it."""

    limit: str
    allowed: int
    asked: int


def check_claim(
    rules: PerformanceRules,
    claim: Claim,
    same_day: Sequence[Claim],
    presence_minutes: int | None,
) -> LimitBreach | None:
    """The first of the policy's limits ``claim`` would go over, given the employee's other claims of the
    day (``same_day``: not rejected ones) and the day's presence span in minutes (first in to last out so
    far; ``None``: no presence limit, as on travel or WFH or with ``cap_claims_to_presence = false``)."""
    limit = rules.limit_for(claim.activity)
    if limit.per_claim is not None and claim.quantity > limit.per_claim:
        return LimitBreach(PER_CLAIM, limit.per_claim, claim.quantity)
    if limit.per_day is not None:
        total = claim.quantity + sum(c.quantity for c in same_day if c.activity == claim.activity)
        if total > limit.per_day:
            return LimitBreach(PER_DAY, limit.per_day, total)
    if presence_minutes is None or not rules.cap_claims_to_presence:
        return None
    allowed = presence_minutes + rules.presence_margin_minutes if presence_minutes > 0 else 0
    minutes = claim.minutes + sum(c.minutes for c in same_day)
    if minutes > allowed:
        return LimitBreach(PRESENCE, allowed, minutes)
    return None
