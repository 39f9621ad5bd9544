"""The one interface the gateway offers its devices' coordinators, polled (gateway/coordinator.py) and
push (gateway/push/device.py) alike: the service runs them, the command channel and telemetry use them,
and none of those asks which kind a device is.

What a device can be asked is data (`capabilities`), not probed; the zone its clock keeps is decided
here, once (`device_zone`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timezone
from enum import StrEnum
from typing import Protocol

from gateway.config import DeviceConfig
from gateway.devices.base import ANOMALIES, DeviceError, DeviceUser
from wire.zones import office_zone


class Capability(StrEnum):
    SET_CLOCK = "set_clock"  # the gateway may set the device clock (the profile allows it)
    WRITE_USER = "write_user"  # users can be enrolled from the gateway
    READ_LOG_WHOLE = "read_log_whole"  # the gateway reads the whole log itself, whenever asked
    REUPLOAD_RANGE = "reupload_range"  # the device can be asked to upload a time range of its log again


class ClearRefused(DeviceError):
    """A clear of the log that would lose punches the server has not acknowledged: not done, and why."""


def device_zone(config: DeviceConfig, office: timezone) -> timezone:
    """The zone the device clock keeps: the office's, unless the profile says otherwise."""
    zone = config.profile.clock_zone
    if zone == "office":
        return office
    return UTC if zone == "UTC" else office_zone(zone)


def clock_may_not_be_set(config: DeviceConfig) -> DeviceError:
    return DeviceError(f"device {config.name}: profile {config.profile.name} does not allow setting the clock")


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
    user_count: int | None = None  # users the device said it holds at the last poll (ZK: CMD_GET_FREE_SIZES)
    user_count_read_at: float | None = None  # when that count was read (time.time())
    mode: str = "polling"  # or "live"
    held_punches: int = 0  # suspect timestamps held for review, never queued
    quarantined: int = 0  # raw records or lines that are not punches
    log_cleared_at: float | None = None
    silent_streams: int = 0  # live-event streams found silent (log grew, no events) and reconnected
    anomalies: dict[str, int] = field(default_factory=dict)  # firmware faults survived, by base.ANOMALIES key
    last_anomaly: str | None = None
    restarts: int = 0  # times the gateway restarted this device's loop after it ended unexpectedly

    def count_anomaly(self, kind: str, detail: str) -> None:
        self.anomalies[kind] = self.anomalies.get(kind, 0) + 1
        self.last_anomaly = f"{ANOMALIES.get(kind, kind)}: {detail}"


class Coordinator(Protocol):
    """What every device coordinator offers. Every method may raise DeviceError."""

    config: DeviceConfig
    health: DeviceHealth

    @property
    def capabilities(self) -> frozenset[Capability]: ...

    @property
    def device_zone(self) -> timezone: ...

    async def run(self) -> None:
        """Poll, stream or watch the device until cancelled."""
        ...

    def close(self) -> None: ...

    def note_restart(self, reason: str) -> None:
        """The gateway restarted the device's loop, which had ended: say so in health and telemetry."""
        ...

    async def sync_clock(self) -> float | None:
        """Set the device clock; returns the drift corrected (s), None where the device never tells it."""
        ...

    async def write_user(self, user: DeviceUser) -> None: ...

    async def reread(self, window: tuple[datetime, datetime] | None = None) -> int:
        """Read the log again now (a push device: ask it to upload `window`, device-local times, or its
        recent log again); returns the punches new to the queue."""
        ...

    async def reboot(self) -> None:
        """Restart the device; it drops its connection and comes back after its boot time."""
        ...

    async def clear_log(self) -> int:
        """Empty the attendance log, only when every punch in it is acknowledged by the server; returns
        the number of records cleared. Raises ClearRefused (with the reason) otherwise."""
        ...
