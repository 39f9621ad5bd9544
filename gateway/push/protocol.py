"""ZKTeco's push protocol (ADMS / "iclock"), as plain text in and out: no HTTP, no queue, no MQTT.

What firmware sends, after ZKTeco's "Attendance PUSH Communication Protocol" (PUSH SDK; see
docs/push-devices.md for the versions followed):

    GET  /iclock/cdata?SN=<sn>&options=all&pushver=2.4.1     registration; the reply sets the options
    POST /iclock/cdata?SN=<sn>&table=ATTLOG&Stamp=<n>        punches, one per line, tab-separated:
         <PIN>\t<YYYY-MM-DD HH:MM:SS>\t<status>\t<verify>\t<workcode>\t<reserved>...
    POST /iclock/cdata?SN=<sn>&table=OPERLOG&OpStamp=<n>     operation log, users, templates
    GET  /iclock/getrequest?SN=<sn>[&INFO=...]               command poll: "OK" or "C:<id>:<command>" lines
    POST /iclock/devicecmd?SN=<sn>                           results: "ID=<id>&Return=<code>&CMD=<verb>" lines

Two generations of option names are in the field: current firmware reads `ATTLOGStamp`/`OPERLOGStamp`
and a `TransFlag` of table names; older (PUSH 2.x) firmware reads `Stamp`/`OpStamp` and a `TransFlag`
bit string. A device profile says which its model speaks (`[push] options = "current" | "legacy"`).

Access-control firmware speaks ZKTeco's "Security PUSH Communication Protocol" (PUSH 3.1.x) on the same
URLs: it registers at /iclock/registry, asks the time at /iclock/rtdata?type=time, and uploads each
verification as `table=rtlog`, one line of tab-separated key=value pairs:

    time=2017-01-10 11:49:32\tpin=1001\tcardno=0\teventaddr=1\tevent=0\tinoutstatus=0\tverifytype=15\tindex=7

Firmware spells keys and table names in either case (`sn=`, `table=attlog`): both are read alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qsl

from wire.contract import MAX_PIN_LENGTH

ATTLOG_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
_PIN = re.compile(rf"^[0-9A-Za-z]{{1,{MAX_PIN_LENGTH}}}$")
_COMMAND_LINE = re.compile(r"^C:(\d{1,10}):(.+)$")

# Command result codes from the protocol's appendix; anything below zero is a failure.
RETURN_OK = 0
RETURN_BAD_PARAMETER = -1
RETURN_UNSUPPORTED = -1002

OPERLOG_KINDS = ("OPLOG", "USER", "FP", "FACE", "BIODATA", "USERPIC", "BIOPHOTO", "ATTPHOTO", "ENROLL_USER")


class PushProtocolError(ValueError):
    """Text that does not follow the push protocol; the message says where and what."""


@dataclass(frozen=True, slots=True)
class PushOptions:
    """What the gateway tells a model at registration, from the `[push]` table of its device profile."""

    options: str = "current"  # "current" (ATTLOGStamp, TransFlag=TransData AttLog...) | "legacy" (Stamp, bits)
    delay_s: int = 10  # seconds between command polls
    error_delay_s: int = 30  # seconds to wait after a failed request before trying again
    trans_interval_min: int = 1  # minutes between batch uploads when Realtime=0
    trans_times: str = "00:00;14:05"  # fixed daily upload times, on top of the interval
    realtime: bool = True  # upload each punch as it happens
    user_command: str = "USERINFO"  # "USERINFO" (DATA UPDATE USERINFO) | "USER" (PUSH 2.x: DATA USER)
    # How templates are written: "BIODATA" (unified, face/palm firmware) | "FINGERTMP" | "FP" (PUSH 2.x).
    template_command: str = "FINGERTMP"
    rtlog_punch_events: tuple[int, ...] = (0, 1, 14, 15, 16, 17, 18, 19, 26)  # Security PUSH: see parse_rtlog


@dataclass(frozen=True, slots=True)
class AttlogRecord:
    pin: str
    local_time: datetime  # the device's wall clock, no zone
    status: int
    verify: int
    workcode: str = "0"


@dataclass(frozen=True, slots=True)
class BadLine:
    number: int  # 1-based line number in the body
    text: str
    reason: str


@dataclass(frozen=True, slots=True)
class CommandResult:
    command_id: int
    return_code: int
    verb: str

    @property
    def ok(self) -> bool:
        return self.return_code >= 0


# -- registration ----------------------------------------------------------------------------------


def registration_reply(
    serial: str, attlog_stamp: int | None, operlog_stamp: int | None, options: PushOptions, zone_hours: int
) -> str:
    """The option block a device reads at registration; stamps of None ask for nothing to be resent
    but also move nothing on (the device keeps its own upload position)."""

    def stamp(value: int | None) -> str:
        return "None" if value is None else str(value)

    lines = [f"GET OPTION FROM: {serial}"]
    if options.options == "legacy":
        lines += [f"Stamp={stamp(attlog_stamp)}", f"OpStamp={stamp(operlog_stamp)}", "PhotoStamp=None"]
    else:
        lines += [f"ATTLOGStamp={stamp(attlog_stamp)}", f"OPERLOGStamp={stamp(operlog_stamp)}", "ATTPHOTOStamp=None"]
    lines += [
        f"ErrorDelay={options.error_delay_s}",
        f"Delay={options.delay_s}",
        f"TransTimes={options.trans_times}",
        f"TransInterval={options.trans_interval_min}",
        # Attendance and operation logs only: photos and templates have no place in this system.
        "TransFlag=1100000000" if options.options == "legacy" else "TransFlag=TransData AttLog\tOpLog",
        f"TimeZone={zone_hours}",
        f"Realtime={int(options.realtime)}",
        "Encrypt=None",
        f"ServerVer={SERVER_VERSION}",
        f"PushProtVer={PUSH_PROTOCOL_VERSION}",
    ]
    return "\r\n".join(lines) + "\r\n"


def parse_options(text: str) -> dict[str, str]:
    """The key=value lines of a registration reply (what a device does with it)."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip():
            found[key.strip()] = value.strip()
    return found


SERVER_VERSION = "2.4.1"  # the Attendance PUSH version these replies follow
PUSH_PROTOCOL_VERSION = "2.4.1"


def parse_stamp(value: str | None) -> int | None:
    """A Stamp query parameter or option: a non-negative integer, or None for absent/"None"/garbage."""
    if value is None or not value.strip().isdigit():
        return None
    return int(value.strip())


# -- ATTLOG / OPERLOG uploads -----------------------------------------------------------------------


def parse_attlog(body: str) -> tuple[list[AttlogRecord], list[BadLine]]:
    """Every well-formed punch line, and every other non-empty line with the reason it was refused."""
    records: list[AttlogRecord] = []
    bad: list[BadLine] = []
    for number, line in enumerate(body.splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(parse_attlog_line(line))
        except PushProtocolError as exc:
            bad.append(BadLine(number, line, str(exc)))
    return records, bad


def parse_attlog_line(line: str) -> AttlogRecord:
    fields = line.rstrip("\r").split("\t")
    if len(fields) < 4:
        raise PushProtocolError(f"expected at least PIN, time, status and verify separated by tabs, got {line!r}")
    pin, stamp, status, verify = (f.strip() for f in fields[:4])
    if not _PIN.match(pin):
        raise PushProtocolError(f"PIN: expected 1-{MAX_PIN_LENGTH} letters or digits, got {pin!r}")
    try:
        moment = datetime.strptime(stamp, ATTLOG_TIME_FORMAT)
    except ValueError:
        raise PushProtocolError(f"time: expected YYYY-MM-DD HH:MM:SS, got {stamp!r}") from None
    codes: list[int] = []
    for name, value in (("status", status), ("verify", verify)):
        if not value.isdigit() or int(value) > 255:
            raise PushProtocolError(f"{name}: expected 0..255, got {value!r}")
        codes.append(int(value))
    workcode = fields[4].strip() if len(fields) > 4 and fields[4].strip() else "0"
    return AttlogRecord(pin, moment, codes[0], codes[1], workcode)


# Security PUSH access events that are a person verified at the terminal (its event table, "0 Normal
# Verify Open" and the like); a profile may name others (`[push] rtlog_punch_events`).
DEFAULT_RTLOG_PUNCH_EVENTS = (0, 1, 14, 15, 16, 17, 18, 19, 26)


@dataclass(frozen=True, slots=True)
class RtlogResult:
    records: list[AttlogRecord]
    not_punches: int  # door, alarm and refused-access events: acknowledged, counted, not queued
    bad: list[BadLine]


def parse_rtlog(body: str, punch_events: Iterable[int] = DEFAULT_RTLOG_PUNCH_EVENTS) -> RtlogResult:
    """Security PUSH `table=rtlog` lines: the ones whose event is a verified person become punches
    (state from `inoutstatus`, verify from `verifytype`); the others are counted."""
    wanted = frozenset(punch_events)
    records: list[AttlogRecord] = []
    bad: list[BadLine] = []
    not_punches = 0
    for number, line in enumerate(body.splitlines(), 1):
        if not line.strip():
            continue
        fields = {}
        for part in re.split(r"[\t,]", line.strip()):  # some firmware separates the pairs with commas
            key, sep, value = part.partition("=")
            if sep:
                fields[key.strip().lower()] = value.strip()
        try:
            event = _code(fields.get("event", ""), "event")
            if event not in wanted or fields.get("pin", "0") in ("", "0"):
                not_punches += 1
                continue
            pin = fields["pin"]
            if not _PIN.match(pin):
                raise PushProtocolError(f"pin: expected 1-{MAX_PIN_LENGTH} letters or digits, got {pin!r}")
            try:
                moment = datetime.strptime(fields.get("time", ""), ATTLOG_TIME_FORMAT)
            except ValueError:
                raise PushProtocolError(f"time: expected YYYY-MM-DD HH:MM:SS, got {fields.get('time')!r}") from None
            state = _code(fields.get("inoutstatus", "0"), "inoutstatus")
            verify = _code(fields.get("verifytype", "0"), "verifytype")
            records.append(AttlogRecord(pin, moment, state, verify))
        except PushProtocolError as exc:
            bad.append(BadLine(number, line, str(exc)))
    return RtlogResult(records, not_punches, bad)


def _code(value: str, name: str) -> int:
    if not value.isdigit() or int(value) > 255:
        raise PushProtocolError(f"{name}: expected 0..255, got {value!r}")
    return int(value)


def time_reply(device_local_time: datetime, zone_hours: int) -> str:
    """The answer to /iclock/rtdata?type=time (Security PUSH): the device clock's time and the zone."""
    return f"DateTime={encode_zk_time(device_local_time)},ServerTZ={zone_hours:+03d}00"


def format_attlog(records: Iterable[AttlogRecord]) -> str:
    """Punch lines as current firmware writes them: seven fields, the last two reserved."""
    return "".join(
        f"{r.pin}\t{r.local_time.strftime(ATTLOG_TIME_FORMAT)}\t{r.status}\t{r.verify}\t{r.workcode}\t0\t0\n"
        for r in records
    )


def parse_operlog(body: str) -> tuple[dict[str, int], list[BadLine]]:
    """Operation-log lines counted by kind (`OPLOG`, `USER`, `FP`, ...); lines of no known kind refused."""
    counts: dict[str, int] = {}
    bad: list[BadLine] = []
    for number, line in enumerate(body.splitlines(), 1):
        if not line.strip():
            continue
        kind = line.split(" ", 1)[0].split("\t", 1)[0].strip()
        if kind not in OPERLOG_KINDS:
            bad.append(BadLine(number, line, f"unknown record kind {kind[:32]!r}"))
            continue
        counts[kind] = counts.get(kind, 0) + 1
    return counts, bad


# -- commands ---------------------------------------------------------------------------------------


def encode_zk_time(moment: datetime) -> int:
    """ZK firmware's packed date-time (a calendar of 31-day months from 2000), as `SET OPTIONS DateTime=`
    and the ZK protocol's set-time command take it."""
    days = ((moment.year - 2000) * 12 + (moment.month - 1)) * 31 + (moment.day - 1)
    return ((days * 24 + moment.hour) * 60 + moment.minute) * 60 + moment.second


def decode_zk_time(value: int) -> datetime:
    second, value = value % 60, value // 60
    minute, value = value % 60, value // 60
    hour, value = value % 24, value // 24
    day, value = value % 31 + 1, value // 31
    month, year = value % 12 + 1, value // 12 + 2000
    return datetime(year, month, day, hour, minute, second)


REBOOT_COMMAND = "REBOOT"
CLEAR_LOG_COMMAND = "CLEAR LOG"  # the attendance records only (CLEAR DATA would wipe users too)


def set_clock_command(device_local_time: datetime) -> str:
    return f"SET OPTIONS DateTime={encode_zk_time(device_local_time)}"


def user_command(pin: str, name: str, card: int, style: str) -> str:
    """Create or update one user. Tabs and line breaks cannot appear in a name: they end the field."""
    clean = re.sub(r"[\t\r\n]", " ", name)
    card_text = str(card) if card else ""
    if style == "USER":  # PUSH 2.x firmware
        return f"DATA USER PIN={pin}\tName={clean}\tPri=0\tPasswd=\tCard={card_text}\tGrp=1\tTZ="
    return f"DATA UPDATE USERINFO PIN={pin}\tName={clean}\tPri=0\tPasswd=\tCard={card_text}\tGrp=1\tTZ=0000000100000000"


def query_attlog_command(start: datetime, end: datetime) -> str:
    """Ask the device to upload again, through the ordinary ATTLOG upload, every punch in [start, end]."""
    start_text, end_text = start.strftime(ATTLOG_TIME_FORMAT), end.strftime(ATTLOG_TIME_FORMAT)
    return f"DATA QUERY ATTLOG StartTime={start_text}\tEndTime={end_text}"


def format_commands(commands: Iterable[tuple[int, str]]) -> str:
    return "".join(f"C:{command_id}:{text}\n" for command_id, text in commands)


def parse_commands(body: str) -> list[tuple[int, str]]:
    """The `C:<id>:<command>` lines of a getrequest reply (what a device does with it); "OK" is none."""
    found: list[tuple[int, str]] = []
    for line in body.splitlines():
        match = _COMMAND_LINE.match(line.strip())
        if match:
            found.append((int(match.group(1)), match.group(2)))
    return found


def parse_command_results(body: str) -> tuple[list[CommandResult], list[BadLine]]:
    """`ID=<id>&Return=<code>&CMD=<verb>` lines; a query command's rows may follow its result line."""
    results: list[CommandResult] = []
    bad: list[BadLine] = []
    for number, line in enumerate(body.splitlines(), 1):
        if not line.startswith("ID="):
            continue  # rows of a query result, e.g. after INFO; nothing here reads them
        fields = dict(parse_qsl(line.strip(), keep_blank_values=True))
        command_id, code = fields.get("ID", ""), fields.get("Return", "")
        if not command_id.isdigit() or not re.fullmatch(r"-?\d{1,10}", code):
            bad.append(BadLine(number, line, "expected ID=<number>&Return=<number>&CMD=<verb>"))
            continue
        results.append(CommandResult(int(command_id), int(code), fields.get("CMD", "")))
    return results, bad


def format_command_result(command_id: int, return_code: int, verb: str) -> str:
    return f"ID={command_id}&Return={return_code}&CMD={verb}\n"


def parse_device_info(info: str | None) -> dict[str, int | str]:
    """The INFO parameter some firmware adds to getrequest: version, users, fingerprints, punches, IP, ..."""
    if not info:
        return {}
    parts = info.split(",")
    named: dict[str, int | str] = {"firmware": parts[0].strip()}
    for key, index in (("user_count", 1), ("fingerprint_count", 2), ("record_count", 3)):
        if len(parts) > index and parts[index].strip().isdigit():
            named[key] = int(parts[index].strip())
    return named
