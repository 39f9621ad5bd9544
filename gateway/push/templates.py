"""Users and biometric templates in the push protocol: the lines a device uploads after an enrolment and
the commands that write or delete them on it. Plain text in and out, like gateway/push/protocol.py.

Formats, after ZKTeco's "Attendance PUSH Communication Protocol" 2.4.x (the document docs/push-devices.md
follows; its sections on uploading user information, fingerprint templates, face templates and the
unified template, and on the DATA UPDATE / DATA DELETE commands) and PUSH SDK 2.0.1 for the older
`DATA FP` / `DATA DEL_USER` forms; fields are tab-separated:

    POST /iclock/cdata?SN=..&table=OPERLOG      USER PIN=1001\tName=Ani\tPri=0\tPasswd=\tCard=\tGrp=1\tTZ=..
                                                FP PIN=1001\tFID=6\tSize=1504\tValid=1\tTMP=<base64>
                                                FACE PIN=1001\tFID=0\tSize=..\tValid=1\tTMP=<base64>
    POST /iclock/cdata?SN=..&table=BIODATA      BIODATA Pin=1001\tNo=6\tIndex=0\tValid=1\tDuress=0\tType=1\t
                                                    MajorVer=10\tMinorVer=0\tFormat=0\tTmp=<base64>

    C:<id>:DATA UPDATE FINGERTMP PIN=..\tFID=..\tSize=..\tValid=1\tTMP=..
    C:<id>:DATA UPDATE BIODATA Pin=..\tNo=..\tIndex=0\tValid=1\tDuress=0\tType=..\tMajorVer=..\tMinorVer=..
                                   \tFormat=0\tTmp=..
    C:<id>:DATA DELETE USERINFO PIN=..      DATA DELETE FINGERTMP PIN=..\tFID=..
    C:<id>:DATA DELETE BIODATA Pin=..\tType=..\tNo=..
    C:<id>:DATA FP PIN=..\tFID=..\tSize=..\tValid=1\tTMP=..      DATA DEL_USER PIN=..      (PUSH 2.x firmware)

BIODATA `Type`: 0 general, 1 fingerprint, 2 face (near-infrared), 3 voice, 4 iris, 5 retina, 6 palm print,
7 finger vein, 8 palm (vein), 9 visible-light face. Cross-checked against open-source push servers the
search tool found (for instance a server whose BioData model documents "0 通用 1 指纹 2 面部 3 声纹", and test
fixtures of real SpeedFace uploads reading `Type=9 MajorVer=39` for a visible-light face and `Type=1
MajorVer=13`/`10` for fingers). Firmware writes the keys of BIODATA as `Pin`, `Tmp` and of the others as
`PIN`, `TMP`; both are read in either case. `Size` is not trusted: the template is what `Tmp` decodes to.

Templates are specific personal data (UU 27/2022). `redact` takes them out of any line that is kept
for review (quarantine) or shown in a message.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field

from gateway.push.protocol import BadLine

BIODATA_TYPES = {1: "fingerprint", 2: "face", 8: "palm", 9: "face"}
TYPE_OF_MODALITY = {"fingerprint": 1, "face": 9, "palm": 8}  # what current firmware writes for each
TEMPLATE_STYLES = ("BIODATA", "FINGERTMP", "FP")  # current unified, current fingerprint-only, PUSH 2.x
MAX_TEMPLATE_BYTES = 16 * 1024
_PIN = re.compile(r"^[0-9A-Za-z]{1,24}$")
_SECRET = re.compile(r"((?:^|\t)(?:TMP|Tmp|tmp|Template|Content)=)[^\t\r\n]*", re.MULTILINE)
_SECRET_BYTES = re.compile(rb"((?:^|\t)(?:TMP|Tmp|tmp|Template|Content)=)[^\t\r\n]*", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class PushTemplate:
    pin: str
    modality: str  # fingerprint | face | palm
    index: int  # finger 0..9, or the face/palm number
    data: bytes = field(repr=False)
    major_version: int | None = None  # BIODATA MajorVer; None where the line has none (FP, FACE)
    minor_version: int = 0
    valid: int = 1

    def __repr__(self) -> str:
        return (
            f"PushTemplate(pin={self.pin!r}, modality={self.modality!r}, index={self.index}, "
            f"size={len(self.data)}, major_version={self.major_version})"
        )


@dataclass(frozen=True, slots=True)
class PushUser:
    pin: str
    name: str
    card: int = 0


@dataclass
class TemplateUpload:
    users: list[PushUser] = field(default_factory=list)
    templates: list[PushTemplate] = field(default_factory=list)
    bad: list[BadLine] = field(default_factory=list)
    other_kinds: int = 0  # voice, iris, vein...: acknowledged, not kept


def redact(text: str) -> str:
    """The line with every template value withheld: what may be quarantined, logged or shown."""
    return _SECRET.sub(lambda match: f"{match.group(1)}<withheld>", text)


def redact_body(raw: bytes) -> bytes:
    """`redact` on a body as received: every other byte stays exactly as the device sent it."""
    return _SECRET_BYTES.sub(lambda match: match.group(1) + b"<withheld>", raw)


def parse_upload(body: str, table: str) -> TemplateUpload:
    """USER, FP, FACE and BIODATA lines of an OPERLOG, BIODATA, USERINFO or FINGERTMP upload. Lines of a
    table named for its content may come without the kind word (`PIN=1\t...` in table=USERINFO)."""
    upload = TemplateUpload()
    implied = {"USERINFO": "USER", "FINGERTMP": "FP", "BIODATA": "BIODATA", "FACE": "FACE"}.get(table.upper())
    for number, line in enumerate(body.splitlines(), 1):
        if not line.strip():
            continue
        head, _, rest = line.partition(" ")
        kind = head.strip().upper()
        if "=" in kind and implied:  # no kind word: the table says what the line is
            kind, rest = implied, line
        if kind not in ("USER", "FP", "FACE", "BIODATA"):
            continue  # OPLOG and the other operation-log kinds are counted by protocol.parse_operlog
        fields = {key.strip().lower(): value for key, _, value in (part.partition("=") for part in rest.split("\t"))}
        try:
            if kind == "USER":
                upload.users.append(_user(fields))
                continue
            template = _template(kind, fields)
        except ValueError as exc:
            upload.bad.append(BadLine(number, redact(line)[:200], str(exc)))
            continue
        if template is None:
            upload.other_kinds += 1
        else:
            upload.templates.append(template)
    return upload


def _user(fields: dict[str, str]) -> PushUser:
    pin = fields.get("pin", "")
    if not _PIN.match(pin):
        raise ValueError("USER line without a readable PIN")
    card = fields.get("card", "").strip()
    return PushUser(pin, fields.get("name", ""), int(card) if card.isdigit() and len(card) <= 10 else 0)


def _template(kind: str, fields: dict[str, str]) -> PushTemplate | None:
    pin = fields.get("pin", "")
    if not _PIN.match(pin):
        raise ValueError(f"{kind} line without a readable PIN")
    try:
        data = base64.b64decode(fields.get("tmp", ""), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{kind} line whose template is not base64") from None
    if not 0 < len(data) <= MAX_TEMPLATE_BYTES:
        raise ValueError(f"{kind} line with a template of {len(data)} bytes (1..{MAX_TEMPLATE_BYTES} expected)")
    valid = _number(fields, "valid", 1)
    if kind == "BIODATA":
        modality = BIODATA_TYPES.get(_number(fields, "type", -1))
        if modality is None:
            return None
        index = _number(fields, "no", 0)
        major, minor = _number(fields, "majorver", 0), _number(fields, "minorver", 0)
        return PushTemplate(pin, modality, index, data, major, minor, valid)
    index = _number(fields, "fid", 0)
    return PushTemplate(pin, "fingerprint" if kind == "FP" else "face", index, data, None, 0, valid)


def _number(fields: dict[str, str], key: str, default: int) -> int:
    text = fields.get(key, "").strip()
    if not text:
        return default
    if not re.fullmatch(r"-?\d{1,6}", text):
        raise ValueError(f"{key}: expected a number")
    return int(text)


# -- commands ---------------------------------------------------------------------------------------


def write_template_command(style: str, pin: str, template: PushTemplate) -> str:
    tmp = base64.b64encode(template.data).decode("ascii")
    if style == "BIODATA":
        kind = TYPE_OF_MODALITY[template.modality]
        return (
            f"DATA UPDATE BIODATA Pin={pin}\tNo={template.index}\tIndex=0\tValid={template.valid}\tDuress=0"
            f"\tType={kind}\tMajorVer={template.major_version or 0}\tMinorVer={template.minor_version}\tFormat=0"
            f"\tTmp={tmp}"
        )
    if template.modality != "fingerprint":
        raise ValueError(f"{style} commands carry fingerprints only, not a {template.modality}")
    verb = "DATA UPDATE FINGERTMP" if style == "FINGERTMP" else "DATA FP"
    return f"{verb} PIN={pin}\tFID={template.index}\tSize={len(tmp)}\tValid={template.valid}\tTMP={tmp}"


def delete_template_command(style: str, pin: str, modality: str, index: int) -> str:
    if style == "BIODATA":
        return f"DATA DELETE BIODATA Pin={pin}\tType={TYPE_OF_MODALITY[modality]}\tNo={index}"
    if style == "FINGERTMP":
        return f"DATA DELETE FINGERTMP PIN={pin}\tFID={index}"
    return f"DATA DEL_FP PIN={pin}\tFID={index}"


def delete_user_command(style: str, pin: str) -> str:
    return f"DATA DEL_USER PIN={pin}" if style == "FP" else f"DATA DELETE USERINFO PIN={pin}"


def command_verb(text: str) -> str:
    """The words of a command before its first field: what a log line or an error may quote of it."""
    words = []
    for word in text.split(" "):
        if "=" in word or "\t" in word:
            break
        words.append(word)
    return " ".join(words)
