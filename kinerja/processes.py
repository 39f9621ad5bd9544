"""Our real processes, for the end-to-end tests, the field trial and the benchmarks: `kinerja server run`
on a fresh PostgreSQL database, `kinerja gateway run` on a config file, a private Mosquitto, and
read-only looks at what each has stored."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from wire.embedded import free_port
from wire.mqtt import MqttSettings

KINERJA = str(Path(sys.executable).with_name("kinerja"))


def mqtt_url(settings: MqttSettings) -> str:
    return f"mqtt://{settings.host}:{settings.port}?protocol={settings.protocol}"


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str, step_s: float = 0.1) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout_s} s")
        time.sleep(step_s)


@contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    import asyncpg

    name = f"kinerja_test_{uuid.uuid4().hex[:12]}"

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(admin_url)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield urlsplit(admin_url)._replace(path=f"/{name}").geturl()
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def stored_punches(db_url: str, unit: str) -> list[tuple[str, str, datetime, int]]:
    """Every punch row the server holds for `unit`, duplicates included (there must be none)."""
    import asyncpg

    async def query() -> list[tuple[str, str, datetime, int]]:
        connection = await asyncpg.connect(db_url)
        try:
            rows = await connection.fetch(
                "SELECT device_serial, pin, punched_at, state FROM punch WHERE unit_code = $1", unit
            )
        finally:
            await connection.close()
        return [(r["device_serial"], r["pin"], r["punched_at"], r["state"]) for r in rows]

    return asyncio.run(query())


@dataclass
class ServerProcess:
    db_url: str
    mqtt: MqttSettings
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "KINERJA_DB_URL": self.db_url,
            "KINERJA_MQTT_URL": mqtt_url(self.mqtt),
            "KINERJA_REPLICA_ID": f"test-server-{uuid.uuid4().hex[:8]}",
            "KINERJA_SHARE_GROUP": f"test-{uuid.uuid4().hex[:8]}",
            # The rig's gateways bring devices nobody registered: the lab policy takes them as theirs.
            "KINERJA_NEW_DEVICES": "accept",
        }
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [KINERJA, "server", "run", "--port", str(self.port)], env=env, stdout=log, stderr=log
            )
        wait_until(self._healthy, 30, f"server process (log: {self.log_path})", 0.1)
        time.sleep(0.5)  # the HTTP side answers before the MQTT SUBSCRIBE has surely reached the broker

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"server process exited with {self.process.returncode}: {self.log_path.read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/v1/health", timeout=1) as answer:
                return answer.status == 200
        except OSError:
            return False

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class GatewayProcess:
    """`kinerja gateway run --config ...`; `crash_at` arms a crash point (gateway.faults)."""

    config_path: Path
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self, crash_at: str | None = None, **extra_env: str) -> None:
        env = {**os.environ, "PYTHONFAULTHANDLER": "1", **extra_env}  # SIGABRT dumps every thread's stack
        env.pop("KINERJA_GATEWAY_CRASH_AT", None)
        if crash_at:
            env["KINERJA_GATEWAY_CRASH_AT"] = crash_at
        with self.log_path.open("ab") as log:
            log.write(f"\n--- start (crash_at={crash_at}) ---\n".encode())
            self.process = subprocess.Popen(
                [KINERJA, "gateway", "run", "--config", str(self.config_path)], env=env, stdout=log, stderr=log
            )

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def wait(self, timeout_s: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout_s)

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> int:
        """SIGTERM, as systemd stops it; returns the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
                raise
        return self.process.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stacks(self) -> str:
        """Abort a stuck gateway so its log ends with every thread's stack; returns the log."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGABRT)
            self.process.wait(10)
        return self.log()

    def wait_drained(self, condition: Callable[[], bool], timeout_s: float, what: str) -> None:
        try:
            wait_until(condition, timeout_s, what)
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}\n{self.stacks()}") from None


def queue_counts(queue_path: Path) -> tuple[int, int]:
    """(punches queued, batches in flight) in a gateway's queue file, read beside the running gateway."""
    if not queue_path.exists():
        return (-1, -1)
    db = sqlite3.connect(f"file:{queue_path}?mode=ro", uri=True, timeout=5)
    try:
        punches = db.execute("SELECT count(*) FROM punches").fetchone()[0]
        batches = db.execute("SELECT count(*) FROM batches").fetchone()[0]
    except sqlite3.OperationalError:  # tables not created yet
        return (-1, -1)
    finally:
        db.close()
    return punches, batches


def gateway_toml(
    *,
    gateway_id: str,
    unit: str,
    state_dir: Path,
    mqtt: MqttSettings,
    devices: list[tuple[str, int]],
    relay: str = "batch_size = 7\nmax_in_flight = 2\nresend_after_s = 1\nmax_backoff_s = 2",
    telemetry_interval_s: float = 60,
    poll_interval_s: float = 0.3,
) -> str:
    device_tables = "".join(
        f'\n[[devices]]\nname = "{name}"\nhost = "127.0.0.1"\nport = {port}\n'
        f"timeout_s = 3\npoll_interval_s = {poll_interval_s}\n"
        for name, port in devices
    )
    return (
        f'gateway_id = "{gateway_id}"\nunit = "{unit}"\ntimezone = "WITA"\nstate_dir = "{state_dir}"\n\n'
        f'[mqtt]\nurl = "{mqtt_url(mqtt)}"\n\n[relay]\n{relay}\n\n[telemetry]\ninterval_s = {telemetry_interval_s}\n'
        f"{device_tables}"
    )


@dataclass
class PrivateMosquitto:
    """A Mosquitto of our own on a free port: no other engineer's server consumes (and acks) our
    punches, and the test may stop it to cut the uplink. `extra` is appended to its config."""

    directory: Path
    extra: str = ""
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def settings(self) -> MqttSettings:
        return MqttSettings(host="127.0.0.1", port=self.port)

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "mosquitto.conf"
        as_root = "user root\n" if os.geteuid() == 0 else ""  # root would drop to `mosquitto`, who cannot read tmp
        listener = "" if "listener" in self.extra else f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
        config.write_text(f"{as_root}persistence false\nlog_dest stderr\n{listener}{self.extra}")
        with (self.directory / "mosquitto.log").open("ab") as log:
            self.process = subprocess.Popen(["mosquitto", "-c", str(config)], stdout=log, stderr=log)
        wait_until(self._listening, 10, f"mosquitto on port {self.port}", 0.02)

    def _listening(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"mosquitto exited: {(self.directory / 'mosquitto.log').read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
