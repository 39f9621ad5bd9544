"""The monthly recap: many employees' results, read from what the scoring workers stored — never scored here.

Scoring is background work (server/services/scoring_queue.py): whatever changes a unit-month marks it stale
(server/services/stale.py) and a worker rescores it within seconds. The recap (the page, GET
/api/v1/results, the CSV and XLSX exports, the charts) reads the stored rows only, so a ministry of
30,000 employees is one indexed read, sorted and paged by the database, whatever else is going on.

What the reader is told instead of waiting:
- a unit-month marked stale (or holding a result under a policy that is no longer the one in force) is
  *recalculating*: its stored figures are shown, flagged, until the worker has rescored it;
- a member of such a unit-month with no stored result yet (a new employee, a month never scored) is a row
  *not scored yet* ("belum dihitung"), with no figures rather than zeros;
- a unit of the reader's with no stored result at all that month and no mark (a month no worker ever
  scored: data loaded behind the server's back, a server that was not running) is marked here — queued,
  not scored — so the next look finds it recalculating, then scored.

The rows are one per employee and unit of the month: an employee transferred mid-month has a row in each
unit, for that unit's days (the server never deletes an employee; a row whose employee is gone anyway is
named by its NIP). Order: by unit, name and NIP (or the column asked for, then those), stored rows first,
the rows not scored yet after them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from scoring import InputError
from server.auth import Scope
from server.models import Employee
from server.results_models import MonthlyScore
from server.services.attendance import WIB, unit_zones
from server.services.members import unit_members
from server.services.month import CODES, policy_for
from server.services.stale import mark_stale
from server.stale_models import StaleUnitMonth

SORTABLE = ("nip", "name", "unit", *CODES, "deduction", "activity", "score")
_BY_NIP = 2000  # bounded IN lists (SQLite caps bound variables)


@dataclass
class RecapRow:
    nip: str
    name: str
    unit_code: str
    position: str
    counts: dict[str, int]
    deduction_bp: int
    activity_minutes: int
    score_bp: int
    scored: bool = True  # False: a member with no stored result yet ("belum dihitung"); the figures are zeros
    recalculating: bool = False  # the unit-month is being rescored: the figures are the last stored ones

    def as_dict(self) -> dict[str, object]:
        figures: dict[str, object] = {
            **{code: self.counts.get(code, 0) for code in CODES},
            "deduction_percent": self.deduction_bp / 100,
            "activity_minutes": self.activity_minutes,
            "score_percent": self.score_bp / 100,
        }
        if not self.scored:
            figures = dict.fromkeys(figures)
        return {
            "nip": self.nip,
            "name": self.name,
            "unit": self.unit_code,
            "position": self.position,
            **figures,
            "scored": self.scored,
            "recalculating": self.recalculating,
        }


@dataclass
class Recap:
    month: date
    rows: list[RecapRow]
    total: int  # rows matching, over all pages
    units: list[str]  # the units of the employees in scope
    recalculating: list[str] = field(default_factory=list)  # of those, the units whose month is being rescored


def _placeholders(dialect: str) -> Any:
    count = 0

    def next_one() -> str:
        nonlocal count
        count += 1
        return f"${count}" if dialect == "postgres" else "?"

    return next_one


def _code(dialect: str, code: str) -> str:
    assert code in CODES  # never a reader's text in the SQL
    if dialect == "postgres":
        return f"COALESCE((s.\"codes\"->>'{code}')::int, 0)"
    return f"COALESCE(json_extract(s.\"codes\", '$.{code}'), 0)"


def _keys(dialect: str, sort: str) -> list[str]:
    """The sort keys: the column asked for, then unit, name (case-blind) and NIP (the database's collation:
    sorted by unit first, the (unit_code, year, month) index gives the order and only each unit's rows
    are sorted by name)."""
    simple = {
        "nip": 's."nip"',
        "name": 'lower(e."name")',
        "unit": 's."unit_code"',
        "deduction": 's."allowance_deduction_bp"',
        "activity": 's."effective_minutes"',
        "score": 's."score_bp"',
    }
    first = simple[sort] if sort in simple else _code(dialect, sort)
    return list(dict.fromkeys([first, 's."unit_code"', 'lower(e."name")', 's."nip"']))


def _in(dialect: str, column: str, values: Sequence[str], mark: Any, params: list[Any]) -> str:
    if dialect == "postgres":
        params.append(list(values))
        return f"{column} = ANY({mark()}::varchar[])"
    params.extend(values)
    return f"{column} IN ({', '.join(mark() for _ in values)})" if values else "0"


async def scope_units(scope: Scope) -> list[str]:
    """The units of the employees in scope (the recap's units, as the unit filter lists them)."""
    if not scope.personnel:
        return []
    if scope.employee_nips is not None:
        nips = sorted(scope.employee_nips)
        found: set[str] = set()
        for start in range(0, len(nips), _BY_NIP):
            query = Employee.filter(nip__in=nips[start : start + _BY_NIP]).distinct()
            found.update(await query.values_list("unit_id", flat=True))
        return sorted(found)
    # each unit probed for one employee (the employee table's unit index), not a read of every employee
    client: BaseDBAsyncClient = Employee._meta.db
    dialect = client.capabilities.dialect
    mark = _placeholders(dialect)
    params: list[Any] = []
    within = (
        "" if scope.unit_codes is None else " AND " + _in(dialect, 'u."code"', sorted(scope.unit_codes), mark, params)
    )
    found_units = await client.execute_query_dict(
        'SELECT u."code" AS "code" FROM "unit" u '
        'WHERE EXISTS (SELECT 1 FROM "employee" e WHERE e."unit_id" = u."code")'
        f"{within} ORDER BY 1",
        params,
    )
    return [row["code"] for row in found_units]


async def read_recap(
    scope: Scope,
    month: date,
    *,
    limit: int | None = None,
    offset: int = 0,
    nip: str | None = None,
    category: str | None = None,
    sort: str = "unit",
    descending: bool = False,
) -> Recap:
    """The recap of ``month`` for the employees ``scope`` sees: ``limit`` rows from ``offset`` (all: None),
    of one employee (``nip``) or of those with at least one day of ``category``, sorted by ``sort``."""
    policy = policy_for(WIB)
    if policy.effective_from > month:  # as the scoring says it: nothing can be scored, so nothing is queued
        raise InputError(f"policy '{policy.name}' is in force from {policy.effective_from}, not in {month:%Y-%m}")
    units = await scope_units(scope)
    if not units:
        return Recap(month, [], 0, [])
    client: BaseDBAsyncClient = MonthlyScore._meta.db
    dialect = client.capabilities.dialect
    nips = sorted(scope.employee_nips) if scope.employee_nips is not None else None
    if nip is not None:
        if nips is not None and nip not in nips:
            return Recap(month, [], 0, units)
        nips = [nip]

    marked = set(
        await StaleUnitMonth.filter(unit_code__in=units, year=month.year, month=month.month).values_list(
            "unit_code", flat=True
        )
    )
    marked |= await _queue_never_scored(client, dialect, units, marked, month)

    def matching(within: Sequence[str]) -> tuple[str, list[Any], Any]:
        return _matching(dialect, month, within, nips, category)

    # Counted per unit without the employee table (the server never deletes an employee, so every stored row
    # has one): an index-only read of the (unit_code, year, month) index, in the database's order of units.
    condition, params, _ = matching(units)
    per_unit = [
        (row["unit_code"], int(row["n"]))
        for row in await client.execute_query_dict(
            f'SELECT s."unit_code" AS "unit_code", count(*) AS "n" FROM "monthly_score" s WHERE {condition} '
            'GROUP BY s."unit_code" ORDER BY s."unit_code"',
            params,
        )
    ]
    stored_total = sum(n for _, n in per_unit)

    unscored = [] if category is not None else await _not_scored(sorted(marked), month, nips)
    total = stored_total + len(unscored)
    wanted = total - offset if limit is None else min(limit, total - offset)
    rows: list[RecapRow] = []
    if wanted > 0 and offset < stored_total:
        sort = sort if sort in SORTABLE else "unit"
        within, skip = list(units), offset
        if sort == "unit":  # sorted by unit first: only the units the page spans are read and sorted
            within, skip = _span(per_unit[::-1] if descending else per_unit, offset, wanted)
        condition, params, mark = matching(within)
        found = await _page(client, condition, params, mark, sort, descending, wanted, skip)
        rows, outdated = await _stored_rows(found, marked)
        if outdated:
            await mark_stale((unit, month.year, month.month) for unit in outdated)
            marked |= outdated
    if len(rows) < max(wanted, 0):
        start = max(0, offset - stored_total)
        rows.extend(unscored[start : start + wanted - len(rows)])
    return Recap(month, rows, total, units, sorted(marked))


def _matching(
    dialect: str, month: date, within: Sequence[str], nips: Sequence[str] | None, category: str | None
) -> tuple[str, list[Any], Any]:
    """The stored rows' condition for the units ``within`` (its SQL, parameters, next placeholder)."""
    mark = _placeholders(dialect)
    params: list[Any] = [month.year, month.month]
    where = [f's."year" = {mark()}', f's."month" = {mark()}', _in(dialect, 's."unit_code"', within, mark, params)]
    if nips is not None:
        where.append(_in(dialect, 's."nip"', nips, mark, params))
    if category is not None:
        where.append(f"{_code(dialect, category)} > 0")
    return " AND ".join(where), params, mark


async def _page(
    client: BaseDBAsyncClient,
    condition: str,
    params: list[Any],
    mark: Any,
    sort: str,
    descending: bool,
    limit: int,
    skip: int,
) -> list[dict[str, Any]]:
    """``limit`` stored rows matching ``condition`` from ``skip``, sorted by ``sort``."""
    keys = _keys(client.capabilities.dialect, sort)
    direction = " DESC" if descending else ""
    columns = (
        's."nip", e."name", s."unit_code", e."position", s."codes", s."allowance_deduction_bp", '
        's."effective_minutes", s."score_bp", s."policy_fingerprint"'
    )
    rows_of = f'FROM "monthly_score" s LEFT JOIN "employee" e ON e."nip" = s."nip" WHERE {condition}'
    if sort == "unit":  # a unit or two (read_recap's span): sorted whole, in order of the unit index
        order = ", ".join(f"{key}{direction}" for key in keys)
        return await client.execute_query_dict(
            f"SELECT {columns} {rows_of} ORDER BY {order} LIMIT {mark()} OFFSET {mark()}", [*params, limit, skip]
        )
    # The whole month by another column: the page's ids are picked by sorting the narrow keys only (no spill
    # to disk for 30,000), then only the page's rows are read whole.
    order = ", ".join(f"k{n}{direction}" for n in range(len(keys)))
    picked = ", ".join(f"{key} AS k{n}" for n, key in enumerate(keys))
    return await client.execute_query_dict(
        f'WITH page AS (SELECT s."id" AS "id", {picked} {rows_of} ORDER BY {order} '
        f"LIMIT {mark()} OFFSET {mark()}) "
        f"SELECT {columns}, {', '.join(f'page.k{n}' for n in range(len(keys)))} FROM page "
        f'JOIN "monthly_score" s ON s."id" = page."id" LEFT JOIN "employee" e ON e."nip" = s."nip" '
        f"ORDER BY {', '.join(f'page.k{n}{direction}' for n in range(len(keys)))}",
        [*params, limit, skip],
    )


def _span(per_unit: list[tuple[str, int]], offset: int, wanted: int) -> tuple[list[str], int]:
    """The units (in page order, with their row counts) that rows ``offset`` to ``offset + wanted`` fall in, and
    the offset of the first of those rows within them."""
    within: list[str] = []
    skip = 0
    before = 0
    for unit, count in per_unit:
        if before + count > offset and before < offset + wanted:
            if not within:
                skip = offset - before
            within.append(unit)
        before += count
    return within, skip


async def _stored_rows(found: list[dict[str, Any]], marked: set[str]) -> tuple[list[RecapRow], set[str]]:
    """The page's stored rows; one under a policy that is not the one in force any more (a release changed
    it) is recalculating too: its unit-month is queued, as any change would have."""
    zones = await unit_zones()
    fingerprints: dict[str, str] = {}
    outdated: set[str] = set()
    rows = []
    for row in found:
        unit = row["unit_code"]
        if unit not in fingerprints:
            fingerprints[unit] = policy_for(zones.get(unit, WIB)).fingerprint
        if row["policy_fingerprint"] != fingerprints[unit] and unit not in marked:
            outdated.add(unit)
        codes = row["codes"]
        codes = json.loads(codes) if isinstance(codes, str | bytes) else dict(codes or {})
        rows.append(
            RecapRow(
                row["nip"],
                row["name"] or row["nip"],
                unit,
                row["position"] or "",
                {code: int(codes.get(code, 0)) for code in CODES},
                row["allowance_deduction_bp"],
                row["effective_minutes"],
                row["score_bp"],
                recalculating=unit in marked,
            )
        )
    for row_view in rows:
        row_view.recalculating = row_view.recalculating or row_view.unit_code in outdated
    return rows, outdated


async def _queue_never_scored(
    client: BaseDBAsyncClient, dialect: str, units: list[str], marked: set[str], month: date
) -> set[str]:
    """The units with no stored result for ``month`` and no mark: queued for the workers (a month up to the
    current one only; a month still to come is scored when it comes). Returns them."""
    today = datetime.now(UTC).astimezone(WIB).date()
    if month > today.replace(day=1):
        return set()
    # (a month before the policy came into force never gets here: read_recap refused it, so the workers are
    # never handed a month they cannot score)
    unmarked = [u for u in units if u not in marked]
    if not unmarked:
        return set()
    # one index probe per unit (the (unit_code, year, month) index), not a read of every row of the month
    mark = _placeholders(dialect)
    if dialect == "postgres":
        units_sql, params = f"SELECT unnest({mark()}::varchar[]) AS code", [unmarked]
    else:
        units_sql, params = "VALUES " + ", ".join(f"({mark()})" for _ in unmarked), list(unmarked)
        units_sql = f"SELECT column1 AS code FROM ({units_sql})"
    probe = (
        f'SELECT u.code AS "unit_code" FROM ({units_sql}) AS u WHERE EXISTS (SELECT 1 FROM "monthly_score" s '
        f'WHERE s."unit_code" = u.code AND s."year" = {mark()} AND s."month" = {mark()})'
    )
    having = await client.execute_query_dict(probe, [*params, month.year, month.month])
    empty = set(unmarked) - {row["unit_code"] for row in having}
    if empty:
        await mark_stale((unit, month.year, month.month) for unit in empty)
    return empty


async def _not_scored(units: list[str], month: date, nips: list[str] | None) -> list[RecapRow]:
    """The members of the unit-months being rescored that have no stored result yet, by unit and name."""
    if not units:
        return []
    days_first, days_last = month, _last_day(month)
    stored = set(
        await MonthlyScore.filter(unit_code__in=units, year=month.year, month=month.month).values_list(
            "unit_code", "nip"
        )
    )
    wanted = None if nips is None else set(nips)
    missing: list[tuple[str, str]] = []
    for unit in units:
        for member in await unit_members(unit, days_first, days_last):
            if (unit, member) not in stored and (wanted is None or member in wanted):
                missing.append((unit, member))
    people: dict[str, tuple[str, str]] = {}
    everyone = sorted({member for _, member in missing})
    for start in range(0, len(everyone), _BY_NIP):
        chunk = everyone[start : start + _BY_NIP]
        for nip, name, position in await Employee.filter(nip__in=chunk).values_list("nip", "name", "position"):
            people[nip] = (name, position or "")
    rows = [
        RecapRow(
            member,
            *people[member][:1],
            unit,
            people[member][1],
            dict.fromkeys(CODES, 0),
            0,
            0,
            0,
            scored=False,
            recalculating=True,
        )
        for unit, member in missing
        if member in people
    ]
    rows.sort(key=lambda r: (r.unit_code, r.name.casefold(), r.nip))
    return rows


def _last_day(month: date) -> date:
    following = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
    return date.fromordinal(following.toordinal() - 1)
