"""The monthly recap as the bureau opens it, warm: a ministry's 30,000 employees, a fixed full past month.

The month is fixed (2026-10, as bench/bench_national.py), so the figures do not depend on today's date. The
data is generated directly in PostgreSQL (bench_national's generator: 1,000 employees a unit, two punches a
working day, arrivals spread so lateness codes occur), and the results are produced by the month-end run
(`kinerja server score-month`, two worker processes on the shared queue; then VACUUM ANALYZE, as autovacuum
would after such a write) — not by the view: the recap only
reads what the workers stored (server/services/recap.py). Then, over HTTP (the real app on a real port, its
own scoring worker off so nothing else runs meanwhile), warm (each measured after one untimed request):
- the recap's first page as the page shows it (GET /recap, 100 rows) and as the API gives it
  (GET /api/v1/results, its default limit 100);
- the whole recap walked page by page through the API (limit 1000, the API's largest; and limit 100);
- the baseline: the same rows read directly from the database with asyncpg (the first page's query, and all
  30,000 rows in one query), no HTTP, no scoping, no JSON;
and the ratios. Prints `uptime` before and after: the machine is shared.

Creates and drops its own database (KINERJA_BENCH_PG_URL, default postgres://postgres@127.0.0.1:5432/test
names the server). Run: .venv/bin/python bench/bench_recap.py [--employees 30000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
from aiohttp.test_utils import TestClient, TestServer

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_national import ADMIN_URL, PER_UNIT, generate, month_database, queue, run_workers, scored

from server.app import create_app
from server.auth import SESSION_COOKIE
from server.services.accounts import Role, UserAccount, hash_password, issue_api_token, start_session
from server.settings import ServerSettings

MONTH = "2026-10"
PAGE = 100  # the recap page's rows (server/pages/pages.py RECAP_PAGE) and the API's default limit
REPEATS = 5

# The recap's first page as server/services/recap.py asks it (bureau scope: every unit of the employees).
_BASELINE_PAGE = """
SELECT s."nip", e."name", s."unit_code", e."position", s."codes", s."allowance_deduction_bp",
       s."effective_minutes", s."score_bp", s."policy_fingerprint"
FROM "monthly_score" s JOIN "employee" e ON e."nip" = s."nip"
WHERE s."year" = 2026 AND s."month" = 10 AND s."unit_code" = ANY($1::varchar[])
ORDER BY s."unit_code", lower(e."name"), s."nip" LIMIT $2 OFFSET 0
"""
_BASELINE_ALL = _BASELINE_PAGE.replace("LIMIT $2 OFFSET 0", "")


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


async def timed(call: Callable[[], Awaitable[object]], repeats: int = REPEATS) -> tuple[float, float]:
    """(median, best) seconds of ``repeats`` calls, after one untimed (warm) call."""
    await call()
    took = []
    for _ in range(repeats):
        started = time.perf_counter()
        await call()
        took.append(time.perf_counter() - started)
    return statistics.median(took), min(took)


async def measure(url: str, employees: int) -> None:
    app = create_app(ServerSettings(db_url=url, score_worker=False), consume=False)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        user = await UserAccount.create(
            username=f"biro-{uuid.uuid4().hex[:6]}", display_name="Biro", role=Role.BUREAU_ADMIN,
            password_hash=hash_password("kata-sandi-bench-1"), unit_code=None, employee_nip=None,
        )  # fmt: skip
        headers = {"Authorization": f"Bearer {await issue_api_token(user, 'bench')}"}
        cookie, _ = await start_session(user)

        async def api(limit: int, offset: int = 0) -> dict:
            params = {"month": MONTH, "limit": limit, "offset": offset}
            response = await client.get("/api/v1/results", params=params, headers=headers)
            assert response.status == 200, await response.text()
            return await response.json()

        async def page() -> None:
            response = await client.get(f"/recap?month={MONTH}", cookies={SESSION_COOKIE: cookie})
            assert response.status == 200
            text = await response.text()
            assert text.count("<tr data-nip=") == min(PAGE, employees)

        async def walk(limit: int) -> None:
            seen = 0
            offset = 0
            while True:
                body = await api(limit, offset)
                seen += len(body["items"])
                assert not body["recalculating"]
                offset += limit
                if offset >= body["total"]:
                    break
            assert seen == employees, f"walked {seen} of {employees}"

        first = await api(PAGE)
        assert first["total"] == employees and not first["recalculating"] and all(r["scored"] for r in first["items"])
        html = await timed(page)
        api_first = await timed(lambda: api(PAGE))
        walk_1000 = await timed(lambda: walk(1000), repeats=3)
        walk_100 = await timed(lambda: walk(PAGE), repeats=1)

        connection = await asyncpg.connect(url)
        try:
            units = [r[0] for r in await connection.fetch('SELECT DISTINCT "unit_id" FROM "employee" ORDER BY 1')]
            base_page = await timed(lambda: connection.fetch(_BASELINE_PAGE, units, PAGE))
            base_all = await timed(lambda: connection.fetch(_BASELINE_ALL, units))
            plan = await connection.fetch("EXPLAIN (ANALYZE, BUFFERS) " + _BASELINE_PAGE, units, PAGE)
        finally:
            await connection.close()
    finally:
        await client.close()

    def ms(pair: tuple[float, float]) -> str:
        return f"{pair[0] * 1000:.1f} ms (best {pair[1] * 1000:.1f})"

    print(f"warm recap of {employees:,} employees, month {MONTH}, over HTTP (median of {REPEATS}):")
    print(f"  GET /recap, first page ({PAGE} rows, HTML): {ms(html)}")
    print(f"  GET /api/v1/results, first page (limit {PAGE}): {ms(api_first)}")
    pages_1000, pages_100 = -(-employees // 1000), -(-employees // PAGE)
    print(f"  the whole recap walked by pages of 1000 ({pages_1000} requests, median of 3): {ms(walk_1000)}")
    print(f"  the whole recap walked by pages of {PAGE} ({pages_100} requests, once): {ms(walk_100)}")
    print(f"  baseline, the first page's rows read directly (asyncpg, same query): {ms(base_page)}")
    print(f"  baseline, all {employees:,} rows read directly in one query: {ms(base_all)}")
    print(f"  ratios: API first page / baseline page {api_first[0] / base_page[0]:.1f}x; "
          f"walk by 1000 / baseline all {walk_1000[0] / base_all[0]:.1f}x")  # fmt: skip
    print("  the first page's plan: " + " | ".join(r[0].strip() for r in plan if "Execution" in r[0] or "Sort" in r[0]))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--employees", type=int, default=30_000)
    parser.add_argument("--keep", action="store_true", help="keep the database (its name is printed)")
    parser.add_argument("--database", help="measure again on a database an earlier --keep run left")
    args = parser.parse_args()
    print(f"start: {uptime()}")
    if args.database:
        url = urlsplit(ADMIN_URL)._replace(path=f"/{args.database}").geturl()
        connection = await asyncpg.connect(url)
        await connection.execute('DELETE FROM "stale_unit_month"')
        employees = await connection.fetchval('SELECT count(*) FROM "employee"')
        await connection.close()
        await measure(url, employees)
        print(f"end: {uptime()}")
        return
    async with month_database("kinerja_recap", keep=args.keep) as (name, url):
        if args.keep:
            print(f"kept afterwards: --database {name}")
        took = await generate(url, args.employees)
        units = max(1, args.employees // PER_UNIT)
        print(f"{args.employees:,} employees in {units:,} units, month {MONTH}, generated in {took:.1f} s")
        await queue(url)
        wall, peaks, *_cpu = await run_workers(url, 2)
        done = await scored(url)
        assert done == args.employees, f"{done} of {args.employees} scored"
        print(f"month-end run (2 score-month workers): {done:,} employee-months in {wall:.1f} s; "
              f"peak RSS {', '.join(f'{p / 1024:.0f} MiB' for p in peaks)}; {uptime()}")  # fmt: skip
        connection = await asyncpg.connect(url)
        await connection.execute('DELETE FROM "stale_unit_month"')  # none left anyway; the app's worker is off
        # what autovacuum does to a table just written (the visibility map lets the counts read the index only)
        await connection.execute("VACUUM ANALYZE")
        await connection.close()
        await measure(url, args.employees)  # the app opens the database itself
    print(f"end: {uptime()}")


if __name__ == "__main__":
    asyncio.run(main())
