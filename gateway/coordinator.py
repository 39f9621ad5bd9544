"""One coordinator per device: it owns that device's polling, backoff, clock and health.

Drivers block (pyzk, pyserial), so every call to a device runs in a worker thread with a deadline:
a device that hangs mid-read is abandoned and retried later, and never stalls the event loop or the
other devices. One operation at a time per device: ZK firmware copes badly with two sessions.
Punches go straight into the durable queue; the coordinator never sees MQTT.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timezone
from typing import TypeVar

from gateway.config import DeviceConfig
from gateway.devices.base import DeviceDriver, DeviceError, DeviceInfo, DevicePunch, DeviceUser
from gateway.queue import PunchQueue
from kinerja.zones import office_zone

log = logging.getLogger(__name__)

DriverFactory = Callable[[DeviceConfig], DeviceDriver]
T = TypeVar("T")


@dataclass
class DeviceHealth:
    reachable: bool = False
    serial: str | None = None
    last_poll_ok_at: float | None = None
    last_punch_at: datetime | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
    clock_drift_s: float | None = None
    clock_set_at: float | None = None
    record_count: int | None = None
    record_capacity: int | None = None


@dataclass(frozen=True, slots=True)
class PollResult:
    info: DeviceInfo
    punches: list[DevicePunch]
    gateway_time: datetime


def _read_everything(driver: DeviceDriver) -> PollResult:
    info = driver.read_info()
    gateway_time = datetime.now(UTC)
    return PollResult(info, driver.read_punches(), gateway_time)


class DeviceCoordinator:
    def __init__(
        self,
        config: DeviceConfig,
        queue: PunchQueue,
        zone: timezone,
        driver_factory: DriverFactory,
        on_new_punches: Callable[[], None] = lambda: None,
    ) -> None:
        self.config = config
        self.queue = queue
        self.zone = zone
        self.driver_factory = driver_factory
        self.on_new_punches = on_new_punches
        self.health = DeviceHealth()
        self._busy = asyncio.Lock()

    @property
    def device_zone(self) -> timezone:
        """The zone the device clock keeps: the office's, unless the profile says otherwise."""
        zone = self.config.profile.clock_zone
        if zone == "office":
            return self.zone
        return UTC if zone == "UTC" else office_zone(zone)  # type: ignore[return-value]

    async def session(self, work: Callable[[DeviceDriver], T], deadline_s: float | None = None) -> T:
        """Connect, run `work` in a worker thread, close; one session per device at a time.
        The default deadline covers a full buffered read on a slow link; past it the thread is abandoned."""
        deadline = deadline_s or self.config.timeout_s * 6
        driver = self.driver_factory(self.config)

        def run() -> T:
            driver.connect()
            try:
                return work(driver)
            finally:
                driver.close()

        async with self._busy:
            try:
                return await asyncio.wait_for(asyncio.to_thread(run), deadline)
            except (DeviceError, OSError, TimeoutError) as exc:
                self._failed(exc)
                raise DeviceError(f"device {self.config.name}: {exc or type(exc).__name__}") from exc

    async def poll_once(self) -> int:
        """Read the device's whole log and queue what is new. Returns the number of new punches."""
        result = await self.session(_read_everything)
        device_clock = result.info.device_time.replace(tzinfo=self.device_zone)
        previous = self.health
        self.health = DeviceHealth(
            reachable=True,
            serial=result.info.serial,
            last_poll_ok_at=time.time(),
            last_punch_at=previous.last_punch_at,
            clock_drift_s=(device_clock - result.gateway_time).total_seconds(),
            clock_set_at=previous.clock_set_at,
            record_count=result.info.record_count,
            record_capacity=result.info.record_capacity,
        )
        wire = [self._wire_values(p) for p in result.punches]
        if wire:
            newest = max(moment for _, moment, _, _ in wire)
            self.health.last_punch_at = max(newest, previous.last_punch_at or newest)
        added = self.queue.enqueue(result.info.serial, wire)
        if added:
            log.info("device %s (%s): %d new punches queued", self.config.name, result.info.serial, added)
            self.on_new_punches()
        await self._correct_clock_if_drifting()
        return added

    async def sync_clock(self) -> float:
        """Set the device clock to the gateway's, in the device's zone. Returns the drift corrected (s)."""
        if not self.config.profile.clock_may_set:
            raise DeviceError(
                f"device {self.config.name}: profile {self.config.profile.name} does not allow setting the clock"
            )

        def set_clock(driver: DeviceDriver) -> float:
            before = driver.read_info().device_time.replace(tzinfo=self.device_zone)
            now = datetime.now(UTC)
            driver.set_time(now.astimezone(self.device_zone).replace(tzinfo=None, microsecond=0))
            return (before - now).total_seconds()

        drift = await self.session(set_clock)
        self.health.clock_set_at = time.time()
        self.health.clock_drift_s = 0.0
        log.info("device %s: clock set, it was %+.0f s off", self.config.name, drift)
        return drift

    async def write_user(self, user: DeviceUser) -> None:
        await self.session(lambda driver: driver.write_user(user))

    async def run(self) -> None:
        """Poll forever; on failure back off exponentially, at most eight poll intervals."""
        while True:
            try:
                await self.poll_once()
                delay = self.config.poll_interval_s
            except DeviceError as exc:
                delay = min(self.config.poll_interval_s * 8, 2 ** min(self.health.consecutive_failures, 8))
                log.warning("%s; retrying in %.0f s", exc, delay)
            await asyncio.sleep(delay)

    async def _correct_clock_if_drifting(self) -> None:
        drift = self.health.clock_drift_s
        profile = self.config.profile
        if drift is None or abs(drift) <= profile.max_drift_s:
            return
        if not profile.clock_may_set:
            log.warning("device %s: clock %+.0f s off; its profile forbids setting it", self.config.name, drift)
            return
        try:
            await self.sync_clock()
        except DeviceError as exc:
            log.warning("could not correct the clock: %s", exc)

    def _wire_values(self, punch: DevicePunch) -> tuple[str, datetime, int, int]:
        """Device wall time in the device's zone, shown in the office zone; the model's raw state mapped."""
        moment = punch.local_time.replace(tzinfo=self.device_zone).astimezone(self.zone)
        state = self.config.profile.canonical_state(punch.state)
        return punch.pin, moment, punch.state if state is None else state, punch.verify

    def _failed(self, exc: BaseException) -> None:
        self.health.reachable = False
        self.health.last_error = str(exc) or type(exc).__name__
        self.health.consecutive_failures += 1
