"""Daily attendance, activity merge and the monthly result of one employee.

:func:`score_month` is the whole computation for one employee and month against a
:class:`~scoring.plan.MonthPlan` built once per policy, month and unit. It is written to be cheap per
employee-day: punches are sorted integers (UTC epoch seconds); each planned slot finds its punches
with two binary searches; the day's category is a few integer comparisons and one list index.

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
"""

from __future__ import annotations

import hashlib
import json
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import islice
from operator import itemgetter, le
from typing import Any, NamedTuple

from .activities import Claim, ClaimState
from .calendar import DayKind, calendar_source, calendar_warnings
from .errors import InputError
from .percent import FULL_BP, format_bp, ratio_bp, weighted_bp
from .plan import SECONDS_PER_DAY, MonthPlan, band_at, build_month_plan, local_text
from .policy import BandBy, DeductionBase, LateCountedFrom, Policy, PunchSeconds, TargetMode
from .punches import Punch

PRESENT = "present"
ABSENT = "absent"
EXCUSED = "excused"

_EPOCH_UTC = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_SECOND = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class EmployeeMonth:
    """What the scoring needs of one employee for one month.

    ``times``: punches as UTC epoch seconds (the days around the month included, for night shifts);
    ``states`` and ``devices`` run parallel to it (``states`` only matters when the policy trusts them).
    ``excuses``: excuse kind per day (``annual_leave``, ``official_travel`` ...; the policy's kinds).
    ``roster``: shift code per start date, for shift workers; ``None`` means office hours.
    """

    nip: str
    times: Sequence[int] = ()
    states: Sequence[int] | None = None
    devices: Sequence[str] | None = None
    excuses: Mapping[date, str] = field(default_factory=dict)
    roster: Mapping[date, str] | None = None
    claims: Sequence[Claim] = ()

    @classmethod
    def from_punches(cls, nip: str, punches: Iterable[Punch], **rest: Any) -> EmployeeMonth:
        """From :class:`~scoring.punches.Punch` objects in any zone and any order."""
        rows = sorted((_epoch(p), p.state, p.device) for p in punches)
        return cls(
            nip,
            [r[0] for r in rows],
            states=[r[1] for r in rows],
            devices=[r[2] for r in rows],
            **rest,
        )


def _epoch(punch: Punch) -> int:
    return (punch.at - _EPOCH_UTC) // _ONE_SECOND


class DayRecord(NamedTuple):
    """One planned day (or shift) of one employee.

    ``late_minutes``/``early_minutes`` are ``None`` when the punch was missing; ``arrival`` and
    ``departure`` are UTC epoch seconds; punches ``first``..``last`` (exclusive) of the input are the
    ones that belonged to the slot. ``day`` is the date the slot starts, ``start``/``end`` its
    scheduled bounds (UTC epoch seconds) and ``shift`` its shift code ("" on an office day).

    A result keeps its days as plain tuples in this layout (``MonthlyResult.day_rows``): the garbage
    collector stops tracking plain tuples of atomic values, but never a NamedTuple, and a month of a
    ministry is millions of days. :attr:`MonthlyResult.days` gives them as ``DayRecord``.
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


class ClaimOutcome(NamedTuple):
    """A claim as scored: the day it was attributed to, its effective minutes and its flags."""

    claim: Claim
    day_index: int
    effective_minutes: int
    flags: tuple[str, ...]


OUTSIDE_PRESENCE = "outside_presence"
OVER_PRESENCE_SPAN = "over_presence_span"


@dataclass(frozen=True, slots=True, eq=False)
class MonthlyResult:
    """One employee's month. Every figure is in basis points or minutes; :meth:`explain` traces them."""

    nip: str
    year: int
    month: int
    planned_days: int
    day_rows: tuple[tuple[Any, ...], ...]
    """The days in :class:`DayRecord` layout, as plain tuples (see there why)."""
    claim_rows: list[int]
    """Flat triples (position in the input's claims, day index, effective minutes), one per claim of the month."""
    claim_flags: dict[int, tuple[str, ...]]
    """Flags by position in the input's claims (only claims that have any)."""
    codes: dict[str, int]
    deduction_sum_bp: int
    discipline_deduction_bp: int
    claimed_minutes: int
    approved_minutes: int
    effective_minutes: int
    target_minutes: int
    target_days: int
    performance_bp: int
    discipline_bp: int
    score_bp: int
    allowance_deduction_bp: int
    plan: MonthPlan
    employee: EmployeeMonth

    @property
    def policy(self) -> Policy:
        return self.plan.policy

    @property
    def claims(self) -> tuple[ClaimOutcome, ...]:
        """Every claim of the month as scored (built on demand: most results are only summed)."""
        rows, flags, claims = self.claim_rows, self.claim_flags, self.employee.claims
        return tuple(
            ClaimOutcome(claims[rows[k]], rows[k + 1], rows[k + 2], flags.get(rows[k], ()))
            for k in range(0, len(rows), 3)
        )

    @property
    def days(self) -> tuple[DayRecord, ...]:
        """Every planned day (or shift) of the month."""
        return tuple(map(DayRecord._make, self.day_rows))

    @property
    def absent_days(self) -> list[date]:
        """Days of unexcused absence (TK), for the yearly escalation count."""
        return [r.day for r in self.days if r.status == ABSENT]

    def summary(self) -> dict[str, Any]:
        """The numbers, JSON-ready (what the server stores beside the explanation)."""
        p = self.policy
        return {
            "nip": self.nip,
            "month": f"{self.year}-{self.month:02d}",
            "policy": p.name,
            "policy_unit": p.unit,
            "policy_effective_from": p.effective_from.isoformat(),
            "policy_fingerprint": p.fingerprint,
            "planned_days": self.planned_days,
            "codes": dict(sorted(self.codes.items())),
            "deduction_sum_bp": self.deduction_sum_bp,
            "discipline_deduction_bp": self.discipline_deduction_bp,
            "claimed_minutes": self.claimed_minutes,
            "approved_minutes": self.approved_minutes,
            "effective_minutes": self.effective_minutes,
            "target_minutes": self.target_minutes,
            "performance_bp": self.performance_bp,
            "discipline_bp": self.discipline_bp,
            "score_bp": self.score_bp,
            "allowance_deduction_bp": self.allowance_deduction_bp,
        }

    def digest(self) -> str:
        """A fingerprint of the explanation: the same inputs and policy always give the same digest."""
        return explain_digest(self.explain())

    def explain(self) -> dict[str, Any]:
        return explain(self)


def explain_digest(explained: dict[str, Any]) -> str:
    """SHA-256 of an explanation in canonical JSON (what a store compares to skip unchanged results)."""
    text = json.dumps(explained, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def score_month(plan: MonthPlan, emp: EmployeeMonth) -> MonthlyResult:
    """Score one employee's month. Pure: the same plan and input always give the same result."""
    policy = plan.policy
    att = policy.attendance
    times, states = emp.times, emp.states
    if not all(map(le, times, islice(times, 1, None))):
        order = sorted(range(len(times)), key=times.__getitem__)
        times = [times[i] for i in order]
        states = None if states is None else [states[i] for i in order]
        emp = EmployeeMonth(
            emp.nip,
            times,
            states,
            None if emp.devices is None else [emp.devices[i] for i in order],
            emp.excuses,
            emp.roster,
            emp.claims,
        )
    trust = att.trust_state_keys
    if trust and (states is None or len(states) != len(times)):
        raise InputError(f"{emp.nip}: the policy trusts state keys, so every punch needs its state")
    if emp.roster is None:
        slots, inside = plan.office_slots, None
    else:
        slots, inside = plan.shift_slots(emp.roster)

    seconds_mode = att.punch_seconds
    ignore_seconds = seconds_mode is PunchSeconds.IGNORE
    repeat_s = att.repeat_window_minutes * 60
    grace = att.grace_minutes
    from_start = att.late_counted_from is LateCountedFrom.START
    late_bands, early_bands = plan.late_bands, plan.early_bands
    missing_in = policy.lateness.by_code(att.missing_in)
    missing_out = policy.early_leave.by_code(att.missing_out)
    assert missing_in is not None and missing_out is not None  # check_policy guarantees it
    flexible = att.flexible_minutes
    comp = policy.compensation
    comp_max = comp.max_minutes if comp.enabled else -1
    comp_remaining = comp.band_by is BandBy.REMAINING
    tk_code, tk_bp, away_over = policy.absence.code, policy.absence.deduction_bp, policy.absence.away_minutes_over
    excuses = emp.excuses
    in_states, out_states = att.in_states, att.out_states

    records: list[tuple[Any, ...]] = []  # DayRecord layout, plain tuples
    append = records.append
    tk_codes = (tk_code,)
    pos = 0
    for k, slot in enumerate(slots):
        index, start, end, lo, hi, mid, _, day, shift = slot
        a = bisect_left(times, lo, pos)
        b = bisect_right(times, hi, a)
        pos = b
        if inside is not None and k not in inside:
            continue
        if excuses:
            kind = excuses.get(day)
            if kind is not None:
                rule = policy.excuse_rule(kind)
                if rule is None:
                    known = ", ".join(r.kind for r in policy.excuses)
                    raise InputError(f"{emp.nip} on {day}: excuse '{kind}' is not in the policy ({known})")
                append((index, EXCUSED, (rule.code,), None, None, None, None, rule.deduction_bp,
                        a, b, rule.label, day, start, end, shift))  # fmt: skip
                continue
        if a == b:
            append((index, ABSENT, tk_codes, None, None, None, None, tk_bp, a, b, "", day, start, end, shift))
            continue
        if trust:
            assert states is not None
            arrival = next((times[i] for i in range(a, b) if states[i] in in_states), None)
            departure = next((times[i] for i in range(b - 1, a - 1, -1) if states[i] in out_states), None)
            if arrival is not None and departure is not None and departure <= arrival:
                departure = None
        else:
            first, last = times[a], times[b - 1]
            if last - first > repeat_s:
                arrival, departure = first, last
            elif first < mid:
                arrival, departure = first, None
            else:
                arrival, departure = None, last
        note = ""
        deduction = 0
        codes: tuple[str, ...] = ()
        if arrival is None:
            late = None
        else:
            late = arrival // 60 - start // 60 if ignore_seconds else -((start - arrival) // 60)
        day_end = end
        if flexible:  # the day starts (and so ends) up to `flexible` minutes off schedule
            if late is None:  # no arrival to credit: the latest start, so the latest end
                moved = flexible
            else:
                moved = flexible if late > flexible else (-flexible if late < -flexible else late)
                late -= moved
            if moved:
                day_end = end + moved * 60
                note = f"flexible start: the day ran {moved:+d} minutes from the schedule"
        if departure is None:
            early = None
            stayed = 0
        else:
            early = day_end // 60 - departure // 60 if ignore_seconds else -((departure - day_end) // 60)
            stayed = -early
        if late is None:
            codes = (missing_in.code,)
            deduction = missing_in.deduction_bp
        else:
            if late > grace:
                counted = late if from_start else late - grace
                if 0 < counted <= comp_max and stayed > 0:
                    if stayed >= counted:
                        made_up = f"{counted} minutes late made up by staying {stayed} minutes after the end"
                        counted = 0
                    elif comp_remaining:
                        made_up = f"{stayed} of {counted} minutes late made up by staying later"
                        counted -= stayed
                    else:
                        made_up = ""
                    if made_up:
                        note = f"{note}; {made_up}" if note else made_up
                if counted > 0:
                    band = band_at(late_bands, counted)
                    if band is not None:
                        codes = (band.code,)
                        deduction = band.deduction_bp
            if late < 0:
                late = 0
        if departure is None:
            codes = (*codes, missing_out.code)
            deduction += missing_out.deduction_bp
        else:
            assert early is not None
            if early > 0:
                band = band_at(early_bands, early)
                if band is not None:
                    codes = (*codes, band.code)
                    deduction += band.deduction_bp
            else:
                early = 0
        if away_over is not None:
            # a missing punch: away from the start until the departure, or from the arrival to the end
            away = (late if late is not None else (departure or day_end) // 60 - start // 60) + (
                early if early is not None else day_end // 60 - (arrival or start) // 60
            )
            if away > away_over:
                note = f"away {away} minutes, more than {away_over}: counted as {tk_code}"
                append((index, ABSENT, tk_codes, late, early, arrival, departure, tk_bp, a, b, note,
                        day, start, end, shift))  # fmt: skip
                continue
        append((index, PRESENT, codes, late, early, arrival, departure, deduction, a, b, note,
                day, start, end, shift))  # fmt: skip

    claim_rows, claim_flags, claimed, approved, effective = _merge_claims(plan, emp, records, times)
    return _result(plan, emp, records, claim_rows, claim_flags, claimed, approved, effective)


_UNLIMITED = 1 << 40
_DEDUCTION = itemgetter(7)  # DayRecord.deduction_bp
_CODES = itemgetter(2)  # DayRecord.codes


def _merge_claims(
    plan: MonthPlan, emp: EmployeeMonth, records: list[tuple[Any, ...]], times: Sequence[int]
) -> tuple[list[int], dict[int, tuple[str, ...]], int, int, int]:
    """Attribute each claim to a day, flag claims outside presence, cap each day's minutes to presence.

    A claim belongs to the day whose presence covers it (the day before, for a night shift past
    midnight), else to its calendar day. Days are indexed from 1 here, so the day before the month
    (index 0) needs no special case.
    """
    claims = emp.claims
    if not claims:
        return [], {}, 0, 0, 0
    cap = plan.policy.performance.cap_claims_to_presence
    ndays = len(plan.days)
    size = ndays + 2
    day0 = plan.day0 - SECONDS_PER_DAY  # midnight before the month's first day: index 0
    window_lo = [0] * size
    window_hi = [-1] * size  # an empty window covers nothing
    left = [0] * size  # minutes of presence not yet claimed
    known = [False] * size
    slot_end = [0] * size
    presence_codes = {r.code for r in plan.policy.excuses if r.counts_as_presence}
    for index, status, codes, _, _, arrival, departure, _, _, _, _, _, start, end, _ in records:
        i = index + 1
        if known[i]:
            continue
        known[i] = True
        slot_end[i] = end
        if status == EXCUSED:
            if codes[0] in presence_codes:
                window_lo[i], window_hi[i] = start - SECONDS_PER_DAY, end + SECONDS_PER_DAY
                left[i] = _UNLIMITED
            continue
        if arrival is None and departure is None:
            continue
        lo = start if arrival is None else arrival
        hi = end if departure is None else departure
        if hi > lo:
            window_lo[i], window_hi[i] = lo, hi
            left[i] = (hi - lo) // 60
    if not cap:
        left = [_UNLIMITED] * size

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
            known[i] = True
            if 1 <= i <= ndays:  # a day without a slot (weekend, holiday): that day's punches
                midnight = day0 + i * SECONDS_PER_DAY
                a = bisect_left(times, midnight)
                b = bisect_left(times, midnight + SECONDS_PER_DAY, a)
                if b - a >= 2 and times[b - 1] > times[a]:
                    window_lo[i], window_hi[i] = times[a], times[b - 1]
                    left[i] = (times[b - 1] - times[a]) // 60 if cap else _UNLIMITED
        if window_lo[i] <= start and end <= window_hi[i]:
            flags: tuple[str, ...] = ()
        else:
            flags = (OUTSIDE_PRESENCE,)
            j = i - 1
            if j >= 0 and slot_end[j] > start:  # inside (or near) a night shift that began the day before
                if window_lo[j] <= start and end <= window_hi[j]:
                    flags = ()
                if flags == () or slot_end[i] == 0:
                    i = j
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
    return rows, flagged, claimed, approved, effective


def _result(
    plan: MonthPlan,
    emp: EmployeeMonth,
    records: list[tuple[Any, ...]],
    claim_rows: list[int],
    claim_flags: dict[int, tuple[str, ...]],
    claimed: int,
    approved: int,
    effective: int,
) -> MonthlyResult:
    policy = plan.policy
    total = sum(map(_DEDUCTION, records))
    codes: dict[str, int] = {}
    reduced = 0
    reducing = plan.target_reducing_codes
    for combination, count in Counter(map(_CODES, records)).items():  # a handful of distinct combinations
        for code in combination:
            codes[code] = codes.get(code, 0) + count
        if len(combination) == 1 and combination[0] in reducing:
            reduced += count
    planned = len(records)
    target_days = planned - reduced
    perf_rules = policy.performance
    if perf_rules.target is TargetMode.PER_WORKING_DAY:
        target = perf_rules.minutes_per_working_day * target_days
    else:
        target = (2 * perf_rules.monthly_target_minutes * target_days + planned) // (2 * planned) if planned else 0
    performance = FULL_BP if target == 0 else min(FULL_BP, ratio_bp(effective, target))
    disc = policy.discipline
    capped = min(total, disc.monthly_cap_bp)
    discipline = FULL_BP - capped
    if disc.applies_to is DeductionBase.DISCIPLINE_COMPONENT:
        score = weighted_bp(((perf_rules.weight_bp, performance), (disc.weight_bp, discipline)))
        allowance_deduction = FULL_BP - score
    else:
        base = weighted_bp(((perf_rules.weight_bp, performance), (disc.weight_bp, FULL_BP)))
        allowance_deduction = min(FULL_BP, FULL_BP - base + capped)
        score = FULL_BP - allowance_deduction
    return MonthlyResult(
        nip=emp.nip,
        year=plan.year,
        month=plan.month,
        planned_days=planned,
        day_rows=tuple(records),
        claim_rows=claim_rows,
        claim_flags=claim_flags,
        codes=codes,
        deduction_sum_bp=total,
        discipline_deduction_bp=capped,
        claimed_minutes=claimed,
        approved_minutes=approved,
        effective_minutes=effective,
        target_minutes=target,
        target_days=target_days,
        performance_bp=performance,
        discipline_bp=discipline,
        score_bp=score,
        allowance_deduction_bp=allowance_deduction,
        plan=plan,
        employee=emp,
    )


def score_unit_month(
    policy: Policy,
    year: int,
    month: int,
    employees: Iterable[EmployeeMonth],
    *,
    extra_days_off: Mapping[date, str] | None = None,
) -> list[MonthlyResult]:
    """Every employee of a unit for one month (the plan is built once)."""
    plan = build_month_plan(policy, year, month, extra_days_off)
    return [score_month(plan, emp) for emp in employees]


def _band_rule(policy: Policy, code: str) -> str:
    for table, what in ((policy.lateness, "late"), (policy.early_leave, "left early")):
        band = table.by_code(code)
        if band is not None:
            return f"{code}: {what} {band.label()}, {format_bp(band.deduction_bp)} per occurrence"
    if code == policy.absence.code:
        return f"{code}: absent without a valid reason, {format_bp(policy.absence.deduction_bp)} per day"
    rule = next((r for r in policy.excuses if r.code == code), None)
    if rule is not None:
        return f"{code}: {rule.label}, {format_bp(rule.deduction_bp)} per day"
    return code


def explain(result: MonthlyResult) -> dict[str, Any]:
    """Every number of the month, traced to the days, punches, activities and rules behind it."""
    plan, policy, emp = result.plan, result.policy, result.employee
    off = plan.offset_s
    att = policy.attendance
    devices = emp.devices
    times = emp.times

    def punches(first: int, last: int) -> list[dict[str, Any]]:
        return [
            {"at": local_text(times[i], off), **({"device": devices[i]} if devices else {})} for i in range(first, last)
        ]

    days: list[dict[str, Any]] = []
    records = result.days
    by_index = {r.index: r for r in records}
    for idx, plan_day in enumerate(plan.days):
        rec = by_index.get(idx)
        entry: dict[str, Any] = {"date": plan_day.day.isoformat(), "planned": plan_day.describe()}
        if rec is None:
            if emp.roster is not None:  # a shift worker's day without a shift starting on it
                entry.update({"kind": str(DayKind.OFF_ROSTER), "planned": "no shift rostered"})
            else:
                entry["kind"] = str(plan_day.kind)
                midnight = plan.day0 + idx * SECONDS_PER_DAY
                first = bisect_left(times, midnight)
                last = bisect_left(times, midnight + SECONDS_PER_DAY, first)
                if last > first:  # worked on a day off: shown, never penalised
                    entry["punches"] = punches(first, last)
            days.append(entry)
            continue
        planned = policy.shift(rec.shift).describe() if rec.shift else plan_day.describe()  # type: ignore[union-attr]
        entry.update(
            {
                "kind": str(DayKind.SHIFT) if rec.shift else str(plan_day.kind),
                "planned": planned,
                "scheduled": [local_text(rec.start, off), local_text(rec.end, off)],
                "status": rec.status,
                "codes": list(rec.codes),
                "punches": punches(rec.first, rec.last),
                "arrival": None if rec.arrival is None else local_text(rec.arrival, off),
                "departure": None if rec.departure is None else local_text(rec.departure, off),
                "late_minutes": rec.late_minutes,
                "early_minutes": rec.early_minutes,
                "deduction": format_bp(rec.deduction_bp),
                "deduction_bp": rec.deduction_bp,
                "rules": [_band_rule(policy, c) for c in rec.codes],
            }
        )
        if rec.note:
            entry["note"] = rec.note
        days.append(entry)
    if emp.roster is not None:
        for rec in records:  # shifts are listed by the date they start
            days[rec.index]["shift"] = policy.shift(rec.shift).describe()  # type: ignore[union-attr]
    contributing = [
        {"date": r.day.isoformat(), "codes": list(r.codes), "deduction": format_bp(r.deduction_bp)}
        for r in records
        if r.deduction_bp
    ]
    perf = policy.performance
    disc = policy.discipline
    if perf.target is TargetMode.PER_WORKING_DAY:
        target_rule = f"{perf.minutes_per_working_day} minutes x {result.target_days} planned days"
    else:
        target_rule = f"{perf.monthly_target_minutes} minutes x {result.target_days}/{result.planned_days} planned days"
    excluded = result.planned_days - result.target_days
    if excluded:
        target_rule += f" ({excluded} day(s) of leave excluded)"
    activities = [
        {
            "claim": o.claim.claim_id,
            "activity": o.claim.activity,
            "output": o.claim.output,
            "date": (plan.first_day + timedelta(days=o.day_index)).isoformat(),
            "start": local_text(o.claim.start, off),
            "quantity": o.claim.quantity,
            "claimed_minutes": o.claim.minutes,
            "state": str(o.claim.state),
            **({"reason": o.claim.reason} if o.claim.reason else {}),
            **({"evidence": o.claim.evidence} if o.claim.evidence else {}),
            "effective_minutes": o.effective_minutes,
            "flags": list(o.flags),
        }
        for o in result.claims
    ]
    if disc.applies_to is DeductionBase.DISCIPLINE_COMPONENT:
        formula = (
            f"score = {format_bp(perf.weight_bp)} x performance + {format_bp(disc.weight_bp)} x discipline; "
            "allowance deduction = 100% - score"
        )
    else:
        formula = (
            f"allowance deduction = (100% - ({format_bp(perf.weight_bp)} x performance + "
            f"{format_bp(disc.weight_bp)})) + discipline deduction, at most 100%"
        )
    return {
        "employee": result.nip,
        "month": f"{result.year}-{result.month:02d}",
        "policy": {
            "name": policy.name,
            "title": policy.title,
            "unit": policy.unit,
            "effective_from": policy.effective_from.isoformat(),
            "fingerprint": policy.fingerprint,
            "source": policy.source,
            "time_zone": policy.time_zone,
            "calendar": calendar_source(policy),
            "grace_minutes": att.grace_minutes,
            "trust_state_keys": att.trust_state_keys,
            "repeat_window_minutes": att.repeat_window_minutes,
            "compensation": policy.compensation.enabled,
        },
        "warnings": calendar_warnings(policy, result.year, result.month),
        "days": days,
        "discipline": {
            "days": contributing,
            "sum": format_bp(result.deduction_sum_bp),
            "cap": format_bp(disc.monthly_cap_bp),
            "deduction": format_bp(result.discipline_deduction_bp),
            "component": format_bp(result.discipline_bp),
            "codes": dict(sorted(result.codes.items())),
        },
        "performance": {
            "activities": activities,
            "claimed_minutes": result.claimed_minutes,
            "approved_minutes": result.approved_minutes,
            "effective_minutes": result.effective_minutes,
            "target_minutes": result.target_minutes,
            "target_rule": target_rule,
            "component": format_bp(result.performance_bp),
            "capped_at": "100%",
        },
        "score": {
            "formula": formula,
            "performance_component": format_bp(result.performance_bp),
            "discipline_component": format_bp(result.discipline_bp),
            "final": format_bp(result.score_bp),
            "allowance_deduction": format_bp(result.allowance_deduction_bp),
        },
        "summary": result.summary(),
    }
