"""The gateway's push side in one object: the endpoint, its store and one coordinator per push device.

The gateway service creates it only when a push device is configured (aiohttp is imported only then),
adds its coordinators to the polled ones, so that commands and telemetry treat every device alike,
and starts and stops it with itself.
"""

from __future__ import annotations

from collections.abc import Callable

from gateway.config import GatewayConfig
from gateway.push.device import PushDeviceCoordinator
from gateway.push.server import PushServer
from gateway.push.store import PushStore
from gateway.queue import PunchQueue


class PushFrontend:
    def __init__(self, config: GatewayConfig, queue: PunchQueue, on_new_punches: Callable[[], None]) -> None:
        self.queue = queue
        self.on_new_punches = on_new_punches
        self.store = PushStore(config.state_dir / "push.sqlite3")
        self.server = PushServer(
            [], self.store, host=config.push.host, port=config.push.port, max_body_bytes=config.push.max_body_bytes
        )
        self.devices: list[PushDeviceCoordinator] = []

    def coordinators_for(self, config: GatewayConfig) -> list[PushDeviceCoordinator]:
        """Coordinators for the push devices of `config`, served from now on (at start and on reload).
        The endpoint's address is fixed for the life of the process."""
        self.devices = [
            PushDeviceCoordinator(
                device, self.queue, config.zone, self.on_new_punches, command_timeout_s=config.push.command_timeout_s
            )
            for device in config.devices
            if device.protocol == "push"
        ]
        self.server.devices = {device.serial: device for device in self.devices}
        return self.devices

    async def start(self) -> None:
        await self.server.start()

    async def stop(self) -> None:
        await self.server.stop()
        self.store.close()
