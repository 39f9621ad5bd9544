"""The gateway's driver for ZKTeco terminals (the "ZK" protocol, port 4370), built on pyzk 0.9.

pyzk moves the bytes; this module hands back DevicePunch, DeviceUser and DeviceInfo and turns every
failure (pyzk's exceptions, socket errors, malformed answers) into a DeviceError that names the
device. pyzk pairs answers with requests by order alone, so after any failure the connection is in
an unknown state: the driver drops it and the caller connects again.

The attendance log is fetched with pyzk's buffered read but decoded here: pyzk's get_attendance()
re-slices the whole buffer once per record (quadratic: about 7 s for 100,000 40-byte records on a
desktop CPU, minutes on a Raspberry Pi) and one record with an impossible date (Feb 30, which the ZK
calendar of 31-day months can hold) fails the whole read, for good, since the log keeps it. The record
layout is told by size, as pyzk does: 8, 16, 40 or 49 bytes (pyzk 0.9 misreads the last).
"""

from __future__ import annotations

import logging
import struct
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from zk import ZK, const
from zk.exception import ZKError, ZKErrorResponse

from gateway.devices.base import DeviceError, DeviceInfo, DevicePunch, DeviceUser, LiveEventsRefused

log = logging.getLogger(__name__)

# Everything pyzk lets escape when a device answers wrongly, short or not at all.
_DEVICE_FAILURES = (ZKError, OSError, struct.error, ValueError, TypeError, IndexError, UnboundLocalError)

# Attendance record layouts, told apart by size (log bytes / record count), as pyzk does.
_RECORD_8 = struct.Struct("<HBIB")  # uid, verify, time, state
_RECORD_16 = struct.Struct("<IIBB2xI")  # numeric pin, time, verify, state, workcode
_RECORD_40 = struct.Struct("<H24sBIB8x")  # uid, pin, verify, time, state
# Newer face/palm firmware (SpeedFace-V5L, MB560-VL of 2022) sends 49-byte records: the 40-byte fields
# at the same offsets and 9 more bytes (work code and reserved) the gateway does not need. pyzk 0.9
# strides such a log by 40 and reads garbage from the second record on; decoding here reads it right.
_RECORD_SIZES = (8, 16, 40, 49)


def decode_zk_time(value: int) -> datetime:
    """ZK time: seconds in a calendar of 12 months of 31 days from 2000. ValueError for Feb 30 and the like."""
    value, second = divmod(value, 60)
    value, minute = divmod(value, 60)
    value, hour = divmod(value, 24)
    value, day = divmod(value, 31)
    year, month = divmod(value, 12)
    return datetime(year + 2000, month + 1, day + 1, hour, minute, second)


class ZKDriver:
    """One ZK terminal. Blocking by design: the gateway calls it from a worker thread."""

    def __init__(
        self,
        host: str,
        port: int = 4370,
        *,
        transport: str = "tcp",
        comm_key: int = 0,
        timeout_s: float = 10.0,
        encoding: str = "utf-8",
        omit_ping: bool = True,
        quarantine: Callable[[bytes, str], None] | None = None,
    ) -> None:
        if transport not in ("tcp", "udp"):
            raise ValueError(f"transport must be 'tcp' or 'udp', not {transport!r}")
        self.host, self.port, self.transport = host, port, transport
        self.comm_key, self.timeout_s, self.encoding = comm_key, timeout_s, encoding
        self.omit_ping = omit_ping
        # Receives each log record that cannot be decoded, raw, with the reason; the gateway keeps them.
        self.quarantine = quarantine
        self._zk: Any = None  # a connected pyzk ZK (pyzk has no type hints)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}/{self.transport}"

    @property
    def connected(self) -> bool:
        return self._zk is not None

    def connect(self) -> None:
        self.close()
        self._zk = ZK(
            self.host,
            port=self.port,
            timeout=self.timeout_s,
            password=self.comm_key,
            force_udp=self.transport == "udp",
            ommit_ping=self.omit_ping,
            encoding=self.encoding,
        )
        # pyzk opens a UDP socket in ZK() and replaces it in connect() without closing it.
        self._zk._ZK__sock.close()
        with self._failing_as("connect"):
            self._zk.connect()

    def close(self) -> None:
        """Say goodbye (CMD_EXIT) when the connection is healthy; never raises."""
        zk = self._zk
        if zk is not None and zk.is_connect:
            try:
                zk.disconnect()
            except _DEVICE_FAILURES as error:
                log.debug("ZK device %s: disconnect failed: %s", self.address, error)
        self._drop()

    def __enter__(self) -> ZKDriver:
        self.connect()
        return self

    def __exit__(self, *_exc_info: object) -> None:
        self.close()

    def read_info(self) -> DeviceInfo:
        zk = self._connection()
        with self._failing_as("read device info"):
            serial, platform, firmware = zk.get_serialnumber(), zk.get_platform(), zk.get_firmware_version()
            device_time = zk.get_time()
            zk.read_sizes()
            return DeviceInfo(serial, platform, firmware, device_time, zk.users, zk.records, zk.rec_cap)

    def record_count(self) -> int:
        """How many records the log holds: one short request, cheap enough to ask every minute."""
        zk = self._connection()
        with self._failing_as("read the record count"):
            zk.read_sizes()
            return int(zk.records)

    def read_punches(self) -> list[DevicePunch]:
        zk = self._connection()
        with self._failing_as("read the attendance log"):
            # Disabled ("working..."), the terminal takes no punches, so the record count and the log
            # agree. Should the read fail, the terminal re-enables itself when the dropped session ends.
            zk.disable_device()
            punches = self._read_log(zk)
            zk.enable_device()
        return punches

    def clear_log_if(self, safe_to_clear: Callable[[list[DevicePunch]], bool]) -> bool:
        """Clear the attendance log if `safe_to_clear` approves the log as it is now; True when cleared.

        The terminal stays disabled from the read to the clear, so no punch can slip in between and be
        wiped unread.
        """
        zk = self._connection()
        with self._failing_as("clear the attendance log"):
            zk.disable_device()
            cleared = safe_to_clear(self._read_log(zk))
            if cleared:
                zk.clear_attendance()
            zk.enable_device()
        return cleared

    def _read_log(self, zk: Any) -> list[DevicePunch]:
        zk.read_sizes()
        count = zk.records
        log_bytes = zk.read_with_buffer(const.CMD_ATTLOG_RRQ)[0] if count else b""
        pin_by_uid: dict[int, str] = {}
        if count and len(log_bytes) >= 4 and struct.unpack_from("<I", log_bytes)[0] == 8 * count:
            pin_by_uid = {user.uid: user.user_id for user in zk.get_users()}  # 8-byte records hold uids
        return self._decode_log(log_bytes, count, pin_by_uid)

    def read_users(self) -> list[DeviceUser]:
        zk = self._connection()
        with self._failing_as("read users"):
            users = zk.get_users()
        return [
            DeviceUser(pin=user.user_id, name=_real_name(user.name, user.user_id), card=user.card) for user in users
        ]

    def write_user(self, user: DeviceUser) -> None:
        """Create or update the user holding `user.pin`, keeping its uid, privilege and password."""
        zk = self._connection()
        with self._failing_as(f"write user {user.pin!r}"):
            # get_users() also tells pyzk the device's user format (28 or 72 bytes) and the next free uid.
            existing = next((known for known in zk.get_users() if known.user_id == user.pin), None)
            zk.set_user(
                uid=existing.uid if existing else zk.next_uid,
                name=user.name,
                privilege=existing.privilege if existing else const.USER_DEFAULT,
                password=existing.password if existing else "",
                group_id=existing.group_id if existing else "",
                user_id=user.pin,
                card=user.card,
            )

    def set_time(self, local_time: datetime) -> None:
        zk = self._connection()
        with self._failing_as("set the clock"):
            zk.set_time(local_time)

    def live_punches(
        self, stop_after_idle_s: float, *, stop_when: Callable[[], bool] | None = None
    ) -> Iterator[DevicePunch]:
        """Punches as people make them; returns after `stop_after_idle_s` without one, or once
        `stop_when()` says so (asked at every punch and at least once a second)."""
        if stop_after_idle_s <= 0:
            raise ValueError("stop_after_idle_s must be positive")
        zk = self._connection()
        tick_s = min(stop_after_idle_s, 1.0)
        # pyzk yields None when a receive times out, i.e. after tick_s seconds without an event.
        events = zk.live_capture(new_timeout=tick_s)
        idle_since = time.monotonic()
        finished = False
        try:
            with self._refusal_as_live_events_refused(), self._failing_as("capture live punches"):
                for event in events:
                    if event is not None:
                        idle_since = time.monotonic()
                        yield DevicePunch(str(event.user_id), event.timestamp, int(event.punch), int(event.status))
                    idle = time.monotonic() - idle_since >= stop_after_idle_s
                    if idle or (stop_when is not None and stop_when()):
                        # pyzk leaves its loop, unregisters and restores the timeout on the next step.
                        zk.end_live_capture = True
            finished = True
        finally:
            if not finished and self._zk is zk:
                # Abandoned mid-capture: pyzk skips its clean-up then and the device would keep sending events.
                events.close()
                self._drop()

    def _decode_log(self, log_bytes: bytes, count: int, pin_by_uid: dict[int, str]) -> list[DevicePunch]:
        if not count or len(log_bytes) < 4:
            return []
        (total,) = struct.unpack_from("<I", log_bytes)
        record_size, remainder = divmod(total, count)
        if remainder or record_size not in _RECORD_SIZES:
            self._drop()
            raise DeviceError(
                f"ZK device {self.address}: the log holds {total} bytes for {count} records: "
                "it changed during the read, or its record format is unknown"
            )
        punches, undecodable = [], 0
        for record in _split_records(log_bytes[4 : 4 + total], record_size):
            try:
                punches.append(self._decode_record(record, record_size, pin_by_uid))
            except ValueError as error:
                undecodable += 1
                if self.quarantine is not None:
                    self.quarantine(record, f"undecodable {record_size}-byte log record: {error}")
        if undecodable:
            log.warning("ZK device %s: %d records with impossible timestamps quarantined", self.address, undecodable)
        return punches

    def _decode_record(self, record: bytes, record_size: int, pin_by_uid: dict[int, str]) -> DevicePunch:
        """The fields pyzk's Attendance holds: user_id → pin, timestamp, punch → state, status → verify."""
        if record_size == 8:
            uid, verify, stamp, state = _RECORD_8.unpack(record)
            pin = pin_by_uid.get(uid, str(uid))
        elif record_size == 16:
            numeric_pin, stamp, verify, state, _workcode = _RECORD_16.unpack(record)
            pin = str(numeric_pin)
        else:
            _uid, raw_pin, verify, stamp, state = _RECORD_40.unpack_from(record)  # 40 or 49 bytes
            pin = raw_pin.split(b"\x00", 1)[0].decode(self.encoding, errors="ignore")
        return DevicePunch(pin, decode_zk_time(stamp), state, verify)

    @contextmanager
    def _refusal_as_live_events_refused(self) -> Iterator[None]:
        try:
            yield
        except DeviceError as error:
            # pyzk's reg_event answers a refused CMD_REG_EVENT with "cant' reg events" (sic).
            if isinstance(error.__cause__, ZKErrorResponse) and "reg events" in str(error.__cause__):
                raise LiveEventsRefused(f"ZK device {self.address}: refuses live events") from error
            raise

    def _connection(self) -> Any:
        if self._zk is None:
            raise DeviceError(f"ZK device {self.address}: not connected")
        return self._zk

    @contextmanager
    def _failing_as(self, action: str) -> Iterator[None]:
        try:
            yield
        except _DEVICE_FAILURES as error:
            self._drop()
            detail = str(error) or type(error).__name__
            if isinstance(error, struct.error):  # pyzk unpacking a reply that never came
                detail = f"short or no answer (connection closed by the device?): {detail}"
            raise DeviceError(f"ZK device {self.address}: {action} failed: {detail}") from error

    def _drop(self) -> None:
        """Forget the connection and close its socket; pyzk itself closes it only after a clean CMD_EXIT."""
        zk, self._zk = self._zk, None
        if zk is not None:
            zk.is_connect = False
            sock = getattr(zk, "_ZK__sock", None)
            if sock is not None:
                sock.close()


def _split_records(body: bytes, record_size: int) -> Iterator[bytes]:
    # A truncated last record is left out, as pyzk does.
    for start in range(0, len(body) - record_size + 1, record_size):
        yield body[start : start + record_size]


def _real_name(name: str, pin: str) -> str:
    """pyzk reports a user without a name as "NN-<pin>"; the gateway wants the empty name back."""
    return "" if name == f"NN-{pin}" else name
