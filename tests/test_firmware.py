"""Firmware variety: every record and user layout real terminals send, and the known firmware faults.

All through the unmodified pyzk client over real loopback sockets to the ZK simulator, and, for the
faults, through the device coordinator into the real durable queue.
"""

from __future__ import annotations

import asyncio
import struct
from datetime import datetime, timedelta

import pytest
from zk import ZK, const

from gateway.devices.base import DevicePunch, DeviceUser
from gateway.devices.zk import ZKDriver
from gateway.simulators.zk import SimRecord, ZKSimulator
from tests import test_coordinator
from tests.test_coordinator import acknowledge_everything, queued, recent, wait_until
from tests.test_zk_driver import read_from_simulate_zk

# The coordinator tests' fixtures: simulators in WITA, coordinators on the real durable queue.
make_simulator = test_coordinator.make_simulator
make_coordinator = test_coordinator.make_coordinator

MORNING = datetime(2026, 11, 23, 7, 30)

# (record bytes, user bytes) as firmware pairs them: 8-byte records name the user by uid only, so they
# come with either user layout; 16-byte records hold a numeric pin; 40 and 49 a 24-byte text pin.
FORMATS = [(8, 28), (8, 72), (16, 28), (40, 72), (49, 72)]


def pyzk_client(simulator: ZKSimulator, transport: str) -> ZK:
    client = ZK("127.0.0.1", port=simulator.port, force_udp=transport == "udp", ommit_ping=True, timeout=3)
    client._ZK__sock.close()  # pyzk replaces this socket in connect() without closing it
    return client.connect()


@pytest.mark.parametrize("transport", ["tcp", "udp"])
@pytest.mark.parametrize(("record_size", "user_size"), FORMATS)
def test_the_driver_reads_every_record_and_user_layout_exactly(make_simulator, transport, record_size, user_size):
    simulator = make_simulator(record_size=record_size, user_size=user_size)
    text_pins = user_size == 72 and record_size != 16
    pins = ["A1001", "7"] if text_pins else ["1001", "7"]
    simulator.add_user(pins[0], "Budi Santoso", card=4242)
    simulator.add_user(pins[1], "")
    expected = [
        DevicePunch(pins[0], MORNING, 0, 1),
        DevicePunch(pins[1], MORNING + timedelta(minutes=3, seconds=59), 1, 15),
        DevicePunch(pins[0], datetime(2026, 12, 31, 23, 59, 59), 5, 4),
        DevicePunch("42", datetime(2027, 2, 28, 12, 0, 1), 2, 0),  # a pin the device no longer knows
    ]
    for punch in expected:
        simulator.add_punch(punch.pin, punch.local_time, state=punch.state, verify=punch.verify)
    with ZKDriver("127.0.0.1", simulator.port, transport=transport, timeout_s=3) as driver:
        assert driver.read_punches() == expected
        assert driver.record_count() == len(expected)
        name = "Budi San" if user_size == 28 else "Budi Santoso"  # the 28-byte layout keeps 8 bytes of name
        assert driver.read_users() == [DeviceUser(pins[0], name, 4242), DeviceUser(pins[1], "", 0)]
    # What the device says about itself matches the layout: pyzk tells the user layout by size too.
    client = pyzk_client(simulator, transport)
    try:
        client.get_users()
        assert client.user_packet_size == user_size
        client.read_sizes()
        log_bytes, _ = client.read_with_buffer(const.CMD_ATTLOG_RRQ)
        assert struct.unpack_from("<I", log_bytes)[0] == record_size * client.records
    finally:
        client.disconnect()


def test_49_byte_records_keep_the_40_byte_fields_where_they_were_and_pyzk_alone_misreads_them(make_simulator):
    simulator = make_simulator(record_size=49, user_size=72)
    for minute in range(3):
        simulator.add_punch("NIP198001", MORNING + timedelta(minutes=minute), state=1, verify=15)
    client = pyzk_client(simulator, "tcp")
    try:
        client.read_sizes()
        log_bytes, _ = client.read_with_buffer(const.CMD_ATTLOG_RRQ)
        attendances = client.get_attendance()
    finally:
        client.disconnect()
    body = log_bytes[4:]
    for index in range(3):  # each record laid out as the 40-byte one, 49 bytes apart
        _uid, pin, verify, _stamp, state = struct.unpack_from("<H24sBIB", body, index * 49)
        assert (pin.rstrip(b"\x00"), verify, state) == (b"NIP198001", 15, 1)
    # pyzk 0.9 strides by 40 whatever the size: the first record is right, the rest is garbage.
    assert attendances[0].user_id == "NIP198001"
    assert [a.user_id for a in attendances[1:]] != ["NIP198001"] * 2


# --- a clock that restarted at 2000-01-01 ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("record_size", "user_size", "transport"), [(8, 28, "udp"), (16, 28, "tcp"), (40, 72, "udp"), (49, 72, "tcp")]
)
async def test_punches_after_a_clock_reset_are_held_never_queued_live_or_from_the_log(
    make_simulator, make_coordinator, record_size, user_size, transport
):
    simulator = make_simulator(serial=f"RESET-{record_size}", record_size=record_size, user_size=user_size)
    for pin in ("1", "2", "3"):
        simulator.add_user(pin)
    simulator.add_punch("1", recent(30))
    coordinator = make_coordinator(simulator, transport=transport, reconcile_interval_s=1.0)
    runner = asyncio.ensure_future(coordinator.run())
    try:
        await wait_until(lambda: coordinator.queue.stats().queued == 1 and simulator.event_listeners == 1)
        simulator.reset_clock()  # the battery went flat: the terminal counts from 2000-01-01 again
        simulator.add_punch("2", state=1)  # announced live, stamped 2000-01-01 00:00:0x
        await wait_until(lambda: coordinator.health.held_punches == 1)
        # The next reconciliation finds it in the log too (held once), and sets the clock right.
        await wait_until(lambda: coordinator.health.clock_set_at is not None, timeout_s=4)
        await wait_until(lambda: simulator.event_listeners == 1)
        simulator.add_punch("3")
        await wait_until(lambda: coordinator.queue.stats().queued == 2)
        await asyncio.sleep(1.2)  # one more reconciliation: nothing new held or queued
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    assert [pin for _, pin, _, _ in queued(coordinator.queue)] == ["1", "3"]
    [held] = coordinator.store.held(coordinator.config.name)
    assert (held.pin, held.local_time.date(), held.state) == ("2", datetime(2000, 1, 1).date(), 1)
    assert "flat clock battery" in held.reason
    assert coordinator.health.held_punches == 1


# --- a full log that stalls the read ------------------------------------------------------------------------


@pytest.mark.parametrize(("transport", "profile"), [("tcp", "zkteco-generic-tcp"), ("udp", "zkteco-legacy-udp")])
async def test_a_full_log_that_stalls_mid_read_is_retried_without_holding_up_other_devices(
    make_simulator, make_coordinator, transport, profile
):
    capacity = 2_000  # 80 KB of 40-byte records: several chunks on either transport
    full = make_simulator(serial=f"FULL-{transport}", record_capacity=capacity, tcp=transport == "tcp")
    start = recent(3 * 24 * 60)
    full.load_records(SimRecord(str(i % 50 + 1), start + timedelta(minutes=i), i % 2) for i in range(capacity))
    assert full.log_full and full.add_punch("1", recent(0)) is None  # the terminal beeps, stores nothing
    full.full_log_stalls = 2  # the first two reads of it hang at their last chunk
    other = make_simulator(serial=f"OTHER-{transport}")
    stalling = make_coordinator(full, profile, timeout_s=0.5, transport=transport)
    neighbour = make_coordinator(other, profile, timeout_s=0.5, transport=transport, state="gw-2")
    runners = [asyncio.ensure_future(c.run()) for c in (stalling, neighbour)]
    try:
        await wait_until(lambda: full.full_log_stalls == 1)  # the first read has stalled
        other.add_punch("7", recent(0))
        # The neighbour's punch arrives while the full device is still stalling or backing off.
        assert await wait_until(lambda: neighbour.queue.stats().queued == 1, timeout_s=2) < 1.5
        await wait_until(lambda: stalling.queue.stats().queued == capacity, timeout_s=10)
        assert full.full_log_stalls == 0 and stalling.health.consecutive_failures == 0
        if profile == "zkteco-legacy-udp":  # clears a log at 80 % once the server has every punch
            acknowledge_everything(stalling.queue)
            await wait_until(lambda: not full.records, timeout_s=5)
            full.add_punch("9", recent(0))
            await wait_until(lambda: stalling.queue.stats().queued == 1, timeout_s=5)
    finally:
        for runner in runners:
            runner.cancel()
        await asyncio.gather(*runners, return_exceptions=True)
    rows = queued(stalling.queue)
    if profile == "zkteco-legacy-udp":  # the acknowledged ones have left the queue
        assert [pin for _, pin, _, _ in rows] == ["9"]
    else:
        assert len(rows) == capacity and len({(pin, moment) for _, pin, moment, _ in rows}) == capacity


# --- a live stream that stops without a word ------------------------------------------------------------


@pytest.mark.parametrize("transport", ["tcp", "udp"])
async def test_a_live_stream_that_goes_silent_is_noticed_reconnected_and_the_gap_filled(
    make_simulator, make_coordinator, transport
):
    simulator = make_simulator(serial=f"MUTE-{transport}")
    simulator.live_events_go_silent_after = 1  # every connection hears one punch, then nothing
    simulator.add_punch("1", recent(30))
    # Reconciliation far off: only the liveness check can notice the silence within seconds.
    coordinator = make_coordinator(simulator, transport=transport, reconcile_interval_s=600, liveness_s=0.5)
    runner = asyncio.ensure_future(coordinator.run())
    try:
        await wait_until(lambda: coordinator.queue.stats().queued == 1 and simulator.event_listeners == 1)
        simulator.add_punch("2", recent(0))
        assert await wait_until(lambda: coordinator.queue.stats().queued == 2) < 1.0  # live
        simulator.add_punch("3", recent(0))  # never announced
        simulator.add_punch("4", recent(0))
        assert await wait_until(lambda: coordinator.queue.stats().queued == 4, timeout_s=4) < 3.0
        assert coordinator.health.silent_streams == 1
        await wait_until(lambda: simulator.event_listeners == 1)
        simulator.add_punch("5", recent(0))  # the new connection hears its first punch live again
        assert await wait_until(lambda: coordinator.queue.stats().queued == 5) < 1.0
        assert coordinator.health.mode == "live" and coordinator.health.reachable
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    assert [pin for _, pin, _, _ in queued(coordinator.queue)] == ["1", "2", "3", "4", "5"]


async def test_a_quiet_but_healthy_stream_is_left_alone(make_simulator, make_coordinator):
    simulator = make_simulator(serial="QUIET-1")
    simulator.emit_duplicate_punches = True  # copies in the log and in the stream must not look like a gap
    coordinator = make_coordinator(simulator, reconcile_interval_s=600, liveness_s=0.3)
    runner = asyncio.ensure_future(coordinator.run())
    try:
        await wait_until(lambda: simulator.event_listeners == 1)
        for pin in ("1", "2", "3"):
            simulator.add_punch(pin, recent(0))
            await asyncio.sleep(0.5)  # a liveness check after every punch
        await wait_until(lambda: coordinator.queue.stats().queued == 3)
        await asyncio.sleep(0.7)
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    assert coordinator.health.silent_streams == 0


# --- the knobs on the command line --------------------------------------------------------------------------


def test_kinerja_simulate_zk_serves_49_byte_records_and_a_reset_clock():
    banner, info, punches = read_from_simulate_zk(
        *("--record-size", "49", "--punches", "5", "--clock-reset", "--full-log-stalls", "1"),
        *("--silent-after-events", "3"),
        transport="tcp",
    )
    assert info.device_time.year == 2000 and "49-byte records" in banner
    assert len(punches) == 5 and all(p.local_time.year > 2000 for p in punches)  # stamped before the reset
