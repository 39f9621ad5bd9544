"""Serial terminals: the simulator on a real pseudo-terminal, the pyserial driver, and the coordinator.

Both shipped serial profiles are exercised line for line; garbled lines end in quarantine with their
raw bytes, and a pulled cable costs the punches made while it was out, never the ones already read.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.config import DeviceConfig
from gateway.coordinator import DeviceCoordinator
from gateway.devices.base import DeviceError, DevicePunch
from gateway.devices.serial_line import GarbledLine, SerialLineDriver, SerialLineFormat
from gateway.profiles import load_profile
from gateway.queue import PunchQueue
from gateway.simulators.serial_terminal import SerialTerminalSimulator, garble
from wire.zones import office_zone

WIB = office_zone("WIB")
MORNING = datetime(2026, 11, 23, 7, 30, 5)
SERIAL_PROFILES = ["giga-tms-tr320", "opticon-opl9724"]


def line_format(profile: str) -> SerialLineFormat:
    chosen = load_profile(profile)
    return SerialLineFormat.from_table(chosen.serial, chosen.source)


def now_wib() -> datetime:
    return datetime.now(WIB).replace(tzinfo=None, microsecond=0)


@pytest.fixture
def make_terminal(tmp_path) -> Iterator[Callable[..., SerialTerminalSimulator]]:
    made: list[SerialTerminalSimulator] = []

    def make(profile: str, **knobs: object) -> SerialTerminalSimulator:
        terminal = SerialTerminalSimulator(line_format(profile), tmp_path / "by-id" / profile, **knobs)  # type: ignore[arg-type]
        made.append(terminal.plug_in())
        return terminal

    yield make
    for terminal in made:
        terminal.unplug()


@pytest.fixture
def make_driver() -> Iterator[Callable[..., tuple[SerialLineDriver, list[tuple[bytes, str]]]]]:
    made: list[SerialLineDriver] = []

    def make(terminal: SerialTerminalSimulator) -> tuple[SerialLineDriver, list[tuple[bytes, str]]]:
        quarantined: list[tuple[bytes, str]] = []
        driver = SerialLineDriver(
            str(terminal.path),
            terminal.line_format,
            serial_number="TERM-1",
            timeout_s=0.5,
            quarantine=lambda raw, reason: quarantined.append((raw, reason)),
        )
        made.append(driver)
        driver.connect()
        return driver, quarantined

    yield make
    for driver in made:
        driver.close()


def read_until(driver: SerialLineDriver, count: int, timeout_s: float = 3.0) -> list[DevicePunch]:
    punches: list[DevicePunch] = []
    deadline = time.monotonic() + timeout_s
    while len(punches) < count and time.monotonic() < deadline:
        punches += driver.read_punches()
    return punches


@pytest.mark.parametrize("profile", SERIAL_PROFILES)
def test_each_serial_model_s_lines_come_through_the_pty_as_punches(make_terminal, make_driver, profile):
    terminal = make_terminal(profile)
    driver, quarantined = make_driver(terminal)
    state = 1 if profile == "giga-tms-tr320" else 0  # the Opticon prints no state
    terminal.punch("1985", MORNING, state=state, verify=4)
    terminal.punch("A7", MORNING + timedelta(hours=9), state=state, verify=4)
    assert read_until(driver, 2) == [
        DevicePunch("1985", MORNING, state, 4),
        DevicePunch("A7", MORNING + timedelta(hours=9), state, 4),
    ]
    assert quarantined == []


def test_the_tr320_line_is_the_manual_s_tab_delimited_record(make_terminal):
    line = make_terminal("giga-tms-tr320").format_line("1985", MORNING, state=2)
    assert line == b"2\t23-11-2026\t07:30:05\t'1985\t01\t0001\r\n"


@pytest.mark.parametrize("kind", ["flipped", "cut", "noise"])
def test_a_garbled_line_is_quarantined_raw_and_the_next_line_still_counts(make_terminal, make_driver, kind):
    terminal = make_terminal("giga-tms-tr320")
    driver, quarantined = make_driver(terminal)
    damaged = garble(terminal.format_line("1985", MORNING, state=1), kind)
    terminal.send_raw(damaged)
    terminal.punch("7", MORNING, state=1)
    assert read_until(driver, 1) == [DevicePunch("7", MORNING, 1, 4)]
    assert [raw for raw, _ in quarantined] == [damaged]


def test_the_garble_knob_damages_every_nth_line_and_only_those(make_terminal, make_driver):
    terminal = make_terminal("opticon-opl9724", garble_every=3)
    driver, quarantined = make_driver(terminal)
    for minute in range(9):
        terminal.punch(str(100 + minute), MORNING + timedelta(minutes=minute))
    punches = read_until(driver, 6)
    assert [p.pin for p in punches] == ["100", "101", "103", "104", "106", "107"]
    deadline = time.monotonic() + 2
    while len(quarantined) < 3 and time.monotonic() < deadline:
        driver.read_punches()
    assert [raw for raw, _ in quarantined] == terminal.garbled_sent


def test_a_checksummed_line_with_a_wrong_checksum_is_quarantined(tmp_path):
    table = {
        "baud": 19200,
        "pattern": r"(?P<pin>\d+),(?P<timestamp>\d{14}),(?P<state>\d)",
        "timestamp_format": "%Y%m%d%H%M%S",
        "default_verify": 1,
        "checksum": "xor8-hex",
        "line_template": "{pin},{timestamp},{state}",
    }
    fmt = SerialLineFormat.from_table(table, "test")
    terminal = SerialTerminalSimulator(fmt, tmp_path / "tty")
    good = terminal.format_line("42", MORNING, state=1)
    assert fmt.parse_line(good) == DevicePunch("42", MORNING, 1, 1)
    bad = good.replace(b",1*", b",0*")
    with pytest.raises(ValueError, match="bad xor8-hex checksum"):
        fmt.parse_line(bad)


def test_the_driver_survives_the_cable_pulled_and_plugged_back(make_terminal, make_driver):
    terminal = make_terminal("giga-tms-tr320")
    driver, _ = make_driver(terminal)
    terminal.punch("1", MORNING, state=1)
    time.sleep(0.1)  # the line is in the port's buffer before the cable goes
    driver._read_chunk()  # parsed, not yet handed out
    terminal.unplug()
    with pytest.raises(DeviceError, match="lost"):
        driver.read_punches()
    with pytest.raises(DeviceError, match="not present"):
        driver.connect()
    terminal.plug_in()
    driver.connect()
    terminal.punch("2", MORNING + timedelta(minutes=1), state=2)
    assert read_until(driver, 2) == [
        DevicePunch("1", MORNING, 1, 4),
        DevicePunch("2", MORNING + timedelta(minutes=1), 2, 4),
    ]


@pytest.fixture
async def serial_coordinator(
    tmp_path, make_terminal
) -> AsyncIterator[tuple[DeviceCoordinator, SerialTerminalSimulator]]:
    terminal = make_terminal("giga-tms-tr320", garble_every=4)
    queue = PunchQueue(tmp_path / "gw" / "queue.sqlite3")
    config = DeviceConfig(
        name="lobby-serial",
        profile=load_profile("giga-tms-tr320"),
        serial_path=str(terminal.path),
        serial_number="TR320-0001",
        timeout_s=0.5,
        poll_interval_s=0.2,
    )
    coordinator = DeviceCoordinator(config, queue, WIB, reconcile_interval_s=1.0)
    runner = asyncio.ensure_future(coordinator.run())
    yield coordinator, terminal
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    coordinator.close()
    queue.close()


async def wait_until(condition: Callable[[], bool], timeout_s: float = 5.0) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout_s:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def test_a_serial_terminal_feeds_the_queue_live_through_garbage_and_an_unplugged_cable(serial_coordinator):
    coordinator, terminal = serial_coordinator
    await wait_until(lambda: coordinator.health.reachable)
    for pin in ("1", "2", "3", "4"):  # the fourth line is garbled by the knob
        terminal.punch(pin, now_wib(), state=1)  # event key 1: IN
    assert await wait_until(lambda: coordinator.queue.stats().queued == 3) < 2.0
    await wait_until(lambda: coordinator.store.quarantined_count() == 1)
    [kept] = coordinator.store.quarantined()
    assert kept.raw == terminal.garbled_sent[0] and kept.device == "lobby-serial"
    terminal.unplug()
    await wait_until(lambda: not coordinator.health.reachable)
    assert "serial port" in (coordinator.health.last_error or "")
    terminal.plug_in()
    await wait_until(lambda: coordinator.health.reachable, timeout_s=6)
    terminal.punch("5", now_wib(), state=1)
    terminal.punch("5", now_wib() + timedelta(seconds=1), state=3)  # event key 3: break out
    await wait_until(lambda: coordinator.queue.stats().queued == 5)
    rows = coordinator.queue._db.execute("SELECT device, pin, state FROM punches ORDER BY seq").fetchall()
    assert rows == [("TR320-0001", pin, state) for pin, state in [("1", 0), ("2", 0), ("3", 0), ("5", 0), ("5", 2)]]


def test_kinerja_simulate_serial_runs_a_terminal_the_driver_reads(tmp_path):
    link = tmp_path / "tty-gate"
    command = [sys.executable, "-m", "kinerja.cli", "simulate", "serial", "--profile", "giga-tms-tr320"]
    command += ["--link", str(link), "--punch-every", "0.1", "--users", "3"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            assert "serial terminal" in process.stdout.readline()
            quarantined: list[tuple[bytes, str]] = []
            driver = SerialLineDriver(
                str(link),
                line_format("giga-tms-tr320"),
                serial_number="CLI",
                timeout_s=0.5,
                quarantine=lambda raw, reason: quarantined.append((raw, reason)),
            )
            driver.connect()
            try:
                punches = read_until(driver, 3)
            finally:
                driver.close()
        finally:
            process.terminate()
    assert len(punches) >= 3 and {p.pin for p in punches} <= {"1", "2", "3"} and not quarantined


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    profile=st.sampled_from(SERIAL_PROFILES),
    pin=st.text(alphabet="0123456789ABCDEFabcdef", min_size=1, max_size=10),
    moment=st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2099, 12, 31)).map(
        lambda moment: moment.replace(microsecond=0)
    ),
    state=st.sampled_from([1, 2, 3, 4]),
)
def test_every_line_a_terminal_prints_parses_back_to_the_same_punch(profile, pin, moment, state):
    fmt = line_format(profile)
    terminal = SerialTerminalSimulator(fmt, "/nonexistent")
    state = state if profile == "giga-tms-tr320" else 0
    assert fmt.parse_line(terminal.format_line(pin, moment, state=state)) == DevicePunch(pin, moment, state, 4)


@settings(max_examples=300, deadline=None)
@given(profile=st.sampled_from(SERIAL_PROFILES), position=st.integers(0, 500), kind=st.sampled_from(["flip", "cut"]))
def test_a_line_damaged_anywhere_by_noise_or_a_late_start_is_refused(profile, position, kind):
    fmt = line_format(profile)
    state = 1 if profile == "giga-tms-tr320" else 0
    good = SerialTerminalSimulator(fmt, "/nonexistent").format_line("1985", MORNING, state=state)
    at = position % (len(good) - 2)  # the line end survives
    flipped = good[:at] + bytes((good[at] ^ 0x80,)) + good[at + 1 :]  # a framing error: top bit set
    started_late = good[at + 1 :]  # the gateway opened the port in the middle of a line
    damaged = flipped if kind == "flip" else started_late
    with pytest.raises(GarbledLine):
        fmt.parse_line(damaged)


@settings(max_examples=300, deadline=None)
@given(profile=st.sampled_from(SERIAL_PROFILES), noise=st.binary(max_size=200))
def test_line_noise_is_refused_with_a_reason_never_a_crash(profile, noise):
    fmt = line_format(profile)
    try:
        fmt.parse_line(noise + b"\r\n")
    except GarbledLine as refusal:
        assert str(refusal)
