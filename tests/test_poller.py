"""A device poller that cannot die quietly, and costs nothing when nothing changed.

- A real SQLite failure in the queue (the database full: SQLite's own `max_page_count` limit, so the
  error is SQLite's "database or disk is full") is logged once for the whole outage and once on
  recovery, counted in the device's health, retried with backoff, and loses nothing.
- A device loop that ends is restarted by the gateway and reported in health and telemetry.
- An unchanged log costs the count request, not a download; a new punch costs one download, absorbed
  from where the last read ended; the queue work never runs on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta

from gateway.devices.zk import ZKDriver
from gateway.simulators.zk import SimRecord
from tests import test_coordinator
from tests.gateway_centre import running_gateway, write_config
from tests.test_coordinator import recent, wait_until

# The coordinator tests' fixtures: simulators in WITA, coordinators on the real durable queue.
make_simulator = test_coordinator.make_simulator
make_coordinator = test_coordinator.make_coordinator


class CountingDriver(ZKDriver):
    """The real driver, counting the downloads it makes (what the test asserts about)."""

    downloads = 0

    def read_punches(self):  # type: ignore[no-untyped-def]
        CountingDriver.downloads += 1
        return super().read_punches()


async def test_a_full_queue_database_is_one_outage_logged_once_counted_and_nothing_is_lost(
    make_simulator, make_coordinator, caplog
):
    simulator = make_simulator(serial="FULL-DB")
    simulator.add_punch("1", recent(30))
    coordinator = make_coordinator(simulator, poll_interval_s=0.1)
    runner = asyncio.ensure_future(coordinator.run())
    try:
        await wait_until(lambda: coordinator.queue.stats().queued == 1)

        def fill_up() -> None:
            db = coordinator._ledger_queue()._db
            pages = db.execute("PRAGMA page_count").fetchone()[0]
            db.execute(f"PRAGMA max_page_count = {pages}")  # SQLite refuses to grow the file: "full"

        await coordinator._in_writer(fill_up)
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="gateway.coordinator"):
            # Enough new records to need pages more; stored without events, the next poll reads them.
            simulator.load_records(SimRecord(str(n % 9 + 1), recent(29) - timedelta(seconds=n)) for n in range(400))
            await wait_until(lambda: coordinator.health.consecutive_failures >= 3, timeout_s=15)
            assert not coordinator.health.reachable and "full" in (coordinator.health.last_error or "")
            assert coordinator.health.anomalies.get("poller_crashed", 0) >= 3
            await coordinator._in_writer(
                lambda: coordinator._ledger_queue()._db.execute("PRAGMA max_page_count = 1073741823")
            )
            await wait_until(lambda: coordinator.queue.stats().queued == len(simulator.records), timeout_s=30)
            await wait_until(lambda: coordinator.health.reachable, timeout_s=5)
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    outage = [r for r in caplog.records if r.levelno >= logging.WARNING and "further failures" in r.getMessage()]
    recovered = [r for r in caplog.records if "recovered after" in r.getMessage()]
    assert len(outage) == 1 and "full" in (outage[0].getMessage() + (outage[0].exc_text or ""))
    assert len(recovered) == 1


async def test_a_device_loop_that_ends_is_restarted_and_reported_to_the_centre(tmp_path, mosquitto, make_simulator):
    simulator = make_simulator(serial="ENDS-1")
    config = write_config(tmp_path / "gateway.toml", mosquitto, [("door", simulator.port)], telemetry_interval_s=0.3)
    async with running_gateway(config) as (gateway, centre):
        for task in gateway._device_tasks.values():
            task.cancel()
        await asyncio.gather(*gateway._device_tasks.values(), return_exceptions=True)
        [door] = gateway.coordinators
        real_run, calls = door.run, []

        async def ends_once() -> None:  # a bug that makes the loop return: the one thing run() cannot catch
            calls.append(1)
            if len(calls) > 1:
                await real_run()

        door.run = ends_once  # type: ignore[method-assign]
        gateway._start_devices()
        await centre.wait_for(
            lambda: any(
                d.anomalies.get("poller_restarted") for t in centre.telemetry for d in t.devices if d.name == "door"
            ),
            10,
            "telemetry reporting the restart",
        )
        assert door.health.restarts == 1
        simulator.add_punch("7", recent(0))
        await centre.wait_for(lambda: gateway.queue.stats().queued == 1, 10, "the restarted loop at work")


async def test_an_unchanged_log_costs_no_download_and_the_loop_never_waits_for_the_queue(
    make_simulator, make_coordinator
):
    simulator = make_simulator(serial="BIG-1", record_capacity=60_000)
    start = recent(24 * 60)
    # A long log, as a busy office's terminal holds it.
    simulator.load_records(SimRecord(str(i % 300 + 1), start + timedelta(seconds=i), i % 2) for i in range(50_000))
    coordinator = make_coordinator(simulator, driver_factory=lambda config, hooks: CountingDriver(
        config.host, config.port, timeout_s=5, quarantine=hooks.quarantine, report_anomaly=hooks.report_anomaly
    ), timeout_s=5.0)  # fmt: skip
    CountingDriver.downloads = 0
    stalls: list[float] = []

    async def watch_the_loop() -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            stalls.append(time.perf_counter() - before - 0.01)

    watcher = asyncio.ensure_future(watch_the_loop())
    try:
        started = time.perf_counter()
        assert await coordinator.poll_once() == 50_000
        took = time.perf_counter() - started
        # On the loop, the queue work would stall it for most of the poll; on the writer thread the loop
        # turns on (the bound leaves room for a machine shared with other jobs).
        assert max(stalls) < took / 3, f"the event loop stalled {max(stalls):.2f} s of a {took:.2f} s poll"
        assert CountingDriver.downloads == 1
        started = time.perf_counter()
        assert await coordinator.poll_once() == 0
        assert time.perf_counter() - started < 0.5
        assert CountingDriver.downloads == 1  # the count said: unchanged
        simulator.add_punch("7", recent(0))
        assert await coordinator.poll_once() == 1
        assert CountingDriver.downloads == 2
        assert await coordinator.poll_once(whole=True) == 0  # a reread command downloads anyway
        assert CountingDriver.downloads == 3
    finally:
        watcher.cancel()
