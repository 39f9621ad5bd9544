"""Shared fixtures: the embedded parts (amqtt, SQLite) and the production parts (Mosquitto, PostgreSQL).

Production parts are found at KINERJA_TEST_MQTT_URL and KINERJA_TEST_PG_URL (defaults: the local
Mosquitto and PostgreSQL). Where they are missing a test is skipped, except under CI=true, where a
missing service fails the run: CI must never pass by testing less.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from wire.embedded import EmbeddedBroker
from wire.mqtt import MqttSettings

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


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database per test, dropped afterwards."""
    require_service("PostgreSQL", PG_ADMIN_URL, 5432)
    import asyncpg

    name = f"kinerja_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    parts = urlsplit(PG_ADMIN_URL)
    yield parts._replace(path=f"/{name}").geturl()
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """The database alone, on both deployments: the embedded SQLite file and a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'server.sqlite3'}"
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
        return Stack("embedded", f"sqlite://{tmp_path / 'server.sqlite3'}", mqtt)
    mqtt = request.getfixturevalue("mosquitto")
    db_url = request.getfixturevalue("postgres_url")
    return Stack("production", db_url, mqtt)


def unique_slug(prefix: str) -> str:
    """Topic ids unique per test, so tests sharing the one Mosquitto never see each other's messages."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
