"""National-scale scoring benchmark: a fixed past month (2026-10) for N employees in N/1000 units, generated
directly in PostgreSQL, then scored by the month-end run (`kinerja server score-month`) with one and with
two worker processes sharing the queue (server/services/scoring_queue.py).

Prints employee-months/s for each, the ratio two/one, and each process's peak RSS. The month is fixed, so
the figures do not depend on today's date. Creates and drops its own database (KINERJA_BENCH_PG_URL,
default postgres://postgres@127.0.0.1:5432/test names the server). Punches are generated server-side
(INSERT ... SELECT over generate_series, PostgreSQL's own bulk path; units and employees go in by COPY):
two a working day per employee, arrivals spread over 07:00-08:14 so lateness codes occur.
Run: .venv/bin/python bench/bench_national.py [--employees 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
from tortoise.transactions import in_transaction

from server.db import close_database, open_database
from server.partitions import ensure_months

REPO = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get("KINERJA_BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/test")
MONTH = "2026-10"
PER_UNIT = 1000

_PUNCHES = """
INSERT INTO "punch" ("device_serial", "pin", "punched_at", "utc_offset_minutes", "state", "verify", "unit_code",
                     "gateway_id", "batch_id", "flag", "received_at", "employee_nip")
SELECT 'ZK-' || e."unit_id", e."nip", d + make_interval(mins => m), 420, s, 1, e."unit_id", 'gw-' || e."unit_id",
       'bench', NULL, now(), e."nip"
FROM "employee" e
CROSS JOIN generate_series(timestamptz '2026-10-01 00:00+07', timestamptz '2026-10-31 00:00+07', interval '1 day') d
CROSS JOIN LATERAL (VALUES (0, 420 + (hashtext(e."nip" || d::text) & 127) % 75), (1, 965)) AS p(s, m)
WHERE extract(isodow FROM d AT TIME ZONE 'Asia/Jakarta') < 6
"""


async def generate(url: str, employees: int) -> float:
    started = time.perf_counter()
    connection = await asyncpg.connect(url)
    try:
        units = max(1, employees // PER_UNIT)
        await connection.copy_records_to_table(
            "unit", columns=["code", "name", "kind"], records=[(f"u{u:04d}", f"Unit {u}", "upt") for u in range(units)]
        )
        records = ((f"19800101{n:010d}", f"Pegawai {n}", f"u{n % units:04d}", "") for n in range(employees))
        await connection.copy_records_to_table(
            "employee", columns=["nip", "name", "unit_id", "position"], records=list(records)
        )
        await connection.execute(_PUNCHES)
        await connection.execute("ANALYZE")
    finally:
        await connection.close()
    return time.perf_counter() - started


async def queue(url: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute('DELETE FROM "monthly_score"; DELETE FROM "stale_unit_month"')
        await connection.execute(
            'INSERT INTO "stale_unit_month" ("unit_code", "year", "month", "version", "marked_at") '
            'SELECT "code", 2026, 10, 1, now() FROM "unit"'
        )
    finally:
        await connection.close()


def run_workers(url: str, count: int) -> tuple[float, list[int], list[float]]:
    """Start `count` score-month processes on the queue; wall time, each one's peak RSS (KiB) and CPU
    seconds (user + system: on a machine others load, the wall time says more about them than us)."""
    env = {**os.environ, "KINERJA_DB_URL": url}
    kinerja = str(Path(sys.executable).parent / "kinerja")
    started = time.perf_counter()
    procs = [
        subprocess.Popen([kinerja, "server", "score-month", MONTH, "--queued-only"], env=env, cwd=REPO)
        for _ in range(count)
    ]
    peaks, cpu = [], []
    for proc in procs:
        _, status, usage = os.wait4(proc.pid, 0)
        if status != 0:
            raise SystemExit(f"a worker failed: status {status}")
        peaks.append(usage.ru_maxrss)
        cpu.append(usage.ru_utime + usage.ru_stime)
    return time.perf_counter() - started, peaks, cpu


async def scored(url: str) -> int:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval('SELECT count(*) FROM "monthly_score" WHERE "year" = 2026 AND "month" = 10')
    finally:
        await connection.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--employees", type=int, default=100_000)
    args = parser.parse_args()
    name = f"kinerja_national_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = urlsplit(ADMIN_URL)._replace(path=f"/{name}").geturl()
    try:
        context = await open_database(url)
        async with in_transaction("postgres") as tx:  # the month's own partition, not the default one
            await ensure_months(tx, [date(2026, 10, 1)])
        await close_database(context)
        took = await generate(url, args.employees)
        punches = args.employees * 22 * 2
        print(f"{args.employees:,} employees in {max(1, args.employees // PER_UNIT):,} units, month {MONTH}, "
              f"~{punches:,} punches generated in {took:.1f} s, {os.cpu_count()} cores")  # fmt: skip
        rates = {}
        for count in (1, 2):
            await queue(url)
            load = os.getloadavg()[0]
            wall, peaks, cpu = run_workers(url, count)
            done = await scored(url)
            assert done == args.employees, f"{done} of {args.employees} scored"
            rates[count] = done / wall
            peak_text = ", ".join(f"{p / 1024:.0f} MiB" for p in peaks)
            cpu_text = ", ".join(f"{c:.0f} s" for c in cpu)
            rate = f"{rates[count]:,.0f}/s"
            print(f"{count} worker(s): {done:,} employee-months in {wall:.1f} s = {rate}; peak RSS {peak_text}; "
                  f"CPU {cpu_text} ({sum(cpu) * 1000 / done:.2f} ms per employee-month); "
                  f"load {load:.1f} before, {os.getloadavg()[0]:.1f} after")  # fmt: skip
        print(f"ratio two/one: {rates[2] / rates[1]:.2f}")
    finally:
        admin = await asyncpg.connect(ADMIN_URL)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
