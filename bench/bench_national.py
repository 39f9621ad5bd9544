"""National-scale scoring benchmark: a fixed past month (2026-10) for N employees in N/1000 units, generated
directly in PostgreSQL, then scored by the month-end run (`kinerja server score-month`) with one and with
two worker processes sharing the queue (server/services/scoring_queue.py).

Prints employee-months/s for each, the ratio two/one, each process's peak RSS, and the CPU per
employee-month of the workers and of the PostgreSQL backends serving them (read from /proc: the server
must run on this machine for that figure; on a shared machine the CPU says more than the wall time).
The month is fixed, so the figures do not depend on today's date. Creates and drops its own database
(KINERJA_BENCH_PG_URL, default postgres://postgres@127.0.0.1:5432/test names the server), also when
interrupted (Ctrl-C, SIGTERM, SIGHUP: the workers are killed first). Punches are generated server-side
(INSERT ... SELECT over generate_series, PostgreSQL's own bulk path, 100 units per statement; units and
employees go in by COPY, streamed): two a working day per employee, arrivals spread over 07:00-08:14 so
lateness codes occur; the month is then vacuumed and analysed, as a month past would be.
Run: .venv/bin/python bench/bench_national.py [--employees 100000] [--generate-only] [--profile DIR]
(from a clone: python3 -m venv .venv && .venv/bin/pip install -e ".[test]" first; 1,000,000 employees
need ~15 GB of disk for the database and its WAL)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
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
WHERE extract(isodow FROM d AT TIME ZONE 'Asia/Jakarta') < 6 AND e."unit_id" = ANY($1::varchar[])
"""
UNITS_PER_STATEMENT = 100  # punches generated for this many units at once: a commit (and a line) each


async def generate(url: str, employees: int) -> float:
    started = time.perf_counter()
    connection = await asyncpg.connect(url)
    try:
        units = max(1, employees // PER_UNIT)
        await connection.copy_records_to_table(
            "unit", columns=["code", "name", "kind"], records=[(f"u{u:04d}", f"Unit {u}", "upt") for u in range(units)]
        )
        records = ((f"19800101{n:010d}", f"Pegawai {n}", f"u{n % units:04d}", "") for n in range(employees))
        await connection.copy_records_to_table(  # streamed from the generator: bounded memory at any N
            "employee", columns=["nip", "name", "unit_id", "position"], records=records
        )
        for start in range(0, units, UNITS_PER_STATEMENT):
            codes = [f"u{u:04d}" for u in range(start, min(units, start + UNITS_PER_STATEMENT))]
            await connection.execute(_PUNCHES, codes)
            if units > UNITS_PER_STATEMENT:
                took = time.perf_counter() - started
                print(f"  punches of {start + len(codes):,} of {units:,} units in {took:.0f} s", flush=True)
        # As a month's punches would be by its end: vacuumed and analysed (else autovacuum does it while the
        # workers score, on the same cores).
        await connection.execute("VACUUM (ANALYZE)")
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


_BACKENDS = """
SELECT "pid", "backend_type" = 'client backend' AS "client" FROM pg_stat_activity
WHERE "datname" = current_database() AND "pid" <> pg_backend_pid()
"""


def _cpu_of(pid: int) -> tuple[float, float] | None:
    """A process's CPU seconds (user, system) from /proc, None once it is gone (or not on Linux)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


async def run_workers(
    url: str, count: int, profile: Path | None = None
) -> tuple[float, list[int], list[float], tuple[float, float], float]:
    """Start `count` score-month processes on the queue; wall time, each one's peak RSS (KiB) and CPU
    seconds (user + system: on a machine others load, the wall time says more about them than us), and
    the CPU seconds of the PostgreSQL backends serving the workers meanwhile (total, system) and of the server's own
    processes on this database (autovacuum), sampled from /proc every 0.2 s (a backend's last fraction of a
    second may be missed). The server shares the cores: what it spends, the workers do not get."""
    env = {**os.environ, "KINERJA_DB_URL": url}
    kinerja = str(Path(sys.executable).parent / "kinerja")
    sampler = await asyncpg.connect(url)
    backends: dict[int, tuple[float, float]] = {}
    others: dict[int, tuple[float, float]] = {}
    started = time.perf_counter()
    procs = []
    try:
        for n in range(count):
            command = [kinerja, "server", "score-month", MONTH, "--queued-only"]
            if profile is not None:  # the worker under cProfile: slower, but says where its time goes
                command = [sys.executable, "-m", "cProfile", "-o", str(profile / f"worker-{count}-{n}.prof"), *command]
            procs.append(subprocess.Popen(command, env=env, cwd=REPO))
        peaks: dict[int, int] = {}
        cpu: dict[int, float] = {}
        while len(peaks) < len(procs):
            for row in await sampler.fetch(_BACKENDS):
                seen = _cpu_of(row["pid"])
                if seen is not None:
                    found = backends if row["client"] else others
                    found[row["pid"]] = max(found.get(row["pid"], (0.0, 0.0)), seen, key=sum)
            for proc in procs:
                if proc.pid in peaks:
                    continue
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid == 0:
                    continue
                proc.returncode = status
                if status != 0:
                    raise SystemExit(f"a worker failed: status {status}")
                peaks[proc.pid] = usage.ru_maxrss
                cpu[proc.pid] = usage.ru_utime + usage.ru_stime
            await asyncio.sleep(0.2)
        wall = time.perf_counter() - started
    finally:
        for proc in procs:  # interrupted or failed: no worker outlives the bench (nor keeps its database)
            if proc.returncode is None:
                proc.kill()
                proc.wait()
        await sampler.close()
    return (
        wall,
        [peaks[p.pid] for p in procs],
        [cpu[p.pid] for p in procs],
        (sum(sum(c) for c in backends.values()), sum(system for _, system in backends.values())),
        sum(sum(c) for c in others.values()),
    )


async def scored(url: str) -> int:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval('SELECT count(*) FROM "monthly_score" WHERE "year" = 2026 AND "month" = 10')
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def month_database(prefix: str, *, keep: bool = False) -> AsyncIterator[tuple[str, str]]:
    """A database of its own, migrated, with 2026-10's partition made: (name, url); dropped afterwards
    unless ``keep`` (bench_recap's --keep)."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = urlsplit(ADMIN_URL)._replace(path=f"/{name}").geturl()
    try:
        context = await open_database(url)
        async with in_transaction("postgres") as tx:  # the month's own partition, not the default one
            await ensure_months(tx, [date(2026, 10, 1)])
        await close_database(context)
        yield name, url
    finally:
        if not keep:
            admin = await asyncpg.connect(ADMIN_URL)
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--employees", type=int, default=100_000)
    parser.add_argument("--generate-only", action="store_true", help="generate the month, time it, score nothing")
    parser.add_argument("--profile", type=Path, help="run each worker under cProfile, its profile in this folder")
    args = parser.parse_args()
    main_task = asyncio.current_task()
    assert main_task is not None
    for stop in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # interrupted or killed: still clean up (also
        asyncio.get_running_loop().add_signal_handler(stop, main_task.cancel)  # where a shell ignored SIGINT)
    async with month_database("kinerja_national") as (_name, url):
        took = await generate(url, args.employees)
        punches = args.employees * 22 * 2
        print(f"{args.employees:,} employees in {max(1, args.employees // PER_UNIT):,} units, month {MONTH}, "
              f"~{punches:,} punches generated in {took:.1f} s, {os.cpu_count()} cores; "
              f"database {await database_size(url)}; load {os.getloadavg()[0]:.1f}")  # fmt: skip
        if args.generate_only:
            return
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
        rates = {}
        for count in (1, 2):
            await queue(url)
            load = os.getloadavg()[0]
            wall, peaks, cpu, (database_cpu, system_cpu), vacuum_cpu = await run_workers(url, count, args.profile)
            done = await scored(url)
            assert done == args.employees, f"{done} of {args.employees} scored"
            rates[count] = done / wall
            peak_text = ", ".join(f"{p / 1024:.0f} MiB" for p in peaks)
            cpu_text = " + ".join(f"{c:.0f} s" for c in cpu)
            rate = f"{rates[count]:,.0f}/s"
            print(f"{count} worker(s): {done:,} employee-months in {wall:.1f} s = {rate}; peak RSS {peak_text}; "
                  f"worker CPU {cpu_text} ({sum(cpu) * 1000 / done:.2f} ms per employee-month); "
                  f"PostgreSQL backends' CPU {database_cpu:.0f} s ({database_cpu * 1000 / done:.2f} ms per "
                  f"employee-month; {system_cpu:.0f} s of it in the kernel), its autovacuum {vacuum_cpu:.0f} s; "
                  f"load {load:.1f} before, {os.getloadavg()[0]:.1f} after")  # fmt: skip
        print(f"ratio two/one: {rates[2] / rates[1]:.2f}")


async def database_size(url: str) -> str:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval("SELECT pg_size_pretty(pg_database_size(current_database()))")
    finally:
        await connection.close()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except (KeyboardInterrupt, asyncio.CancelledError):
        sys.exit("interrupted: the workers are stopped and the bench's database dropped")
