"""Overload: a gateway floods the server faster than the database commits, through the real broker.

The server takes at most its window (``receive_maximum``) of batches before their acks, whatever the
broker delivers (Mosquitto 2.0 went ~5x past the Receive Maximum; MQTT 3.1.1 has none): the rest waits
at the broker, or is dropped by it and resent by the gateway, which resends what was never answered.
So memory stays flat under overload and, in the end, every punch is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import pytest

from server.app import CONSUMER
from server.models import Punch
from server.services import ingest
from tests.conftest import Stack, unique_slug
from tests.helpers import HandGateway, running_server
from wire.contract import AckStatus, BatchAck, PunchBatch, PunchRecord, TopicKind, topic_for
from wire.mqtt import AsyncMqttClient, IncomingMessage, MqttSettings

WINDOW = 20
BATCHES = 200
PUNCHES = 20
COMMIT_DELAY_S = 0.03  # every transaction this much slower: the flood outruns the database
RESEND_AFTER_S = 2.0  # what the gateway's relay does with a batch that got no answer


@pytest.mark.timeout(60)
async def test_a_flood_is_taken_a_window_at_a_time_and_every_punch_is_stored(
    mosquitto: MqttSettings, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the production stack (Mosquitto, PostgreSQL): the embedded amqtt broker gives up on a
    PUBACK after a timeout and drops the message, so under a flood it is the resending that stores the
    batches there, a matter of minutes rather than a test's seconds."""
    stack = Stack("production", postgres_url, mosquitto)
    real_store = ingest.store_group

    async def slow_store(*args: object, **kwargs: object) -> object:
        await asyncio.sleep(COMMIT_DELAY_S)
        return await real_store(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ingest, "store_group", slow_store)
    unit, gateway_id = unique_slug("bp-unit"), unique_slug("bp-gw")
    async with running_server(stack.db_url, stack.mqtt, units=(unit,), receive_maximum=WINDOW) as client:
        consumer = client.app[CONSUMER]
        start = HandGateway(stack.mqtt, unit, gateway_id).day_start
        batches = {
            batch.batch_id: batch
            for batch in (
                PunchBatch(
                    batch_id=PunchBatch.new_id(),
                    gateway_id=gateway_id,
                    unit=unit,
                    device_serial="DEV-FLOOD",
                    punches=tuple(
                        PunchRecord(f"{p}", start + timedelta(seconds=b * PUNCHES + p), 0, 1, b * PUNCHES + p)
                        for p in range(PUNCHES)
                    ),
                    sent_at=start,
                )
                for b in range(BATCHES)
            )
        }
        answered: set[str] = set()
        arrived = asyncio.Event()

        async def on_ack(message: IncomingMessage) -> None:
            ack = BatchAck.from_json(message.payload)
            assert ack.status is AckStatus.STORED, ack
            answered.add(ack.batch_id)
            arrived.set()
            gateway.ack(message)

        gateway = AsyncMqttClient(stack.mqtt, f"flood-{gateway_id}", persistent=False)
        gateway.subscribe(topic_for(unit, gateway_id, TopicKind.ACKS), on_ack)
        await gateway.start()
        await gateway.wait_connected(10)
        await asyncio.sleep(0.3)
        topic = topic_for(unit, gateway_id, TopicKind.PUNCHES)
        peak_in_flight = peak_waiting = 0

        async def watch() -> None:
            nonlocal peak_in_flight, peak_waiting
            while True:
                peak_in_flight = max(peak_in_flight, consumer.mqtt.in_flight)
                peak_waiting = max(peak_waiting, consumer.writer.waiting)
                await asyncio.sleep(0.005)

        watcher = asyncio.create_task(watch())
        try:
            for batch in batches.values():  # as fast as paho takes them: no waiting for any answer
                gateway.publish(topic, batch.to_json(), qos=1)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 40
            while len(answered) < BATCHES and loop.time() < deadline:
                arrived.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(arrived.wait(), RESEND_AFTER_S)
                    continue
                for batch_id, batch in batches.items():  # quiet for a while: resend what got no answer
                    if batch_id not in answered:
                        gateway.publish(topic, batch.to_json(), qos=1)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            await gateway.close()
        assert len(answered) == BATCHES, f"{len(answered)} of {BATCHES} batches answered"
        assert await Punch.filter(device_serial="DEV-FLOOD").count() == BATCHES * PUNCHES
        assert 0 < peak_in_flight <= WINDOW, peak_in_flight
        assert peak_waiting <= WINDOW, peak_waiting
        assert consumer.mqtt.in_flight == 0
