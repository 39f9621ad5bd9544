"""Security at the edge on a real Mosquitto run with the deployment's configuration and a generated ACL:
a gateway cannot publish as another, cannot read another's acks, and a stranger cannot log in."""

from __future__ import annotations

import asyncio

from server.edge import render_acl
from server.models import Punch, QuarantinedMessage
from tests.conftest import unique_slug
from tests.edge_broker import edge_broker
from tests.helpers import HandGateway, running_server
from wire.contract import AckStatus, TopicKind, topic_for
from wire.mqtt import AsyncMqttClient, IncomingMessage, MqttSettings


def test_the_acl_confines_each_gateway_to_its_own_topics():
    acl = render_acl(["kinerja-server"], [("unit-a", "gw-a")])
    assert "user gw-a\ntopic write kinerja/v1/unit-a/gw-a/punches\n" in acl
    assert "topic read kinerja/v1/unit-a/gw-a/acks" in acl
    assert "topic read kinerja/v1/+/+/punches" in acl.split("user gw-a")[0]
    assert "+" not in acl.split("user gw-a")[1] and "#" not in acl.split("user gw-a")[1]


async def test_a_gateway_cannot_publish_as_another_nor_read_its_acks(tmp_path):
    unit_a, gw_a, unit_b, gw_b = unique_slug("unit"), unique_slug("gw"), unique_slug("unit"), unique_slug("gw")
    with edge_broker(tmp_path, ["kinerja-server"], [(unit_a, gw_a), (unit_b, gw_b)]) as broker:
        db_url = f"sqlite://{tmp_path / 'server.sqlite3'}"
        async with running_server(db_url, broker.settings("kinerja-server"), units=(unit_a, unit_b)):
            honest_b = HandGateway(broker.settings(gw_b), unit_b, gw_b)
            intruder = HandGateway(broker.settings(gw_a), unit_a, gw_a)
            await honest_b.start()
            await intruder.start()
            assert intruder.client is not None
            overheard: list[IncomingMessage] = []

            async def overhear(message: IncomingMessage) -> None:
                overheard.append(message)

            intruder.client.subscribe(topic_for(unit_b, gw_b, TopicKind.ACKS), overhear)
            intruder.client.subscribe(topic_for(unit_b, gw_b, TopicKind.COMMANDS), overhear)
            try:
                await asyncio.sleep(0.3)
                # gw-a publishes on gw-b's topic, with a payload that names gw-b throughout: a perfect forgery.
                forged = honest_b.batch([("66", 1)], device="FORGED-1")
                await intruder.publish_raw(forged.to_json(), topic=topic_for(unit_b, gw_b, TopicKind.PUNCHES))
                # Then its own punch, and gw-b's genuine one: both arrive, the forgery never does.
                await intruder.publish_raw(intruder.batch([("1", 2)], device="DEV-A").to_json())
                await honest_b.publish_raw(honest_b.batch([("2", 3)], device="DEV-B").to_json())
                (own_ack,) = await intruder.wait_acks(1)
                (b_ack,) = await honest_b.wait_acks(1)
                await asyncio.sleep(0.5)
            finally:
                await intruder.close()
                await honest_b.close()
            assert own_ack.status is AckStatus.STORED and b_ack.status is AckStatus.STORED
            assert b_ack.batch_id != forged.batch_id and len(honest_b.acks) == 1
            assert await Punch.filter(device_serial="FORGED-1").count() == 0
            assert await QuarantinedMessage.all().count() == 0  # refused by the broker, never delivered
            assert set(await Punch.all().values_list("device_serial", flat=True)) == {"DEV-A", "DEV-B"}
            assert overheard == []  # gw-b's ack went to gw-b only

            # No user, a wrong password: not even connected.
            stranger = AsyncMqttClient(MqttSettings(port=broker.port, username=gw_a, password="guess"), "stranger")
            await stranger.start()
            try:
                await asyncio.sleep(1.0)
                assert not stranger.is_connected
            finally:
                await stranger.close()
    log = broker.log_path.read_text()
    assert f"Denied PUBLISH from {gw_a}" in log  # its client id is its login
