"""A private Mosquitto for tests: the deployment's configuration (deploy/mosquitto/kinerja.conf) with
its users and ACL, on a free loopback port, so the machine-wide broker on 1883 stays as it is."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from kinerja.processes import PrivateMosquitto
from server.edge import LocalBroker, local_broker
from tests.conftest import IN_CI

EdgeBroker = LocalBroker


def require_mosquitto() -> None:
    if shutil.which("mosquitto") and shutil.which("mosquitto_passwd"):
        return
    if IN_CI:
        pytest.fail("mosquitto and mosquitto_passwd must be installed under CI=true")
    pytest.skip("mosquitto is not installed")


@contextlib.contextmanager
def edge_broker(tmp_path: Path, server_users: list[str], gateways: list[tuple[str, str]]) -> Iterator[LocalBroker]:
    require_mosquitto()
    with local_broker(tmp_path, server_users, gateways, debug_log=True) as broker:
        yield broker


@contextlib.contextmanager
def private_mosquitto(directory: Path, extra: str = "", port: int | None = None) -> Iterator[PrivateMosquitto]:
    """A plain private Mosquitto (kinerja.processes.PrivateMosquitto) for the gateway's process tests."""
    require_mosquitto()
    broker = PrivateMosquitto(directory, extra) if port is None else PrivateMosquitto(directory, extra, port)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
