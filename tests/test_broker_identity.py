"""Broker identities managed live, on a real Mosquitto with its dynamic security plugin on a free port:
a login created at run time reaches its own topics and nothing else, its client id is bound to it,
a revoked gateway is cut off at once, and a real gateway and server replica work with these roles."""

from __future__ import annotations

import asyncio
import contextlib
import glob
import json
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta

import paho.mqtt.client as paho
import pytest
from aiohttp.test_utils import TestClient, TestServer
from paho.mqtt.enums import CallbackAPIVersion

from gateway.config import DeviceConfig, GatewayConfig, RelayConfig
from gateway.service import Gateway
from gateway.simulators.zk import ZKSimulator
from server.app import CONSUMER, create_app
from server.broker_identity import (
    BrokerCredentials,
    BrokerIdentities,
    DynsecBroker,
    DynsecError,
    gateway_acls,
    local_dynsec_broker,
)
from server.edge import render_acl
from server.models import Gateway as GatewayRecord
from server.models import Punch
from server.settings import ServerSettings
from tests.conftest import IN_CI, unique_slug
from wire.contract import TopicKind, topic_for
from wire.mqtt import MqttSettings
from wire.zones import office_zone


def require_dynsec() -> None:
    if shutil.which("mosquitto") and glob.glob("/usr/lib/*/mosquitto_dynamic_security.so"):
        return
    if IN_CI:
        pytest.fail("mosquitto with its dynamic security plugin must be installed under CI=true")
    pytest.skip("mosquitto's dynamic security plugin is not installed")


@pytest.fixture
def dynsec(tmp_path) -> Iterator[DynsecBroker]:
    require_dynsec()
    with local_dynsec_broker(tmp_path / "broker", debug_log=True) as broker:
        yield broker


class Probe:
    """A bare paho client, so the test sees the broker's own answers (CONNACK and SUBACK codes, drops)."""

    def __init__(self, broker: DynsecBroker, username: str, password: str, client_id: str) -> None:
        self.connack: paho.ReasonCode | None = None
        self.disconnected_at: float | None = None
        self.suback: list[paho.ReasonCode] = []
        self.messages: list[tuple[str, bytes]] = []
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
        self.client.username_pw_set(username, password)
        self.client.on_connect = lambda c, u, f, reason, p: setattr(self, "connack", reason)
        self.client.on_disconnect = lambda c, u, f, reason, p: setattr(self, "disconnected_at", time.monotonic())
        self.client.on_subscribe = lambda c, u, mid, reasons, p: self.suback.extend(reasons)
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, m.payload))
        self.client.connect(broker.settings().host, broker.port, 30)
        self.client.loop_start()
        deadline = time.monotonic() + 5
        while self.connack is None and self.disconnected_at is None and time.monotonic() < deadline:
            time.sleep(0.02)

    @property
    def accepted(self) -> bool:
        return self.connack is not None and not self.connack.is_failure and self.disconnected_at is None

    def subscribe(self, topic_filter: str) -> paho.ReasonCode:
        before = len(self.suback)
        self.client.subscribe(topic_filter, qos=1)
        deadline = time.monotonic() + 5
        while len(self.suback) == before and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.suback[before]

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def probe(broker: DynsecBroker, credentials: BrokerCredentials, client_id: str | None = None) -> Probe:
    return Probe(broker, credentials.username, credentials.password, client_id or credentials.client_id)


def test_a_gateway_role_grants_exactly_what_the_static_acl_grants():
    acls = gateway_acls("unit-a", "gw-a")
    static = render_acl(["kinerja-server"], [("unit-a", "gw-a")]).split("user gw-a\n")[1].split()
    static_pairs = set(zip(static[1::3], static[2::3], strict=True))  # ("write"|"read", topic)
    ours = {("write", a["topic"]) for a in acls if a["acltype"] == "publishClientSend"}
    ours |= {("read", a["topic"]) for a in acls if a["acltype"] == "subscribeLiteral"}
    assert ours == static_pairs
    assert all("+" not in a["topic"] and "#" not in a["topic"] for a in acls)
    assert {a["topic"] for a in acls if a["acltype"] == "publishClientReceive"} == {
        a["topic"] for a in acls if a["acltype"] == "subscribeLiteral"
    }


async def test_identities_created_live_reach_their_own_topics_only_and_revoking_cuts_a_gateway_off(dynsec):
    unit_a, gw_a, unit_b, gw_b = unique_slug("unit"), unique_slug("gw"), unique_slug("unit"), unique_slug("gw")
    async with BrokerIdentities(dynsec.admin) as broker:
        replica = await broker.create_replica_identity("replica-1")
        creds_a = await broker.create_gateway_identity(unit_a, gw_a)
        creds_b = await broker.create_gateway_identity(unit_b, gw_b)
        assert (await broker.client(gw_a))["clientid"] == gw_a
        with pytest.raises(DynsecError, match="already exists"):
            await broker.create_gateway_identity(unit_a, gw_a)

        server = probe(dynsec, replica)
        a = probe(dynsec, creds_a)
        b = probe(dynsec, creds_b)
        try:
            assert server.accepted and a.accepted and b.accepted
            assert not server.subscribe("$share/replicas/kinerja/v1/+/+/punches").is_failure
            assert not server.subscribe("kinerja/v1/+/+/status").is_failure
            # A gateway may not listen beyond its own acks and commands, nor anywhere wide.
            assert not a.subscribe(topic_for(unit_a, gw_a, TopicKind.ACKS)).is_failure
            assert a.subscribe(topic_for(unit_b, gw_b, TopicKind.ACKS)).is_failure
            assert a.subscribe("kinerja/v1/#").is_failure
            assert server.subscribe("#").is_failure

            a.publish(topic_for(unit_a, gw_a, TopicKind.PUNCHES), b"own")
            a.publish(topic_for(unit_b, gw_b, TopicKind.PUNCHES), b"forged")  # PUBACKed, never delivered
            a.publish(topic_for(unit_a, gw_a, TopicKind.ACKS), b"fake ack")  # a gateway cannot write acks
            b.publish(topic_for(unit_b, gw_b, TopicKind.STATUS), b"online")
            server.client.publish(topic_for(unit_a, gw_a, TopicKind.ACKS), b"ack", qos=1).wait_for_publish(5)
            await asyncio.sleep(0.5)
            assert len(server.messages) == 2
            assert set(server.messages) == {
                (topic_for(unit_a, gw_a, TopicKind.PUNCHES), b"own"),
                (topic_for(unit_b, gw_b, TopicKind.STATUS), b"online"),
            }
            assert a.messages == [(topic_for(unit_a, gw_a, TopicKind.ACKS), b"ack")]

            # Its client id is bound to its login: neither another login with it nor it with another id.
            thief = probe(dynsec, creds_b, client_id=gw_a)
            wrong_id = probe(dynsec, creds_a, client_id="someone-else")
            assert not thief.accepted and not wrong_id.accepted
            assert a.accepted  # and the real gateway was not taken over
            thief.close()
            wrong_id.close()

            # Revoked while connected: dropped within seconds, and refused from then on.
            revoked_at = time.monotonic()
            assert await broker.revoke_gateway(gw_a)
            while a.disconnected_at is None and time.monotonic() - revoked_at < 5:
                await asyncio.sleep(0.02)
            assert a.disconnected_at is not None and a.disconnected_at - revoked_at < 2
            again = probe(dynsec, creds_a)
            assert not again.accepted
            again.close()
            assert await broker.client(gw_a) is None and await broker.role(f"kinerja-gateway-{gw_a}") is None
            assert await broker.revoke_gateway(gw_a) is False
            b.publish(topic_for(unit_b, gw_b, TopicKind.TELEMETRY), b"{}")  # the others carry on
            await asyncio.sleep(0.3)
            assert b.accepted and (topic_for(unit_b, gw_b, TopicKind.TELEMETRY), b"{}") not in server.messages
        finally:
            for client in (server, a, b):
                client.close()
    log = dynsec.log_path.read_text()
    assert f"Denied PUBLISH from {gw_a}" in log
    # The plugin kept what we did in its file, so a broker restart keeps the identities.
    saved = json.loads(dynsec.config_file.read_text())
    assert {c["username"] for c in saved["clients"]} == {"kinerja-broker-admin", "replica-1", gw_b}


@contextlib.asynccontextmanager
async def replica(db_url: str, mqtt: MqttSettings, replica_id: str, unit: str) -> AsyncIterator[TestClient]:
    settings = ServerSettings(
        db_url=db_url,
        mqtt=mqtt,
        replica_id=replica_id,
        share_group="kinerja-server",
        units=(unit,),
        session_expiry_s=60,
        new_devices="accept",  # the gateway's simulated device is registered by nobody
    )
    client = TestClient(TestServer(create_app(settings)))
    await client.start_server()
    try:
        await client.app[CONSUMER].mqtt.wait_connected(10)
        await asyncio.sleep(0.3)
        yield client
    finally:
        await client.close()


async def test_a_real_gateway_and_server_replica_work_with_identities_created_live(dynsec, tmp_path):
    """The roles are enough for the real traffic: punches and acks, retained status and the last will."""
    unit, gateway_id = unique_slug("unit"), unique_slug("gw")
    async with BrokerIdentities(dynsec.admin) as broker:
        replica_login = await broker.create_replica_identity("kinerja-server-test")
        gateway_login = await broker.create_gateway_identity(unit, gateway_id)
    yesterday = datetime.now(office_zone("WITA")).date() - timedelta(days=1)
    with ZKSimulator(serial="DYNSEC-0001") as device:
        device.add_punch("7", datetime(yesterday.year, yesterday.month, yesterday.day, 7, 31), state=0, verify=1)
        config = GatewayConfig(
            gateway_id=gateway_id,
            unit=unit,
            zone=office_zone("WITA"),
            state_dir=tmp_path / "gw",
            mqtt=dynsec.settings(gateway_login),
            devices=(DeviceConfig("entrance", "127.0.0.1", device.port, timeout_s=5, poll_interval_s=0.5),),
            relay=RelayConfig(resend_after_s=2),
        )
        db_url = f"sqlite://{tmp_path / 'server.sqlite3'}"
        async with replica(db_url, dynsec.settings(replica_login), replica_login.username, unit):
            gateway = Gateway(config)
            await gateway.start()
            try:
                deadline = time.monotonic() + 15
                while await Punch.filter(unit_code=unit).count() < 1 and time.monotonic() < deadline:
                    await asyncio.sleep(0.1)
                assert await Punch.filter(unit_code=unit).count() == 1
                while gateway.queue.stats().queued and time.monotonic() < deadline:  # the ack came back
                    await asyncio.sleep(0.1)
                assert gateway.queue.stats().queued == 0
                status = await GatewayRecord.get_or_none(gateway_id=gateway_id)
                assert status is not None and status.online
            finally:
                await gateway.stop()
    assert "Denied" not in dynsec.log_path.read_text()
