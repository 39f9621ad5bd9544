"""Client-id takeover, tried with a real gateway login on a private Mosquitto started from each of the
deployment's configurations (deploy/mosquitto/kinerja.conf with its password file and ACL, and
kinerja-dynsec.conf with identities created live).

MQTT lets a new connection with a client id already in use close the old one ("already connected,
closing old connection"). Gateway A, with its own valid login, connects first with gateway B's client
id and then with the server replica's: neither victim may be disconnected, and both must still do
their work afterwards (B's next batch stored and acked by the replica). The public health endpoint
names neither the replica nor any gateway, so an attacker learns no client id from it."""

from __future__ import annotations

import asyncio
import contextlib
import glob
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from server.app import CONSUMER
from server.broker_identity import BrokerIdentities, local_dynsec_broker
from server.models import Punch
from tests.conftest import IN_CI, unique_slug
from tests.edge_broker import edge_broker
from tests.helpers import HandGateway, running_server
from wire.contract import AckStatus, BatchAck, TopicKind, topic_for
from wire.mqtt import MqttSettings


@dataclass
class Deployment:
    """A private broker and the logins the test needs: username -> password."""

    port: int
    passwords: dict[str, str]
    log_path: Path

    def settings(self, username: str) -> MqttSettings:
        return MqttSettings(port=self.port, username=username, password=self.passwords[username])


@contextlib.asynccontextmanager
async def deployment(
    kind: str, tmp_path: Path, replica: str, gateways: list[tuple[str, str]]
) -> AsyncIterator[Deployment]:
    if kind == "static":
        with edge_broker(tmp_path, [replica], gateways) as broker:
            yield Deployment(broker.port, broker.passwords, broker.log_path)
        return
    if not (shutil.which("mosquitto") and glob.glob("/usr/lib/*/mosquitto_dynamic_security.so")):
        if IN_CI:
            pytest.fail("mosquitto with its dynamic security plugin must be installed under CI=true")
        pytest.skip("mosquitto's dynamic security plugin is not installed")
    with local_dynsec_broker(tmp_path / "broker", debug_log=True) as broker:
        async with BrokerIdentities(broker.admin) as identities:
            logins = [await identities.create_replica_identity(replica)]
            logins += [await identities.create_gateway_identity(unit, gateway) for unit, gateway in gateways]
        yield Deployment(broker.port, {login.username: login.password for login in logins}, broker.log_path)


@dataclass
class Watched:
    """A bare paho client, so the test sees the broker's own answers: its CONNACK and every drop."""

    deployment: Deployment
    username: str
    client_id: str
    connack: paho.ReasonCode | None = None
    disconnects: list[str] = field(default_factory=list)
    messages: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=paho.MQTTv5)
        self.client.username_pw_set(self.username, self.deployment.passwords[self.username])
        self.client.on_connect = lambda c, u, f, reason, p: setattr(self, "connack", reason)
        self.client.on_disconnect = lambda c, u, f, reason, p: self.disconnects.append(str(reason))
        self.client.on_message = lambda c, u, message: self.messages.append(message.payload)
        self.client.connect("127.0.0.1", self.deployment.port, 30)
        self.client.loop_start()
        deadline = time.monotonic() + 5
        while self.connack is None and not self.disconnects and time.monotonic() < deadline:
            time.sleep(0.02)

    @property
    def accepted(self) -> bool:
        return self.connack is not None and not self.connack.is_failure

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def replica_health(port: int, stop: asyncio.Event, seen: list[dict]) -> None:
    """Poll the replica's public health while the attack runs: a takeover shows as mqtt_connected false."""
    async with aiohttp.ClientSession() as session:
        while not stop.is_set():
            async with session.get(f"http://127.0.0.1:{port}/api/v1/health") as response:
                seen.append(await response.json())
            await asyncio.sleep(0.02)


@pytest.mark.parametrize("config", ["static", "dynsec"])
async def test_a_gateway_cannot_take_over_another_gateways_or_the_replicas_client_id(config, tmp_path):
    unit_a, gw_a, unit_b, gw_b = unique_slug("unit"), unique_slug("gw"), unique_slug("unit"), unique_slug("gw")
    replica_login = unique_slug("kinerja-server")
    async with deployment(config, tmp_path, replica_login, [(unit_a, gw_a), (unit_b, gw_b)]) as broker:
        db_url = f"sqlite://{tmp_path / 'server.sqlite3'}"
        async with running_server(
            db_url, broker.settings(replica_login), replica_id=replica_login, units=(unit_a, unit_b)
        ) as server:
            consumer = server.app[CONSUMER]
            health: list[dict] = []
            stop = asyncio.Event()
            poller = asyncio.create_task(replica_health(server.port, stop, health))
            # Gateway B as the real gateway connects: its gateway id as client id, a persistent session.
            victim = Watched(broker, gw_b, gw_b)
            assert victim.accepted
            victim.client.subscribe(topic_for(unit_b, gw_b, TopicKind.ACKS), qos=1)
            sender_b = HandGateway(broker.settings(gw_b), unit_b, gw_b)  # only to build B's batch
            attempts = []
            try:
                for stolen_id in (gw_b, replica_login):
                    attempts.append(Watched(broker, gw_a, stolen_id))
                    await asyncio.sleep(1.5)  # a taken-over client reconnects within ~1 s and kicks back: a flap
            finally:
                stop.set()
                await poller
                for attempt in attempts:
                    attempt.close()
            try:
                assert victim.disconnects == [], f"gateway B was disconnected: {victim.disconnects}"
                assert len(health) > 20 and all(answer["mqtt_connected"] for answer in health), "the replica flapped"
                assert consumer.mqtt.is_connected

                # Both victims still work: B's batch reaches the replica, which stores it and acks it to B.
                batch = sender_b.batch([("7", 1)], device="DEV-B")
                victim.client.publish(topic_for(unit_b, gw_b, TopicKind.PUNCHES), batch.to_json(), qos=1)
                deadline = time.monotonic() + 5
                while not victim.messages and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
            finally:
                victim.close()
            (ack,) = [BatchAck.from_json(payload) for payload in victim.messages]
            assert ack.batch_id == batch.batch_id and ack.status is AckStatus.STORED
            assert await Punch.filter(unit_code=unit_b).count() == 1

            # The public health endpoint gives an attacker no client id to aim at.
            url = f"http://127.0.0.1:{server.port}/api/v1/health"
            async with aiohttp.ClientSession() as session, session.get(url) as response:
                public = await response.text()
            assert replica_login not in public and gw_a not in public and gw_b not in public
    log = broker.log_path.read_text()
    for victim_id in (gw_b, replica_login):  # (the attacker's own two connections may replace each other)
        assert f"Client {victim_id} already connected, closing old connection" not in log


def test_every_listener_of_the_static_deployment_binds_the_client_id_to_the_login():
    """Mosquitto 2.0 applies use_username_as_clientid to the listener above it: the test broker has one
    listener of its own, so check that each of the deployment's (loopback and TLS) carries the option."""
    from server.edge import DEPLOY_CONF

    listeners: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in DEPLOY_CONF.read_text().splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if words[0] == "listener":
            current = listeners.setdefault(" ".join(words[1:]), [])
        elif current is not None:
            current.append(" ".join(words))
    assert set(listeners) == {"1883 127.0.0.1", "8883"}
    assert all("use_username_as_clientid true" in options for options in listeners.values()), listeners
