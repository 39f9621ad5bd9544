"""The device coordinator against ZK simulators over real sockets, through the real durable queue.

Every misbehaviour knob of the simulator is turned here on the way to the queue: nothing is lost,
nothing is queued twice, and no timestamp the device cannot vouch for is queued as if it could.
"""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta

import pytest

from gateway.config import DeviceConfig
from gateway.coordinator import DeviceCoordinator
from gateway.devices.base import DeviceError, DevicePunch, DeviceUser
from gateway.devices.zk import ZKDriver
from gateway.profiles import load_profile
from gateway.queue import PunchQueue
from gateway.simulators.zk import SimRecord, ZKSimulator
from wire.zones import office_zone

WITA = office_zone("WITA")
MORNING = datetime(2026, 11, 23, 7, 30)


def recent(minutes_ago: int) -> datetime:
    """A device wall time (WITA) a little in the past, so it is neither future nor stale."""
    return (datetime.now(WITA) - timedelta(minutes=minutes_ago)).replace(tzinfo=None, microsecond=0)


@pytest.fixture
def make_simulator(make_simulator: Callable[..., ZKSimulator]) -> Callable[..., ZKSimulator]:
    """The shared fixture's simulators, on the office's clock (WITA)."""
    return functools.partial(make_simulator, zone=WITA)


@pytest.fixture
async def make_coordinator(tmp_path) -> AsyncIterator[Callable[..., DeviceCoordinator]]:
    made: list[DeviceCoordinator] = []
    queues: dict[str, PunchQueue] = {}

    def make(
        simulator: ZKSimulator,
        profile: str = "zkteco-generic-tcp",
        *,
        state: str = "gw",
        transport: str | None = None,
        **options: object,
    ) -> DeviceCoordinator:
        if state not in queues:
            queues[state] = PunchQueue(tmp_path / state / "queue.sqlite3")
        chosen = load_profile(profile)
        config = DeviceConfig(
            name=f"dev-{simulator.serial.lower()}",
            host="127.0.0.1",
            port=simulator.port,
            profile=chosen,
            transport=transport or chosen.transport,
            timeout_s=float(options.pop("timeout_s", 1.0)),  # type: ignore[arg-type]
            poll_interval_s=float(options.pop("poll_interval_s", 0.2)),  # type: ignore[arg-type]
        )
        coordinator = DeviceCoordinator(config, queues[state], WITA, **options)  # type: ignore[arg-type]
        made.append(coordinator)
        return coordinator

    yield make
    for coordinator in made:
        coordinator.close()
    for queue in queues.values():
        queue.close()


def queued(queue: PunchQueue) -> list[tuple[str, str, datetime, int]]:
    """Everything waiting in the queue, in order: (device serial, pin, time, state)."""
    rows = queue._db.execute("SELECT device, pin, time, state FROM punches ORDER BY seq").fetchall()
    return [(device, pin, datetime.fromisoformat(moment), state) for device, pin, moment, state in rows]


def acknowledge_everything(queue: PunchQueue) -> None:
    """What the relay does when the server confirms each batch."""
    while (batch := queue.claim_batch(uuid.uuid4().hex, 1000)) is not None:
        queue.acknowledge(batch.batch_id)


# --- dedup ------------------------------------------------------------------------------------------


async def test_duplicates_and_rereads_queue_every_punch_once_even_across_a_restart(make_simulator, make_coordinator):
    simulator = make_simulator(serial="DUP-1")
    simulator.emit_duplicate_punches = True
    for minute in range(6):
        simulator.add_punch(str(minute % 3 + 1), recent(60 - minute), state=minute % 2)
    coordinator = make_coordinator(simulator)
    assert await coordinator.poll_once() == 6
    assert await coordinator.poll_once() == 0
    simulator.add_punch("9", recent(1))
    assert await coordinator.poll_once() == 1
    acknowledge_everything(coordinator.queue)
    coordinator.queue.close()
    restarted = make_coordinator(simulator, state="gw-again")
    restarted.queue.close()
    restarted.queue = PunchQueue(coordinator.queue.path)  # the same file, reopened after a restart
    assert await restarted.poll_once() == 0
    assert restarted.queue.stats().queued == 0
    restarted.queue.close()


# --- suspect timestamps and garbage -------------------------------------------------------------------


async def test_garbage_records_are_held_or_quarantined_never_queued(make_simulator, make_coordinator):
    simulator = make_simulator(serial="GARBAGE-1")
    simulator.add_punch("1", recent(30))
    simulator.garbage_records = 2  # one stamped 2000-01-01, one ten years ahead
    simulator.corrupt_records = 1  # stamped 30 February
    coordinator = make_coordinator(simulator)
    assert await coordinator.poll_once() == 1
    assert [pin for _, pin, _, _ in queued(coordinator.queue)] == ["1"]
    held = coordinator.store.held(coordinator.config.name)
    assert sorted(p.local_time.year for p in held)[0] == 2000
    assert any("flat clock battery" in p.reason for p in held)
    assert any("in the future" in p.reason for p in held)
    quarantined = coordinator.store.quarantined(coordinator.config.name)
    assert len(quarantined) == 1 and len(quarantined[0].raw) == 40 and "undecodable" in quarantined[0].reason
    # The log is read whole again and again: nothing is held, quarantined or queued a second time.
    assert await coordinator.poll_once() == 0
    assert (coordinator.health.held_punches, coordinator.health.quarantined) == (2, 1)
    assert len(coordinator.store.quarantined()) == 1


async def test_a_wrong_clock_is_measured_its_punches_held_and_the_clock_set(make_simulator, make_coordinator):
    simulator = make_simulator(serial="CLOCK-1", clock_offset=timedelta(days=1))
    simulator.add_punch("1")  # stamped by the wrong clock: tomorrow
    coordinator = make_coordinator(simulator)
    assert await coordinator.poll_once() == 0
    assert coordinator.store.held_count() == 1
    assert coordinator.health.clock_set_at is not None and coordinator.health.clock_drift_s == 0.0
    # The simulator clock keeps WITA wall time like the office; the gateway set it to that.
    assert abs(simulator.device_time() - recent(0)) < timedelta(seconds=3)
    simulator.add_punch("1")
    assert await coordinator.poll_once() == 1


async def test_a_profile_that_forbids_setting_the_clock_only_reports_the_drift(make_simulator, make_coordinator):
    simulator = make_simulator(serial="CLOCK-2", clock_offset=timedelta(minutes=-10))
    coordinator = make_coordinator(simulator, "fingertec-ta100")
    await coordinator.poll_once()
    assert coordinator.health.clock_drift_s == pytest.approx(-600, abs=3)
    assert coordinator.health.clock_set_at is None
    assert simulator.clock_offset == timedelta(minutes=-10)
    with pytest.raises(DeviceError, match="does not allow setting the clock"):
        await coordinator.sync_clock()


async def test_a_punch_stored_after_the_clock_was_set_but_stamped_before_it_is_held(make_simulator, make_coordinator):
    simulator = make_simulator(serial="CLOCK-3", clock_offset=timedelta(hours=-2))
    first = recent(3 * 60)  # taken once: a second boundary between two calls would move it
    simulator.add_punch("1", first)  # stamped by the slow clock, an hour ago: a plain old punch
    coordinator = make_coordinator(simulator)
    await coordinator.poll_once()
    set_to = coordinator.store.last_clock_set(coordinator.config.name)
    assert set_to is not None and set_to.log_length == 1 and set_to.newest_before == first
    # Stored after the set, stamped before it and before what the log already held: the clock went back.
    simulator.add_punch("2", recent(4 * 60))
    simulator.add_punch("4", recent(2 * 60))  # before the set, but after what the log held: let through
    simulator.add_punch("3", recent(0))
    coordinator.queue.close()
    coordinator.queue = PunchQueue(coordinator.queue.path)  # what was set survives a restart too
    assert await coordinator.poll_once() == 2
    assert [pin for _, pin, _, _ in queued(coordinator.queue)] == ["1", "4", "3"]
    [held] = coordinator.store.held()
    assert held.pin == "2" and "before the clock was set" in held.reason


async def test_after_a_fast_clock_is_set_back_new_punches_are_not_held(make_simulator, make_coordinator):
    simulator = make_simulator(serial="CLOCK-4", clock_offset=timedelta(hours=2))
    simulator.add_punch("1")  # two hours ahead: held as in the future
    coordinator = make_coordinator(simulator)
    await coordinator.poll_once()
    assert coordinator.store.held_count() == 1
    simulator.add_punch("2")  # by the corrected clock: earlier than "1", and right
    assert await coordinator.poll_once() == 1
    simulator.add_punch("3", recent(60))  # stored after the set, an hour before it: the clock went back
    assert await coordinator.poll_once() == 0
    assert [p.pin for p in coordinator.store.held()] == ["3", "1"]


@pytest.mark.timeout(60)
async def test_a_100k_record_log_over_udp_reaches_the_queue_whole_and_once(make_simulator, make_coordinator):
    simulator = make_simulator(serial="BIG-1", tcp=False, record_capacity=100_001)
    start = recent(3 * 24 * 60)
    simulator.load_records(SimRecord(str(i % 500 + 1), start + timedelta(seconds=i), i % 2) for i in range(100_001))
    coordinator = make_coordinator(simulator, "zkteco-legacy-udp", timeout_s=5.0)
    assert await coordinator.poll_once() == 100_001
    assert await coordinator.poll_once() == 0
    assert coordinator.queue.stats().queued == 100_001
    assert (coordinator.health.record_count, coordinator.health.held_punches) == (100_001, 0)


# --- slow, dropped, hung ------------------------------------------------------------------------------


async def test_a_slow_device_is_waited_for_and_a_too_slow_one_fails_then_recovers(make_simulator, make_coordinator):
    simulator = make_simulator(serial="SLOW-1")
    simulator.add_punch("1", recent(5))
    simulator.response_delay_s = 0.1
    coordinator = make_coordinator(simulator, timeout_s=1.0)
    assert await coordinator.poll_once() == 1
    simulator.response_delay_s = 1.5
    with pytest.raises(DeviceError, match="timed out"):
        await coordinator.poll_once()
    assert not coordinator.health.reachable and coordinator.health.consecutive_failures == 1
    simulator.response_delay_s = 0
    simulator.add_punch("2", recent(4))
    assert await coordinator.poll_once() == 1
    assert coordinator.health.reachable and coordinator.health.consecutive_failures == 0


@pytest.mark.parametrize("transport", ["tcp", "udp"])
async def test_a_connection_dropped_mid_read_loses_nothing_on_the_next_poll(
    make_simulator, make_coordinator, transport
):
    simulator = make_simulator(serial="DROP-1", record_size=16, user_size=28)
    simulator.load_records(SimRecord("1", recent(600) + timedelta(seconds=i)) for i in range(5_000))  # two chunks
    coordinator = make_coordinator(simulator, transport=transport)
    simulator.drop_connection_after_chunks = 1
    with pytest.raises(DeviceError, match="read the attendance log failed"):
        await coordinator.poll_once()
    assert coordinator.queue.stats().queued == 0
    simulator.drop_connection_after_chunks = None
    assert await coordinator.poll_once() == 5_000
    assert await coordinator.poll_once() == 0


async def test_hung_devices_block_neither_the_event_loop_nor_the_other_devices(make_simulator, make_coordinator):
    # More hung devices than asyncio's default thread pool has workers on two cores (6).
    hung = [make_simulator(serial=f"HUNG-{i}") for i in range(8)]
    for simulator in hung:
        simulator.add_punch("1", recent(5))
        simulator.hang_after_chunks = 0
    healthy = make_simulator(serial="OK-1")
    healthy.add_punch("7", recent(5))
    # Blocked behind them, the healthy device would wait their 3 s timeout; on its own thread it waits none.
    stuck = [make_coordinator(simulator, timeout_s=3.0) for simulator in hung]
    fine = make_coordinator(healthy, timeout_s=3.0)
    stuck_polls = [asyncio.ensure_future(c.poll_once()) for c in stuck]
    await asyncio.sleep(0.3)  # every hung device is inside its read now
    started = time.monotonic()
    lag = 0.0
    poll = asyncio.ensure_future(fine.poll_once())
    while not poll.done():
        tick = time.monotonic()
        await asyncio.sleep(0.01)
        lag = max(lag, time.monotonic() - tick - 0.01)
    assert poll.result() == 1
    assert time.monotonic() - started < 1.5
    assert lag < 0.5
    results = await asyncio.gather(*stuck_polls, return_exceptions=True)
    assert all(isinstance(r, DeviceError) for r in results)


async def test_a_device_hung_past_the_deadline_is_abandoned_and_retried(make_simulator, make_coordinator):
    simulator = make_simulator(serial="HUNG-X")
    simulator.add_punch("1", recent(5))
    coordinator = make_coordinator(simulator, timeout_s=5.0)  # pyzk would wait 5 s per receive
    simulator.hang_after_chunks = 0
    started = time.monotonic()
    with pytest.raises(DeviceError, match="no answer within 1 s; abandoned"):
        await coordinator.session(lambda driver: driver.read_punches(), deadline_s=1.0)
    assert time.monotonic() - started < 1.5
    simulator.hang_after_chunks = None
    assert await coordinator.session(lambda driver: len(driver.read_punches()), deadline_s=5.0) == 1


# --- a full log, and clearing it --------------------------------------------------------------------------


@pytest.mark.parametrize("acked", [True, False])
async def test_a_nearly_full_log_is_cleared_only_after_every_punch_in_it_was_acked(
    make_simulator, make_coordinator, acked
):
    simulator = make_simulator(serial="FULL-1", record_capacity=10)
    for minute in range(10):
        simulator.add_punch(str(minute), recent(60 - minute))
    assert simulator.add_punch("99", recent(1)) is None  # full: the terminal stores nothing more
    coordinator = make_coordinator(simulator, "zkteco-legacy-udp")  # clear_log = true at 80 % full
    assert await coordinator.poll_once() == 10
    assert (coordinator.health.record_count, coordinator.health.record_capacity) == (10, 10)
    assert len(simulator.records) == 10  # queued, not yet acknowledged: kept
    if acked:
        acknowledge_everything(coordinator.queue)
    assert await coordinator.poll_once() == 0
    assert len(simulator.records) == (0 if acked else 10)
    assert (coordinator.health.log_cleared_at is not None) is acked


def test_a_punch_made_while_the_log_is_being_cleared_survives(make_simulator):
    simulator = make_simulator(serial="FULL-2")
    simulator.add_punch("1", MORNING)

    def approve_and_punch(log: list[DevicePunch]) -> bool:
        simulator.add_punch("2", MORNING + timedelta(minutes=1))  # the terminal is disabled: held back
        return log == [DevicePunch("1", MORNING, 0, 1)]

    with ZKDriver("127.0.0.1", simulator.port, timeout_s=2) as driver:
        assert driver.clear_log_if(approve_and_punch)
        assert driver.read_punches() == [DevicePunch("2", MORNING + timedelta(minutes=1), 0, 1)]
        assert not driver.clear_log_if(lambda log: False)
        assert len(driver.read_punches()) == 1


# --- live events and reconciliation ---------------------------------------------------------------------


async def wait_until(condition: Callable[[], bool], timeout_s: float = 5.0) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout_s:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.02)
    return time.monotonic() - started


@pytest.mark.parametrize("transport", ["tcp", "udp"])
async def test_live_punches_reach_the_queue_within_two_seconds_and_reconciliation_catches_the_rest(
    make_simulator, make_coordinator, transport
):
    simulator = make_simulator(serial="LIVE-1")
    simulator.emit_duplicate_punches = True  # in the log and in the live events
    simulator.add_punch("1", recent(30))
    coordinator = make_coordinator(simulator, transport=transport, reconcile_interval_s=1.5)
    runner = asyncio.ensure_future(coordinator.run())
    try:
        await wait_until(lambda: coordinator.queue.stats().queued == 1)  # the first reconciliation
        await wait_until(lambda: simulator.event_listeners == 1)
        simulator.add_punch("2", recent(0))
        assert await wait_until(lambda: coordinator.queue.stats().queued == 2) < 2.0
        # A punch the live stream never announces (stored while the device was busy, say).
        simulator.load_records([SimRecord("3", recent(0))])
        await wait_until(lambda: coordinator.queue.stats().queued == 3, timeout_s=4)
        # A command takes the device from the stream, which then resumes.
        await coordinator.write_user(DeviceUser("42", "Wayan"))
        assert [user.pin for user in simulator.users] == ["42"]
        await wait_until(lambda: simulator.event_listeners == 1)
        simulator.add_punch("42", recent(0))
        assert await wait_until(lambda: coordinator.queue.stats().queued == 4) < 2.0
        assert coordinator.health.mode == "live" and coordinator.health.reachable
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    assert sorted(pin for _, pin, _, _ in queued(coordinator.queue)) == ["1", "2", "3", "42"]  # none twice


async def test_a_live_device_that_hangs_is_abandoned_and_streaming_resumes(make_simulator, make_coordinator):
    simulator = make_simulator(serial="LIVE-2")
    coordinator = make_coordinator(simulator, timeout_s=0.5, reconcile_interval_s=0.5)
    runner = asyncio.ensure_future(coordinator.run())
    try:
        await wait_until(lambda: simulator.event_listeners == 1)
        simulator.add_punch("1", recent(0))
        await wait_until(lambda: coordinator.queue.stats().queued == 1)
        simulator.hang_after_chunks = 0  # the next download of the log hangs
        simulator.load_records([SimRecord("2", recent(0))])  # stored unannounced: the count says "read it"
        await wait_until(lambda: not coordinator.health.reachable, timeout_s=6)
        simulator.hang_after_chunks = None
        await wait_until(lambda: coordinator.queue.stats().queued == 2, timeout_s=8)
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)


async def test_a_profile_without_live_events_polls_and_never_registers(make_simulator, make_coordinator):
    simulator = make_simulator(serial="POLL-1", tcp=False)  # old firmware: UDP only
    coordinator = make_coordinator(simulator, "zkteco-legacy-udp", poll_interval_s=0.3)
    assert coordinator.health.mode == "polling"
    runner = asyncio.ensure_future(coordinator.run())
    try:
        simulator.add_punch("1", recent(0))
        await wait_until(lambda: coordinator.queue.stats().queued == 1)
        for _ in range(10):
            assert simulator.event_listeners == 0
            await asyncio.sleep(0.05)
        simulator.add_punch("2", recent(0))
        await wait_until(lambda: coordinator.queue.stats().queued == 2)
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)


async def test_a_udp_only_profile_forces_udp_whatever_the_config_says(make_simulator, make_coordinator):
    simulator = make_simulator(serial="UDP-ONLY", tcp=False)
    coordinator = make_coordinator(simulator, "zkteco-legacy-udp", transport="tcp")
    simulator.add_punch("1", recent(1))
    assert await coordinator.poll_once() == 1


async def test_a_device_that_refuses_the_live_events_its_profile_promised_is_polled(make_simulator, make_coordinator):
    simulator = make_simulator(serial="NOLIVE-1", live_events=False)
    coordinator = make_coordinator(simulator, poll_interval_s=0.3)  # the generic profile says live events work
    runner = asyncio.ensure_future(coordinator.run())
    try:
        simulator.add_punch("1", recent(0))
        await wait_until(lambda: coordinator.queue.stats().queued == 1)
        await wait_until(lambda: coordinator.health.mode == "polling")
        simulator.add_punch("2", recent(0))
        await wait_until(lambda: coordinator.queue.stats().queued == 2)
        assert coordinator.health.reachable and coordinator.health.consecutive_failures == 0
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)


async def test_names_are_read_and_written_in_the_encoding_the_profile_gives(make_simulator, make_coordinator):
    # Old firmware keeps names in latin-1: read as UTF-8 they would lose their letters.
    simulator = make_simulator(serial="NAMES-1", tcp=False, name_encoding="latin-1")
    simulator.add_user("1", "Andrés Ñoño")
    coordinator = make_coordinator(simulator, "zkteco-legacy-udp")
    assert await coordinator.session(lambda driver: driver.read_users()) == [DeviceUser("1", "Andrés Ñoño", 0)]
    await coordinator.write_user(DeviceUser("2", "Désirée", 7))
    assert [(u.pin, u.name, u.card) for u in simulator.users] == [("1", "Andrés Ñoño", 0), ("2", "Désirée", 7)]
