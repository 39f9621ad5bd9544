"""An in-process gateway on a real broker, and a test client standing where the centre stands."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from gateway.config import load_gateway_config
from gateway.service import Gateway
from kinerja.processes import gateway_toml
from tests.conftest import unique_slug
from wire.contract import Command, CommandAction, CommandResult, Telemetry, TopicKind, topic_for
from wire.mqtt import AsyncMqttClient, IncomingMessage, MqttSettings
from wire.zones import office_zone

WITA = office_zone("WITA")


def office_clock_offset(extra: timedelta = timedelta(0)) -> timedelta:
    """What a simulator on this machine's clock adds to show the office's wall time (plus `extra` drift)."""
    local = datetime.now()
    return timedelta(minutes=round((datetime.now(WITA).replace(tzinfo=None) - local).total_seconds() / 60)) + extra


@dataclass
class Centre:
    """Listens on a gateway's status, telemetry and command-result topics; sends it commands."""

    mqtt: MqttSettings
    unit: str
    gateway_id: str
    telemetry: list[Telemetry] = field(default_factory=list)
    results: list[CommandResult] = field(default_factory=list)
    statuses: list[tuple[bytes, bool]] = field(default_factory=list)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    client: AsyncMqttClient | None = None

    def topic(self, kind: TopicKind) -> str:
        return topic_for(self.unit, self.gateway_id, kind)

    async def start(self) -> None:
        self.client = AsyncMqttClient(self.mqtt, unique_slug("centre"), persistent=False)
        self.client.subscribe(self.topic(TopicKind.TELEMETRY), self._collect(self.telemetry, Telemetry.from_json))
        self.client.subscribe(
            self.topic(TopicKind.COMMAND_RESULTS), self._collect(self.results, CommandResult.from_json)
        )
        self.client.subscribe(self.topic(TopicKind.STATUS), self._on_status)
        await self.client.start()
        await self.client.wait_connected(10)
        await asyncio.sleep(0.2)  # let the SUBSCRIBEs land

    async def close(self) -> None:
        if self.client:
            await self.client.close()

    def _collect(self, into: list, parse: Callable[[bytes], object]) -> Callable[[IncomingMessage], object]:
        async def handler(message: IncomingMessage) -> None:
            into.append(parse(message.payload))
            self._arrived.set()
            assert self.client is not None
            self.client.ack(message)

        return handler

    async def _on_status(self, message: IncomingMessage) -> None:
        self.statuses.append((message.payload, message.retain))
        self._arrived.set()
        assert self.client is not None
        self.client.ack(message)

    async def wait_for(self, condition: Callable[[], object], timeout_s: float = 10, what: str = "") -> None:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not condition():
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"{what or 'condition'} not met within {timeout_s} s")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), min(remaining, 0.2))

    async def send_raw(self, payload: bytes) -> None:
        assert self.client is not None
        await self.client.publish_confirmed(self.topic(TopicKind.COMMANDS), payload)

    async def command(self, action: CommandAction | str, timeout_s: float = 15, **args: object) -> CommandResult:
        command_id = unique_slug("cmd")
        if isinstance(action, CommandAction):
            payload = Command(command_id, action, dict(args)).to_json()
        else:  # an action this gateway does not know, as a newer server might send
            payload = (
                Command(command_id, CommandAction.SYNC_CLOCK, dict(args))
                .to_json()
                .replace(b'"sync_clock"', f'"{action}"'.encode())
            )
        await self.send_raw(payload)
        await self.wait_for(lambda: any(r.command_id == command_id for r in self.results), timeout_s, command_id)
        return next(r for r in self.results if r.command_id == command_id)


def write_config(path: Path, mqtt: MqttSettings, devices: list[tuple[str, int]], **overrides: object) -> Path:
    unit, gateway_id = overrides.pop("unit", None) or unique_slug("unit"), overrides.pop("gateway_id", None)
    path.write_text(
        gateway_toml(
            gateway_id=str(gateway_id or unique_slug("gw")),
            unit=str(unit),
            state_dir=path.parent / "state",
            mqtt=mqtt,
            devices=devices,
            **overrides,  # type: ignore[arg-type]
        )
    )
    return path


@contextlib.asynccontextmanager
async def running_gateway(config_path: Path) -> AsyncIterator[tuple[Gateway, Centre]]:
    config = load_gateway_config(config_path)
    centre = Centre(config.mqtt, config.unit, config.gateway_id)
    await centre.start()
    gateway = Gateway(config)
    await gateway.start()
    try:
        await gateway.relay.mqtt.wait_connected(10)
        await asyncio.sleep(0.3)  # the gateway's own SUBSCRIBE to its command topic
        yield gateway, centre
    finally:
        await gateway.stop()
        await centre.close()
