"""The scoring queue (server/services/scoring_queue.py): stale marks from ingest and edits, workers sharing
the queue with SKIP LOCKED, the version guard, and a killed worker's unit-month taken by another."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

import pytest

from server.activity_models import ExcuseRecord
from server.db import close_database, dialect_of, open_database
from server.models import DevicePin, Employee, Punch, Unit
from server.results_models import MonthlyScore
from server.services import month as month_service
from server.services import scoring_queue
from server.services.ingest import store_batch
from server.services.scoring_queue import claim, finish, score_unit_month, score_whole_month, work_once
from server.services.stale import mark_stale, stale_version
from server.stale_models import StaleUnitMonth
from wire.contract import PunchBatch, PunchRecord

REPO = Path(__file__).resolve().parent.parent
WIB = timezone(timedelta(hours=7))
MAY = date(2025, 5, 1)


async def seed_units(units: int, employees: int) -> None:
    for u in range(units):
        unit = await Unit.create(code=f"unit-{u:03d}", name=f"Unit {u}")
        for e in range(employees):
            nip = f"19800101200501{u:02d}{e:02d}"[:18]
            employee = await Employee.create(nip=nip, name=f"Pegawai {u}-{e}", unit=unit)
            await DevicePin.create(unit=unit, pin=str(e + 1), employee=employee)
            for day in (5, 6, 7):
                for clock in (time(7, 25 + e % 20), time(16, 5)):
                    at = datetime.combine(date(2025, 5, day), clock, WIB)
                    await Punch.create(
                        device_serial="ZK1", pin=str(e + 1), punched_at=at,
                        utc_offset_minutes=420, state=0, verify=1, unit_code=unit.code, gateway_id="gw", batch_id="b",
                    )  # fmt: skip


async def test_streaming_in_chunks_scores_what_the_pages_score(db_url: str) -> None:
    context = await open_database(db_url)
    try:
        await seed_units(1, 5)
        assert await score_unit_month("unit-000", 2025, 5, chunk=2) == 5  # three chunks: 2, 2, 1
        streamed = dict(await MonthlyScore.all().values_list("nip", "digest"))
        await MonthlyScore.all().delete()
        await StaleUnitMonth.all().delete()
        await month_service.unit_month("unit-000", MAY)  # nothing stored: the page scores it cold
        assert dict(await MonthlyScore.all().values_list("nip", "digest")) == streamed
        assert len(streamed) == 5
    finally:
        await close_database(context)


async def test_a_stored_punch_or_an_excuse_marks_its_unit_month_and_a_touch_meanwhile_keeps_the_mark(
    db_url: str,
) -> None:
    dialect = dialect_of(db_url)
    context = await open_database(db_url)
    try:
        await seed_units(1, 1)
        await StaleUnitMonth.all().delete()  # the seeding's own marks (employees, PINs)
        at = datetime(2025, 5, 31, 23, 30, tzinfo=WIB)  # within a day of June: both months read it
        punch = PunchRecord("1", at, 0, 1, 1)
        batch = PunchBatch("b-mark", "gw", "unit-000", "ZK1", (punch,), datetime.now(WIB))
        await store_batch(batch, dialect)
        marks = set(await StaleUnitMonth.all().values_list("unit_code", "year", "month", "version"))
        assert marks == {("unit-000", 2025, 5, 1), ("unit-000", 2025, 6, 1)}
        await store_batch(batch, dialect)  # a resend stores nothing new: no new touch
        assert await stale_version("unit-000", 2025, 5) == 1

        claimed = await claim(dialect, "w1", MAY)
        assert claimed is not None and (claimed.unit_code, claimed.month) == ("unit-000", 5)
        assert await claim(dialect, "w2", MAY) is None  # leased: another worker does not take it
        await record_excuse_for_may()
        assert await stale_version("unit-000", 2025, 5) == 2
        assert await finish(claimed, "w1") is False  # touched meanwhile: the mark stays, released
        again = await claim(dialect, "w2", MAY)
        assert again is not None and again.version == 2
        assert await finish(again, "w2") is True
        assert await stale_version("unit-000", 2025, 5) is None
    finally:
        await close_database(context)


async def record_excuse_for_may() -> None:
    employee = await Employee.first()
    assert employee is not None
    await ExcuseRecord.create(
        nip=employee.nip, unit_code="unit-000", kind="sick_leave", first_day=date(2025, 5, 6),
        last_day=date(2025, 5, 6), note="flu", recorded_by="admin",
    )  # fmt: skip


def _kinerja(*args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    return asyncio.create_subprocess_exec(  # type: ignore[return-value]
        str(Path(sys.executable).parent / "kinerja"), *args, env=env, cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def test_two_worker_processes_share_the_month_end_run_without_scoring_a_unit_twice(postgres_url: str) -> None:
    context = await open_database(postgres_url)
    try:
        await seed_units(12, 3)
    finally:
        await close_database(context)
    env = {**os.environ, "KINERJA_DB_URL": postgres_url}
    runs = [await _kinerja("server", "score-month", "2025-05", env=env) for _ in range(2)]
    outputs = [await run.communicate() for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    scored = [int(out.decode().split(": ", 1)[1].split()[0]) for out, _ in outputs]
    context = await open_database(postgres_url)
    try:
        assert await MonthlyScore.filter(year=2025, month=5).count() == 36
        assert not await StaleUnitMonth.filter(year=2025, month=5).exists()
        # Each unit-month was taken once: SKIP LOCKED and the lease kept the two processes off each other's.
        # (Both marked every unit; a mark re-made by the second after the first scored it is scored again.)
        assert sum(scored) >= 12
    finally:
        await close_database(context)


DOOMED = """
import asyncio, sys
from datetime import date, timedelta
from server.activity_models import ExcuseRecord
from server.db import open_database
from server.services.scoring_queue import claim

async def main():
    await open_database(sys.argv[1])
    claimed = await claim("postgres", "doomed", date(2025, 5, 1), lease=timedelta(seconds=3))
    print(claimed.unit_code, flush=True)
    await asyncio.sleep(3600)  # "scoring": killed here

asyncio.run(main())
"""


async def test_a_worker_killed_mid_way_leaves_its_unit_month_to_another(postgres_url: str) -> None:
    context = await open_database(postgres_url)
    try:
        await seed_units(3, 2)
        await StaleUnitMonth.all().delete()
        await mark_stale([(f"unit-{u:03d}", 2025, 5) for u in range(3)])
        doomed = await asyncio.create_subprocess_exec(
            sys.executable, "-c", DOOMED, postgres_url, cwd=REPO, stdout=asyncio.subprocess.PIPE
        )
        assert doomed.stdout is not None
        taken = (await asyncio.wait_for(doomed.stdout.readline(), 60)).decode().strip()
        assert taken.startswith("unit-")
        doomed.send_signal(signal.SIGKILL)
        await doomed.wait()
        # The month-end run waits out the dead worker's lease, then scores its unit-month too.
        scored = await asyncio.wait_for(score_whole_month("postgres", MAY, "survivor", mark=False), 60)
        assert scored == 3
        assert await MonthlyScore.filter(unit_code=taken, year=2025, month=5).count() == 2
        assert await MonthlyScore.filter(year=2025, month=5).count() == 6
        assert not await StaleUnitMonth.exists()
    finally:
        await close_database(context)


async def test_the_set_based_reads_and_bulk_store_equal_the_orm_path(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL reads a chunk's punches and claims as plain rows and stores results by bulk upserts;
    SQLite goes through the ORM. Both, on both databases, store the same rows; storing again leaves
    every row untouched, and a changed input rewrites only its employee's row."""
    from server.activity_models import ActivityClaimRecord
    from server.services import results, scoring_queue

    context = await open_database(db_url)
    try:
        await seed_units(1, 6)
        await record_excuse_for_may()
        nips = sorted(await Employee.all().values_list("nip", flat=True))
        for k, (state, minutes) in enumerate((("approved", 90), ("submitted", 30), ("approved", 45))):
            start = datetime(2025, 5, 5 + k, 9, tzinfo=WIB)
            await ActivityClaimRecord.create(claim_id=f"c-{k}", nip=nips[k % 2], unit_code="unit-000",
                                             activity="rapat", activity_name="Rapat", start=start, quantity=1,
                                             minutes=minutes, state=state)  # fmt: skip
        columns = [f for f in MonthlyScore._meta.fields_map if f not in ("id", "computed_at")]

        async def stored() -> dict[str, tuple]:
            rows = await MonthlyScore.all().order_by("nip").values_list(*columns)
            return {row[0]: row for row in rows}

        assert await score_unit_month("unit-000", 2025, 5, chunk=4) == 6
        fast = await stored()
        await MonthlyScore.all().delete()
        monkeypatch.setattr(scoring_queue, "_inputs_postgres", scoring_queue._inputs)
        monkeypatch.setattr(scoring_queue, "_claims_postgres", scoring_queue._claims)
        monkeypatch.setattr(results, "_store_postgres", lambda _client, *args: results._store_orm(*args))
        assert await score_unit_month("unit-000", 2025, 5, chunk=4) == 6
        assert await stored() == fast
        assert len(fast) == 6 and any(row[columns.index("effective_minutes")] for row in fast.values())
        monkeypatch.undo()

        async def computed_at() -> dict[str, datetime]:
            return dict(await MonthlyScore.all().values_list("nip", "computed_at"))

        before = await computed_at()
        assert await score_unit_month("unit-000", 2025, 5, chunk=4) == 6
        assert await computed_at() == before and await stored() == fast  # same inputs: nothing rewritten
        await Punch.filter(pin="1").delete()
        assert await score_unit_month("unit-000", 2025, 5, chunk=4) == 6
        after = await computed_at()
        assert [nip for nip in after if after[nip] != before[nip]] == [nips[0]]  # PIN 1 is the first employee
    finally:
        await close_database(context)


async def test_a_month_the_scoring_refuses_is_dropped_and_a_failing_one_waits_so_the_queue_moves(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mark for a month before the policy is in force (a flat-battery clock's 2000-01, a form's 1900)
    must not be taken first forever: it is dropped; a unit-month whose scoring fails is retried later,
    and the marks behind both are scored meanwhile."""
    dialect = dialect_of(db_url)
    context = await open_database(db_url)
    try:
        await seed_units(2, 1)
        await StaleUnitMonth.all().delete()
        await mark_stale([("unit-000", 2000, 1)])  # the oldest mark: taken first
        await mark_stale([("unit-001", 2025, 5)])
        refused = await work_once(dialect, "w1")
        assert refused is not None and (refused.year, refused.month) == (2000, 1)
        assert await stale_version("unit-000", 2000, 1) is None  # dropped, not retried
        assert await MonthlyScore.filter(year=2000).count() == 0

        await mark_stale([("unit-000", 2025, 5)])
        real = scoring_queue.score_unit_month

        async def broken_for_unit_001(unit_code: str, year: int, month: int, **kw: object) -> int:
            if unit_code == "unit-001":
                raise RuntimeError("the database went away")
            return await real(unit_code, year, month)

        monkeypatch.setattr(scoring_queue, "score_unit_month", broken_for_unit_001)
        with pytest.raises(RuntimeError):
            await work_once(dialect, "w1")  # unit-001, marked earlier, fails
        scored = await work_once(dialect, "w1")  # the failed one waits: unit-000 is taken
        assert scored is not None and scored.unit_code == "unit-000"
        assert await MonthlyScore.filter(unit_code="unit-000", year=2025, month=5).count() == 1
        assert await work_once(dialect, "w1") is None  # unit-001 waits out RETRY_AFTER
        assert await stale_version("unit-001", 2025, 5) is not None  # its mark is kept for the retry
    finally:
        await close_database(context)


async def test_a_worker_stops_when_cancelled_even_if_the_database_client_turns_the_cancel_into_its_own_error(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seen in CI: cancelled mid-store, asyncpg answered "connection has been released back to the pool",
    the worker logged it as a failed unit-month and went on, and the server's shutdown waited for ever."""
    dialect = dialect_of(db_url)
    context = await open_database(db_url)
    try:
        await seed_units(1, 1)
        started = asyncio.Event()

        async def scoring_that_swallows_the_cancel(*args: object, **kw: object) -> int:
            started.set()
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                raise RuntimeError("cannot call Connection.fetch(): connection has been released") from None
            return 0

        monkeypatch.setattr(scoring_queue, "score_unit_month", scoring_that_swallows_the_cancel)
        worker = asyncio.create_task(scoring_queue.run_worker(dialect, "w1", idle_s=0.05))
        await asyncio.wait_for(started.wait(), 10)
        worker.cancel()
        done, _ = await asyncio.wait([worker], timeout=5)
        assert done and worker.cancelled()
    finally:
        await close_database(context)


async def test_an_employee_no_longer_in_the_unit_that_month_leaves_its_stored_results(db_url: str) -> None:
    """The recap reads stored rows: a transfer dated back must take the employee's row out of the old unit's
    month when it is scored again, by the worker and by the pages' scoring alike."""
    context = await open_database(db_url)
    try:
        await seed_units(2, 2)
        assert await score_unit_month("unit-000", 2025, 5) == 2
        moved = await Employee.filter(unit_id="unit-000").order_by("nip").first()
        assert moved is not None
        await Employee.filter(nip=moved.nip).update(unit_id="unit-001")  # no history rows: always there now
        assert await score_unit_month("unit-000", 2025, 5) == 1
        assert moved.nip not in await MonthlyScore.filter(unit_code="unit-000").values_list("nip", flat=True)
        await Employee.filter(nip=moved.nip).update(unit_id="unit-000")
        await month_service.unit_month("unit-000", MAY)  # scored cold by the page: back in
        await Employee.filter(nip=moved.nip).update(unit_id="unit-001")
        await mark_stale([("unit-000", 2025, 5)])
        await month_service.unit_month("unit-000", MAY)  # the page's read-your-writes scoring drops it too
        assert await MonthlyScore.filter(unit_code="unit-000", nip=moved.nip).count() == 0
    finally:
        await close_database(context)
