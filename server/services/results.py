"""Monthly scores for a unit: read its punches, call the scoring library, store the results.

A thin adapter: all rules live in :mod:`scoring`; this module only knows where the inputs are and
where the results go. Recomputing a month is idempotent: a row whose explanation digest is unchanged
is left alone (``computed_at`` included), a changed one is updated in place, a new one is inserted.
Which policy applies is the policy book's answer for the unit and month, so a policy version that
takes effect next month never rewrites this month.

Leave, rosters and activity claims are passed in by the caller (their intake lives elsewhere).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from scoring import (
    Claim,
    EmployeeMonth,
    EscalationFlag,
    MonthlyResult,
    Policy,
    PolicyBook,
    absence_escalation,
    build_month_plan,
    explain_digest,
    explain_json,
    score_month,
    text_digest,
)
from server.models import DevicePin, Punch
from server.request_models import CorrectedPunch
from server.results_models import MonthlyScore
from server.services.members import go_live_of, unit_members

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
# Punches this far either side of the month are read too: a night shift on the last day ends next month.
_MARGIN = timedelta(days=1)
_CHUNK = 2000
# The "device" a corrected punch names in the explanation (an approved correction of attendance,
# server/request_models.py): the day's punches show which ones no device made.
CORRECTED = "koreksi"


@dataclass(frozen=True, slots=True)
class RecomputeReport:
    unit: str
    year: int
    month: int
    policy: str
    policy_fingerprint: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    employees: int = 0
    punches: int = 0
    results: list[MonthlyResult] = field(default_factory=list, compare=False, repr=False)


def _epoch_seconds(moment: datetime) -> int:
    if moment.tzinfo is None:  # the ORM hands back naive UTC where the backend keeps no zone
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _SECOND


async def compute_unit_month(
    unit_code: str,
    year: int,
    month: int,
    policy: Policy | PolicyBook,
    *,
    excuses: Mapping[str, Mapping[date, str]] | None = None,
    rosters: Mapping[str, Mapping[date, str]] | None = None,
    claims: Mapping[str, Sequence[Claim]] | None = None,
    days_off: Mapping[date, str] | None = None,
    open_from: date | None = None,
) -> RecomputeReport:
    """Score every employee of ``unit_code`` for ``year``-``month`` and store the results.

    ``excuses``, ``rosters`` and ``claims`` are keyed by NIP; ``open_from`` is the first day not over yet (its
    claims are not held against presence until it is). Punches flagged as suspect are left out.
    The employees are the unit's members that month (server/services/members.py), each scored only on
    the days they were in the unit, and only from the unit's go-live date.
    Raises :class:`scoring.ScoringError` subclasses for inputs the policy cannot score.
    """
    resolved = policy.resolve(year=year, month=month, unit=unit_code) if isinstance(policy, PolicyBook) else policy
    plan = build_month_plan(resolved, year, month, days_off, live_from=await go_live_of(unit_code), open_from=open_from)
    members = await unit_members(unit_code, plan.first_day, plan.days[-1].day)
    nips = list(members)
    pins: dict[tuple[str, str], str] = {}
    for unit_id, pin, nip in await DevicePin.filter(employee_id__in=nips).values_list("unit_id", "pin", "employee_id"):
        pins[(unit_id, pin)] = nip  # every unit's PIN of a member: a transferred employee punched at both

    times: dict[str, list[int]] = {nip: [] for nip in nips}
    states: dict[str, list[int]] = {nip: [] for nip in nips}
    devices: dict[str, list[str]] = {nip: [] for nip in nips}
    first = datetime.fromtimestamp(plan.day0, UTC) - _MARGIN
    last = datetime.fromtimestamp(plan.month_end, UTC) + _MARGIN
    count = 0
    for chunk_start in range(0, len(nips), _CHUNK):  # bounded IN lists (SQLite caps bound variables)
        chunk = nips[chunk_start : chunk_start + _CHUNK]
        chunk_set = set(chunk)
        chunk_pins = [key for key, nip in pins.items() if nip in chunk_set]
        who = Q(employee_nip__in=chunk)
        if chunk_pins:
            who |= Q(unit_code__in=sorted({u for u, _ in chunk_pins}), pin__in=sorted({p for _, p in chunk_pins}))
        rows = (
            await Punch.filter(who, punched_at__gte=first, punched_at__lt=last, flag__isnull=True)
            .order_by("punched_at", "id")
            .values_list("employee_nip", "unit_code", "pin", "punched_at", "state", "device_serial")
        )
        for employee_nip, punch_unit, pin, punched_at, state, serial in rows:
            nip = employee_nip or pins.get((punch_unit, pin))
            if nip not in chunk_set:
                continue  # a PIN of the same number in another unit, or someone else's punch
            times[nip].append(_epoch_seconds(punched_at))
            states[nip].append(state)
            devices[nip].append(serial)
            count += 1
    count += await _add_corrected(nips, first, last, times, states, devices)

    results = [
        score_month(
            plan,
            EmployeeMonth(
                nip,
                times[nip],
                states[nip],
                devices[nip],
                (excuses or {}).get(nip, {}),
                (rosters or {}).get(nip),
                (claims or {}).get(nip, ()),
                members[nip],
            ),
        )
        for nip in nips
    ]
    created, updated, unchanged = await _store(unit_code, year, month, results)
    await drop_non_members(unit_code, year, month, nips)
    return RecomputeReport(
        unit_code,
        year,
        month,
        resolved.name,
        resolved.fingerprint,
        created,
        updated,
        unchanged,
        len(nips),
        count,
        results,
    )


async def corrected_punches(nips: list[str], first: datetime, last: datetime) -> dict[str, list[tuple[int, int, str]]]:
    """Corrected punches (approved corrections, server/request_models.py) between ``first`` and ``last``, as
    (epoch seconds, state, "koreksi#<id>") per NIP: the scoring reads them beside the device punches."""
    found: dict[str, list[tuple[int, int, str]]] = {}
    for chunk_start in range(0, len(nips), _CHUNK):
        chunk = nips[chunk_start : chunk_start + _CHUNK]
        rows = await CorrectedPunch.filter(nip__in=chunk, punched_at__gte=first, punched_at__lt=last).values_list(
            "nip", "punched_at", "state", "id"
        )
        for nip, punched_at, state, row_id in rows:
            found.setdefault(nip, []).append((_epoch_seconds(punched_at), state, f"{CORRECTED}#{row_id}"))
    return found


async def punch_times(nip: str, first: datetime, last: datetime) -> list[int]:
    """One employee's punches from ``first`` to before ``last`` as the scoring reads them (unflagged device
    punches, by NIP or by any unit's PIN of theirs, and corrected punches), as sorted epoch seconds."""
    pins = set(await DevicePin.filter(employee_id=nip).values_list("unit_id", "pin"))
    who = Q(employee_nip=nip)
    if pins:
        who |= Q(unit_code__in=sorted({u for u, _ in pins}), pin__in=sorted({p for _, p in pins}))
    rows = await Punch.filter(who, punched_at__gte=first, punched_at__lt=last, flag__isnull=True).values_list(
        "employee_nip", "unit_code", "pin", "punched_at"
    )
    times = [_epoch_seconds(at) for employee_nip, unit, pin, at in rows if employee_nip == nip or (unit, pin) in pins]
    times += [at for at, _, _ in (await corrected_punches([nip], first, last)).get(nip, [])]
    return sorted(times)


async def _add_corrected(
    nips: list[str],
    first: datetime,
    last: datetime,
    times: dict[str, list[int]],
    states: dict[str, list[int]],
    devices: dict[str, list[str]],
) -> int:
    """Corrected punches appended to the device punches; the scoring sorts them in."""
    found = await corrected_punches(nips, first, last)
    for nip, punches in found.items():
        for at, state, device in punches:
            times[nip].append(at)
            states[nip].append(state)
            devices[nip].append(device)
    return sum(len(p) for p in found.values())


async def drop_non_members(unit_code: str, year: int, month: int, members: Iterable[str]) -> int:
    """Delete the unit-month's stored results of anyone no longer its member that month (a transfer dated
    back, a corrected history): the recap reads stored rows, and would go on showing them. Returns how many."""
    kept = set(members)
    stored = await MonthlyScore.filter(unit_code=unit_code, year=year, month=month).values_list("nip", flat=True)
    gone = sorted(set(stored) - kept)
    for start in range(0, len(gone), 1000):
        await MonthlyScore.filter(
            unit_code=unit_code, year=year, month=month, nip__in=gone[start : start + 1000]
        ).delete()
    return len(gone)


async def _store(unit_code: str, year: int, month: int, results: list[MonthlyResult]) -> tuple[int, int, int]:
    """Store the results: (created, updated, unchanged). A row whose digest is unchanged is left alone."""
    client = MonthlyScore._meta.db
    if client.capabilities.dialect == "postgres":
        return await _store_postgres(client, unit_code, year, month, results)
    return await _store_orm(unit_code, year, month, results)


# One statement per slice of results: the rows go in as arrays (one per column), sorted by NIP so two
# stores of the same unit-month lock its rows in the same order. An existing row is rewritten only when
# its digest changed (unchanged ones keep their computed_at); RETURNING says which rows were new.
_PG_STORE = """
WITH stored AS (
    INSERT INTO "monthly_score" ("nip", "unit_code", "year", "month", "policy_name", "policy_effective_from",
        "policy_fingerprint", "planned_days", "score_bp", "allowance_deduction_bp", "discipline_deduction_bp",
        "performance_bp", "discipline_bp", "effective_minutes", "target_minutes", "codes", "explain", "digest",
        "computed_at")
    SELECT t.nip, $1, $2, $3, t.policy_name, t.policy_effective_from, t.policy_fingerprint, t.planned_days,
           t.score_bp, t.allowance_deduction_bp, t.discipline_deduction_bp, t.performance_bp, t.discipline_bp,
           t.effective_minutes, t.target_minutes, t.codes::jsonb, t.explain, t.digest, $4
    FROM unnest($5::varchar[], $6::varchar[], $7::date[], $8::varchar[], $9::smallint[], $10::int[], $11::int[],
                $12::int[], $13::int[], $14::int[], $15::int[], $16::int[], $17::text[], $18::text[], $19::varchar[])
         AS t(nip, policy_name, policy_effective_from, policy_fingerprint, planned_days, score_bp,
              allowance_deduction_bp, discipline_deduction_bp, performance_bp, discipline_bp, effective_minutes,
              target_minutes, codes, explain, digest)
    ORDER BY t.nip
    ON CONFLICT ("nip", "unit_code", "year", "month") DO UPDATE SET
        "policy_name" = EXCLUDED."policy_name", "policy_effective_from" = EXCLUDED."policy_effective_from",
        "policy_fingerprint" = EXCLUDED."policy_fingerprint", "planned_days" = EXCLUDED."planned_days",
        "score_bp" = EXCLUDED."score_bp", "allowance_deduction_bp" = EXCLUDED."allowance_deduction_bp",
        "discipline_deduction_bp" = EXCLUDED."discipline_deduction_bp", "performance_bp" = EXCLUDED."performance_bp",
        "discipline_bp" = EXCLUDED."discipline_bp", "effective_minutes" = EXCLUDED."effective_minutes",
        "target_minutes" = EXCLUDED."target_minutes", "codes" = EXCLUDED."codes", "explain" = EXCLUDED."explain",
        "digest" = EXCLUDED."digest", "computed_at" = EXCLUDED."computed_at"
    WHERE "monthly_score"."digest" IS DISTINCT FROM EXCLUDED."digest"
    RETURNING ("xmax" = 0) AS "created"
)
SELECT count(*) FILTER (WHERE "created") AS "created", count(*) AS "written" FROM stored
"""  # WITH first: tortoise's execute_query fetches rows only for a statement that does not begin with INSERT
_PG_DIGESTS = """
SELECT "nip", "digest" FROM "monthly_score"
WHERE "unit_code" = $1 AND "year" = $2 AND "month" = $3 AND "nip" IN (SELECT unnest($4::varchar[]))
"""  # IN (SELECT unnest): hashed once, not a linear search per row in a generic plan (scoring_queue._PG_PUNCHES)
# Results per statement: each carries its explanation (~15 KB of JSON for a month of office days).
_PG_STORE_SLICE = 250


async def _store_postgres(
    client: BaseDBAsyncClient, unit_code: str, year: int, month: int, results: list[MonthlyResult]
) -> tuple[int, int, int]:
    """PostgreSQL: the results in a few set-based upserts, each explanation encoded to JSON once (its
    digest is of the same text), instead of an ORM object, a SELECT and an UPDATE per employee."""
    now = datetime.now(UTC)
    created = written = 0
    ordered = sorted(results, key=lambda r: r.nip)
    async with in_transaction(client.connection_name) as tx:
        for start in range(0, len(ordered), _PG_STORE_SLICE):
            part = ordered[start : start + _PG_STORE_SLICE]
            # The stored digests first: an unchanged row is not sent at all (sending and compressing its
            # explanation costs more than the comparison); a row stored meanwhile by someone else is still
            # compared by the upsert itself. The explanation goes in as the text encoded here, the column
            # being text (migration 0014: PostgreSQL parsing each into jsonb cost as much as the scoring).
            _, known = await tx.execute_query(_PG_DIGESTS, [unit_code, year, month, [r.nip for r in part]])
            digests = {row["nip"]: row["digest"] for row in known}
            columns: list[list[Any]] = [[] for _ in range(15)]
            for result in part:
                policy = result.policy
                explained = explain_json(result.explain())
                digest = text_digest(explained)
                if digests.get(result.nip) == digest:
                    continue
                row = (
                    result.nip, policy.name, policy.effective_from, policy.fingerprint, result.planned_days,
                    result.score_bp, result.allowance_deduction_bp, result.discipline_deduction_bp,
                    result.performance_bp, result.discipline_bp, result.effective_minutes, result.target_minutes,
                    json.dumps(dict(sorted(result.codes.items()))), explained, digest,
                )  # fmt: skip
                for column, value in zip(columns, row, strict=True):
                    column.append(value)
            if columns[0]:
                _, rows = await tx.execute_query(_PG_STORE, [unit_code, year, month, now, *columns])
                created += rows[0]["created"]
                written += rows[0]["written"]
    return created, written - created, len(results) - written


async def _store_orm(unit_code: str, year: int, month: int, results: list[MonthlyResult]) -> tuple[int, int, int]:
    now = datetime.now(UTC)
    created = updated = unchanged = 0
    async with in_transaction() as tx:
        existing: dict[str, MonthlyScore] = {}
        for chunk_start in range(0, len(results), _CHUNK):
            chunk = [r.nip for r in results[chunk_start : chunk_start + _CHUNK]]
            query = MonthlyScore.filter(nip__in=chunk, unit_code=unit_code, year=year, month=month)
            query = query.using_db(tx).select_for_update()
            existing.update((row.nip, row) for row in await query)
        new_rows = []
        for result in results:
            explained = result.explain()
            digest = explain_digest(explained)
            values = _row_values(unit_code, result, explained, digest)
            row = existing.get(result.nip)
            if row is None:
                new_rows.append(MonthlyScore(**values, computed_at=now))
                created += 1
            elif row.digest == digest:
                unchanged += 1
            else:
                row.update_from_dict({**values, "computed_at": now})
                await row.save(using_db=tx)
                updated += 1
        if new_rows:
            await MonthlyScore.bulk_create(new_rows, batch_size=500, using_db=tx)
    return created, updated, unchanged


def _row_values(unit_code: str, result: MonthlyResult, explained: dict, digest: str) -> dict[str, object]:
    policy = result.policy
    return {
        "nip": result.nip,
        "unit_code": unit_code,
        "year": result.year,
        "month": result.month,
        "policy_name": policy.name,
        "policy_effective_from": policy.effective_from,
        "policy_fingerprint": policy.fingerprint,
        "planned_days": result.planned_days,
        "score_bp": result.score_bp,
        "allowance_deduction_bp": result.allowance_deduction_bp,
        "discipline_deduction_bp": result.discipline_deduction_bp,
        "performance_bp": result.performance_bp,
        "discipline_bp": result.discipline_bp,
        "effective_minutes": result.effective_minutes,
        "target_minutes": result.target_minutes,
        "codes": dict(sorted(result.codes.items())),
        "explain": explained,
        "digest": digest,
    }


async def unit_month_scores(unit_code: str, year: int, month: int) -> list[MonthlyScore]:
    """The stored results of a unit's month, by NIP."""
    return await MonthlyScore.filter(unit_code=unit_code, year=year, month=month).order_by("nip")


async def absence_flags(nip: str, year: int) -> list[EscalationFlag]:
    """The year's escalation flags for unexcused absence (TK), from the stored monthly results.

    The employee's planned days (office days or rostered shifts) in the stored months decide what
    "consecutive working days" means; months not computed yet count neither way.
    """
    planned: list[date] = []
    absent: list[date] = []
    for explained in await MonthlyScore.filter(nip=nip, year=year).order_by("month").values_list("explain", flat=True):
        for entry in explained["days"]:
            status = entry.get("status")
            if status is None:
                continue
            day = date.fromisoformat(entry["date"])
            planned.append(day)
            if status == "absent":
                absent.append(day)
    return absence_escalation(sorted(absent), sorted(planned))  # a transfer's two units: one row each
