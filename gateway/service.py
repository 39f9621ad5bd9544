"""The gateway process: device coordinators feed the durable queue, the relay drains it to MQTT."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from gateway.config import DeviceConfig, GatewayConfig
from gateway.coordinator import DeviceCoordinator, DriverFactory
from gateway.devices.base import DeviceDriver
from gateway.queue import PunchQueue
from gateway.relay import Relay
from kinerja.systemd import keep_watchdog_fed, notify

log = logging.getLogger(__name__)


def default_driver_factory(config: DeviceConfig) -> DeviceDriver:
    from gateway.devices.zk import ZKDriver  # pyzk is imported only where a ZK device is configured

    return ZKDriver(
        config.host, config.port, transport=config.transport, comm_key=config.comm_key, timeout_s=config.timeout_s
    )


class Gateway:
    def __init__(self, config: GatewayConfig, driver_factory: DriverFactory = default_driver_factory) -> None:
        self.config = config
        self.queue = PunchQueue(config.queue_path)
        self.relay = Relay(config, self.queue)
        self.coordinators = [
            DeviceCoordinator(device, self.queue, config.zone, driver_factory, self.relay.wake)
            for device in config.devices
        ]
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self.relay.start()
        self._tasks.append(asyncio.create_task(self.relay.run(), name="relay"))
        for coordinator in self.coordinators:
            self._tasks.append(asyncio.create_task(coordinator.run(), name=f"device-{coordinator.config.name}"))
        log.info(
            "gateway %s (unit %s) started: %d devices, broker %s",
            self.config.gateway_id,
            self.config.unit,
            len(self.coordinators),
            self.config.mqtt.redacted(),
        )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.relay.close()
        self.queue.close()

    def healthy(self) -> bool:
        """The relay loop turned recently: the process is working, not merely alive."""
        return asyncio.get_running_loop().time() - self.relay.last_turn_at < 10

    async def run_forever(self) -> None:
        await self.start()
        notify("READY=1")
        watchdog = asyncio.create_task(keep_watchdog_fed(self.healthy), name="watchdog")
        try:
            await asyncio.Event().wait()
        finally:
            notify("STOPPING=1")
            watchdog.cancel()
            await self.stop()
