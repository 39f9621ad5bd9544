"""Kill -9 a real gateway process anywhere, restart it: every punch reaches the server exactly once.

A real `kinerja gateway run` reads the ZK simulator (real wire protocol, unmodified pyzk) and relays
through a real Mosquitto to a real `kinerja server run` on PostgreSQL. The gateway is killed with
SIGKILL at each crash point a punch passes (gateway.faults: reading a device, inside the queue
transaction, after claiming, after publishing, on the ack, inside the ack transaction, before the
PUBACK), and also from outside at random moments; then it is restarted and must deliver everything,
with no punch stored twice and nothing left in its queue.
"""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from gateway.faults import CRASH_POINTS
from gateway.simulators.zk import ZKSimulator
from kinerja.processes import (
    GatewayProcess,
    ServerProcess,
    fresh_database,
    gateway_toml,
    queue_counts,
    stored_punches,
    wait_until,
)
from tests.conftest import PG_ADMIN_URL, require_service, unique_slug
from tests.edge_broker import private_mosquitto
from tests.gateway_centre import office_clock_offset
from wire.zones import office_zone

WITA = office_zone("WITA")

# Which pass of each point to die on: late enough that earlier batches already travelled.
CRASH_PASS = {
    "device.reading": 1,
    "device.live_event": 1,
    "queue.enqueueing": 1,
    "queue.enqueued": 1,
    "relay.claimed": 2,
    "relay.published": 2,
    "relay.sent": 3,
    "ack.received": 2,
    "queue.acknowledging": 2,
    "ack.done": 2,
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server process for the module, on a Mosquitto of its own: on the shared one, other engineers'
    servers (subscribed to every unit) would ack our batches too."""
    require_service("PostgreSQL", PG_ADMIN_URL, 5432)
    directory = tmp_path_factory.mktemp("server")
    with private_mosquitto(directory / "broker") as broker, fresh_database(PG_ADMIN_URL) as db_url:
        process = ServerProcess(db_url, broker.settings, directory / "server.log")
        process.start()
        try:
            yield process
        finally:
            process.stop()


class Office:
    """One simulated office: a ZK device, a gateway config and the punches the server must end with."""

    def __init__(self, tmp_path: Path, server: ServerProcess, *, devices: int = 1) -> None:
        self.unit = unique_slug("unit")
        self.gateway_id = unique_slug("gw")
        self.server = server
        self.state_dir = tmp_path / "state"
        self.devices = [
            ZKSimulator(serial=f"KILL{i}-{self.gateway_id[-8:]}", clock_offset=office_clock_offset()).start()
            for i in range(devices)
        ]
        self.expected: set[tuple[str, str, datetime, int]] = set()
        self._minute = 0
        config = tmp_path / "gateway.toml"
        config.write_text(
            gateway_toml(
                gateway_id=self.gateway_id,
                unit=self.unit,
                state_dir=self.state_dir,
                mqtt=server.mqtt,
                devices=[(f"door{i}", d.port) for i, d in enumerate(self.devices)],
            )
        )
        self.gateway = GatewayProcess(config, tmp_path / "gateway.log")

    def punch(self, count: int) -> None:
        day = datetime.now(WITA).date() - timedelta(days=1)
        start = datetime(day.year, day.month, day.day, 6, 0)
        for _ in range(count):
            device = self.devices[self._minute % len(self.devices)]
            moment = start + timedelta(minutes=self._minute)
            pin, state = str(self._minute % 9 + 1), self._minute % 2
            device.add_punch(pin, moment, state=state, verify=1)
            self.expected.add((device.serial, pin, moment.replace(tzinfo=WITA), state))
            self._minute += 1

    def stored(self) -> list[tuple[str, str, datetime, int]]:
        return stored_punches(self.server.db_url, self.unit)

    def drained(self) -> bool:
        return len(self.stored()) >= len(self.expected) and queue_counts(self.state_dir / "queue.sqlite3") == (0, 0)

    def assert_exactly_once(self) -> None:
        rows = self.stored()
        assert len(rows) == len(set(rows)), "a punch was stored twice"
        missing, unexpected = self.expected - set(rows), set(rows) - self.expected
        assert not missing and not unexpected, f"missing {missing}, unexpected {unexpected}"

    def close(self) -> None:
        self.gateway.kill()
        for device in self.devices:
            device.stop()


@pytest.fixture
def office(tmp_path: Path, server: ServerProcess) -> Iterator[Office]:
    office = Office(tmp_path, server)
    yield office
    office.close()


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_killed_at_a_crash_point_and_restarted_every_punch_arrives_once(office: Office, point: str):
    office.punch(30)
    office.gateway.start(crash_at=f"{point}@{CRASH_PASS[point]}")
    deadline = time.monotonic() + 20
    while office.gateway.process.poll() is None and time.monotonic() < deadline:  # type: ignore[union-attr]
        office.punch(1)  # people keep punching: live events, new batches
        time.sleep(0.2)
    returncode = office.gateway.wait(10)
    assert returncode == -signal.SIGKILL, office.gateway.log()
    assert f"crash point {point} reached" in office.gateway.log()

    office.punch(5)  # people kept punching while the gateway was dead
    office.gateway.start()
    office.gateway.wait_drained(office.drained, 30, f"delivery after a crash at {point}")
    assert office.gateway.stop() == 0, office.gateway.log()  # SIGTERM: an orderly stop
    office.assert_exactly_once()


def test_killed_from_outside_at_random_moments_nothing_is_lost_or_doubled(tmp_path: Path, server: ServerProcess):
    rng = random.Random(4)
    office = Office(tmp_path, server, devices=2)
    try:
        for _round in range(8):
            office.punch(rng.randrange(5, 25))
            office.gateway.start()
            # Anywhere from mid-startup to mid-drain: reading, queueing, publishing, handling acks.
            time.sleep(rng.uniform(0.15, 1.0))
            office.gateway.kill()
        office.punch(3)
        office.gateway.start()
        office.gateway.wait_drained(office.drained, 30, "delivery after random kills")
        assert office.gateway.stop() == 0
        office.assert_exactly_once()
    finally:
        office.close()


def test_the_server_killed_mid_drain_and_restarted_still_stores_every_punch_once(tmp_path: Path):
    """The other end of an ack: a server killed between its commit and its ack, or with batches unread.
    The gateway resends what was not acked; the server stores nothing twice."""
    require_service("PostgreSQL", PG_ADMIN_URL, 5432)
    with private_mosquitto(tmp_path / "broker") as broker, fresh_database(PG_ADMIN_URL) as db_url:
        server = ServerProcess(db_url, broker.settings, tmp_path / "server.log")
        server.start()
        office = Office(tmp_path, server)
        try:
            office.punch(400)
            office.gateway.start()
            wait_until(lambda: len(office.stored()) >= 20, 15, "the first batches stored", 0.02)
            server.kill()
            office.punch(10)
            server.start()
            office.gateway.wait_drained(office.drained, 30, "delivery after the server's crash")
            assert office.gateway.stop() == 0
            office.assert_exactly_once()
        finally:
            office.close()
            server.stop()
