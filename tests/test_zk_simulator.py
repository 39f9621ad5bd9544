"""The ZK simulator against the unmodified pyzk client, over real loopback sockets.

pyzk is the client the gateway ships with, and it was written against real terminals: whatever pyzk
decodes correctly here, the simulator sends the way devices do.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import pytest
from zk import ZK, const
from zk.base import make_commkey
from zk.exception import ZKErrorResponse, ZKNetworkError

from gateway.devices.zk import ZKDriver
from gateway.simulators import zk_protocol as wire
from gateway.simulators.zk import SimRecord, ZKSimulator

MORNING = datetime(2026, 11, 23, 7, 30)
TRANSPORTS = ["tcp", "udp"]


@pytest.fixture
def connect() -> Iterator[Callable[..., ZK]]:
    """pyzk connections to a simulator, their sockets closed after the test."""
    clients: list[ZK] = []

    def open_client(simulator: ZKSimulator, transport: str = "tcp", **options: object) -> ZK:
        options = {"timeout": 3, **options}
        client = ZK("127.0.0.1", port=simulator.port, force_udp=transport == "udp", ommit_ping=True, **options)
        client._ZK__sock.close()  # pyzk opens a socket here and replaces it in connect() without closing it
        clients.append(client)
        return client.connect()

    yield open_client
    for client in clients:
        client._ZK__sock.close()


@pytest.fixture
def raw_client() -> Iterator[Callable[[ZKSimulator], RawClient]]:
    clients: list[RawClient] = []

    def open_client(simulator: ZKSimulator) -> RawClient:
        clients.append(RawClient(simulator.port))
        return clients[-1]

    yield open_client
    for client in clients:
        client.sock.close()


class RawClient:
    """A bare TCP client built on the simulator's codec, for what pyzk cannot or will not send."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=2)
        self.pending = bytearray()
        self.session_id = 0
        self.reply_id = 100

    def request(self, command: int, payload: bytes = b"") -> wire.Packet:
        self.reply_id += 1
        self.sock.sendall(wire.tcp_frame(wire.pack_packet(command, self.session_id, self.reply_id, payload)))
        return self.receive()

    def receive(self) -> wire.Packet:
        while not (frames := wire.pop_tcp_frames(self.pending)):
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed by the simulator")
            self.pending += data
        assert len(frames) == 1
        return wire.unpack_packet(frames[0])

    def connect(self) -> wire.Packet:
        answer = self.request(wire.CMD_CONNECT)
        self.session_id = answer.session_id
        return answer


def punch_rows(attendances: list) -> list[tuple[str, datetime, int, int]]:
    return [(a.user_id, a.timestamp, a.punch, a.status) for a in attendances]


# --- identity, connection, comm key ---------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_pyzk_reads_serial_platform_firmware_and_options(make_simulator, connect, transport):
    simulator = make_simulator(serial="KNJ7231000042", platform="ZLM60_TFT", firmware="Ver 6.70 Feb 16 2021")
    client = connect(simulator, transport)
    assert client.get_serialnumber() == "KNJ7231000042"
    assert client.get_platform() == "ZLM60_TFT"
    assert client.get_firmware_version() == "Ver 6.70 Feb 16 2021"
    assert client.get_device_name() == "K40"
    assert client.get_mac() == "00:17:61:c8:3a:01"
    assert client.get_fp_version() == 10
    assert client.get_extend_fmt() == 1
    assert client.get_pin_width() == 14
    assert client.get_network_params() == {"ip": "127.0.0.1", "mask": "255.255.255.0", "gateway": "0.0.0.0"}
    assert client.disconnect()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_the_right_comm_key_opens_the_device_and_a_wrong_one_is_refused(make_simulator, connect, transport):
    simulator = make_simulator(comm_key=135790)
    assert connect(simulator, transport, password=135790).get_serialnumber() == "SIM-ZK-0001"
    with pytest.raises(ZKErrorResponse, match="Unauthenticated"):
        connect(simulator, transport, password=135791)
    with pytest.raises(ZKErrorResponse, match="Unauthenticated"):
        connect(simulator, transport)  # no key at all


def test_a_client_that_skips_auth_is_answered_unauthorised(make_simulator, raw_client):
    simulator = make_simulator(comm_key=4321)
    raw = raw_client(simulator)
    assert raw.connect().command == wire.CMD_ACK_UNAUTH
    assert raw.request(wire.CMD_GET_TIME).command == wire.CMD_ACK_UNAUTH
    assert raw.request(wire.CMD_AUTH, make_commkey(4321, raw.session_id, ticks=7)).command == wire.CMD_ACK_OK
    assert raw.request(wire.CMD_GET_TIME).command == wire.CMD_ACK_OK


def test_answers_echo_the_reply_id_and_carry_the_device_checksum(make_simulator, raw_client):
    raw = raw_client(make_simulator())
    raw.connect()
    answer = raw.request(wire.CMD_GET_VERSION)
    assert answer.reply_id == raw.reply_id
    assert answer.session_id == raw.session_id
    unsigned = wire.HEADER.pack(answer.command, 0, answer.session_id, answer.reply_id) + answer.payload
    assert answer.checksum == wire.checksum(unsigned)


def test_checksums_match_packets_captured_from_a_real_terminal():
    # Test vectors from github.com/adrobinoga/zk-protocol (protocol.md), checksum field left out.
    assert wire.checksum(bytes.fromhex("0b00f38d03005a4b4661636556657273696f6e00")) == 0x175A
    assert wire.checksum(bytes.fromhex("d007f38d0a0009")) == 0x6A29
    assert wire.checksum(b"") == 0xFFFF


def test_the_comm_key_scrambling_agrees_with_pyzk():
    for key, session_id, ticks in [(0, 1, 50), (1, 65535, 0), (999999, 4242, 255), (123456, 77, 50)]:
        assert wire.scramble_comm_key(key, session_id, ticks) == make_commkey(key, session_id, ticks)
        assert wire.comm_key_matches(key, session_id, make_commkey(key, session_id, ticks))
        assert not wire.comm_key_matches(key + 1, session_id, make_commkey(key, session_id, ticks))


def test_unknown_commands_are_answered_ack_unknown(make_simulator, raw_client):
    raw = raw_client(make_simulator())
    raw.connect()
    assert raw.request(31337).command == wire.CMD_ACK_UNKNOWN
    assert raw.request(wire.CMD_GET_TIME).command == wire.CMD_ACK_OK


# --- attendance log and users ----------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(("record_size", "user_size"), [(8, 28), (16, 28), (40, 72)])
def test_attendance_comes_back_exactly_for_each_record_size(make_simulator, connect, transport, record_size, user_size):
    simulator = make_simulator(record_size=record_size, user_size=user_size)
    simulator.add_user("1001", "Budi")
    simulator.add_user("7", "Siti")
    expected = [
        ("1001", MORNING, 0, 1),
        ("7", MORNING + timedelta(minutes=3, seconds=59), 0, 15),
        ("1001", MORNING + timedelta(hours=8, minutes=31), 1, 4),
        ("7", datetime(2026, 12, 31, 23, 59, 59), 5, 0),
        ("42", datetime(2027, 2, 28, 12, 0, 1), 2, 1),  # a pin the device does not know any more
    ]
    for pin, moment, state, verify in expected:
        simulator.add_punch(pin, moment, state=state, verify=verify)
    assert punch_rows(connect(simulator, transport).get_attendance()) == expected


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("user_size", [28, 72])
def test_users_come_back_in_each_user_format(make_simulator, connect, transport, user_size):
    simulator = make_simulator(record_size=16 if user_size == 28 else 40, user_size=user_size)
    simulator.add_user("19850312", "Budi Santoso", card=40012345, privilege=14, password="1234")
    simulator.add_user("2", "")
    client = connect(simulator, transport)
    users = client.get_users()
    assert client.user_packet_size == user_size
    assert [(u.uid, u.user_id, u.card, u.privilege, u.password) for u in users] == [
        (1, "19850312", 40012345, 14, "1234"),
        (2, "2", 0, 0, ""),
    ]
    # A 28-byte record has 8 bytes for the name; pyzk calls a nameless user "NN-<pin>".
    assert [u.name for u in users] == ["Budi San" if user_size == 28 else "Budi Santoso", "NN-2"]


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("write_format", [28, 72])
@pytest.mark.parametrize("user_size", [28, 72])
def test_set_user_in_either_write_format_then_get_users_finds_it(
    make_simulator, connect, transport, write_format, user_size
):
    simulator = make_simulator(record_size=16, user_size=user_size)
    client = connect(simulator, transport)
    # pyzk picks the write format by transport until get_users() has read the device's: both happen.
    client.user_packet_size = write_format
    client.set_user(uid=5, name="Agus", privilege=14, password="99", user_id="19871123", card=777)
    assert [(u.uid, u.user_id, u.name, u.card, u.privilege) for u in client.get_users()] == [
        (5, "19871123", "Agus", 777, 14)
    ]
    client.delete_user(uid=5)
    assert client.get_users() == []
    assert simulator.users == []


def test_a_numeric_only_device_refuses_a_user_with_letters_in_the_pin(make_simulator, connect):
    client = connect(make_simulator(record_size=16, user_size=28))
    client.user_packet_size = 72
    with pytest.raises(ZKErrorResponse, match="Can't set user"):
        client.set_user(uid=1, name="X", user_id="A7")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_get_time_shows_the_wrong_clock_and_set_time_corrects_it(make_simulator, connect, transport):
    simulator = make_simulator(clock_offset=timedelta(minutes=-17))
    client = connect(simulator, transport)
    assert abs(client.get_time() - (datetime.now() - timedelta(minutes=17))) < timedelta(seconds=2)
    client.set_time(datetime(2026, 11, 23, 6, 0, 0))
    assert abs(client.get_time() - datetime(2026, 11, 23, 6, 0, 0)) < timedelta(seconds=2)
    assert abs(simulator.device_time() - datetime(2026, 11, 23, 6, 0, 0)) < timedelta(seconds=2)


def test_clear_attendance_empties_the_log(make_simulator, connect):
    simulator = make_simulator()
    simulator.add_punch("1", MORNING)
    client = connect(simulator)
    assert len(client.get_attendance()) == 1
    assert client.clear_attendance()
    assert client.get_attendance() == []
    assert simulator.records == []


def test_clear_data_empties_users_and_log(make_simulator, raw_client):
    # pyzk's clear_data() cannot be called on Python 3 (it appends '' to bytes), so send the command raw.
    simulator = make_simulator()
    simulator.add_user("1", "Budi")
    simulator.add_punch("1", MORNING)
    raw = raw_client(simulator)
    raw.connect()
    assert raw.request(wire.CMD_CLEAR_DATA).command == wire.CMD_ACK_OK
    assert simulator.users == [] and simulator.records == []


@pytest.mark.timeout(30)
def test_a_100k_record_log_is_read_over_tcp_in_a_few_seconds(make_simulator, connect):
    simulator = make_simulator(record_size=40, user_size=72, record_capacity=200_000)
    simulator.load_records(
        SimRecord(str(1000 + i % 250), MORNING + timedelta(seconds=i), i % 2, 1) for i in range(100_000)
    )
    client = connect(simulator)
    started = time.perf_counter()
    client.read_sizes()
    data, size = client.read_with_buffer(const.CMD_ATTLOG_RRQ)
    elapsed = time.perf_counter() - started
    # pyzk's own get_attendance() decodes in quadratic time; the gateway's driver decodes the buffer itself.
    records = wire.unpack_records(40, data[4:])
    assert client.records == 100_000 and size == 4 + 40 * 100_000 and len(records) == 100_000
    assert records[0][1:] == ("1000", MORNING, 0, 1)
    assert records[-1][1:] == ("1249", MORNING + timedelta(seconds=99_999), 1, 1)
    assert elapsed < 3, f"the buffered read took {elapsed:.1f} s"


def test_a_multi_chunk_log_is_read_over_udp(make_simulator, connect):
    simulator = make_simulator(record_size=16, user_size=28)
    expected = [(str(i % 50 + 1), MORNING + timedelta(minutes=i), i % 2, 1) for i in range(2_000)]
    simulator.load_records(SimRecord(*row) for row in expected)
    # 32,004 bytes: two 16 KiB chunks of 1 KiB datagrams.
    assert punch_rows(connect(simulator, "udp").get_attendance()) == expected


def test_a_full_log_shows_in_the_sizes_and_refuses_more_punches(make_simulator, connect):
    simulator = make_simulator(record_capacity=3)
    for minute in range(3):
        assert simulator.add_punch("1", MORNING + timedelta(minutes=minute)) is not None
    assert simulator.add_punch("1", MORNING + timedelta(minutes=9)) is None
    client = connect(simulator)
    client.read_sizes()
    assert (client.records, client.rec_cap, client.rec_av) == (3, 3, 0)


# --- live events --------------------------------------------------------------------------------


def capture(client: ZK, idle_s: float) -> list[tuple[str, datetime, int, int]]:
    """pyzk's live capture until `idle_s` passes without an event."""
    received = []
    for event in client.live_capture(new_timeout=idle_s):
        if event is None:
            client.end_live_capture = True
            continue
        received.append((event.user_id, event.timestamp, event.punch, event.status))
    return received


def punch_when_capturing(simulator: ZKSimulator, punches: list[tuple[str, datetime, int, int]]) -> None:
    """Punch from another thread as soon as a client has registered for live events, one person after
    another: each punch waits until the client has read the previous event (its ACK), as people at one
    sensor are seconds apart. Without that, a loaded test machine lets two events queue in one socket read,
    which unmodified pyzk decodes as garbage (gateway/devices/zk.py frames live events itself for that)."""

    def punch() -> None:
        deadline = time.monotonic() + 5
        while not simulator.event_listeners and time.monotonic() < deadline:
            time.sleep(0.01)
        for index, (pin, moment, state, verify) in enumerate(punches):
            while simulator.live_events_acked < index and time.monotonic() < deadline + 5:
                time.sleep(0.005)
            simulator.add_punch(pin, moment, state=state, verify=verify)

    threading.Thread(target=punch, daemon=True).start()


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    ("record_size", "user_size", "event_size"), [(16, 28, 12), (40, 72, 32), (40, 72, 36), (40, 72, 52)]
)
def test_live_capture_receives_punches_made_while_capturing(
    make_simulator, connect, transport, record_size, user_size, event_size
):
    simulator = make_simulator(record_size=record_size, user_size=user_size, live_event_size=event_size)
    simulator.add_user("1985", "Budi")
    client = connect(simulator, transport)
    punches = [("1985", MORNING, 0, 1), ("1985", MORNING + timedelta(seconds=3), 1, 15), ("77", MORNING, 0, 4)]
    punch_when_capturing(simulator, punches)
    assert capture(client, idle_s=0.3) == punches
    # pyzk unregistered on the way out: the connection answers plain commands again.
    assert len(client.get_attendance()) == 3


def test_a_device_without_live_events_refuses_the_registration(make_simulator, connect):
    client = connect(make_simulator(live_events=False))
    with pytest.raises(ZKErrorResponse, match="reg events"):
        next(client.live_capture(new_timeout=0.2))


def test_punches_made_while_a_client_has_the_device_disabled_are_stored_on_enable(make_simulator, connect):
    simulator = make_simulator()
    client = connect(simulator)
    client.disable_device()
    simulator.add_punch("1", MORNING)
    client.read_sizes()
    assert client.records == 0  # the terminal says "working...": the punch waits
    client.enable_device()
    assert punch_rows(client.get_attendance()) == [("1", MORNING, 0, 1)]


# --- misbehaviour knobs ---------------------------------------------------------------------------


def test_a_slow_device_answers_late_and_pyzk_times_out_on_it(make_simulator, connect):
    simulator = make_simulator()
    client = connect(simulator, timeout=0.3)
    simulator.response_delay_s = 0.5
    with pytest.raises(ZKNetworkError, match="timed out"):
        client.get_time()
    simulator.response_delay_s = 0.1
    started = time.perf_counter()
    connect(simulator).get_time()
    assert time.perf_counter() - started >= 0.2  # connect and get_time, each delayed


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_connection_dropped_mid_read_fails_in_pyzk_and_a_new_one_reads_everything(make_simulator, connect, transport):
    simulator = make_simulator(record_size=16, user_size=28)
    simulator.load_records(SimRecord("1", MORNING + timedelta(minutes=i)) for i in range(5_000))  # 2 TCP chunks
    simulator.drop_connection_after_chunks = 1
    with pytest.raises(ZKNetworkError):
        connect(simulator, transport, timeout=0.5).get_attendance()
    simulator.drop_connection_after_chunks = None
    assert len(connect(simulator, transport).get_attendance()) == 5_000


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_device_hung_mid_read_times_out_in_pyzk_and_answers_new_connections(make_simulator, connect, transport):
    simulator = make_simulator(record_size=16, user_size=28)
    # 3,204 bytes: more than firmware answers at once, so the read goes through the buffer and its chunks.
    simulator.load_records(SimRecord("1", MORNING + timedelta(minutes=i)) for i in range(200))
    simulator.hang_after_chunks = 0
    hung = connect(simulator, transport, timeout=0.3)
    with pytest.raises(ZKNetworkError, match="timed out"):
        hung.get_attendance()
    with pytest.raises(ZKNetworkError, match="timed out"):
        hung.get_time()  # the hung session stays hung
    simulator.hang_after_chunks = None
    assert len(connect(simulator, transport).get_attendance()) == 200


def test_a_device_emitting_duplicates_returns_records_twice(make_simulator, connect):
    simulator = make_simulator()
    for minute in range(4):
        simulator.add_punch("1", MORNING + timedelta(minutes=minute))
    simulator.emit_duplicate_punches = True
    times = [a.timestamp for a in connect(simulator).get_attendance()]
    minute = timedelta(minutes=1)
    assert times == [
        MORNING,
        MORNING,
        MORNING + minute,
        MORNING + 2 * minute,
        MORNING + 2 * minute,
        MORNING + 3 * minute,
    ]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_device_emitting_duplicates_sends_every_live_event_twice(make_simulator, transport):
    # The copies follow each other without waiting for an ACK, as firmware sends them; the gateway's
    # driver frames them (pyzk's live_capture may find two in one read: see test_zk_families.py).
    simulator = make_simulator()
    simulator.emit_duplicate_punches = True
    punch_when_capturing(simulator, [("5", MORNING, 0, 1), ("6", MORNING, 1, 1)])
    with ZKDriver("127.0.0.1", simulator.port, transport=transport, timeout_s=3) as driver:
        heard = [(p.pin, p.local_time, p.state, p.verify) for p in driver.live_punches(0.5)]
    assert heard == [("5", MORNING, 0, 1)] * 2 + [("6", MORNING, 1, 1)] * 2


def test_garbage_records_carry_impossible_timestamps(make_simulator, connect):
    simulator = make_simulator()
    simulator.add_punch("1", MORNING)
    simulator.garbage_records = 2
    attendances = connect(simulator).get_attendance()
    assert [a.user_id for a in attendances] == ["1", "1", "1"]
    assert attendances[1].timestamp == datetime(2000, 1, 1)
    assert attendances[2].timestamp > datetime.now() + timedelta(days=3000)


def test_a_corrupt_record_makes_pyzk_get_attendance_fail_as_a_whole(make_simulator, connect):
    simulator = make_simulator()
    simulator.add_punch("1", MORNING)
    simulator.corrupt_records = 1
    with pytest.raises(ValueError, match="day is out of range"):
        connect(simulator).get_attendance()


def test_garbage_on_the_wire_costs_only_that_connection(make_simulator, raw_client, connect):
    simulator = make_simulator()
    simulator.add_punch("1", MORNING)
    for junk in [b"GET / HTTP/1.1\r\n\r\n", bytes(range(256)) * 4, wire.TCP_TOP.pack(*wire.TCP_MAGIC, 2**31)]:
        with socket.create_connection(("127.0.0.1", simulator.port), timeout=2) as sock:
            sock.sendall(junk)
            # Dropped: a clean close, or a reset when unread junk was still in the simulator's buffer.
            with contextlib.suppress(ConnectionResetError):
                assert sock.recv(100) == b""
    raw = raw_client(simulator)
    raw.connect()
    for command, payload in [(wire.CMD_READ_BUFFER, b"\x01"), (wire.CMD_SET_TIME, b""), (wire.CMD_USER_WRQ, b"x" * 30)]:
        assert raw.request(command, payload).command == wire.CMD_ACK_ERROR
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for junk in [b"", b"\x01\x02", bytes(range(200))]:
            sock.sendto(junk, ("127.0.0.1", simulator.port))
    for transport in TRANSPORTS:
        assert len(connect(simulator, transport).get_attendance()) == 1


def test_stop_closes_the_port_and_joins_its_threads_promptly(make_simulator, connect):
    simulator = make_simulator()
    connect(simulator).get_time()
    before = {thread.name for thread in threading.enumerate()}
    assert "zk-sim-SIM-ZK-0001" in before
    started = time.perf_counter()
    simulator.stop()
    assert time.perf_counter() - started < 1
    assert "zk-sim-SIM-ZK-0001" not in {thread.name for thread in threading.enumerate()}
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", simulator.port), timeout=1)
