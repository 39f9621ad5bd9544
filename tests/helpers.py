"""Test helpers: a running server on a stack, and a hand-driven gateway that publishes raw batches."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

from aiohttp.test_utils import TestClient, TestServer

from server.app import CONSUMER, create_app
from server.settings import ServerSettings
from wire.contract import BatchAck, PunchBatch, PunchRecord, TopicKind, topic_for
from wire.mqtt import AsyncMqttClient, IncomingMessage, MqttSettings

WIB = timezone(timedelta(hours=7))


@contextlib.asynccontextmanager
async def running_server(db_url: str, mqtt: MqttSettings, **settings: object) -> AsyncIterator[TestClient]:
    """The real app (database + MQTT consumer) on a real port, with an HTTP client for its API.

    Pass `units=(...)` so that, on the machine's shared Mosquitto, this server consumes only its own
    test's topics. Its broker session expires a minute after the test, so finished tests leave no
    sessions behind that keep collecting other tests' messages."""
    settings.setdefault("session_expiry_s", 60)
    settings.setdefault("replica_id", f"test-server-{uuid.uuid4().hex[:8]}")
    # The suite's hand gateways invent device serials freely: a never-seen device is theirs (the lab
    # policy). Tests of the rule itself (tests/test_hostile_gateway.py) pass new_devices="pending".
    settings.setdefault("new_devices", "accept")
    server_settings = ServerSettings(
        db_url=db_url,
        mqtt=mqtt,
        share_group=f"test-{uuid.uuid4().hex[:8]}",
        **settings,  # type: ignore[arg-type]
    )
    client = TestClient(TestServer(create_app(server_settings)))
    await client.start_server()
    try:
        # The API needs an account: the test client acts as a bureau administrator through an API token.
        client.session.headers["Authorization"] = f"Bearer {await admin_token()}"
        consumer = client.app[CONSUMER]
        await consumer.mqtt.wait_connected(10)
        await asyncio.sleep(0.3)  # let the SUBSCRIBE reach the broker before anyone publishes
        yield client
    finally:
        await client.close()


async def admin_token(username: str = "test-admin") -> str:
    from server.services.accounts import UserAccount, create_user, issue_api_token

    user = await UserAccount.get_or_none(username=username)
    if user is None:
        user = await create_user(username, uuid.uuid4().hex, "bureau_admin")
    return await issue_api_token(user, "tests")


@dataclass
class HandGateway:
    """Publishes what a test tells it to, and collects the server's acks."""

    mqtt_settings: MqttSettings
    unit: str
    gateway_id: str
    acks: list[BatchAck] = field(default_factory=list)
    _ack_arrived: asyncio.Event = field(default_factory=asyncio.Event)
    client: AsyncMqttClient | None = None

    @property
    def day_start(self) -> datetime:
        """07:00 WIB yesterday: recent, and never in the future whatever the hour of the test run."""
        yesterday = datetime.now(WIB).date() - timedelta(days=1)
        return datetime(yesterday.year, yesterday.month, yesterday.day, 7, 0, tzinfo=WIB)

    async def start(self) -> None:
        self.client = AsyncMqttClient(self.mqtt_settings, f"hand-{self.gateway_id}", persistent=False)
        self.client.subscribe(topic_for(self.unit, self.gateway_id, TopicKind.ACKS), self._on_ack)
        await self.client.start()
        await self.client.wait_connected(10)
        await asyncio.sleep(0.2)

    async def close(self) -> None:
        if self.client:
            await self.client.close()

    async def _on_ack(self, message: IncomingMessage) -> None:
        self.acks.append(BatchAck.from_json(message.payload))
        self._ack_arrived.set()
        assert self.client is not None
        self.client.ack(message)

    async def publish_raw(self, payload: bytes, topic: str | None = None) -> None:
        assert self.client is not None
        target = topic or topic_for(self.unit, self.gateway_id, TopicKind.PUNCHES)
        await self.client.publish_confirmed(target, payload)

    async def wait_acks(self, count: int, timeout_s: float = 10) -> list[BatchAck]:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while len(self.acks) < count:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"{len(self.acks)} of {count} acks arrived within {timeout_s} s")
            self._ack_arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ack_arrived.wait(), remaining)
        return self.acks

    def batch(self, pins_and_minutes: list[tuple[str, int]], device: str = "DEV-1", **overrides: object) -> PunchBatch:
        start = self.day_start
        fields: dict[str, object] = {
            "batch_id": PunchBatch.new_id(),
            "gateway_id": self.gateway_id,
            "unit": self.unit,
            "device_serial": device,
            "punches": tuple(
                PunchRecord(pin, start + timedelta(minutes=minute), 0, 1, seq)
                for seq, (pin, minute) in enumerate(pins_and_minutes, 1)
            ),
            "sent_at": datetime.now(UTC),
        }
        fields.update(overrides)
        return PunchBatch(**fields)  # type: ignore[arg-type]
