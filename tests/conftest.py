"""Shared fixtures: the embedded parts (amqtt, SQLite) and the production parts (Mosquitto, PostgreSQL).

Production parts are found at KINERJA_TEST_MQTT_URL and KINERJA_TEST_PG_URL (defaults: the local
Mosquitto and PostgreSQL). Where they are missing a test is skipped, except under CI=true, where a
missing service fails the run: CI must never pass by testing less.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
from argon2 import PasswordHasher

from server.db import close_database, open_database
from server.services import accounts
from wire.embedded import EmbeddedBroker
from wire.mqtt import MqttSettings

if TYPE_CHECKING:
    from gateway.simulators.zk import ZKSimulator

# Argon2id is slow on purpose: at the production cost a hash takes 0.4 s and a check 0.6 s of two threads,
# and the suite makes an account for every server it starts and logs in many times. In the tests' own
# process passwords are hashed at the lowest cost; the processes the tests start (demo, trial, replicas)
# keep the real cost, and tests/test_auth.py still checks that passwords are stored as Argon2id.
accounts._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)

PG_ADMIN_URL = os.environ.get("KINERJA_TEST_PG_URL", "postgres://postgres@127.0.0.1:5432/test")
MOSQUITTO_URL = os.environ.get("KINERJA_TEST_MQTT_URL", "mqtt://127.0.0.1:1883?protocol=5")
IN_CI = os.environ.get("CI", "").lower() == "true"


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=2):
            return True
    except OSError:
        return False


def require_service(name: str, url: str, default_port: int) -> None:
    if _reachable(url, default_port):
        return
    message = f"{name} is not reachable at {url}"
    if IN_CI:
        pytest.fail(f"{message}; under CI=true a missing production service is a failure, not a skip")
    pytest.skip(message)


@dataclass(frozen=True)
class Stack:
    """Where the server keeps its data and where everyone meets: one of the two deployments."""

    name: str
    db_url: str
    mqtt: MqttSettings


@pytest.fixture
def mosquitto() -> MqttSettings:
    require_service("Mosquitto", MOSQUITTO_URL, 1883)
    return MqttSettings.from_url(MOSQUITTO_URL)


# A fresh database is migrated once per test session and copied for each test (PostgreSQL's CREATE DATABASE
# ... TEMPLATE, a file copy for SQLite): replaying the migrations costs seconds of CPU a database, and the
# suite makes a thousand. Tests of the migrations themselves mark their module `empty_database`.


def _wants_empty(request: pytest.FixtureRequest) -> bool:
    return request.node.get_closest_marker("empty_database") is not None


def _migrate(db_url: str) -> None:
    async def migrate() -> None:
        await close_database(await open_database(db_url))

    asyncio.run(migrate())


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "migrated.sqlite3"
    _migrate(f"sqlite://{path}")
    return path


def sqlite_url(request: pytest.FixtureRequest, path: Path) -> str:
    """The embedded database at `path`: a copy of the migrated template (empty where the test asks)."""
    if not _wants_empty(request):
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
    return f"sqlite://{path}"


async def _admin(statement: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await admin.execute(statement)
    finally:
        await admin.close()


def _database_url(name: str) -> str:
    return urlsplit(PG_ADMIN_URL)._replace(path=f"/{name}").geturl()


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    require_service("PostgreSQL", PG_ADMIN_URL, 5432)
    name = f"kinerja_template_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        _migrate(_database_url(name))
        yield name
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def postgres_url(request: pytest.FixtureRequest, postgres_template: str) -> AsyncIterator[str]:
    """A fresh PostgreSQL database per test (migrated, or empty where the test asks), dropped afterwards."""
    require_service("PostgreSQL", PG_ADMIN_URL, 5432)
    name = f"kinerja_test_{uuid.uuid4().hex[:12]}"
    template = "" if _wants_empty(request) else f' TEMPLATE "{postgres_template}"'
    await _admin(f'CREATE DATABASE "{name}"{template}')
    yield _database_url(name)
    await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """The database alone, on both deployments: the embedded SQLite file and a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return sqlite_url(request, tmp_path / "server.sqlite3")
    return request.getfixturevalue("postgres_url")


@pytest.fixture
async def embedded_broker() -> AsyncIterator[MqttSettings]:
    broker = EmbeddedBroker()
    await broker.start()
    yield broker.settings
    await broker.stop()


@pytest.fixture(params=["embedded", "production"])
def stack(request: pytest.FixtureRequest, tmp_path) -> Stack:
    """Each test using it runs twice: amqtt + SQLite, and Mosquitto (MQTT 5) + PostgreSQL."""
    if request.param == "embedded":
        mqtt = request.getfixturevalue("embedded_broker")
        return Stack("embedded", sqlite_url(request, tmp_path / "server.sqlite3"), mqtt)
    mqtt = request.getfixturevalue("mosquitto")
    db_url = request.getfixturevalue("postgres_url")
    return Stack("production", db_url, mqtt)


def unique_slug(prefix: str) -> str:
    """Topic ids unique per test, so tests sharing the one Mosquitto never see each other's messages."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def make_simulator() -> Iterator[Callable[..., ZKSimulator]]:
    """ZK simulators started with the given settings, stopped after the test."""
    from gateway.simulators.zk import ZKSimulator  # only the tests that use one pay for the import

    running: list[ZKSimulator] = []

    def make(**config: object) -> ZKSimulator:
        simulator = ZKSimulator(**config).start()  # type: ignore[arg-type]
        running.append(simulator)
        return simulator

    yield make
    for simulator in running:
        simulator.stop()
