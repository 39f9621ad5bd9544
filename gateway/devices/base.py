"""The one small interface every device driver offers the gateway.

Drivers wrap a protocol library (pyzk, pyserial) and hand back plain values: the queue, the relay
and MQTT never see a library object. Drivers are blocking; the gateway runs them in worker threads
so that a slow or hung device never stalls the event loop or the other devices.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


class DeviceError(Exception):
    """A device could not be reached or answered wrongly; the caller retries later."""


class LiveEventsRefused(DeviceError):
    """The device refused to send live events: its firmware has none, whatever its profile says."""


# Firmware faults a driver meets and survives, named for health, telemetry and the doctor.
ANOMALIES = {
    "count_misreported": "the device does not report its record count (or reports 0): the whole log is read anyway",
    "count_mismatch": "the device reported one record count and held another: its counts are not trusted",
    "no_buffered_read": "the firmware has no buffered read of the log: the direct read (command 13) is used",
    "event_undecodable": "a live event fit no known layout: kept in quarantine, the log reconciliation has it",
    "event_size_unknown": "a live event of a size not seen before was decoded by its common fields",
    "poller_crashed": "the device poller failed unexpectedly and was retried",
    "poller_restarted": "the device poller ended unexpectedly and was restarted",
    "users_restored": "the device held fewer users than the centre's last list (reset or replaced): written back",
    "push_table_unknown": "the device uploads a table this gateway does not use: acknowledged and counted",
}


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
class DeviceTemplate:
    """A biometric template as a device stores it, opaque.

    `data` is specific personal data under UU 27/2022: it is never logged, never put in telemetry or
    health, and its repr shows the size only. `format_key` (profiles.TemplateFormat.key) says which
    devices can use it; `index` is the finger (0..9) for fingerprints and 0 for a face or palm.
    """

    pin: str
    modality: str  # fingerprint | face | palm
    index: int
    data: bytes = field(repr=False)
    format_key: str = ""
    valid: int = 1

    def __repr__(self) -> str:
        return (
            f"DeviceTemplate(pin={self.pin!r}, modality={self.modality!r}, index={self.index}, "
            f"size={len(self.data)}, format_key={self.format_key!r})"
        )


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    serial: str
    platform: str
    firmware: str
    device_time: datetime
    user_count: int
    record_count: int
    record_capacity: int
    # False when the firmware misreports its counts (pyzk #76, #126, #170): `record_count` is then the
    # number of records last read, and only reading the whole log tells whether it changed.
    counts_reliable: bool = True


@dataclass(frozen=True, slots=True)
class DriverHooks:
    """What a driver reports to its coordinator, handed to it when it is made. Both are called on the
    device's thread: `quarantine(raw, reason)` for bytes that are not a punch, `report_anomaly(kind, detail)`
    for a firmware fault survived (a key of ANOMALIES)."""

    quarantine: Callable[[bytes, str], None] = lambda raw, reason: None
    report_anomaly: Callable[[str, str], None] = lambda kind, detail: None


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


class BiometricDriver(DeviceDriver, Protocol):
    """A driver that also manages users and templates (ZK terminals; push devices do it by command)."""

    def write_users(self, users: list[DeviceUser]) -> None:
        """write_user for many, reading the device's user table once."""
        ...

    def delete_users(self, pins: list[str]) -> int:
        """Remove these users and, as firmware does, their templates; returns how many there were."""
        ...

    def read_templates(self) -> list[DeviceTemplate]: ...

    def write_templates(self, user: DeviceUser, templates: list[DeviceTemplate]) -> None:
        """Store these templates for the user (created or updated first), replacing those of the same index."""
        ...

    def delete_template(self, pin: str, modality: str, index: int) -> bool: ...
