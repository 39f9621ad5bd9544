"""Fingerprint templates on a ZK terminal: how firmware stores them and the bytes that carry them.

The layouts are the ones the unmodified pyzk 0.9 (zk/base.py, zk/finger.py, zk/user.py) reads and writes,
which it took from real terminals:

- the template table (CMD_DB_RRQ, 7, with FCT_FINGERTMP, 2, read buffered with 1503/1504): a u32 total
  length, then per template `u16 size (template + 6), u16 uid, i8 finger index, i8 valid` and the bytes
  (pyzk `get_templates`, `Finger.repack`);
- one template (command 88, "GET_USER_TEMPLATE": payload `i16 uid, i8 finger index`): CMD_DATA with the
  template and one trailing byte, which pyzk's `get_user_template` cuts off;
- the combined user-and-templates upload (pyzk `save_user_template`): CMD_PREPARE_DATA (u32 size), the
  buffer in CMD_DATA chunks of 1 KiB, then command 110 (`<IHH` 12, 0, 8) to store it. The buffer: three
  u32 lengths (user, table, templates), the user record with a leading 0x02 (29 or 73 bytes: pyzk's
  `User.repack29`/`repack73`), a table of 8-byte entries `i8 2, u16 uid, i8 0x10 + finger, u32 offset`,
  and the templates, each `u16 size` and the bytes (`Finger.repack_only`);
- deleting one (CMD_DELETE_USERTEMP, 19: `i16 uid, i8 finger`). Deleting a user deletes their
  templates too, as the firmware does (its free-sizes finger count drops with them).

Templates are opaque here: the simulator never interprets them, and neither does the gateway.
"""

from __future__ import annotations

import secrets
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from gateway.simulators import zk_protocol as wire

CMD_DB_RRQ = 7
CMD_DELETE_USERTEMP = 19
CMD_GET_USERTEMP = 88
CMD_SAVE_USERTEMPS = 110

TEMPLATE_HEAD = struct.Struct("<HHbb")  # size + 6, uid, finger index, valid
UPLOAD_HEAD = struct.Struct("<III")  # user record, table and template lengths
UPLOAD_ENTRY = struct.Struct("<bHbI")  # 2, uid, 0x10 + finger index, offset into the templates
UPLOAD_FINGER_BASE = 0x10
FINGERS = range(10)  # finger indexes 0..9, as the firmware numbers them
# ZKFinger VX10.0 templates are variable-length, a little over a kilobyte; the firmware caps them so one
# fits with its header in a 2 KiB slot. The simulator's fingers produce sizes in that range.
ENROLLED_TEMPLATE_SIZES = range(1024, 1600)
MAX_TEMPLATE_BYTES = 2048
MAX_UPLOAD_BYTES = 64 * 1024  # a user with ten fingers is ~16 KiB; more is not an upload, it is an attack


@dataclass(frozen=True, slots=True)
class SimTemplate:
    """One fingerprint template as the terminal holds it; `data` is opaque and personal."""

    uid: int
    finger: int
    data: bytes
    valid: int = 1

    def __repr__(self) -> str:  # never print template bytes, not even in a failing test's diff
        return f"SimTemplate(uid={self.uid}, finger={self.finger}, valid={self.valid}, size={len(self.data)})"


def fresh_template() -> bytes:
    """What a finger on the sensor gives: bytes nobody can predict, of a size real templates have."""
    size = ENROLLED_TEMPLATE_SIZES.start + secrets.randbelow(len(ENROLLED_TEMPLATE_SIZES))
    return secrets.token_bytes(size)


def pack_template_table(templates: Iterable[SimTemplate]) -> bytes:
    body = b"".join(
        TEMPLATE_HEAD.pack(len(t.data) + TEMPLATE_HEAD.size, t.uid, t.finger, t.valid) + t.data for t in templates
    )
    return struct.pack("<I", len(body)) + body


@dataclass(frozen=True, slots=True)
class TemplateUpload:
    user: wire.UserFields
    templates: list[tuple[int, bytes]]  # (finger index, template)


def unpack_template_upload(buffer: bytes, name_encoding: str = "utf-8") -> TemplateUpload:
    """The buffer of pyzk's `save_user_template`; ValueError for anything that does not add up."""
    if len(buffer) < UPLOAD_HEAD.size:
        raise ValueError(f"an upload of {len(buffer)} bytes has no header")
    user_length, table_length, templates_length = UPLOAD_HEAD.unpack_from(buffer)
    if UPLOAD_HEAD.size + user_length + table_length + templates_length != len(buffer):
        raise ValueError("the upload's lengths do not add up to its size")
    if user_length not in (wire.USER_28.size + 1, wire.USER_72.size + 1) or table_length % UPLOAD_ENTRY.size:
        raise ValueError(f"an upload's user record is 29 or 73 bytes, not {user_length}")
    start = UPLOAD_HEAD.size
    user_record = buffer[start : start + user_length]
    if user_record[0] != 2:
        raise ValueError("an upload's user record starts with 0x02")
    user = wire.unpack_user(user_record[1:], name_encoding)
    table = buffer[start + user_length : start + user_length + table_length]
    templates_blob = buffer[start + user_length + table_length :]
    templates: list[tuple[int, bytes]] = []
    for kind, uid, coded_finger, offset in UPLOAD_ENTRY.iter_unpack(table):
        finger = coded_finger - UPLOAD_FINGER_BASE
        if kind != 2 or uid != user.uid or finger not in FINGERS:
            raise ValueError(f"a template entry for uid {uid}, finger {finger} does not belong to this user")
        if offset + 2 > len(templates_blob):
            raise ValueError("a template entry points past the templates")
        (size,) = struct.unpack_from("<H", templates_blob, offset)
        data = templates_blob[offset + 2 : offset + 2 + size]
        if len(data) != size or not 0 < size <= MAX_TEMPLATE_BYTES:
            raise ValueError(f"a template of {size} bytes does not fit (at most {MAX_TEMPLATE_BYTES})")
        templates.append((finger, data))
    return TemplateUpload(user, templates)
