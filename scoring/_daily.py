"""One planned day (or shift) of one employee: from the punches that belong to it to codes and minutes.

Daily rules, as the policy says (``docs/scoring.md`` has the reasoning for each):

- Only punches inside the slot's bounds count (the policy's punch window on an office day; the
  nearest shift, within a distance, for shift work).
- State keys are ignored unless the policy trusts them: the first punch is the arrival and the last
  the departure, when they are more than ``repeat_window_minutes`` apart. A single punch (or a burst
  of repeats) before the middle of the slot is an arrival without departure; after it, a departure
  without arrival. With trusted keys, the first in-state punch arrives and the last out-state leaves.
- No arrival punch: the policy's ``missing_in`` band (TL4); no departure: ``missing_out`` (PSW4);
  no punch at all: TK, unless an excuse covers the day.
- Minutes late count from the scheduled start; within the grace nothing is late; past it, counting
  starts at the end of the grace or at the start, as the policy says. Minutes early count to the end.
- Compensation (where allowed): lateness up to ``max_minutes`` is forgiven when the employee stays at
  least as long after the scheduled end.

This runs once per employee-day (millions a month for a ministry), so :class:`DayRules` reads the
policy once per month plan into plain values and band tables into lists indexed by minutes, and a
day is a few integer comparisons, one list index per band, and one plain tuple.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, NamedTuple

from ._policy import BandBy, BandTable, ExcuseRule, LateCountedFrom, Policy, PunchSeconds

PRESENT = "present"
ABSENT = "absent"
EXCUSED = "excused"
OFF = "off"
"""A day without work (weekend, holiday, joint leave, a unit's day off, no shift rostered): not scored."""

WORKING = "working"
SHIFT = "shift"


class DayRecord(NamedTuple):
    """One day (or shift) of one employee.

    ``status`` is :data:`PRESENT`, :data:`ABSENT` (TK), :data:`EXCUSED` or, for a day without work,
    :data:`OFF`; ``kind`` says what the day was (``working``, ``shift``, ``weekend``, ``holiday``,
    ``joint_leave``, ``day_off``, ``off_roster``: the values of :class:`~scoring.DayKind`) and, on a
    day off, ``note`` says why ("Hari Raya Idul Fitri", "weekend").

    ``late_minutes``/``early_minutes`` are ``None`` when the punch was missing; ``arrival`` and
    ``departure`` are UTC epoch seconds; punches ``first``..``last`` (exclusive) of the input are the
    ones that belonged to the slot (on an office day off: the punches of that calendar day, never
    scored). ``day`` is the date the slot starts, ``start``/``end`` its scheduled bounds (UTC epoch
    seconds; on a day off, its local midnights) and ``shift`` its shift code ("" on an office day).

    A result keeps its planned days as plain tuples in this layout (``MonthlyResult.day_rows``): the
    garbage collector stops tracking plain tuples of atomic values, but never a NamedTuple, and a
    month of a ministry is millions of days. :attr:`MonthlyResult.days` gives them as ``DayRecord``.
    """

    index: int
    status: str
    codes: tuple[str, ...]
    late_minutes: int | None
    early_minutes: int | None
    arrival: int | None
    departure: int | None
    deduction_bp: int
    first: int
    last: int
    note: str
    day: date
    start: int
    end: int
    shift: str
    kind: str


Row = tuple[Any, ...]
"""A :class:`DayRecord` as a plain tuple."""

Verdict = tuple[tuple[str, ...], int]
"""The codes a number of minutes late (or early) earns, and their deduction in basis points."""


def _verdicts(table: BandTable) -> tuple[Verdict, ...]:
    """``verdicts[m]`` for ``m`` minutes; minutes past the end of the list are the top band's."""
    out: list[Verdict] = []
    for minutes in range(table.top.from_minutes + 1):
        band = table.band_for(minutes)
        out.append(((), 0) if band is None else ((band.code,), band.deduction_bp))
    return tuple(out)


def _trusted_pair(
    times: Sequence[int], states: Sequence[int], a: int, b: int, ins: frozenset[int], outs: frozenset[int]
) -> tuple[int | None, int | None]:
    """The first in-state punch arrives, the last out-state punch leaves (a departure before the arrival: none)."""
    arrival = next((times[i] for i in range(a, b) if states[i] in ins), None)
    departure = next((times[i] for i in range(b - 1, a - 1, -1) if states[i] in outs), None)
    if arrival is not None and departure is not None and departure <= arrival:
        departure = None
    return arrival, departure


class DayRules:
    """The policy's daily rules as plain values, read once per month plan."""

    __slots__ = (
        "absent_bp",
        "absent_codes",
        "away_over",
        "comp_max",
        "comp_remaining",
        "early_verdicts",
        "flexible",
        "from_start",
        "grace",
        "ignore_seconds",
        "in_states",
        "late_verdicts",
        "missing_in",
        "missing_out",
        "out_states",
        "repeat_s",
        "trust",
    )

    def __init__(self, policy: Policy) -> None:
        att = policy.attendance
        self.trust = att.trust_state_keys
        self.in_states, self.out_states = att.in_states, att.out_states
        self.ignore_seconds = att.punch_seconds is PunchSeconds.IGNORE
        self.repeat_s = att.repeat_window_minutes * 60
        self.grace = att.grace_minutes
        self.from_start = att.late_counted_from is LateCountedFrom.START
        self.flexible = att.flexible_minutes
        self.late_verdicts = _verdicts(policy.lateness)
        self.early_verdicts = _verdicts(policy.early_leave)
        missing_in = policy.lateness.by_code(att.missing_in)
        missing_out = policy.early_leave.by_code(att.missing_out)
        assert missing_in is not None and missing_out is not None  # check_policy guarantees it
        self.missing_in: Verdict = ((missing_in.code,), missing_in.deduction_bp)
        self.missing_out: Verdict = ((missing_out.code,), missing_out.deduction_bp)
        comp = policy.compensation
        self.comp_max = comp.max_minutes if comp.enabled else -1
        self.comp_remaining = comp.band_by is BandBy.REMAINING
        self.absent_codes = (policy.absence.code,)
        self.absent_bp = policy.absence.deduction_bp
        self.away_over = policy.absence.away_minutes_over

    # The slot's fields come unpacked (index, start, end, ..., day, shift): a NamedTuple unpacks slowly,
    # and this runs once per employee-day. Records are plain tuples in DayRecord layout.

    def excused(self, rule: ExcuseRule, a: int, b: int, index: int, start: int, end: int, day: date, shift: str) -> Row:
        """An excuse decides the day, whatever the punches say."""
        kind = SHIFT if shift else WORKING
        return (index, EXCUSED, (rule.code,), None, None, None, None, rule.deduction_bp, a, b, rule.label,
                day, start, end, shift, kind)  # fmt: skip

    def absent(self, a: int, index: int, start: int, end: int, day: date, shift: str) -> Row:
        """No punch in the slot and no excuse: TK."""
        kind = SHIFT if shift else WORKING
        return (index, ABSENT, self.absent_codes, None, None, None, None, self.absent_bp, a, a, "",
                day, start, end, shift, kind)  # fmt: skip

    def present(
        self,
        times: Sequence[int],
        states: Sequence[int] | None,
        a: int,
        b: int,
        index: int,
        start: int,
        end: int,
        mid: int,
        day: date,
        shift: str,
    ) -> Row:
        """Punches ``a``..``b`` (at least one) of ``times`` in the slot: arrival, departure, codes."""
        if self.trust:
            assert states is not None
            arrival, departure = _trusted_pair(times, states, a, b, self.in_states, self.out_states)
        else:
            first, last = times[a], times[b - 1]
            if last - first > self.repeat_s:
                arrival, departure = first, last
            else:  # one punch, or a burst of repeats: before the middle it arrived, after it left
                arrival, departure = (first, None) if first < mid else (None, last)
        ignore = self.ignore_seconds  # whole minutes as the device shows them; else part minutes round up
        late = None if arrival is None else (arrival // 60 - start // 60 if ignore else -((start - arrival) // 60))
        day_end, note = end, ""
        if self.flexible:
            late, day_end, note = self._flexible(late, end)
        early = (
            None
            if departure is None
            else (day_end // 60 - departure // 60 if ignore else -((departure - day_end) // 60))
        )
        if late is None or late > self.grace:
            codes, deduction, note = self._lateness(late, 0 if early is None else -early, note)
        else:  # on time: the common case, kept free of calls
            codes, deduction = (), 0
            late = late if late > 0 else 0
        if early is None:
            codes, deduction = codes + self.missing_out[0], deduction + self.missing_out[1]
        elif early > 0:
            verdicts = self.early_verdicts
            extra, bp = verdicts[early] if early < len(verdicts) else verdicts[-1]
            codes, deduction = codes + extra, deduction + bp
        else:
            early = 0
        kind = SHIFT if shift else WORKING
        if self.away_over is not None:
            away = self._away(late, early, arrival, departure, start, day_end)
            if away > self.away_over:
                note = f"away {away} minutes, more than {self.away_over}: counted as {self.absent_codes[0]}"
                return (index, ABSENT, self.absent_codes, late, early, arrival, departure, self.absent_bp, a, b,
                        note, day, start, end, shift, kind)  # fmt: skip
        return (index, PRESENT, codes, late, early, arrival, departure, deduction, a, b, note,
                day, start, end, shift, kind)  # fmt: skip

    def _flexible(self, late: int | None, end: int) -> tuple[int | None, int, str]:
        """A flexible start: the day starts (and so ends) up to ``flexible`` minutes off schedule."""
        flexible = self.flexible
        # no arrival to credit: the latest start, so the latest end
        moved = flexible if late is None else max(-flexible, min(flexible, late))
        if late is not None:
            late -= moved
        if not moved:
            return late, end, ""
        return late, end + moved * 60, f"flexible start: the day ran {moved:+d} minutes from the schedule"

    def _lateness(self, late: int | None, stayed: int, note: str) -> tuple[tuple[str, ...], int, str]:
        """The TL code and deduction for ``late`` minutes (``None``: no arrival), grace and compensation applied."""
        if late is None:
            return (*self.missing_in, note)
        if late <= self.grace:
            return (), 0, note
        counted = late if self.from_start else late - self.grace
        if 0 < counted <= self.comp_max and stayed > 0:
            counted, made_up = self._compensate(counted, stayed)
            if made_up:
                note = f"{note}; {made_up}" if note else made_up
        if counted <= 0:
            return (), 0, note
        verdicts = self.late_verdicts
        return (*(verdicts[counted] if counted < len(verdicts) else verdicts[-1]), note)

    def _compensate(self, counted: int, stayed: int) -> tuple[int, str]:
        """Minutes late made up by staying ``stayed`` minutes after the end: what remains, and a note."""
        if stayed >= counted:
            return 0, f"{counted} minutes late made up by staying {stayed} minutes after the end"
        if self.comp_remaining:
            return counted - stayed, f"{stayed} of {counted} minutes late made up by staying later"
        return counted, ""

    @staticmethod
    def _away(
        late: int | None, early: int | None, arrival: int | None, departure: int | None, start: int, day_end: int
    ) -> int:
        """Minutes away from the day; a missing punch: away from the start until the departure, or
        from the arrival to the end."""
        before = late if late is not None else (departure or day_end) // 60 - start // 60
        after = early if early is not None else day_end // 60 - (arrival or start) // 60
        return before + after
