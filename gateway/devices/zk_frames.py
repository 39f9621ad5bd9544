"""ZK packets and records as the gateway reads them itself, where pyzk 0.9 cannot.

Pure functions over bytes, no sockets, so every firmware variant is testable byte for byte:
- live events: TCP frames split out of whatever one read returned (two punches in one segment at the
  morning rush), and every event size seen in the field (pyzk #153, #164): 10, 12, 14, 32, 36, 37, 52;
- attendance records when the device's record count cannot be trusted (pyzk #76, #126, #170): the
  record layout inferred from the bytes themselves;
- the CMD_GET_FREE_SIZES answer, telling a full answer from a short or zero one.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import datetime

CMD_REG_EVENT = 500
EF_ATTLOG = 1
TCP_TOP = struct.Struct("<HHI")
TCP_MAGIC = (0x5050, 0x7D82)
HEADER = struct.Struct("<4H")
MAX_FRAME = 1 << 24  # a live stream carries small packets; a larger length means the stream is garbage

EVENT_SIZES = (10, 12, 14, 32, 36, 37, 52)
_EVENT_SHORT_PIN = struct.Struct("<HBB6s")  # 10 and 14 bytes (ZEM560, ZEM300): u16 pin
_EVENT_NUMERIC_PIN = struct.Struct("<IBB6s")  # 12 bytes: u32 pin
_EVENT_TEXT_PIN = struct.Struct("<24sBB6s")  # 32, 36, 37, 52 bytes: 24-byte pin, then reserved bytes

RECORD_SIZES = (8, 16, 40, 49)
_SAMPLE = 64  # records checked at each end of a log when its layout must be inferred


class FrameError(ValueError):
    """Bytes that cannot be ZK packets or records; the message says what was found."""


@dataclass(frozen=True, slots=True)
class Packet:
    command: int
    session_id: int  # in a live event: the event code (EF_ATTLOG for a punch)
    reply_id: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class LiveEvent:
    pin: str
    local_time: datetime
    state: int
    verify: int


@dataclass(frozen=True, slots=True)
class FreeSizes:
    """What CMD_GET_FREE_SIZES said. `records` is None when the answer cannot hold the count."""

    users: int | None
    records: int | None
    record_capacity: int | None


def parse_packet(data: bytes) -> Packet:
    if len(data) < HEADER.size:
        raise FrameError(f"a packet of {len(data)} bytes is shorter than a header")
    command, _checksum, session_id, reply_id = HEADER.unpack_from(data)
    return Packet(command, session_id, reply_id, bytes(data[HEADER.size :]))


class FrameReader:
    """Packets out of a byte stream (TCP: 8-byte top with the length) or out of datagrams (UDP)."""

    def __init__(self, transport: str) -> None:
        self.transport = transport
        self._pending = bytearray()

    def feed(self, data: bytes) -> list[Packet]:
        if self.transport == "udp":
            return [parse_packet(data)]
        self._pending += data
        packets = []
        while len(self._pending) >= TCP_TOP.size:
            magic_1, magic_2, length = TCP_TOP.unpack_from(self._pending)
            if (magic_1, magic_2) != TCP_MAGIC or not HEADER.size <= length <= MAX_FRAME:
                raise FrameError(f"not a ZK TCP frame: {bytes(self._pending[:8]).hex()}")
            if len(self._pending) < TCP_TOP.size + length:
                break
            packets.append(parse_packet(bytes(self._pending[TCP_TOP.size : TCP_TOP.size + length])))
            del self._pending[: TCP_TOP.size + length]
        return packets


def decode_time_hex(stamp: bytes) -> datetime:
    """The 6-byte time of a live event: year - 2000, month, day, hour, minute, second."""
    year, month, day, hour, minute, second = stamp
    return datetime(2000 + year, month, day, hour, minute, second)


def decode_event(event: bytes, encoding: str = "utf-8") -> LiveEvent:
    """One attendance event, its layout told by its size; ValueError or struct.error if it is not one."""
    size = len(event)
    if size in (10, 14):
        pin_number, verify, state, stamp = _EVENT_SHORT_PIN.unpack_from(event)
        pin = str(pin_number)
    elif size == 12:
        pin_number, verify, state, stamp = _EVENT_NUMERIC_PIN.unpack_from(event)
        pin = str(pin_number)
    elif size >= 32:
        raw_pin, verify, state, stamp = _EVENT_TEXT_PIN.unpack_from(event)
        pin = raw_pin.split(b"\x00", 1)[0].decode(encoding, errors="strict").strip()
    else:
        raise FrameError(f"an attendance event of {size} bytes fits no known layout")
    if not pin or not pin.isalnum():
        raise FrameError(f"an attendance event without a readable pin: {event.hex()}")
    return LiveEvent(pin, decode_time_hex(stamp), state, verify)


def split_events(payload: bytes, learned_size: int | None = None, encoding: str = "utf-8") -> list[LiveEvent]:
    """The events of one CMD_REG_EVENT payload. One event per packet is the rule; a payload that is a
    whole multiple of a known size (the size this device sent before first) holds several. Raises
    FrameError when no reading decodes every event."""
    size = len(payload)
    candidates: list[int] = []
    if learned_size and size % learned_size == 0:
        candidates.append(learned_size)
    if size in EVENT_SIZES or size > max(EVENT_SIZES):
        candidates.append(size)  # one event (longer than 52: reserved bytes of a layout yet unseen)
    candidates += [known for known in EVENT_SIZES if size % known == 0 and size > known]
    for candidate in dict.fromkeys(candidates):
        try:
            return [decode_event(payload[at : at + candidate], encoding) for at in range(0, size, candidate)]
        except (ValueError, struct.error, UnicodeDecodeError):
            continue
    raise FrameError(f"an attendance event payload of {size} bytes decodes in no known layout: {payload[:64].hex()}")


def parse_free_sizes(payload: bytes) -> FreeSizes:
    """Twenty i32 counters and capacities (users at 4, records at 8, record capacity at 16). Firmware
    that answers fewer bytes tells nothing about its records (WL20 answers one zero DWORD, pyzk #76)."""
    if len(payload) < 80:
        users = struct.unpack_from("<i", payload, 16)[0] if len(payload) >= 20 else None
        return FreeSizes(users, None, None)
    fields = struct.unpack_from("<20i", payload)
    return FreeSizes(fields[4], fields[8], fields[16])


def plausible_record_size(body: bytes, count: int | None, hint: int | None) -> int | None:
    """The record size of a log body (records only, no length prefix). A count that divides it into a
    known size decides, as pyzk does. Otherwise each layout that divides it evenly is checked on its
    first and last records (a real date, a text pin or zero reserved bytes where the layout has them,
    small verify codes), in the order `hint` (the size this device used before), 40, 49, 16, 8: the
    first that fits wins, as a short layout read into a longer one's bytes always fits by chance, the
    other way round hardly ever. Corrupt records (a flat battery, flash faults) are tolerated: a layout
    needs nine in ten plausible records. None when none fits."""
    total = len(body)
    if total == 0:
        return hint or 40
    if count and total % count == 0 and total // count in RECORD_SIZES:
        return total // count
    for size in dict.fromkeys([size for size in (hint, 40, 49, 16, 8) if size in RECORD_SIZES]):
        if total % size:
            continue
        records = total // size
        indexes = sorted({*range(min(records, _SAMPLE)), *range(max(0, records - _SAMPLE), records)})
        if sum(_plausible_record(body, index * size, size) for index in indexes) >= 0.9 * len(indexes):
            return size
    return None


def _plausible_record(body: bytes, offset: int, size: int) -> bool:
    record = body[offset : offset + size]
    if size == 8:
        _uid, verify, stamp, _state = struct.unpack("<HBIB", record)
        fields_ok = verify < 64
    elif size == 16:
        _pin, stamp, verify, _state, reserved = struct.unpack("<IIBBH", record[:12])
        fields_ok = verify < 64 and reserved == 0
    else:
        raw_pin, verify, stamp = record[2:26], record[26], struct.unpack_from("<I", record, 27)[0]
        text = raw_pin.split(b"\x00", 1)[0]
        fields_ok = verify < 64 and text.isalnum() and not raw_pin[len(text) :].strip(b"\x00")
    try:
        moment = decode_zk_time(stamp)
    except ValueError:
        return False
    return fields_ok and 2000 <= moment.year <= 2099


def decode_zk_time(value: int) -> datetime:
    """ZK time: seconds in a calendar of 12 months of 31 days from 2000. ValueError for Feb 30 and the like."""
    value, second = divmod(value, 60)
    value, minute = divmod(value, 60)
    value, hour = divmod(value, 24)
    value, day = divmod(value, 31)
    year, month = divmod(value, 12)
    return datetime(year + 2000, month + 1, day + 1, hour, minute, second)


_TEMPLATE_HEAD = struct.Struct("<HHbb")  # size + 6, uid, finger index, valid (pyzk get_templates)


def parse_template_table(table: bytes) -> list[tuple[int, int, int, bytes]]:
    """The fingerprint table (CMD_DB_RRQ with FCT_FINGERTMP): a u32 length, then per template its size
    (the 6-byte head included), uid, finger index, valid flag and bytes. Returns (uid, finger, valid,
    template) for each; FrameError when an entry runs past the table. Errors never quote template bytes."""
    if len(table) < 4:
        return []
    (length,) = struct.unpack_from("<I", table)
    body = table[4 : 4 + length]
    templates: list[tuple[int, int, int, bytes]] = []
    offset = 0
    while offset + _TEMPLATE_HEAD.size <= len(body):
        size, uid, finger, valid = _TEMPLATE_HEAD.unpack_from(body, offset)
        if size <= _TEMPLATE_HEAD.size or offset + size > len(body):
            raise FrameError(f"a template entry of {size} bytes at offset {offset} runs past the table")
        templates.append((uid, finger, valid, bytes(body[offset + _TEMPLATE_HEAD.size : offset + size])))
        offset += size
    return templates
