"""The one small interface every device driver offers the gateway.

Drivers wrap a protocol library (pyzk, pyserial) and hand back plain values: the queue, the relay
and MQTT never see a library object. Drivers are blocking; the gateway runs them in worker threads
so that a slow or hung device never stalls the event loop or the other devices.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class DeviceError(Exception):
    """A device could not be reached or answered wrongly; the caller retries later."""


class LiveEventsRefused(DeviceError):
    """The device refused to send live events: its firmware has none, whatever its profile says."""


@dataclass(frozen=True, slots=True)
class DevicePunch:
    """One attendance record as the device stored it.

    `local_time` is the device's wall clock, without a zone: the office decides the zone.
    `state` is the punch state key (0 check-in, 1 check-out, 2 break-out, 3 break-in, 4 overtime-in,
    5 overtime-out); users press it unreliably, so scoring decides whether to trust it.
    `verify` is how the person was identified (1 fingerprint, 15 face, 4 card, 0 password, ...).
    """

    pin: str
    local_time: datetime
    state: int
    verify: int


@dataclass(frozen=True, slots=True)
class DeviceUser:
    pin: str
    name: str
    card: int = 0


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    serial: str
    platform: str
    firmware: str
    device_time: datetime
    user_count: int
    record_count: int
    record_capacity: int


class DeviceDriver(Protocol):
    """What the gateway asks of a device. Every method may raise DeviceError."""

    def connect(self) -> None: ...

    def close(self) -> None: ...

    def read_info(self) -> DeviceInfo: ...

    def read_punches(self) -> list[DevicePunch]:
        """The whole attendance log as the device holds it."""
        ...

    def read_users(self) -> list[DeviceUser]: ...

    def live_punches(
        self, stop_after_idle_s: float, *, stop_when: Callable[[], bool] | None = None
    ) -> Iterator[DevicePunch]:
        """Punches as they happen; returns when idle for `stop_after_idle_s`, or when `stop_when()`
        (asked at every punch and at least once a second) says so, so the caller can check in."""
        ...

    def set_time(self, local_time: datetime) -> None: ...

    def write_user(self, user: DeviceUser) -> None:
        """Create or update the user with this PIN on the device."""
        ...
