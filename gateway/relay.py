"""Queue to MQTT and back: publish batches of queued punches, forget them only on the server's ack.

A broker PUBACK proves nothing about delivery (Mosquitto drops QoS 1 messages for slow consumers),
so the relay waits for the server's own BatchAck, published after the server's database commit.
A batch without an ack is republished, same id and same punches, after `resend_after_s`, then after
twice that and so on up to `max_backoff_s`; the server stores idempotently, so a resend of a batch it
already stored costs nothing but the ack. After a restart or a reconnect every unacked batch goes out
again at once: nobody knows whether the last copies reached the wire.

Order: a device's punches travel in queue order, batch after batch, oldest device first. While a
large backlog drains (a week-long outage), every `fresh_every`-th new batch is taken from the punches
queued since the drain began, so today's punches reach the centre within seconds instead of waiting
behind the week's; each lane keeps device order, and every punch carries its `seq`.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from gateway.config import GatewayConfig
from gateway.faults import crash_point
from gateway.queue import Batch, PunchQueue
from wire import __version__
from wire.aio import wait_event
from wire.contract import (
    AckStatus,
    BatchAck,
    ContractError,
    GatewayStatus,
    PunchBatch,
    PunchRecord,
    TopicKind,
    address_for,
    topic_for,
)
from wire.mqtt import AsyncMqttClient, IncomingMessage, LastWill

log = logging.getLogger(__name__)


class Relay:
    def __init__(self, config: GatewayConfig, queue: PunchQueue) -> None:
        self.config = config
        self.queue = queue
        self._wake = asyncio.Event()
        self.last_turn_at = 0.0  # loop time of the relay loop's last turn: the watchdog's proof of life
        self.acked_batches = 0
        self.acked_punches = 0  # since the start: the telemetry's relayed_punches
        self.rejected_batches = 0
        self.published_batches = 0
        self._claims = 0
        # Punches with a seq above this arrived after the current backlog began: the fresh lane's.
        self._fresh_after_seq = queue.last_seq()
        status = address_for(config.unit, config.gateway_id, TopicKind.STATUS)
        offline = GatewayStatus(config.gateway_id, "offline", __version__).to_json()
        self.mqtt = AsyncMqttClient(
            config.mqtt, client_id=config.gateway_id, persistent=True, will=LastWill(status, offline)
        )
        self._status = status
        self._punches = address_for(config.unit, config.gateway_id, TopicKind.PUNCHES)
        self.mqtt.subscribe(topic_for(config.unit, config.gateway_id, TopicKind.ACKS), self._on_ack)
        self.mqtt.on_connected(self._on_connected)
        # Whatever the last process had in flight may have died with it: resend it first thing.
        queue.resend_all_now()

    def wake(self) -> None:
        """New punches were queued: publish without waiting for the next tick."""
        self._wake.set()

    async def start(self) -> None:
        await self.mqtt.start()

    async def close(self) -> None:
        if self.mqtt.is_connected:
            # An orderly stop says so itself; the will is for the disorderly ones.
            offline = GatewayStatus(self.config.gateway_id, "offline", __version__).to_json()
            try:
                await self.mqtt.send_confirmed(self._status, offline, timeout_s=2)
            except TimeoutError:
                log.warning("could not publish offline status before stopping")
        await self.mqtt.close()

    async def run(self, tick_s: float = 1.0) -> None:
        while True:
            self.last_turn_at = asyncio.get_running_loop().time()
            if self.mqtt.is_connected:
                self.publish_due()
            self._wake.clear()
            await wait_event(self._wake, tick_s)

    def publish_due(self) -> int:
        """Resend overdue batches, then open new ones up to the in-flight window. Returns batches sent."""
        relay = self.config.relay
        sent = 0
        for batch in self.queue.batches_due(relay.resend_after_s, relay.max_in_flight, relay.max_backoff_s):
            self._publish(batch)
            sent += 1
        while self.queue.in_flight() < relay.max_in_flight:
            batch = self._claim()
            if batch is None:
                break
            self._publish(batch)
            sent += 1
        return sent

    def _claim(self) -> Batch | None:
        relay = self.config.relay
        self._claims += 1
        batch = None
        if self._claims % relay.fresh_every == 0:
            batch = self.queue.claim_batch(PunchBatch.new_id(), relay.batch_size, after_seq=self._fresh_after_seq)
            if batch is None:
                # Nothing newer than the backlog: whatever is queued now is the backlog, later punches are fresh.
                self._fresh_after_seq = self.queue.last_seq()
        if batch is None:
            batch = self.queue.claim_batch(PunchBatch.new_id(), relay.batch_size)
        if batch is not None:
            crash_point("relay.claimed")
        return batch

    def _publish(self, batch: Batch) -> None:
        message = PunchBatch(
            batch_id=batch.batch_id,
            gateway_id=self.config.gateway_id,
            unit=self.config.unit,
            device_serial=batch.device,
            punches=tuple(PunchRecord(p.pin, p.time, p.state, p.verify, p.seq) for p in batch.punches),
            sent_at=datetime.now(UTC),
        )
        self.mqtt.send(self._punches, message.to_json())
        crash_point("relay.published")
        self.queue.mark_sent(batch.batch_id)
        self.published_batches += 1
        crash_point("relay.sent")
        if batch.attempts:
            log.info("resent batch %s (%d punches, attempt %d)", batch.batch_id, len(batch.punches), batch.attempts + 1)

    async def _on_connected(self) -> None:
        online = GatewayStatus(self.config.gateway_id, "online", __version__).to_json()
        self.mqtt.send(self._status, online)
        # Copies published before the connection dropped may be lost: send the unacked again now.
        self.queue.resend_all_now()
        self.wake()

    async def _on_ack(self, message: IncomingMessage) -> None:
        try:
            ack = BatchAck.from_json(message.payload)
        except ContractError as exc:
            log.error("ignoring malformed ack on %s: %s", message.topic, exc)
        else:
            crash_point("ack.received")
            # Held: the centre keeps it until the device is assigned there, so it is the centre's now too.
            if ack.status in (AckStatus.STORED, AckStatus.HELD):
                if acknowledged := self.queue.acknowledge(ack.batch_id):
                    self.acked_batches += 1
                    self.acked_punches += acknowledged
            else:
                removed = self.queue.reject(ack.batch_id, ack.reason or "no reason given")
                if removed:
                    self.rejected_batches += 1
                    log.error("server rejected batch %s (%d punches kept aside): %s", ack.batch_id, removed, ack.reason)
            crash_point("ack.done")
        self.mqtt.ack(message)
        self.wake()
