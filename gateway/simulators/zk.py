"""A ZK-protocol fingerprint terminal, in-process, that the unmodified pyzk client talks to over sockets.

For the tests, the demo and `kinerja simulate zk`. It serves TCP and UDP on one port number from its
own threads (never the caller's event loop) and misbehaves on request the way real terminals do:
slow answers, a connection dropped or hung in the middle of a buffered read, a wrong clock, a log
that repeats records, and records with impossible times after a flat clock battery. It stores
attendance records in each layout firmware uses (8, 16, 40 or 49 bytes), users in 28 or 72 bytes and
fingerprint templates as opaque bytes (`enrol_finger`; pyzk's template reads, uploads and deletes, see
zk_templates.py), and reproduces three known firmware faults: the clock restarting at 2000-01-01 (`reset_clock`), a full
log that stalls the read of it (`full_log_stalls`), and a live-event stream that stops silently
(`live_events_go_silent_after`).
"""

from __future__ import annotations

import logging
import secrets
import struct
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from types import TracebackType
from typing import Self

from gateway.simulators import zk_protocol as wire
from gateway.simulators import zk_templates as templates
from gateway.simulators.zk_server import DEFAULT_PACKET_GAP_S, Pacing, Session, ZKServer
from gateway.simulators.zk_templates import SimTemplate

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SimUser:
    uid: int
    pin: str
    name: str = ""
    card: int = 0
    privilege: int = 0
    password: str = ""
    group_id: str = ""


@dataclass(frozen=True, slots=True)
class SimRecord:
    pin: str
    local_time: datetime
    state: int = 0
    verify: int = 1


class ZKSimulator:
    """A ZK terminal on `host:port` (TCP and UDP). Knobs may be changed while it runs:

    response_delay_s: every answer waits this long.
    drop_connection_after_chunks / hang_after_chunks: in a buffered read, after this many chunks the
        device closes the connection / stops answering it (None: never).
    clock_offset: the device clock is the true wall time (in `zone`) plus this.
    emit_duplicate_punches: the log, as read, repeats every other record, and every live event comes twice.
    garbage_records: the log, as read, ends with this many records stamped 2000-01-01 or years ahead.
    corrupt_records: ... and then with this many stamped with a date that does not exist (Feb 30).
    full_log_stalls: while the log is full, this many reads of it stall at their last chunk (the
        firmware busy with a full flash) and never finish; each stalled read counts one down.
    live_events_go_silent_after: a connection gets this many live events, then no more, without a
        word: registration stays acknowledged and punches still go into the log (None: never).

    Firmware as it is, by default (docs/devices.md, "How the simulator speaks"): one packet per TCP
    write, paced by `packet_gap_s`; live events sent without waiting for the client's ACK, and punches
    of one moment (`add_punches`) in one segment; the 13-byte answer to the buffered-read command; a
    small table answered at once with CMD_DATA; the direct attendance read (CMD_ATTLOG_RRQ). Knobs for
    firmware families (FAMILIES below):
    coalesce_packets: every answer in one write (the firmware of node-zklib #48).
    count_misreport: "zero_dword" | "short" | "zero_records": the record count is misreported (None: true).
    buffered_attlog: False: the buffered read of the attendance log gets no answer at all (ZMM100,
        pyzk #79, #45); users are still read buffered, the log only with CMD_ATTLOG_RRQ.
    single_client: "refuse_new" | "drop_old": one TCP client at a time (None: any number).
    """

    def __init__(
        self,
        *,
        serial: str = "SIM-ZK-0001",
        platform: str = "ZMM220_TFT",
        firmware: str = "Ver 6.60 Apr 28 2017",
        device_name: str = "K40",
        comm_key: int = 0,
        record_size: int = 40,
        user_size: int = 72,
        host: str = "127.0.0.1",
        port: int = 0,
        tcp: bool = True,
        udp: bool = True,
        record_capacity: int = 100_000,
        user_capacity: int = 10_000,
        clock_offset: timedelta = timedelta(0),
        live_events: bool = True,
        live_event_size: int | None = None,
        pin_width: int | None = None,
        mac: str = "00:17:61:c8:3a:01",
        zone: tzinfo | None = None,
        name_encoding: str = "utf-8",
        packet_gap_s: float = DEFAULT_PACKET_GAP_S,
        fingerprint_capacity: int = 3000,
        fp_version: int = 10,
    ) -> None:
        if record_size not in wire.RECORD_FORMATS or user_size not in wire.USER_FORMATS:
            raise ValueError(
                f"record_size must be one of {sorted(wire.RECORD_FORMATS)} and user_size one of "
                f"{sorted(wire.USER_FORMATS)}, not {record_size}, {user_size}"
            )
        if not (tcp or udp):
            raise ValueError("serve TCP, UDP or both")
        self.serial, self.platform, self.firmware, self.device_name = serial, platform, firmware, device_name
        self.comm_key, self.record_size, self.user_size = comm_key, record_size, user_size
        self.host, self.port, self.tcp, self.udp = host, port, tcp, udp
        self.record_capacity, self.user_capacity = record_capacity, user_capacity
        self.fingerprint_capacity = fingerprint_capacity
        # The fingerprint algorithm (~ZKFPVersion): 9 and 10 templates are not interchangeable.
        self.fp_version = fp_version
        self.live_events = live_events
        # Devices with numeric pins (16-byte records, 28-byte users) send 12-byte events, the others 52 bytes.
        self.live_event_size = live_event_size or (12 if record_size == 16 or user_size == 28 else 52)
        if self.live_event_size not in wire.LIVE_EVENT_SIZES:
            raise ValueError(f"live_event_size must be one of {wire.LIVE_EVENT_SIZES}")
        self.pin_width = pin_width or (9 if user_size == 28 else 14)
        self.mac = mac
        self.zone = zone  # the zone the device's wall clock keeps (None: this machine's)
        self.name_encoding = name_encoding  # how the firmware stores names: old ones use a code page
        self.clock_offset = clock_offset
        self.response_delay_s = 0.0
        self.drop_connection_after_chunks: int | None = None
        self.hang_after_chunks: int | None = None
        self.emit_duplicate_punches = False
        self.garbage_records = 0
        self.corrupt_records = 0
        self.full_log_stalls = 0
        self.live_events_go_silent_after: int | None = None
        self.packet_gap_s = packet_gap_s
        self.coalesce_packets = False
        self.count_misreport: str | None = None
        self.buffered_attlog = True
        self.single_client: str | None = None
        # CMD_RESTART: the terminal acknowledges, drops every connection, and listens again (on the same
        # port) after this many seconds of booting; users, templates and the log survive (they are in flash).
        self.boot_s = 2.0
        self.restarts = 0
        self.booted = threading.Event()  # set whenever the terminal is up (cleared while it boots)
        self.booted.set()
        self._lock = threading.RLock()
        self._users: dict[int, SimUser] = {}
        self._templates: dict[tuple[int, int], SimTemplate] = {}  # (uid, finger) -> template
        self._records: list[SimRecord] = []
        self._held_punches: list[SimRecord] = []  # punched while a client had the device disabled
        self._disabled_by: set[Session] = set()
        self._sessions: set[Session] = set()
        self._requested_port = port
        self._server = ZKServer(
            serial,
            self._handle,
            on_session_end=self._session_ended,
            response_delay_s=lambda: self.response_delay_s,
            pacing=lambda: Pacing(self.packet_gap_s, self.coalesce_packets),
            single_client=lambda: self.single_client,
        )
        self._command_handlers = self._build_handlers()

    # --- the device as a person at the terminal and a test see it ---------------------------------

    def add_user(
        self, pin: str, name: str = "", *, card: int = 0, privilege: int = 0, password: str = "", uid: int | None = None
    ) -> SimUser:
        """Enrol a user, or update the one holding `pin`."""
        with self._lock:
            existing = next((user for user in self._users.values() if user.pin == pin), None)
            if uid is None:
                uid = existing.uid if existing else max(self._users, default=0) + 1
            user = SimUser(uid, pin, name, card, privilege, password)
            self._check_storable(lambda: wire.pack_user(self.user_size, user, self.name_encoding), f"user {pin!r}")
            if existing:
                del self._users[existing.uid]
                if existing.uid != uid:
                    self._drop_templates(existing.uid)
            self._users[uid] = user
            return user

    def enrol_finger(self, pin: str, finger: int = 0) -> SimTemplate:
        """Someone enrols a finger at the terminal (the user must exist): a new template, or a new
        one replacing the template of that finger."""
        if finger not in templates.FINGERS:
            raise ValueError(f"finger index {finger} is not 0..9")
        with self._lock:
            user = next((user for user in self._users.values() if user.pin == pin), None)
            if user is None:
                raise ValueError(f"no user {pin!r} on the terminal to enrol")
            if (user.uid, finger) not in self._templates and len(self._templates) >= self.fingerprint_capacity:
                raise ValueError("the fingerprint store is full")
            template = SimTemplate(user.uid, finger, templates.fresh_template())
            self._templates[(user.uid, finger)] = template
            return template

    @property
    def fingerprints(self) -> list[SimTemplate]:
        with self._lock:
            return sorted(self._templates.values(), key=lambda t: (t.uid, t.finger))

    def fingerprints_of(self, pin: str) -> dict[int, bytes]:
        """finger index -> template of the user holding `pin` (empty when there is none)."""
        with self._lock:
            uids = {user.uid for user in self._users.values() if user.pin == pin}
            return {t.finger: t.data for t in self._templates.values() if t.uid in uids}

    def add_punch(
        self, pin: str, local_time: datetime | None = None, state: int = 0, verify: int = 1
    ) -> SimRecord | None:
        """Someone punches: the record joins the log and goes to every client registered for events.

        Returns None when the log is full (the terminal beeps and stores nothing).
        """
        return self.add_punches([(pin, local_time, state, verify)])[0]

    def add_punches(
        self, punches: Iterable[tuple[str, datetime | None, int, int]], *, burst: bool = True
    ) -> list[SimRecord | None]:
        """Several people punch at one moment (the morning rush): their events leave in one TCP segment
        (`burst`), as a terminal's send buffer coalesces them. Each item is (pin, time, state, verify)."""
        stored: list[SimRecord | None] = []
        with self._lock:
            uid_by_pin = {user.pin: user.uid for user in self._users.values()}
            for pin, local_time, state, verify in punches:
                record = SimRecord(pin, (local_time or self.device_time()).replace(microsecond=0), state, verify)
                self._check_storable(lambda record=record: self._pack_record(record, uid_by_pin), f"punch of {pin!r}")
                self._check_storable(
                    lambda record=record: wire.pack_live_event(
                        self.live_event_size, record.pin, record.local_time, record.state, record.verify
                    ),
                    f"live event of {pin!r}",
                )
                if len(self._records) + len(self._held_punches) >= self.record_capacity:
                    log.warning("ZK simulator %s: log full, punch of %s not stored", self.serial, pin)
                    stored.append(None)
                elif self._disabled_by:
                    self._held_punches.append(record)
                    stored.append(record)
                else:
                    self._records.append(record)
                    stored.append(record)
            announced = [record for record in stored if record is not None and not self._disabled_by]
            listeners = self._listeners()
        self._send_events(listeners, announced, burst=burst)
        return stored

    def load_records(self, records: Iterable[SimRecord]) -> None:
        """Fill the log with history in one go, without live events."""
        with self._lock:
            self._records.extend(records)

    @property
    def records(self) -> list[SimRecord]:
        with self._lock:
            return list(self._records)

    @property
    def users(self) -> list[SimUser]:
        with self._lock:
            return sorted(self._users.values(), key=lambda user: user.uid)

    @property
    def live_events_acked(self) -> int:
        """How many acknowledgements of live events the clients have sent (pyzk: one per socket read)."""
        with self._lock:
            return sum(session.events_acked for session in self._sessions)

    @property
    def event_listeners(self) -> int:
        """How many clients are registered for live attendance events right now."""
        with self._lock:
            return len(self._listeners())

    @property
    def log_full(self) -> bool:
        with self._lock:
            return len(self._records) + len(self._held_punches) >= self.record_capacity

    def reset_clock(self) -> None:
        """The clock battery went flat and the terminal restarted: its clock runs again from 2000-01-01."""
        self.clock_offset = datetime(2000, 1, 1) - self._true_wall_time().replace(microsecond=0)

    def device_time(self) -> datetime:
        return (self._true_wall_time() + self.clock_offset).replace(microsecond=0)

    def _true_wall_time(self) -> datetime:
        return datetime.now(self.zone).replace(tzinfo=None)

    # --- life cycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        if self._server.running:
            raise RuntimeError("the simulator is already running")
        self.port = self._server.start(self.host, self._requested_port, tcp=self.tcp, udp=self.udp)
        log.info("ZK simulator %s listening on %s:%d", self.serial, self.host, self.port)
        return self

    def stop(self) -> None:
        """Close every socket and join every thread; safe to call twice."""
        self._server.stop()

    def serve_forever(self) -> None:
        """Serve until stop() is called from another thread or the process is interrupted."""
        if not self._server.running:
            self.start()
        try:
            while not self._server.wait_stopped(3600):
                pass
        finally:
            self.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def _restart_soon(self) -> None:
        """After the acknowledgement has gone out: every socket closed, the boot time waited, then the
        same port served again, as a rebooting terminal does."""
        self.booted.clear()
        self.restarts += 1

        def reboot() -> None:
            time.sleep(0.05)  # the CMD_ACK_OK is on its way before the sockets close
            self._server.stop()
            time.sleep(self.boot_s)
            self.port = self._server.start(self.host, self.port, tcp=self.tcp, udp=self.udp)
            self.booted.set()
            log.info("ZK simulator %s: booted again on port %d", self.serial, self.port)

        threading.Thread(target=reboot, name=f"zk-sim-{self.serial}-reboot", daemon=True).start()

    def _session_ended(self, session: Session) -> None:
        with self._lock:
            self._sessions.discard(session)
        self._enable(session)

    # --- commands -------------------------------------------------------------------------------

    def _handle(self, session: Session, request: wire.Packet) -> tuple[list[bytes], bool]:
        command, payload = request.command, request.payload

        def reply(code: int = wire.CMD_ACK_OK, data: bytes = b"") -> list[bytes]:
            return [wire.pack_packet(code, session.session_id, request.reply_id, data)]

        if command == wire.CMD_CONNECT:
            self._enable(session)  # a reconnecting UDP peer starts afresh
            session.session_id = secrets.randbelow(0xFFFE) + 1
            session.authenticated = not self.comm_key
            session.buffer, session.event_flags, session.events_sent = None, 0, 0
            with self._lock:
                self._sessions.add(session)
            return reply(wire.CMD_ACK_OK if session.authenticated else wire.CMD_ACK_UNAUTH), True
        if command == wire.CMD_AUTH and session.session_id:
            session.authenticated = not self.comm_key or wire.comm_key_matches(
                self.comm_key, session.session_id, payload
            )
            return reply(wire.CMD_ACK_OK if session.authenticated else wire.CMD_ACK_UNAUTH), True
        if command == wire.CMD_EXIT:
            return reply(), False
        if not session.authenticated:
            return reply(wire.CMD_ACK_UNAUTH), True
        if command in wire.ACK_ONLY_COMMANDS:
            return reply(), True
        if command == wire.CMD_RESTART:
            self._restart_soon()
            return reply(), False
        # The commands answered in several packets (or with a data buffer) take the whole request.
        streamed = {
            wire.CMD_READ_BUFFER: self._read_chunk,
            wire.CMD_PREPARE_BUFFER: self._prepare_buffer,
            wire.CMD_ATTLOG_RRQ: self._read_log_directly,
            templates.CMD_GET_USERTEMP: self._read_template,
        }.get(command)
        if streamed is not None:
            return streamed(session, request)
        handler = self._command_handlers.get(command)
        if handler is None:
            return reply(wire.CMD_ACK_UNKNOWN), True
        code, data = handler(session, payload)
        return reply(code, data), True

    def _build_handlers(self) -> dict[int, Callable[[Session, bytes], tuple[int, bytes]]]:
        return {
            wire.CMD_DISABLEDEVICE: self._disable,
            wire.CMD_ENABLEDEVICE: lambda session, _payload: (self._enable(session), b""),
            wire.CMD_GET_VERSION: lambda _session, _payload: (wire.CMD_ACK_OK, self.firmware.encode() + b"\x00"),
            wire.CMD_OPTIONS_RRQ: self._read_option,
            wire.CMD_GET_FREE_SIZES: self._free_sizes,
            wire.CMD_GET_PINWIDTH: lambda _session, _payload: (wire.CMD_ACK_OK, bytes((self.pin_width,))),
            wire.CMD_GET_TIME: lambda _session, _payload: (
                wire.CMD_ACK_OK,
                struct.pack("<I", wire.encode_zk_time(self.device_time())),
            ),
            wire.CMD_SET_TIME: self._set_time,
            wire.CMD_FREE_DATA: self._free_buffer,
            wire.CMD_USER_WRQ: self._write_user,
            wire.CMD_DELETE_USER: self._delete_user,
            wire.CMD_CLEAR_ATTLOG: lambda _session, _payload: self._clear(wire.FCT_ATTLOG),
            wire.CMD_CLEAR_DATA: lambda _session, payload: self._clear(payload[0] if payload else None),
            wire.CMD_REG_EVENT: self._register_events,
            wire.CMD_PREPARE_DATA: self._begin_upload,
            wire.CMD_DATA: self._continue_upload,
            templates.CMD_SAVE_USERTEMPS: self._save_upload,
            templates.CMD_DELETE_USERTEMP: self._delete_template,
        }

    def _disable(self, session: Session, _payload: bytes) -> tuple[int, bytes]:
        with self._lock:
            self._disabled_by.add(session)
        return wire.CMD_ACK_OK, b""

    def _enable(self, session: Session) -> int:
        """Release this client's hold; punches made meanwhile are stored when no client holds it."""
        with self._lock:
            self._disabled_by.discard(session)
            if self._disabled_by or not self._held_punches:
                return wire.CMD_ACK_OK
            held, self._held_punches = self._held_punches, []
            self._records.extend(held)
            listeners = self._listeners()
        self._send_events(listeners, held, burst=True)  # the firmware flushes what it held at once
        return wire.CMD_ACK_OK

    def _read_option(self, _session: Session, payload: bytes) -> tuple[int, bytes]:
        key = payload.split(b"\x00", 1)[0].decode("ascii")
        value = wire.device_options(
            serial=self.serial,
            platform=self.platform,
            device_name=self.device_name,
            extended_records=self.record_size in wire.WIDE_PIN_RECORDS,
            extended_users=self.user_size == 72,
            pin_width=self.pin_width,
            mac=self.mac,
            ip=self.host,
            fp_version=self.fp_version,
        ).get(key)
        if value is None:
            return wire.CMD_ACK_ERROR, b""
        return wire.CMD_ACK_OK, f"{key}={value}".encode() + b"\x00"

    def _free_sizes(self, _session: Session, _payload: bytes) -> tuple[int, bytes]:
        with self._lock:
            users = list(self._users.values())
            fingers = len(self._templates)
            record_count = len(self._log_as_read()) + self.corrupt_records
        sizes = wire.pack_free_sizes(
            users=len(users),
            fingers=fingers,
            records=record_count,
            cards=sum(1 for user in users if user.card),
            user_cap=self.user_capacity,
            finger_cap=self.fingerprint_capacity,
            record_cap=self.record_capacity,
        )
        if self.count_misreport:
            sizes = wire.pack_free_sizes_misreported(self.count_misreport, sizes)
        return wire.CMD_ACK_OK, sizes

    def _set_time(self, _session: Session, payload: bytes) -> tuple[int, bytes]:
        (stamp,) = struct.unpack("<I", payload[:4])
        self.clock_offset = wire.decode_zk_time(stamp) - self._true_wall_time().replace(microsecond=0)
        return wire.CMD_ACK_OK, b""

    def _prepare_buffer(self, session: Session, request: wire.Packet) -> tuple[list[bytes], bool]:
        """CMD_PREPARE_BUFFER (1503): snapshot a table. A small one is answered at once with CMD_DATA,
        a larger one with its size, to be fetched with CMD_READ_BUFFER; firmware without a buffered read
        of the log does not answer at all."""

        def reply(code: int, data: bytes = b"") -> list[bytes]:
            return [wire.pack_packet(code, session.session_id, request.reply_id, data)]

        _flag, table, function, _extra = struct.unpack("<bhii", request.payload[:11])
        with self._lock:
            if table == wire.CMD_ATTLOG_RRQ:
                if not self.buffered_attlog:
                    log.info("ZK simulator %s: no buffered read of the log on this firmware: no answer", self.serial)
                    return [], True
                buffer, is_log = self._log_table(), True
            elif table == wire.CMD_USERTEMP_RRQ and function == wire.FCT_USER:
                packed = (wire.pack_user(self.user_size, user, self.name_encoding) for user in self.users)
                buffer, is_log = wire.pack_table(packed), False
            elif function == wire.FCT_FINGERTMP:
                buffer, is_log = templates.pack_template_table(self.fingerprints), False
            else:
                return reply(wire.CMD_ACK_ERROR), True
        if len(buffer) <= wire.DIRECT_DATA_MAX:
            session.buffer = None
            # Answered at once, the table is the transfer's first chunk for the misbehaviour knobs.
            if self.drop_connection_after_chunks == 0:
                log.info("ZK simulator %s: dropping the connection mid-read, as asked", self.serial)
                return [], False
            if self.hang_after_chunks == 0:
                log.info("ZK simulator %s: hanging mid-read, as asked", self.serial)
                session.hang()
                return [], True
            return reply(wire.CMD_DATA, buffer), True
        session.buffer, session.buffer_is_log, session.chunks_served = buffer, is_log, 0
        return reply(wire.CMD_ACK_OK, wire.pack_buffer_ready(buffer)), True

    def _read_log_directly(self, session: Session, request: wire.Packet) -> tuple[list[bytes], bool]:
        """CMD_ATTLOG_RRQ (13), the read older firmware has instead of the buffered one: PREPARE_DATA,
        the whole table, ACK_OK (python_zklib's zkattendance.py reads it so)."""
        with self._lock:
            table = self._log_table()
        datagram_payload = wire.UDP_DATA_PAYLOAD if session.transport == "udp" else None
        return wire.chunk_packets(table, session.session_id, request.reply_id, datagram_payload=datagram_payload), True

    def _log_table(self) -> bytes:
        """The attendance table as the firmware serves it (length, then records). Call with the lock held."""
        uid_by_pin = {user.pin: user.uid for user in self._users.values()}
        packed = [self._pack_record(record, uid_by_pin) for record in self._log_as_read()]
        corrupt = wire.pack_record(self.record_size, 1, "1", wire.february_30(2026), 0, 1)
        return wire.pack_table(packed + [corrupt] * self.corrupt_records)

    def _read_chunk(self, session: Session, request: wire.Packet) -> tuple[list[bytes], bool]:
        start, size = struct.unpack("<ii", request.payload[:8])
        if session.buffer is None or start < 0 or size < 0:
            return [wire.pack_packet(wire.CMD_ACK_ERROR, session.session_id, request.reply_id)], True
        if self.drop_connection_after_chunks is not None and session.chunks_served >= self.drop_connection_after_chunks:
            log.info("ZK simulator %s: dropping the connection mid-read, as asked", self.serial)
            return [], False
        if self.hang_after_chunks is not None and session.chunks_served >= self.hang_after_chunks:
            log.info("ZK simulator %s: hanging mid-read, as asked", self.serial)
            session.hang()
            return [], True
        if session.buffer_is_log and start + size >= len(session.buffer) and self._stall_on_full_log():
            log.info("ZK simulator %s: log full, the read of it stalls (firmware fault), as asked", self.serial)
            session.hang()
            return [], True
        session.chunks_served += 1
        chunk = session.buffer[start : start + size]
        datagram_payload = wire.UDP_DATA_PAYLOAD if session.transport == "udp" else None
        return wire.chunk_packets(chunk, session.session_id, request.reply_id, datagram_payload=datagram_payload), True

    def _stall_on_full_log(self) -> bool:
        with self._lock:
            if self.full_log_stalls <= 0 or not self.log_full:
                return False
            self.full_log_stalls -= 1
            return True

    def _free_buffer(self, session: Session, _payload: bytes) -> tuple[int, bytes]:
        session.buffer, session.upload = None, None
        return wire.CMD_ACK_OK, b""

    # --- templates (gateway/simulators/zk_templates.py has the layouts and their sources) ----------

    def _begin_upload(self, session: Session, payload: bytes) -> tuple[int, bytes]:
        (size,) = struct.unpack("<I", payload[:4])
        if not 0 < size <= templates.MAX_UPLOAD_BYTES:
            session.upload = None
            return wire.CMD_ACK_ERROR, b""
        session.upload, session.upload_size = bytearray(), size
        return wire.CMD_ACK_OK, b""

    def _continue_upload(self, session: Session, payload: bytes) -> tuple[int, bytes]:
        if session.upload is None or len(session.upload) + len(payload) > session.upload_size:
            session.upload = None
            return wire.CMD_ACK_ERROR, b""
        session.upload += payload
        return wire.CMD_ACK_OK, b""

    def _save_upload(self, session: Session, _payload: bytes) -> tuple[int, bytes]:
        """Command 110: store the user and templates uploaded; all of it or, if any part is bad, none."""
        upload, session.upload = session.upload, None
        if upload is None or len(upload) != session.upload_size:
            return wire.CMD_ACK_ERROR, b""
        parsed = templates.unpack_template_upload(bytes(upload), self.name_encoding)
        user = SimUser(**parsed.user._asdict())
        wire.pack_user(self.user_size, user, self.name_encoding)
        with self._lock:
            fresh = sum(1 for finger, _ in parsed.templates if (user.uid, finger) not in self._templates)
            if len(self._templates) + fresh > self.fingerprint_capacity:
                return wire.CMD_ACK_ERROR, b""
            self._users[user.uid] = user
            for finger, data in parsed.templates:
                self._templates[(user.uid, finger)] = SimTemplate(user.uid, finger, data)
        return wire.CMD_ACK_OK, b""

    def _read_template(self, session: Session, request: wire.Packet) -> tuple[list[bytes], bool]:
        """Command 88: one template, sent as a data transfer (PREPARE_DATA, DATA, ACK_OK) with a trailing
        byte; over UDP in datagrams of 1 KiB, as a template is larger than one."""
        uid, finger = struct.unpack("<hb", request.payload[:3])
        with self._lock:
            template = self._templates.get((uid, finger))
        if template is None:
            return [wire.pack_packet(wire.CMD_ACK_ERROR, session.session_id, request.reply_id)], True
        datagram_payload = wire.UDP_DATA_PAYLOAD if session.transport == "udp" else None
        data = template.data + b"\x00"
        return wire.chunk_packets(data, session.session_id, request.reply_id, datagram_payload=datagram_payload), True

    def _delete_template(self, _session: Session, payload: bytes) -> tuple[int, bytes]:
        uid, finger = struct.unpack("<hb", payload[:3])
        with self._lock:
            return (wire.CMD_ACK_OK if self._templates.pop((uid, finger), None) else wire.CMD_ACK_ERROR), b""

    def _drop_templates(self, uid: int) -> None:
        """Call with the lock held."""
        for key in [key for key in self._templates if key[0] == uid]:
            del self._templates[key]

    def _write_user(self, _session: Session, payload: bytes) -> tuple[int, bytes]:
        user = SimUser(**wire.unpack_user(payload, self.name_encoding)._asdict())
        wire.pack_user(self.user_size, user, self.name_encoding)  # a 28-byte device cannot hold a pin like "A7"
        with self._lock:
            self._users[user.uid] = user
        return wire.CMD_ACK_OK, b""

    def _delete_user(self, _session: Session, payload: bytes) -> tuple[int, bytes]:
        (uid,) = struct.unpack("<H", payload[:2])
        with self._lock:
            self._drop_templates(uid)  # the firmware deletes a user's fingerprints with the user
            return (wire.CMD_ACK_OK if self._users.pop(uid, None) else wire.CMD_ACK_ERROR), b""

    def _clear(self, function: int | None) -> tuple[int, bytes]:
        """CMD_CLEAR_ATTLOG, or CMD_CLEAR_DATA of one table (a FCT_ byte) or of everything (no payload)."""
        with self._lock:
            if function in (None, wire.FCT_ATTLOG):
                # Punches held while a client has the terminal disabled are not in the log yet: a clear
                # in that session does not touch them, they are stored when the terminal is enabled.
                self._records.clear()
            if function in (None, wire.FCT_USER):
                self._users.clear()
                self._templates.clear()
            if function == wire.FCT_FINGERTMP:
                self._templates.clear()
        return wire.CMD_ACK_OK, b""

    def _register_events(self, session: Session, payload: bytes) -> tuple[int, bytes]:
        (flags,) = struct.unpack("<I", payload[:4])
        if flags and not self.live_events:
            return wire.CMD_ACK_ERROR, b""
        session.event_flags = flags
        return wire.CMD_ACK_OK, b""

    # --- the log and live events ----------------------------------------------------------------

    def _check_storable(self, pack: Callable[[], bytes], what: str) -> None:
        """Refuse up front what this device's formats cannot hold (say a pin "A7" with 16-byte records)."""
        try:
            pack()
        except (struct.error, ValueError) as error:
            formats = f"{self.record_size}-byte records, {self.user_size}-byte users"
            raise ValueError(f"a device with {formats} cannot store the {what}: {error}") from error

    def _pack_record(self, record: SimRecord, uid_by_pin: dict[str, int]) -> bytes:
        # 8-byte records hold the internal uid only: an unenrolled pin must be a number that fits it.
        uid = uid_by_pin.get(record.pin)
        if uid is None:
            uid = int(record.pin) if self.record_size == 8 else 0
        stamp = wire.encode_zk_time(record.local_time)
        return wire.pack_record(self.record_size, uid, record.pin, stamp, record.state, record.verify)

    def _log_as_read(self) -> list[SimRecord]:
        """The log as a client reads it, the misbehaviour knobs applied. Call with the lock held."""
        records = self._records
        if self.emit_duplicate_punches:
            records = [copy for index, record in enumerate(records) for copy in [record] * (2 - index % 2)]
        else:
            records = list(records)
        pins = [record.pin for record in self._records] or [user.pin for user in self._users.values()] or ["1"]
        future = self.device_time() + timedelta(days=3653)
        for index in range(self.garbage_records):
            # After a flat clock battery the clock restarts at 2000-01-01; a corrupted one runs years ahead.
            moment = datetime(2000, 1, 1) + timedelta(minutes=index) if index % 2 == 0 else future
            records.append(SimRecord(pins[index % len(pins)], moment, 0, 1))
        return records

    def _listeners(self) -> list[Session]:
        return [session for session in self._sessions if session.event_flags & wire.EF_ATTLOG]

    def _send_events(self, listeners: list[Session], records: list[SimRecord], *, burst: bool = False) -> None:
        if not self.live_events or not records:
            return
        copies = 2 if self.emit_duplicate_punches else 1
        for session in listeners:
            packets = []
            for record in records:
                silent_after = self.live_events_go_silent_after
                if silent_after is not None and session.events_sent >= silent_after:
                    break  # the firmware fault: this connection hears nothing more, and is not told
                session.events_sent += 1
                event = wire.pack_live_event(
                    self.live_event_size, record.pin, record.local_time, record.state, record.verify
                )
                # The event code travels in the session-id field; the reply id is 0.
                packets += [wire.pack_packet(wire.CMD_REG_EVENT, wire.EF_ATTLOG, 0, event)] * copies
            if packets:
                session.push_events(packets, burst=burst and len(packets) > 1)
