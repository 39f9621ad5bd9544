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

Firmware as it is (docs/devices.md, "Firmware families"), survived here:
- Live events are framed by the driver itself on pyzk's socket: pyzk's live_capture decodes one event
  per socket read (two punches in one segment at the morning rush fail it) and four event sizes only.
- A record count of zero, or none at all (a short answer), never means an empty log: the log is read
  anyway and its layout told from its bytes; a count that disagrees with the log is not trusted again.
- Firmware without a buffered read of the log (no answer to 1503) is read with CMD_ATTLOG_RRQ.
"""

from __future__ import annotations

import logging
import socket
import struct
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from zk import ZK, const
from zk.exception import ZKError, ZKErrorResponse, ZKNetworkError
from zk.finger import Finger

from gateway.devices import zk_frames as frames
from gateway.devices.base import (
    ANOMALIES,
    DeviceError,
    DeviceInfo,
    DevicePunch,
    DeviceTemplate,
    DeviceUser,
    LiveEventsRefused,
)

log = logging.getLogger(__name__)

# Everything pyzk lets escape when a device answers wrongly, short or not at all.
_DEVICE_FAILURES = (
    ZKError, OSError, struct.error, ValueError, TypeError, IndexError, UnboundLocalError, frames.FrameError
)  # fmt: skip

# Attendance record layouts, told apart by size (log bytes / record count), as pyzk does.
_RECORD_8 = struct.Struct("<HBIB")  # uid, verify, time, state
_RECORD_16 = struct.Struct("<IIBB2xI")  # numeric pin, time, verify, state, workcode
_RECORD_40 = struct.Struct("<H24sBIB8x")  # uid, pin, verify, time, state
# Newer face/palm firmware (SpeedFace-V5L, MB560-VL of 2022) sends 49-byte records: the 40-byte fields
# at the same offsets and 9 more bytes (work code and reserved) the gateway does not need. pyzk 0.9
# strides such a log by 40 and reads garbage from the second record on; decoding here reads it right.
_RECORD_SIZES = frames.RECORD_SIZES
_BUFFERED_READ = 1503
_USER_SIZES = (28, 72)


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
        buffered_read: bool | None = None,
        report_anomaly: Callable[[str, str], None] | None = None,
        fingerprint_format: str = "",
    ) -> None:
        if transport not in ("tcp", "udp"):
            raise ValueError(f"transport must be 'tcp' or 'udp', not {transport!r}")
        self.host, self.port, self.transport = host, port, transport
        self.comm_key, self.timeout_s, self.encoding = comm_key, timeout_s, encoding
        self.omit_ping = omit_ping
        # Receives each log record that cannot be decoded, raw, with the reason; the gateway keeps them.
        self.quarantine = quarantine
        # Told of every firmware fault survived (a key of base.ANOMALIES and the detail); the gateway counts them.
        self.report_anomaly = report_anomaly
        # Whether the firmware has the buffered read of the log: the profile may say; None: find out.
        self.buffered_read = buffered_read
        # The profile's fingerprint TemplateFormat.key ("" when the profile names none): templates read
        # here carry it, and only templates with it are written here.
        self.fingerprint_format = fingerprint_format
        self.counts_reliable = True  # until the device's count disagrees with its log
        self._known_count: int | None = None  # records in the log when last read whole
        self._record_size: int | None = None  # the layout the log had then
        self._event_size: int | None = None  # the live-event size this device sends
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
            sizes = self._free_sizes(zk)
        count = self.record_count_from(sizes)
        return DeviceInfo(
            serial,
            platform,
            firmware,
            device_time,
            sizes.users or 0,
            count if count is not None else self._known_count or 0,
            sizes.record_capacity or 0,
            counts_reliable=count is not None,
        )

    def record_count(self) -> int | None:
        """How many records the log holds: one short request, cheap enough to ask every minute. None when
        this firmware cannot be believed (it answered no count, or a count its log contradicted)."""
        zk = self._connection()
        with self._failing_as("read the record count"):
            sizes = self._free_sizes(zk)
        return self.record_count_from(sizes)

    def record_count_from(self, sizes: frames.FreeSizes) -> int | None:
        if sizes.records is None:
            if self.counts_reliable:
                self._anomaly("count_misreported", "CMD_GET_FREE_SIZES answered without a record count")
            self.counts_reliable = False
        return sizes.records if self.counts_reliable else None

    def _free_sizes(self, zk: Any) -> frames.FreeSizes:
        """CMD_GET_FREE_SIZES parsed here: pyzk's read_sizes() keeps stale values on a short answer."""
        answer = zk._ZK__send_command(const.CMD_GET_FREE_SIZES, b"", 1024)
        if not answer.get("status"):
            raise DeviceError(f"ZK device {self.address}: the device refused CMD_GET_FREE_SIZES")
        payload = bytes(zk._ZK__data or b"")
        if zk.tcp and len(payload) < zk._ZK__tcp_length - 8:  # pyzk reads 1 KiB; a longer answer goes on
            payload += zk._ZK__sock.recv(zk._ZK__tcp_length - 8 - len(payload))
        sizes = frames.parse_free_sizes(payload)
        zk.users = sizes.users or 0  # pyzk's get_users() trusts this field
        return sizes

    def read_punches(self) -> list[DevicePunch]:
        zk = self._connection()
        with self._failing_as("read the attendance log"):
            # Disabled ("working..."), the terminal takes no punches, so the record count and the log
            # agree. Should the read fail, the terminal re-enables itself when the dropped session ends.
            zk.disable_device()
            punches = self._read_log(zk)
            self._connection().enable_device()  # the connection may be a new one (see _buffered_read_of_log)
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
            zk = self._connection()
            if cleared:
                zk.clear_attendance()
            zk.enable_device()
        return cleared

    def restart(self) -> None:
        """CMD_RESTART (pyzk's restart()): the terminal acknowledges, drops the connection and boots;
        the connection is forgotten here, never said goodbye to."""
        zk = self._connection()
        with self._failing_as("restart the device"):
            zk.restart()
        self._drop()
        self._known_count = None  # what the log held is read afresh after the boot

    def _read_log(self, zk: Any) -> list[DevicePunch]:
        """The whole log, whatever the count says: a zero or missing count is read anyway and checked
        against what the log holds (pyzk's get_attendance() returns nothing on such firmware)."""
        count = self.record_count_from(self._free_sizes(zk))
        log_bytes = self._read_log_table()
        zk = self._connection()  # a timed-out buffered read costs the connection: the direct read reconnects
        if len(log_bytes) < 4:
            return []
        (total,) = struct.unpack_from("<I", log_bytes)
        body = log_bytes[4 : 4 + total]
        record_size = frames.plausible_record_size(body, count, self._record_size)
        if record_size is None:
            self._drop()
            raise DeviceError(
                f"ZK device {self.address}: the log holds {total} bytes for {count} records: "
                "it changed during the read, or its record format is unknown"
            )
        held = len(body) // record_size
        if count is not None and count != held:
            self._distrust_count(count, held)
        pin_by_uid: dict[int, str] = {}
        if record_size == 8 and held:
            pin_by_uid = {user.uid: user.user_id for user in self._device_users(zk)}  # 8-byte records hold uids
        self._known_count, self._record_size = held, record_size
        return self._decode_log(body, record_size, pin_by_uid)

    def _distrust_count(self, reported: int, held: int) -> None:
        if self.counts_reliable:
            self._anomaly("count_mismatch", f"the device reported {reported} records and its log holds {held}")
        self.counts_reliable = False

    def _read_log_table(self) -> bytes:
        """The attendance table (length prefix, records): buffered where the firmware has it, else direct."""
        if self.buffered_read is not False:
            table = self._buffered_read_of_log()
            if table is not None:
                return table
        zk = self._connection()
        answer = zk._ZK__send_command(const.CMD_ATTLOG_RRQ, b"", 1024)
        if not answer.get("status"):
            raise DeviceError(f"ZK device {self.address}: the direct read of the log was refused")
        table = zk._ZK__recieve_chunk()
        if table is None:
            raise DeviceError(f"ZK device {self.address}: the direct read of the log came back broken")
        return bytes(table)

    def _buffered_read_of_log(self) -> bytes | None:
        """pyzk's read_with_buffer(), step by step, so that firmware without it is told apart: ZMM100
        firmware does not answer 1503 for the log at all (pyzk #79, #45), others refuse it. None then,
        and the buffered read is not tried again on this device (silence costs the connection)."""
        zk = self._connection()
        request = struct.pack("<bhii", 1, const.CMD_ATTLOG_RRQ, 0, 0)
        try:
            answer = zk._ZK__send_command(_BUFFERED_READ, request, 1024)
        except ZKNetworkError:
            if self.buffered_read:
                raise
            # Silence: this firmware, or a device that hangs? One that still reads its users buffered
            # on a new connection lacks only the buffered read of the log, as ZMM100 firmware does.
            self._reconnect_disabled()
            self._connection().read_with_buffer(const.CMD_USERTEMP_RRQ, const.FCT_USER)
            answer = {"status": False}
        if not answer.get("status"):
            if self.buffered_read:
                raise DeviceError(f"ZK device {self.address}: the buffered read of the log was refused")
            self.buffered_read = False
            self._anomaly("no_buffered_read", "no answer to the buffered read (1503); reading with CMD_ATTLOG_RRQ")
            return None
        self.buffered_read = True
        data = bytes(zk._ZK__data or b"")
        if answer["code"] == const.CMD_DATA:  # a small table, answered at once
            if zk.tcp and len(data) < zk._ZK__tcp_length - 8:
                data += zk._ZK__recieve_raw_data(zk._ZK__tcp_length - 8 - len(data))
            return data
        (size,) = struct.unpack_from("<I", data, 1)
        step = 0xFFC0 if zk.tcp else 16 * 1024  # pyzk's chunk sizes
        parts = [zk._ZK__read_chunk(start, min(step, size - start)) for start in range(0, size, step)]
        zk.free_data()
        return b"".join(parts)

    def _reconnect_disabled(self) -> None:
        self._drop()
        self.connect()
        self._connection().disable_device()

    def _device_users(self, zk: Any) -> list[Any]:
        """pyzk's get_users(), which returns nothing when the device reports no users (pyzk #76)."""
        if not zk.users:
            zk.users = 1  # read the table anyway; its size tells how many there are
        users = list(zk.get_users())
        if not users:
            zk.user_packet_size = self._user_record_size(zk)
        return users

    def _user_record_size(self, zk: Any) -> int:
        """pyzk learns the user record size (28 or 72 bytes) from the user table; an empty one tells it
        nothing, and pyzk then writes 72-byte users over TCP and 28-byte ones over UDP, whatever the device
        keeps (a first user written over UDP to a 72-byte device got its name cut to 8 bytes). The
        device's ~UserExtFmt option says: 1 extended (72), 0 not (28)."""
        answer = zk._ZK__send_command(const.CMD_OPTIONS_RRQ, b"~UserExtFmt\x00", 1024)
        value = bytes(zk._ZK__data or b"").split(b"=", 1)[-1].split(b"\x00", 1)[0] if answer.get("status") else b""
        return {b"1": 72, b"0": 28}.get(value, zk.user_packet_size)

    def read_users(self) -> list[DeviceUser]:
        zk = self._connection()
        with self._failing_as("read users"):
            self._free_sizes(zk)
            users = self._device_users(zk)
        return [
            DeviceUser(pin=user.user_id, name=_real_name(user.name, user.user_id), card=user.card) for user in users
        ]

    def stored_name(self, name: str) -> str:
        """`name` as this device keeps it: cut to its field (8 bytes in 28-byte user records, 24 in 72-byte
        ones, as pyzk packs it). Known once the users have been read."""
        width = 8 if self._zk is not None and self._zk.user_packet_size == 28 else 24
        return name.encode(self.encoding, errors="ignore")[:width].decode(self.encoding, errors="ignore").strip()

    def write_user(self, user: DeviceUser) -> None:
        """Create or update the user holding `user.pin`, keeping its uid, privilege and password."""
        self.write_users([user])

    def write_users(self, users: list[DeviceUser]) -> None:
        """Create or update each user, reading the user table once (not once per user, as pyzk would)."""
        zk = self._connection()
        with self._failing_as(f"write user {users[0].pin!r}" if len(users) == 1 else f"write {len(users)} users"):
            # get_users() also tells pyzk the device's user format (28 or 72 bytes).
            self._free_sizes(zk)
            known = {existing.user_id: existing for existing in self._device_users(zk)}
            taken = {existing.uid for existing in known.values()}
            next_uid = 1
            for user in users:
                existing = known.get(user.pin)
                if existing is None:
                    while next_uid in taken:
                        next_uid += 1
                    if next_uid > 0xFFFF:
                        raise DeviceError(f"ZK device {self.address}: no free user id (uid) left for {user.pin!r}")
                    taken.add(next_uid)
                zk.set_user(
                    uid=existing.uid if existing else next_uid,
                    name=user.name,
                    privilege=existing.privilege if existing else const.USER_DEFAULT,
                    password=existing.password if existing else "",
                    group_id=existing.group_id if existing else "",
                    user_id=user.pin,
                    card=user.card,
                )

    def delete_user(self, pin: str) -> bool:
        """Remove the user holding `pin`; the firmware removes their fingerprints with them."""
        return self.delete_users([pin]) == 1

    def delete_users(self, pins: list[str]) -> int:
        zk = self._connection()
        with self._failing_as(f"delete user {pins[0]!r}" if len(pins) == 1 else f"delete {len(pins)} users"):
            self._free_sizes(zk)
            uid_by_pin = {existing.user_id: existing.uid for existing in self._device_users(zk)}
            present = [uid_by_pin[pin] for pin in pins if pin in uid_by_pin]
            for uid in present:
                zk.delete_user(uid=uid)
        return len(present)

    # --- fingerprint templates (pyzk's get_templates / save_user_template; the bytes are never logged) ---

    def read_templates(self) -> list[DeviceTemplate]:
        """Every fingerprint template on the device, by PIN (pyzk reads neither faces nor palms).

        The table is fetched with pyzk's buffered read and decoded here: pyzk's get_templates() reads
        nothing when the finger count is 0, which firmware that misreports its counts always says.
        """
        zk = self._connection()
        with self._failing_as("read templates"):
            self._free_sizes(zk)
            pin_by_uid = {user.uid: user.user_id for user in self._device_users(zk)}
            table, _size = zk.read_with_buffer(const.CMD_DB_RRQ, const.FCT_FINGERTMP)
            fingers = frames.parse_template_table(bytes(table))
        return [
            DeviceTemplate(
                pin=pin_by_uid[uid],
                modality="fingerprint",
                index=finger,
                data=data,
                format_key=self.fingerprint_format,
                valid=valid,
            )
            for uid, finger, valid, data in fingers
            if uid in pin_by_uid  # a template left behind by a deleted user is not anyone's
        ]

    def write_templates(self, user: DeviceUser, templates: list[DeviceTemplate]) -> None:
        """Write the user, then their fingerprints in one upload (pyzk's save_user_template)."""
        wrong = [t for t in templates if t.modality != "fingerprint" or t.format_key != self.fingerprint_format]
        if wrong or not self.fingerprint_format:
            kinds = ", ".join(sorted({f"{t.modality} {t.format_key or '?'}" for t in wrong})) or "fingerprints"
            raise DeviceError(f"ZK device {self.address}: cannot store {kinds} (this device takes {self._takes()})")
        self.write_user(user)
        if not templates:
            return
        zk = self._connection()
        with self._failing_as(f"write templates of {user.pin!r}"):
            self._free_sizes(zk)
            stored = next(known for known in self._device_users(zk) if known.user_id == user.pin)
            fingers = [Finger(stored.uid, t.index, t.valid, t.data) for t in templates]
            zk.save_user_template(stored, fingers)

    def delete_template(self, pin: str, modality: str, index: int) -> bool:
        if modality != "fingerprint":
            return False
        zk = self._connection()
        with self._failing_as(f"delete template {index} of {pin!r}"):
            self._free_sizes(zk)
            existing = next((known for known in self._device_users(zk) if known.user_id == pin), None)
            if existing is None:
                return False
            return bool(zk.delete_user_template(uid=existing.uid, temp_id=index))

    def _takes(self) -> str:
        return f"fingerprints {self.fingerprint_format}" if self.fingerprint_format else "no templates"

    def set_time(self, local_time: datetime) -> None:
        zk = self._connection()
        with self._failing_as("set the clock"):
            zk.set_time(local_time)

    def live_punches(
        self, stop_after_idle_s: float, *, stop_when: Callable[[], bool] | None = None
    ) -> Iterator[DevicePunch]:
        """Punches as people make them; returns after `stop_after_idle_s` without one, or once
        `stop_when()` says so (asked at every punch and at least once a second).

        pyzk registers for events; the driver frames them itself on pyzk's socket: any number of event
        packets in one read, any event size seen in the field, and no event is lost to the unregistering
        (events arriving before its answer are still handed back)."""
        zk = self._start_live_capture(stop_after_idle_s)
        sock = zk._ZK__sock
        reader = frames.FrameReader(self.transport)
        tick_s = min(stop_after_idle_s, 1.0)
        idle_since = time.monotonic()
        unregister_id: int | None = None
        unregister_sent_at = 0.0
        finished = False
        try:
            with self._failing_as("capture live punches"):
                sock.settimeout(tick_s)
                while True:
                    for packet in self._received_packets(sock, reader):
                        if packet.command == const.CMD_REG_EVENT:
                            zk._ZK__ack_ok()  # terminals do not wait for it, but some expect it
                            for punch in self._event_punches(packet):
                                idle_since = time.monotonic()
                                yield punch
                        elif unregister_id is not None and packet.reply_id == unregister_id:
                            zk._ZK__reply_id = packet.reply_id
                            finished = True
                    if finished:
                        break
                    if unregister_id is not None:
                        self._check_unregister_answered_in_time(unregister_sent_at)
                        continue
                    if _time_to_stop(idle_since, stop_after_idle_s, stop_when):
                        unregister_id = self._send_raw(zk, const.CMD_REG_EVENT, struct.pack("<I", 0))
                        unregister_sent_at = time.monotonic()
                sock.settimeout(self.timeout_s)
        finally:
            if not finished and self._zk is zk:
                # Abandoned mid-capture: the device would keep sending events on this connection.
                self._drop()

    def _start_live_capture(self, stop_after_idle_s: float) -> Any:
        """The connection, registered for attendance events."""
        if stop_after_idle_s <= 0:
            raise ValueError("stop_after_idle_s must be positive")
        zk = self._connection()
        with self._refusal_as_live_events_refused(), self._failing_as("start live capture"):
            zk.cancel_capture()
            zk.verify_user()
            zk.enable_device()
            zk.reg_event(const.EF_ATTLOG)
        return zk

    def _check_unregister_answered_in_time(self, sent_at: float) -> None:
        if time.monotonic() - sent_at > self.timeout_s:
            raise DeviceError(f"ZK device {self.address}: no answer to ending live capture")

    def _received_packets(self, sock: socket.socket, reader: frames.FrameReader) -> list[frames.Packet]:
        """The packets one read completes; none when the read times out (a tick of the live loop)."""
        try:
            data = sock.recv(1 << 16)
        except TimeoutError:
            data = None
        if data == b"" and self.transport == "tcp":
            raise DeviceError(f"ZK device {self.address}: the device closed the live connection")
        return reader.feed(data) if data else []

    def _event_punches(self, packet: frames.Packet) -> list[DevicePunch]:
        if packet.session_id != frames.EF_ATTLOG or not packet.payload:
            return []  # another event kind (door, alarm): not a punch
        try:
            events = frames.split_events(packet.payload, self._event_size, self.encoding)
        except frames.FrameError as error:
            self._anomaly("event_undecodable", str(error))
            if self.quarantine is not None:
                self.quarantine(packet.payload, f"undecodable live event: {error}")
            return []
        size = len(packet.payload) // len(events)
        if size not in frames.EVENT_SIZES and self._event_size != size:
            self._anomaly("event_size_unknown", f"a {size}-byte live event, decoded by its common fields")
        self._event_size = size
        return [DevicePunch(event.pin, event.local_time, event.state, event.verify) for event in events]

    def _send_raw(self, zk: Any, command: int, payload: bytes) -> int:
        """Send a request on pyzk's socket without waiting for its answer; returns its reply id."""
        packet = zk._ZK__create_header(command, payload, zk._ZK__session_id, zk._ZK__reply_id)
        reply_id = struct.unpack_from("<4H", packet)[3]
        if zk.tcp:
            zk._ZK__sock.sendall(zk._ZK__create_tcp_top(packet))
        else:
            zk._ZK__sock.sendto(packet, zk._ZK__address)
        return int(reply_id)

    def _anomaly(self, kind: str, detail: str) -> None:
        assert kind in ANOMALIES, kind
        log.warning("ZK device %s: %s (%s)", self.address, ANOMALIES[kind], detail)
        if self.report_anomaly is not None:
            self.report_anomaly(kind, detail)

    def _decode_log(self, body: bytes, record_size: int, pin_by_uid: dict[int, str]) -> list[DevicePunch]:
        punches, undecodable = [], 0
        for record in _split_records(body, record_size):
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


def _time_to_stop(idle_since: float, stop_after_idle_s: float, stop_when: Callable[[], bool] | None) -> bool:
    """Live capture ends after `stop_after_idle_s` without a punch, or when the caller's `stop_when()` says so."""
    idle = time.monotonic() - idle_since >= stop_after_idle_s
    return idle or (stop_when is not None and stop_when())
