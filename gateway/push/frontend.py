"""The gateway's push side in one object: the endpoint, its store and one coordinator per push device.

The gateway service creates it only when a push device is configured (aiohttp is imported only then),
adds its coordinators to the polled ones, so that commands and telemetry treat every device alike,
and starts and stops it with itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from gateway.config import GatewayConfig
from gateway.push.device import PushDeviceCoordinator
from gateway.push.server import PushServer
from gateway.push.store import PushStore
from gateway.queue import PunchQueue
from wire.contract import DeviceTelemetry, Telemetry

REFUSED_REPORT_WINDOW_S = 24 * 3600
REFUSED_REPORT_LIMIT = 10


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

    def with_refused(self, report: Telemetry) -> Telemetry:
        """The telemetry report plus one entry per serial refused lately (at most REFUSED_REPORT_LIMIT):
        a terminal on the LAN pushing to a gateway that does not know it is something the centre must see."""
        refused = tuple(
            _refused_device(serial, requests, remote, last_at)
            for serial, requests, remote, last_at in self.store.recently_refused(
                REFUSED_REPORT_WINDOW_S, REFUSED_REPORT_LIMIT
            )
        )
        return replace(report, devices=report.devices + refused) if refused else report

    async def start(self) -> None:
        await self.server.start()

    async def stop(self) -> None:
        await self.server.stop()
        self.store.close()


def _refused_device(serial: str, requests: int, remote: str, last_at: float) -> DeviceTelemetry:
    when = datetime.fromtimestamp(last_at, UTC).isoformat(timespec="seconds")
    return DeviceTelemetry(
        name="unconfigured push device",
        serial=serial,
        reachable=False,
        last_poll_ok_at=None,
        last_punch_at=None,
        clock_drift_s=None,
        record_count=None,
        record_capacity=None,
        last_error=f"refused: serial not in this gateway's config; {requests} requests, the last from "
        f"{remote or 'an unknown address'} at {when}",
    )
