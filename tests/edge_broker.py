"""A private Mosquitto for tests: the deployment's configuration (deploy/mosquitto/kinerja.conf) with
its users and ACL, on a free loopback port, so the machine-wide broker on 1883 stays as it is."""

from __future__ import annotations

import contextlib
import getpass
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kinerja.embedded import free_port
from kinerja.mqtt import MqttSettings
from server.edge import render_acl, set_password
from tests.conftest import IN_CI

DEPLOY_CONF = Path(__file__).resolve().parent.parent / "deploy" / "mosquitto" / "kinerja.conf"
# Lines of the deployment file that name machine paths or listeners; the test supplies its own.
_REPLACED = ("listener", "certfile", "keyfile", "cafile", "tls_version", "password_file", "acl_file",
             "persistence", "persistence_location", "autosave_interval")  # fmt: skip


@dataclass
class EdgeBroker:
    port: int
    passwords: dict[str, str]
    log_path: Path

    def settings(self, user: str) -> MqttSettings:
        return MqttSettings(port=self.port, username=user, password=self.passwords[user])

    def url(self, user: str) -> str:
        return f"mqtt://{user}:{self.passwords[user]}@127.0.0.1:{self.port}?protocol=5"


def require_mosquitto() -> None:
    if shutil.which("mosquitto") and shutil.which("mosquitto_passwd"):
        return
    if IN_CI:
        pytest.fail("mosquitto and mosquitto_passwd must be installed under CI=true")
    pytest.skip("mosquitto is not installed")


@contextlib.contextmanager
def edge_broker(tmp_path: Path, server_users: list[str], gateways: list[tuple[str, str]]) -> Iterator[EdgeBroker]:
    require_mosquitto()
    port = free_port()
    passwords = {user: uuid.uuid4().hex for user in [*server_users, *(g for _, g in gateways)]}
    password_file = tmp_path / "kinerja.passwd"
    for user, password in passwords.items():
        set_password(str(password_file), user, password)
    acl_file = tmp_path / "kinerja.acl"
    acl_file.write_text(render_acl(server_users, gateways))
    kept = [
        line
        for line in DEPLOY_CONF.read_text().splitlines()
        if line.strip() and not line.startswith("#") and line.split()[0] not in _REPLACED
    ]
    conf = tmp_path / "mosquitto.conf"
    log_path = tmp_path / "mosquitto.log"
    settings = [
        *kept,
        f"listener {port} 127.0.0.1",
        f"password_file {password_file}",
        f"acl_file {acl_file}",
        "persistence false",
        f"log_dest file {log_path}",
        "log_type all",
        # As root Mosquitto would switch to the `mosquitto` user, who cannot read the test's files.
        f"user {getpass.getuser()}",
    ]
    conf.write_text("\n".join(settings) + "\n")
    process = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"mosquitto did not start: {process.stderr.read().decode() if process.stderr else ''}"
                )
            time.sleep(0.05)
        yield EdgeBroker(port, passwords, log_path)
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
