"""The trial's real parts: a private Mosquitto with the deployment's config, users and ACL; server
replicas and gateways as processes; a cuttable uplink per gateway; the simulated devices.

Process helpers (gateway process, fresh database, waiting) are kinerja/processes.py, shared with the
end-to-end tests; the broker's configuration is the checkout's deploy/mosquitto/kinerja.conf.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import select
import signal
import socket
import subprocess
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from kinerja.processes import KINERJA, PrivateMosquitto, free_port
from server.edge import deployment_settings, render_acl, set_password
from wire.mqtt import MqttSettings

REPO = Path(__file__).resolve().parents[2]
DEPLOY_CONF = REPO / "deploy" / "mosquitto" / "kinerja.conf"
# Lines of the deployment file that name machine paths, listeners or persistence; the trial sets its own.
_REPLACED = ("listener", "certfile", "keyfile", "cafile", "tls_version", "password_file", "acl_file",
             "persistence", "persistence_location", "autosave_interval", "allow_anonymous", "user")  # fmt: skip
# The broker binds each client id to its login (use_username_as_clientid): one login per replica, and one
# for the trial's own observer, which reads what the server reads.
REPLICA_USERS = ("trial-replica-a", "trial-replica-b")
WATCH_USER = "trial-wire-watch"
SERVER_USERS = (*REPLICA_USERS, WATCH_USER)


@dataclass
class EdgeBroker:
    """Mosquitto on a free loopback port with deploy/mosquitto/kinerja.conf, its password file and the
    ACL generated for these gateways. Restartable on the same port (the broker-restart fault)."""

    directory: Path
    gateways: list[tuple[str, str]]
    passwords: dict[str, str] = field(default_factory=dict)
    mosquitto: PrivateMosquitto | None = None

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        users = [*SERVER_USERS, *(gateway for _, gateway in self.gateways)]
        self.passwords = {user: uuid.uuid4().hex for user in users}
        password_file = self.directory / "kinerja.passwd"
        for user, password in self.passwords.items():
            set_password(str(password_file), user, password)
        acl_file = self.directory / "kinerja.acl"
        acl_file.write_text(render_acl(SERVER_USERS, self.gateways))
        port = free_port()
        extra = "\n".join(
            [
                *deployment_settings(DEPLOY_CONF, _REPLACED, f"listener {port} 127.0.0.1"),
                "allow_anonymous false",
                f"password_file {password_file}",
                f"acl_file {acl_file}",
                # As root Mosquitto would switch to the `mosquitto` user, who cannot read our files.
                *([] if os.geteuid() == 0 else [f"user {getpass.getuser()}"]),
            ]
        )
        self.mosquitto = PrivateMosquitto(self.directory, extra + "\n", port)
        self.mosquitto.start()

    @property
    def port(self) -> int:
        assert self.mosquitto is not None
        return self.mosquitto.port

    def settings(self, user: str) -> MqttSettings:
        return MqttSettings(port=self.port, username=user, password=self.passwords[user])

    def url(self, user: str, port: int | None = None) -> str:
        return f"mqtt://{user}:{self.passwords[user]}@127.0.0.1:{port or self.port}?protocol=5"

    def restart(self, down_s: float) -> None:
        assert self.mosquitto is not None
        self.mosquitto.stop()
        time.sleep(down_s)
        self.mosquitto.start()

    def stop(self) -> None:
        if self.mosquitto is not None:
            self.mosquitto.stop()


@dataclass
class Replica:
    """`kinerja server run` with KINERJA_* settings; replicas share one subscription group."""

    name: str
    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, **self.env, "KINERJA_REPLICA_ID": self.name}
        with self.log_path.open("ab") as log:
            log.write(f"\n--- start {time.strftime('%H:%M:%S')} ---\n".encode())
            self.process = subprocess.Popen(
                [KINERJA, "server", "run", "--port", str(self.port)], env=env, stdout=log, stderr=log
            )

    def health(self) -> dict:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/v1/health", timeout=1) as answer:
                return json.loads(answer.read())
        except (OSError, ValueError):
            return {}

    def consuming(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"replica {self.name} exited with {self.process.returncode}; see {self.log_path}")
        return bool(self.health().get("mqtt_connected"))

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


class Uplink:
    """A TCP relay between a gateway and the broker: cut() drops every connection and refuses new
    ones until restore(), as a dead office line does."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._cut = threading.Event()
        self._stopping = threading.Event()
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, name=f"uplink-{self.port}", daemon=True).start()

    def cut(self) -> None:
        self._cut.set()
        self._close_all()

    def restore(self) -> None:
        self._cut.clear()

    def close(self) -> None:
        self._stopping.set()
        self._close_all()
        self._listener.close()

    def _close_all(self) -> None:
        with self._lock:
            pairs, self._pairs = list(self._pairs), set()
        for pair in pairs:
            for sock in pair:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            if not select.select([self._listener], [], [], 0.1)[0]:
                continue
            try:
                client, _ = self._listener.accept()
            except OSError:
                continue
            if self._cut.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=2)
            except OSError:
                client.close()
                continue
            pair = (client, upstream)
            with self._lock:
                self._pairs.add(pair)
            threading.Thread(target=self._pump, args=pair, daemon=True).start()

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        peers = {client: upstream, upstream: client}
        try:
            while not self._cut.is_set():
                ready = select.select(list(peers), [], [], 0.1)[0]
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
        except (OSError, ValueError):
            return
        finally:
            with self._lock:
                self._pairs.discard((client, upstream))
            for sock in (client, upstream):
                with contextlib.suppress(OSError):
                    sock.close()


def holds_open(pid: int, path: Path) -> bool:
    """Whether process `pid` has the file behind `path` (a pty) open: the gateway is listening."""
    try:
        target = os.path.realpath(path)
        return any(os.path.realpath(f"/proc/{pid}/fd/{fd}") == target for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return False
