"""Benchmark: one month of scoring for a whole ministry, on one core.

Builds a month of realistic input for N employees (default 100,000) in memory first: office staff
and shift workers (rosters with night shifts), about two punches a working day with repeats, late
arrivals, early leaves, forgotten punches, absences, leave and official travel, and about two
activity claims a working day, most approved. Then it times two loops over the same input:

- baseline: a plain loop that only reads every input (each punch time, each excuse, each claim);
- scoring: ``score_month`` for every employee against a plan built once per policy and month.

Both run in this one thread, so on one core. It prints wall and CPU seconds (CPU time is the figure
to trust on a machine other processes share), employee-days, microseconds per employee-day, the
ratio scoring/baseline, and peak memory (resident set: after building the input, after each loop).
Target: scoring < 10 s.

    .venv/bin/python bench/bench_scoring.py [--employees 100000] [--year 2025 --month 7] [--keep] [--pin 0]
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import resource
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scoring import Activity, Catalogue, Claim, ClaimState, EmployeeMonth, build_month_plan, load_policy, score_month

SECONDS_PER_DAY = 86_400

CATALOGUE = Catalogue(
    (
        Activity("LETTER", "Draft an official letter", 30, "3360.001"),
        Activity("MEETING", "Coordination meeting", 60, "3360.002"),
        Activity("REPORT", "Monitoring report", 120, "3360.003"),
        Activity("VISIT", "Field visit", 180, "3360.004"),
        Activity("DATA", "Beneficiary data verification", 15, "3360.005"),
    )
)
EXCUSE_KINDS = ("annual_leave", "sick_leave", "official_travel", "work_from_home", "important_reasons_leave")


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build_inputs(n: int, year: int, month: int, seed: int = 7) -> tuple[list[EmployeeMonth], list[EmployeeMonth]]:
    """Office employees and shift workers (about 5 %), deterministic for a seed."""
    rnd = random.Random(seed)
    office_plan = build_month_plan(load_policy("national-common"), year, month)
    slots = office_plan.office_slots
    first = office_plan.first_day
    ndays = len(office_plan.days)
    activities = CATALOGUE.activities
    approved, submitted, rejected = ClaimState.APPROVED, ClaimState.SUBMITTED, ClaimState.REJECTED
    office: list[EmployeeMonth] = []
    shifts: list[EmployeeMonth] = []
    shift_codes = ("P", "S", "M")
    rehab_plan = build_month_plan(load_policy("rehab-centre-shifts"), year, month)
    for e in range(n):
        nip = f"19{e:016d}"
        times: list[int] = []
        claims: list[Claim] = []
        excuses: dict[date, str] = {}
        roster: dict[date, str] | None = None
        if e % 20 == 19:  # a shift worker: four days on, two off, rotating shifts
            roster = {}
            plan_slots = []
            for d in range(ndays):
                if (d + e) % 6 < 4:
                    day = first + timedelta(days=d)
                    roster[day] = shift_codes[(d // 6 + e) % 3]
            plan_slots = rehab_plan.shift_slots(roster)[0]
        else:
            plan_slots = slots
        for slot in plan_slots:
            r = rnd.random()
            if r < 0.03:
                excuses[slot.date] = EXCUSE_KINDS[rnd.randrange(len(EXCUSE_KINDS))]
                continue
            if r < 0.05:
                continue  # absent
            late = int(rnd.expovariate(1 / 6) * 60) - 600  # most arrive before the start
            arrive = slot.start + late + rnd.randrange(60)
            if rnd.random() < 0.97:
                times.append(arrive)
                if rnd.random() < 0.1:
                    times.append(arrive + rnd.randrange(5, 120))  # pressed again
            leave = slot.end + rnd.randrange(-20 * 60, 45 * 60)
            if rnd.random() < 0.97:
                times.append(leave)
            for _ in range(rnd.choice((1, 2, 2, 3))):
                act = activities[rnd.randrange(len(activities))]
                qty = 1 + rnd.randrange(3)
                start = arrive + rnd.randrange(30, 300) * 60
                state = approved if rnd.random() < 0.9 else (submitted if rnd.random() < 0.5 else rejected)
                claims.append(
                    Claim(f"{e}-{len(claims)}", act.code, start, qty, act.standard_minutes * qty, act.output, "", state)
                )
        times.sort()
        if rnd.random() < 0.02:  # a weekend day in the office
            saturday = next(i for i in range(ndays) if (first + timedelta(days=i)).weekday() == 5)
            midnight = office_plan.day0 + saturday * SECONDS_PER_DAY
            times += [midnight + 9 * 3600, midnight + 12 * 3600]
        emp = EmployeeMonth(nip, times, None, None, excuses, roster, claims)
        (shifts if roster is not None else office).append(emp)
    return office, shifts


def baseline(employees: list[EmployeeMonth]) -> int:
    """Read every input once: what any computation over the month must at least do."""
    total = 0
    for emp in employees:
        for t in emp.times:
            total += t & 1
        for day in emp.excuses:
            total += day.day
        for c in emp.claims:
            total += c.start + c.minutes + (c.state is ClaimState.APPROVED)
        if emp.roster:
            total += len(emp.roster)
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--employees", type=int, default=100_000)
    ap.add_argument("--year", type=int, default=2025)
    ap.add_argument("--month", type=int, default=7)
    ap.add_argument("--keep", action="store_true", help="keep every MonthlyResult in memory (not just totals)")
    ap.add_argument("--pin", type=int, metavar="CPU", help="pin to this CPU (the run is single-threaded anyway)")
    args = ap.parse_args()
    if args.pin is not None:
        os.sched_setaffinity(0, {args.pin})

    t0 = time.perf_counter()
    office, shifts = build_inputs(args.employees, args.year, args.month)
    everyone = office + shifts
    build_s = time.perf_counter() - t0
    punches = sum(len(e.times) for e in everyone)
    claims = sum(len(e.claims) for e in everyone)
    rss_inputs = rss_mib()
    gc.collect()
    gc.freeze()  # the input lives for the whole run: keep the collector from rescanning it

    t0, c0 = time.perf_counter(), time.process_time()
    baseline(everyone)
    base_s, base_cpu = time.perf_counter() - t0, time.process_time() - c0
    rss_base = rss_mib()

    t0, c0 = time.perf_counter(), time.process_time()
    office_plan = build_month_plan(load_policy("national-common"), args.year, args.month)
    rehab_plan = build_month_plan(load_policy("rehab-centre-shifts"), args.year, args.month)
    kept = []
    days = deduction = effective = 0
    for plan, group in ((office_plan, office), (rehab_plan, shifts)):
        for emp in group:
            result = score_month(plan, emp)
            days += result.planned_days
            deduction += result.allowance_deduction_bp
            effective += result.effective_minutes
            if args.keep:
                kept.append(result)
    score_s, score_cpu = time.perf_counter() - t0, time.process_time() - c0
    rss_score = rss_mib()

    print(f"bench_scoring  {datetime.now():%Y-%m-%d %H:%M}  Python {platform.python_version()}  single-threaded")
    print(f"month {args.year}-{args.month:02d}: {len(everyone):,} employees ({len(shifts):,} on shifts)")
    print(f"input: {days:,} planned employee-days, {punches:,} punches, {claims:,} activity claims")
    print(f"input built in {build_s:.1f} s; resident memory after building: {rss_inputs:,.0f} MiB")
    print(f"baseline (read every input once): {base_s:6.2f} s wall, {base_cpu:6.2f} s CPU")
    print(
        f"scoring (score_month, everyone):  {score_s:6.2f} s wall, {score_cpu:6.2f} s CPU"
        f"  = {score_s * 1e6 / days:.2f} us per employee-day  = {score_s / base_s:.1f} x baseline   (target < 10 s)"
    )
    print(f"load average while running: {os.getloadavg()[0]:.1f} (other processes share the cores)")
    print(f"peak resident memory: after baseline {rss_base:,.0f} MiB, after scoring {rss_score:,.0f} MiB"
          f" ({'all results kept' if args.keep else 'results summed, not kept'})")  # fmt: skip
    print(f"check: mean allowance deduction {deduction / len(everyone) / 100:.2f}%, effective minutes {effective:,}")


if __name__ == "__main__":
    main()
