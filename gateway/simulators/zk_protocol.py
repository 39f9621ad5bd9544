"""Wire format of the ZK protocol (ZKTeco's "standalone SDK", port 4370) as the simulator speaks it.

An independent implementation on purpose: the simulator does not import pyzk, so the pyzk client the
gateway relies on is tested against a second reading of the protocol rather than against itself.

Every packet is an 8-byte header (command, checksum, session id, reply id: little-endian u16) and a
payload. Over TCP each packet is preceded by an 8-byte "top": 0x5050, 0x7D82, u32 packet length.
Times are "ZK time": seconds in a calendar of 12 months of 31 days counted from 2000-01-01.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple, Protocol

CMD_USER_WRQ = 8
CMD_USERTEMP_RRQ = 9
CMD_OPTIONS_RRQ = 11
CMD_OPTIONS_WRQ = 12
CMD_ATTLOG_RRQ = 13
CMD_CLEAR_DATA = 14
CMD_CLEAR_ATTLOG = 15
CMD_DELETE_USER = 18
CMD_GET_FREE_SIZES = 50
CMD_STARTVERIFY = 60
CMD_CANCELCAPTURE = 62
CMD_GET_PINWIDTH = 69
CMD_GET_TIME = 201
CMD_SET_TIME = 202
CMD_REG_EVENT = 500
CMD_CONNECT = 1000
CMD_EXIT = 1001
CMD_ENABLEDEVICE = 1002
CMD_DISABLEDEVICE = 1003
CMD_RESTART = 1004
CMD_REFRESHDATA = 1013
CMD_REFRESHOPTION = 1014
CMD_TESTVOICE = 1017
CMD_GET_VERSION = 1100
CMD_AUTH = 1102
CMD_PREPARE_DATA = 1500
CMD_DATA = 1501
CMD_FREE_DATA = 1502
CMD_PREPARE_BUFFER = 1503  # undocumented: snapshot a table into a buffer, answer its size
CMD_READ_BUFFER = 1504  # undocumented: one chunk (start, size) of that buffer
CMD_ACK_OK = 2000
CMD_ACK_ERROR = 2001
CMD_ACK_UNAUTH = 2005
CMD_ACK_UNKNOWN = 0xFFFF

# What a terminal simply acknowledges: the simulator has no screen, speaker or sensor to act on.
ACK_ONLY_COMMANDS = frozenset(
    {CMD_OPTIONS_WRQ, CMD_REFRESHDATA, CMD_REFRESHOPTION, CMD_CANCELCAPTURE, CMD_STARTVERIFY, CMD_TESTVOICE}
)

FCT_ATTLOG = 1
FCT_FINGERTMP = 2
FCT_USER = 5
EF_ATTLOG = 1

USHRT_MAX = 0xFFFF
HEADER = struct.Struct("<4H")
TCP_TOP = struct.Struct("<HHI")
TCP_MAGIC = (0x5050, 0x7D82)  # 20560, 32130 (pyzk's comment says 0x7282; the value is 0x7D82)
MAX_REQUEST_PACKET = 1 << 16  # clients send small packets (uploads go in 1 KiB chunks); more is garbage
UDP_DATA_PAYLOAD = 1024  # pyzk reads UDP data packets with recv(1024 + 8)

RECORD_8 = struct.Struct("<HBIB")  # uid, verify, time, state
RECORD_16 = struct.Struct("<IIBB2xI")  # numeric pin, time, verify, state, reserved, workcode
RECORD_40 = struct.Struct("<H24sBIB8x")  # uid, pin, verify, time, state, reserved
# Newer face/palm firmware (SpeedFace-V5L, MB560-VL 2022): the 40-byte fields at the same offsets,
# then 9 more bytes; the simulator puts the work code in the first four of them (see docs/devices.md).
RECORD_49 = struct.Struct("<H24sBIB8xI5x")  # uid, pin, verify, time, state, reserved, workcode, reserved
RECORD_FORMATS = {8: RECORD_8, 16: RECORD_16, 40: RECORD_40, 49: RECORD_49}
WIDE_PIN_RECORDS = (40, 49)  # record sizes that carry the pin as text (and go with 52-byte live events)
USER_28 = struct.Struct("<HB5s8sIxBhI")  # uid, privilege, password, name, card, group, timezone, numeric pin
USER_72 = struct.Struct("<HB8s24sIx7sx24s")  # uid, privilege, password, name, card, group, pin
USER_FORMATS = {28: USER_28, 72: USER_72}
# Live attendance events as firmware sends them (pyzk's live_capture and its issues #153, #164):
# 10 (ZEM560) and 14 (ZEM300) bytes: u16 pin; 12: u32 pin; 32, 36, 37 (ZEM600_TFT 8.0), 52: 24-byte pin.
LIVE_EVENT_SIZES = (10, 12, 14, 32, 36, 37, 52)
NUMERIC_PIN_EVENT_SIZES = (10, 12, 14)
# Firmware answers a small table read at once with CMD_DATA instead of a buffer to fetch in chunks; the
# cut-off here is what fits one of pyzk's 1 KiB datagram reads (zk-protocol, "Exchange of Data").
DIRECT_DATA_MAX = 1016


class ZKProtocolError(ValueError):
    """Bytes that are not a ZK packet: the connection that sent them is dropped."""


class Packet(NamedTuple):
    command: int
    checksum: int
    session_id: int
    reply_id: int
    payload: bytes


class UserFields(NamedTuple):
    uid: int
    pin: str
    name: str
    privilege: int
    password: str
    card: int
    group_id: str


class UserLike(Protocol):
    """Anything holding a user's fields: UserFields, or the simulator's own user records."""

    @property
    def uid(self) -> int: ...
    @property
    def pin(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def privilege(self) -> int: ...
    @property
    def password(self) -> str: ...
    @property
    def card(self) -> int: ...
    @property
    def group_id(self) -> str: ...


class RawRecord(NamedTuple):
    uid: int
    pin: str
    local_time: datetime
    state: int
    verify: int


def checksum(data: bytes) -> int:
    """The device checksum: the ones'-complement sum of little-endian u16 words, complemented.

    pyzk computes one less (and over the previous reply id); devices do not check requests, so the
    simulator does not either. Test vectors captured from a real terminal: tests/test_zk_simulator.py.
    """
    even = len(data) - len(data) % 2
    total = sum(struct.unpack(f"<{even // 2}H", data[:even])) + (data[-1] if len(data) % 2 else 0)
    folded = 0 if total == 0 else (total - 1) % USHRT_MAX + 1  # end-around carry, all the way
    return USHRT_MAX - folded


def pack_packet(command: int, session_id: int, reply_id: int, payload: bytes = b"") -> bytes:
    unsigned = HEADER.pack(command, 0, session_id, reply_id) + payload
    return HEADER.pack(command, checksum(unsigned), session_id, reply_id) + payload


def unpack_packet(data: bytes) -> Packet:
    if len(data) < HEADER.size:
        raise ZKProtocolError(f"packet of {len(data)} bytes is shorter than a header")
    return Packet(*HEADER.unpack_from(data), bytes(data[HEADER.size :]))


def tcp_frame(packet: bytes) -> bytes:
    return TCP_TOP.pack(*TCP_MAGIC, len(packet)) + packet


def pop_tcp_frames(buffer: bytearray) -> list[bytes]:
    """Remove every complete TCP frame from `buffer` and return their packets; a partial one stays."""
    packets = []
    while len(buffer) >= TCP_TOP.size:
        magic_1, magic_2, length = TCP_TOP.unpack_from(buffer)
        if (magic_1, magic_2) != TCP_MAGIC:
            raise ZKProtocolError(f"no ZK TCP top: {bytes(buffer[:8]).hex()}")
        if not HEADER.size <= length <= MAX_REQUEST_PACKET:
            raise ZKProtocolError(f"implausible TCP packet length {length}")
        if len(buffer) < TCP_TOP.size + length:
            break
        packets.append(bytes(buffer[TCP_TOP.size : TCP_TOP.size + length]))
        del buffer[: TCP_TOP.size + length]
    return packets


def scramble_comm_key(key: int, session_id: int, ticks: int = 50) -> bytes:
    """The CMD_AUTH answer to a comm key (commpro.c MakeKey).

    The key's 32 bits reversed plus the session id, XOR b"ZKSO", halves swapped, three bytes XOR
    `ticks`; the fourth byte is `ticks` itself, so the device can check any client's choice of it.
    """
    reversed_key = int(f"{key & 0xFFFFFFFF:032b}"[::-1], 2)
    raw = struct.pack("<I", (reversed_key + session_id) & 0xFFFFFFFF)
    salted = bytes(byte ^ mask for byte, mask in zip(raw, b"ZKSO", strict=True))
    swapped = salted[2:4] + salted[0:2]
    tick = ticks & 0xFF
    return bytes((swapped[0] ^ tick, swapped[1] ^ tick, tick, swapped[3] ^ tick))


def comm_key_matches(key: int, session_id: int, answer: bytes) -> bool:
    return len(answer) == 4 and scramble_comm_key(key, session_id, ticks=answer[2]) == answer


def encode_zk_time(moment: datetime) -> int:
    days = (moment.year % 100) * 12 * 31 + (moment.month - 1) * 31 + moment.day - 1
    return days * 86400 + (moment.hour * 60 + moment.minute) * 60 + moment.second


def decode_zk_time(value: int) -> datetime:
    """Raises ValueError for values a real clock never writes, such as the 31st of February."""
    value, second = divmod(value, 60)
    value, minute = divmod(value, 60)
    value, hour = divmod(value, 24)
    value, day = divmod(value, 31)
    year, month = divmod(value, 12)
    return datetime(year + 2000, month + 1, day + 1, hour, minute, second)


def pack_time_hex(moment: datetime) -> bytes:
    """The 6-byte time of live events: year - 2000, month, day, hour, minute, second."""
    return bytes((moment.year - 2000, moment.month, moment.day, moment.hour, moment.minute, moment.second))


def _text(value: bytes, encoding: str = "utf-8") -> str:
    return value.split(b"\x00", 1)[0].decode(encoding, errors="replace")


def february_30(year: int) -> int:
    """A ZK time no clock writes but flash corruption can: 08:00 on the 30th of February."""
    return (((year % 100) * 12 + 1) * 31 + 29) * 86400 + 8 * 3600


def pack_record(size: int, uid: int, pin: str, stamp: int, state: int, verify: int, workcode: int = 0) -> bytes:
    """One attendance record, `stamp` in ZK time; struct.error or ValueError when the pin does not fit."""
    if size == 8:
        return RECORD_8.pack(uid, verify, stamp, state)
    if size == 16:
        return RECORD_16.pack(int(pin), stamp, verify, state, workcode)
    if size == 40:
        return RECORD_40.pack(uid, _fixed(pin, 24), verify, stamp, state)
    if size == 49:
        return RECORD_49.pack(uid, _fixed(pin, 24), verify, stamp, state, workcode)
    raise ValueError(f"record size {size} is not one of {sorted(RECORD_FORMATS)}")


def unpack_records(size: int, data: bytes) -> list[RawRecord]:
    """Decode a run of records; 8-byte records carry only the uid, returned as the pin too."""
    records = []
    for fields in RECORD_FORMATS[size].iter_unpack(data[: len(data) - len(data) % size]):
        if size == 8:
            uid, verify, stamp, state = fields
            pin = str(uid)
        elif size == 16:
            numeric_pin, stamp, verify, state, _workcode = fields
            uid, pin = 0, str(numeric_pin)
        else:
            uid, raw_pin, verify, stamp, state = fields[:5]
            pin = _text(raw_pin)
        records.append(RawRecord(uid, pin, decode_zk_time(stamp), state, verify))
    return records


def _fixed(text: str, width: int, encoding: str = "utf-8") -> bytes:
    """Text in a fixed-width field; too long is an error for keys, not silently another key."""
    raw = text.encode(encoding)
    if len(raw) > width:
        raise ValueError(f"{text!r} does not fit {width} bytes")
    return raw


def pack_user(size: int, user: UserLike, name_encoding: str = "utf-8") -> bytes:
    """A user as the device stores it; names are cut to the field, as the device's keypad would.
    Old firmware keeps names in an 8-bit code page (`name_encoding`), newer in UTF-8."""
    name = user.name.encode(name_encoding)
    password = user.password.encode("utf-8")
    if size == 28:
        group = int(user.group_id or 0)
        return USER_28.pack(user.uid, user.privilege, password, name, user.card, group, 0, int(user.pin))
    if size == 72:
        group_raw = user.group_id.encode("utf-8")
        return USER_72.pack(user.uid, user.privilege, password, name, user.card, group_raw, _fixed(user.pin, 24))
    raise ValueError(f"user size {size} is not 28 or 72")


def unpack_user(data: bytes, name_encoding: str = "utf-8") -> UserFields:
    """A user record or a CMD_USER_WRQ payload; the size (28 or 72) tells the format."""
    if len(data) == USER_28.size:
        uid, privilege, password, name, card, group, _timezone, numeric_pin = USER_28.unpack(data)
        name_text = _text(name, name_encoding)
        return UserFields(uid, str(numeric_pin), name_text, privilege, _text(password), card, str(group))
    if len(data) == USER_72.size:
        uid, privilege, password, name, card, group, pin = USER_72.unpack(data)
        name_text = _text(name, name_encoding)
        return UserFields(uid, _text(pin), name_text, privilege, _text(password), card, _text(group))
    raise ZKProtocolError(f"a user record is 28 or 72 bytes, not {len(data)}")


def pack_live_event(size: int, pin: str, moment: datetime, state: int, verify: int) -> bytes:
    """The payload of a CMD_REG_EVENT attendance event: pin, verify, state, 6-byte time, then reserved
    bytes up to `size`. 10 and 14 bytes hold the pin in a u16, 12 in a u32, the others as 24-byte text."""
    stamp = pack_time_hex(moment)
    if size in (10, 14):
        return struct.pack("<HBB6s", int(pin), verify, state, stamp).ljust(size, b"\x00")
    if size == 12:
        return struct.pack("<IBB6s", int(pin), verify, state, stamp)
    if size in LIVE_EVENT_SIZES:
        return struct.pack("<24sBB6s", _fixed(pin, 24), verify, state, stamp).ljust(size, b"\x00")
    raise ValueError(f"live event size {size} is not one of {LIVE_EVENT_SIZES}")


def pack_free_sizes_misreported(kind: str, correct: bytes) -> bytes:
    """CMD_GET_FREE_SIZES as faulty firmware answers it. "zero_dword": one zero DWORD (WL20, pyzk #76);
    "short": five counters only, too short to hold the record count; "zero_records": the full answer
    with the record count 0 while the log holds punches (SpeedSpace-H5L, pyzk #170; SpeedFace-V5L, #126)."""
    if kind == "zero_dword":
        return struct.pack("<i", 0)
    if kind == "short":
        return correct[:20]
    if kind == "zero_records":
        return correct[:32] + struct.pack("<i", 0) + correct[36:]
    raise ValueError(f"count misreport {kind!r} is not one of {COUNT_MISREPORTS}")


COUNT_MISREPORTS = ("zero_dword", "short", "zero_records")


def pack_free_sizes(
    *, users: int, fingers: int, records: int, cards: int, user_cap: int, finger_cap: int, record_cap: int
) -> bytes:
    """CMD_GET_FREE_SIZES: twenty i32 counters and capacities, then three i32 of face data."""
    fields = [0] * 20
    fields[4], fields[6], fields[8], fields[12] = users, fingers, records, cards
    fields[14], fields[15], fields[16] = finger_cap, user_cap, record_cap
    fields[17], fields[18], fields[19] = finger_cap - fingers, user_cap - users, max(0, record_cap - records)
    return struct.pack("<20i", *fields) + struct.pack("<3i", 0, 0, 0)


def device_options(
    *,
    serial: str,
    platform: str,
    device_name: str,
    extended_records: bool,
    extended_users: bool,
    pin_width: int,
    mac: str,
    ip: str,
    fp_version: int = 10,
) -> dict[str, str]:
    """The CMD_OPTIONS_RRQ keys a client asks for (answered as b"key=value\\0") and their values."""
    return {
        "~SerialNumber": serial,
        "~Platform": platform,
        "~DeviceName": device_name,
        "~ZKFPVersion": str(fp_version),
        "~ExtendFmt": str(int(extended_records)),
        "~UserExtFmt": str(int(extended_users)),
        "~OS": "1",
        "~OEMVendor": "ZKTeco Inc.",
        "~PIN2Width": str(pin_width),
        "MAC": mac,
        "ZKFaceVersion": "0",
        "FaceFunOn": "0",
        "CompatOldFirmware": "0",
        "IPAddress": ip,
        "NetMask": "255.255.255.0",
        "GATEIPAddress": "0.0.0.0",
    }


def pack_table(items: Iterable[bytes]) -> bytes:
    """A buffered-read table: its byte length (u32), then the fixed-size items."""
    body = b"".join(items)
    return struct.pack("<I", len(body)) + body


def pack_buffer_ready(buffer: bytes) -> bytes:
    """The 13-byte CMD_PREPARE_BUFFER answer: a zero byte, the buffer size twice, then a value that
    "seems to be a kind of checksum" (zk-protocol, "Exchange of Data"); no client checks it, we send CRC-32."""
    return b"\x00" + struct.pack("<III", len(buffer), len(buffer), zlib.crc32(buffer))


def chunk_packets(chunk: bytes, session_id: int, reply_id: int, *, datagram_payload: int | None) -> list[bytes]:
    """The answer to CMD_READ_BUFFER (and to the direct CMD_ATTLOG_RRQ): PREPARE_DATA (size), the data,
    then ACK_OK, all with the request's reply id (zk-protocol, "Exchange of Data").

    Over TCP the data is one packet; over UDP it is split so each datagram fits pyzk's 1032-byte read.
    """
    packets = [pack_packet(CMD_PREPARE_DATA, session_id, reply_id, struct.pack("<II", len(chunk), 0))]
    step = datagram_payload or max(len(chunk), 1)
    for start in range(0, len(chunk), step):
        packets.append(pack_packet(CMD_DATA, session_id, reply_id, chunk[start : start + step]))
    packets.append(pack_packet(CMD_ACK_OK, session_id, reply_id))
    return packets
