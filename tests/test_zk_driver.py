"""The gateway's ZK driver against the simulator, over real loopback sockets."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import pytest
from zk import ZK

from gateway.devices.base import DeviceError, DeviceInfo, DevicePunch, DeviceUser, LiveEventsRefused
from gateway.devices.zk import ZKDriver
from gateway.simulators.zk import SimRecord, ZKSimulator

MORNING = datetime(2026, 11, 23, 7, 30)
TRANSPORTS = ["tcp", "udp"]


@pytest.fixture
def make_driver() -> Iterator[Callable[..., ZKDriver]]:
    drivers: list[ZKDriver] = []

    def make(simulator: ZKSimulator, transport: str = "tcp", *, connect: bool = True, **options: object) -> ZKDriver:
        options = {"timeout_s": 3.0, **options}
        driver = ZKDriver("127.0.0.1", simulator.port, transport=transport, **options)  # type: ignore[arg-type]
        drivers.append(driver)
        if connect:
            driver.connect()
        return driver

    yield make
    for driver in drivers:
        driver.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def punch_when_capturing(simulator: ZKSimulator, punches: list[DevicePunch]) -> None:
    """Punch from another thread as soon as a client has registered for live events."""

    def punch_all() -> None:
        deadline = time.monotonic() + 5
        while not simulator.event_listeners and time.monotonic() < deadline:
            time.sleep(0.01)
        for punch in punches:
            simulator.add_punch(punch.pin, punch.local_time, state=punch.state, verify=punch.verify)

    threading.Thread(target=punch_all, daemon=True).start()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_read_info_reports_identity_counts_and_the_device_clock(make_simulator, make_driver, transport):
    simulator = make_simulator(
        serial="KNJ7231000042", platform="ZLM60_TFT", firmware="Ver 6.70", clock_offset=timedelta(minutes=9)
    )
    simulator.add_user("1", "Budi")
    simulator.add_punch("1", MORNING)
    simulator.add_punch("1", MORNING + timedelta(hours=9))
    info = make_driver(simulator, transport).read_info()
    assert info == DeviceInfo("KNJ7231000042", "ZLM60_TFT", "Ver 6.70", info.device_time, 1, 2, 100_000)
    assert abs(info.device_time - (datetime.now() + timedelta(minutes=9))) < timedelta(seconds=2)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(("record_size", "user_size"), [(8, 28), (16, 28), (40, 72)])
def test_read_punches_returns_the_log_exactly_as_pyzk_decodes_it(
    make_simulator, make_driver, transport, record_size, user_size
):
    simulator = make_simulator(record_size=record_size, user_size=user_size)
    simulator.add_user("1001", "Budi")
    simulator.add_user("7", "Siti")
    expected = [
        DevicePunch("1001", MORNING, 0, 1),
        DevicePunch("7", MORNING + timedelta(minutes=1), 0, 15),
        DevicePunch("42", MORNING + timedelta(minutes=2), 5, 4),  # a pin the device no longer knows
        DevicePunch("1001", datetime(2026, 12, 31, 23, 59, 59), 1, 0),
    ]
    for punch in expected:
        simulator.add_punch(punch.pin, punch.local_time, state=punch.state, verify=punch.verify)
    assert make_driver(simulator, transport).read_punches() == expected
    # The driver decodes the log itself; pyzk's own decoding must agree with it.
    client = ZK("127.0.0.1", port=simulator.port, force_udp=transport == "udp", ommit_ping=True, timeout=3)
    client._ZK__sock.close()  # pyzk replaces this socket in connect() without closing it
    attendances = client.connect().get_attendance()
    client.disconnect()
    assert [DevicePunch(a.user_id, a.timestamp, a.punch, a.status) for a in attendances] == expected


def test_read_punches_of_an_empty_log_is_empty(make_simulator, make_driver):
    assert make_driver(make_simulator()).read_punches() == []


@pytest.mark.timeout(30)
def test_read_punches_of_100k_records_takes_seconds_not_minutes(make_simulator, make_driver):
    simulator = make_simulator(record_size=40, user_size=72, record_capacity=200_000)
    simulator.load_records(
        SimRecord(str(i % 300 + 1), MORNING + timedelta(seconds=i), i % 2, 1) for i in range(100_000)
    )
    driver = make_driver(simulator)
    started = time.perf_counter()
    punches = driver.read_punches()
    elapsed = time.perf_counter() - started
    assert len(punches) == 100_000
    assert punches[0] == DevicePunch("1", MORNING, 0, 1)
    assert punches[-1] == DevicePunch("100", MORNING + timedelta(seconds=99_999), 1, 1)
    assert elapsed < 3, f"read_punches took {elapsed:.1f} s"


def test_read_punches_skips_a_corrupt_record_instead_of_failing_the_whole_log(make_simulator, make_driver, caplog):
    simulator = make_simulator()
    simulator.add_punch("1", MORNING)
    simulator.garbage_records = 2
    simulator.corrupt_records = 1
    punches = make_driver(simulator).read_punches()
    assert [p.local_time.year for p in punches][:2] == [2026, 2000]
    assert len(punches) == 3 and punches[2].local_time > datetime.now() + timedelta(days=3000)
    assert "1 records with impossible timestamps quarantined" in caplog.text


def test_read_punches_returns_duplicates_as_the_device_sends_them(make_simulator, make_driver):
    simulator = make_simulator()
    simulator.add_punch("1", MORNING)
    simulator.emit_duplicate_punches = True
    assert make_driver(simulator).read_punches() == [DevicePunch("1", MORNING, 0, 1)] * 2


def test_read_punches_leaves_the_device_enabled(make_simulator, make_driver):
    simulator = make_simulator()
    make_driver(simulator).read_punches()
    assert simulator.add_punch("1", MORNING) is not None
    assert len(simulator.records) == 1  # stored at once, not held back by a disabled terminal


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("user_size", [28, 72])
def test_read_users_and_write_user_create_then_update_by_pin(make_simulator, make_driver, transport, user_size):
    simulator = make_simulator(record_size=16 if user_size == 28 else 40, user_size=user_size)
    simulator.add_user("5", "", card=12)
    driver = make_driver(simulator, transport)
    assert driver.read_users() == [DeviceUser("5", "", 12)]  # not pyzk's "NN-5"
    driver.write_user(DeviceUser("19871123", "Agus", 4455))
    driver.write_user(DeviceUser("5", "Dewi", 0))
    assert driver.read_users() == [DeviceUser("5", "Dewi", 0), DeviceUser("19871123", "Agus", 4455)]
    assert [(user.uid, user.pin) for user in simulator.users] == [(1, "5"), (2, "19871123")]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_set_time_sets_the_device_clock(make_simulator, make_driver, transport):
    simulator = make_simulator(clock_offset=timedelta(hours=-3))
    driver = make_driver(simulator, transport)
    driver.set_time(datetime(2026, 11, 23, 6, 45, 10))
    assert abs(driver.read_info().device_time - datetime(2026, 11, 23, 6, 45, 10)) < timedelta(seconds=2)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_live_punches_yields_punches_then_returns_when_idle(make_simulator, make_driver, transport):
    simulator = make_simulator()
    simulator.add_user("1985", "Budi")
    driver = make_driver(simulator, transport)
    expected = [DevicePunch("1985", MORNING, 0, 1), DevicePunch("1985", MORNING + timedelta(seconds=5), 1, 15)]
    punch_when_capturing(simulator, expected)
    started = time.monotonic()
    assert list(driver.live_punches(stop_after_idle_s=0.3)) == expected
    assert time.monotonic() - started < 2
    assert simulator.event_listeners == 0  # unregistered on the way out
    assert len(driver.read_punches()) == 2  # and the connection still answers in order


def test_live_punches_abandoned_early_drops_the_connection_cleanly(make_simulator, make_driver):
    simulator = make_simulator()
    driver = make_driver(simulator)
    punch_when_capturing(simulator, [DevicePunch("1", MORNING, 0, 1)])
    captured = driver.live_punches(stop_after_idle_s=2)
    assert next(captured) == DevicePunch("1", MORNING, 0, 1)
    captured.close()
    assert not driver.connected
    with pytest.raises(DeviceError, match="not connected"):
        driver.read_punches()
    driver.connect()
    assert len(driver.read_punches()) == 1


def test_live_punches_with_a_device_that_has_no_live_events_raises_live_events_refused(make_simulator, make_driver):
    driver = make_driver(make_simulator(live_events=False))
    with pytest.raises(LiveEventsRefused, match="refuses live events"):
        list(driver.live_punches(stop_after_idle_s=0.2))
    assert not driver.connected


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_wrong_comm_key_raises_device_error_naming_the_device(make_simulator, make_driver, transport):
    simulator = make_simulator(comm_key=2468)
    assert make_driver(simulator, transport, comm_key=2468).read_info().serial == "SIM-ZK-0001"
    with pytest.raises(DeviceError, match=rf"127\.0\.0\.1:{simulator.port}/{transport}: connect failed: Unauth"):
        make_driver(simulator, transport, comm_key=1357)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_closed_port_raises_device_error(make_driver, transport):
    port = free_port()
    driver = ZKDriver("127.0.0.1", port, transport=transport, timeout_s=0.3)
    with pytest.raises(DeviceError, match=rf"127\.0\.0\.1:{port}/{transport}: connect failed"):
        driver.connect()
    assert not driver.connected


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_device_hung_mid_read_raises_device_error_within_the_timeout(make_simulator, make_driver, transport):
    simulator = make_simulator()
    simulator.add_punch("1", MORNING)
    driver = make_driver(simulator, transport, timeout_s=0.3)
    simulator.hang_after_chunks = 0
    started = time.monotonic()
    with pytest.raises(DeviceError, match="read the attendance log failed: timed out"):
        driver.read_punches()
    assert time.monotonic() - started < 1.5
    assert not driver.connected


def test_a_connection_dropped_mid_read_raises_device_error_and_a_reconnect_reads_all(make_simulator, make_driver):
    simulator = make_simulator(record_size=16, user_size=28)
    simulator.load_records(SimRecord("1", MORNING + timedelta(minutes=i)) for i in range(5_000))
    driver = make_driver(simulator, timeout_s=0.5)
    simulator.drop_connection_after_chunks = 1
    with pytest.raises(DeviceError, match="read the attendance log failed"):
        driver.read_punches()
    simulator.drop_connection_after_chunks = None
    driver.connect()
    assert len(driver.read_punches()) == 5_000
    assert simulator.add_punch("1", MORNING) is not None and len(simulator.records) == 5_001  # re-enabled


def test_calls_before_connect_raise_device_error(make_simulator, make_driver):
    driver = make_driver(make_simulator(), connect=False)
    with pytest.raises(DeviceError, match="not connected"):
        driver.read_info()


def test_a_slow_device_within_the_timeout_is_merely_slow(make_simulator, make_driver):
    simulator = make_simulator()
    simulator.response_delay_s = 0.05
    simulator.add_punch("1", MORNING)
    driver = make_driver(simulator, timeout_s=1.0)
    assert driver.read_punches() == [DevicePunch("1", MORNING, 0, 1)]


def read_from_simulate_zk(*options: str, transport: str) -> tuple[str, DeviceInfo, list[DevicePunch]]:
    """Run `kinerja simulate zk` with `options`: its banner, then what the driver reads from it."""
    command = [sys.executable, "-m", "kinerja.cli", "simulate", "zk", "--port", "0", "--transport", transport]
    with subprocess.Popen([*command, *options], stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            banner = process.stdout.readline()
            port = int(banner.split(" on ")[1].split(" ")[0].rsplit(":", 1)[1])
            with ZKDriver("127.0.0.1", port, transport=transport, timeout_s=3) as driver:
                return banner, driver.read_info(), driver.read_punches()
        finally:
            process.terminate()


def test_kinerja_simulate_zk_serves_its_knobs_to_the_driver():
    banner, info, punches = read_from_simulate_zk(
        *("--records", "1000", "--punches", "0", "--duplicates", "--garbage", "2", "--clock-offset", "3600"),
        transport="udp",
    )
    assert "(UDP)" in banner
    assert abs(info.device_time - datetime.now() - timedelta(hours=1)) < timedelta(seconds=5)
    assert len(punches) == 1500 + 2  # every other record twice, and two garbage records
    assert sum(1 for p in punches if p.local_time.year == 2000) == 1
