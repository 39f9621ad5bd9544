"""Serial-attached terminals that print one line per punch, and the line formats they print.

A device profile's `[serial]` table describes the framing (baud, 7E1, ...) and the line: a regex with
named groups, a strptime format and tables for the state and verify codes. Parsing never guesses:
a line that is not exactly what the profile describes is handed to quarantine with its raw bytes and
a reason, and never becomes a punch. Terminals push lines and keep no log to re-read, so the driver
buffers what arrives and hands it out once.
"""

from __future__ import annotations

import codecs
import logging
import os
import re
import string
import time
import tomllib
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, tzinfo
from functools import reduce
from pathlib import Path
from typing import Any

import serial

from gateway.devices.base import DeviceError, DeviceInfo, DevicePunch, DeviceUser

log = logging.getLogger(__name__)

STANDARD_BAUDS = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
CHECKSUMS = ("none", "xor8-hex", "sum8-hex")
LINE_ENDS = ("\r\n", "\n")
TEMPLATE_FIELDS = frozenset({"pin", "timestamp", "state", "verify"})
_GROUPS = frozenset({"pin", "timestamp", "state", "verify"})
_KEYS = frozenset(
    {"baud", "bytesize", "parity", "stopbits", "encoding", "line_end", "pattern", "timestamp_format"}
    | {"state_map", "verify_map", "default_state", "default_verify", "checksum", "line_template"}
)
_HEX2 = re.compile(rb"[0-9A-Fa-f]{2}")
_MAX_LINE_BYTES = 1024  # noise without line ends (wrong baud, loose wire) must not grow without bound
_SLICE_S = 0.1  # longest a single port read blocks, so idle deadlines and unplugs are noticed promptly
_REQUIRED = object()


class GarbledLine(ValueError):
    """A line that is not exactly what the profile describes; the message says why."""


def checksum_of(kind: str, body: bytes) -> int:
    """The 8-bit checksum `kind` over `body` (the bytes before the '*')."""
    if kind == "xor8-hex":
        return reduce(lambda acc, byte: acc ^ byte, body, 0)
    if kind == "sum8-hex":
        return sum(body) % 256
    raise ValueError(f"no checksum called {kind!r}; expected one of {CHECKSUMS}")


@dataclass(frozen=True)
class SerialLineFormat:
    source: str
    baud: int
    bytesize: int
    parity: str
    stopbits: int
    encoding: str
    line_end: str
    pattern: re.Pattern[str]
    timestamp_format: str
    state_map: dict[str, int] | None
    verify_map: dict[str, int] | None
    default_state: int | None
    default_verify: int | None
    checksum: str
    line_template: str | None  # only the simulator writes lines; the driver never does

    @classmethod
    def from_profile(cls, path: Path | str) -> SerialLineFormat:
        path = Path(path)
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(f"{path}: cannot read the profile: {exc}") from None
        table = raw.get("serial")
        if not isinstance(table, dict):
            raise ValueError(f"{path}: serial: expected a [serial] table, got {table!r}")
        return cls.from_table(table, str(path))

    @classmethod
    def from_table(cls, table: dict[str, Any], source: str) -> SerialLineFormat:
        unknown = sorted(set(table) - _KEYS)
        if unknown:
            raise ValueError(f"{source}: serial.{unknown[0]}: unknown key; expected one of {sorted(_KEYS)}")

        def get(key: str, kind: type, default: Any = _REQUIRED, choices: tuple[Any, ...] | None = None) -> Any:
            return _setting(table, source, key, kind, default, choices)

        encoding = get("encoding", str, "ascii")
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise ValueError(f"{source}: serial.encoding: expected a Python codec name, got {encoding!r}") from None
        pattern = _compile(get("pattern", str), source)
        timestamp_format = get("timestamp_format", str)
        sample = datetime(2023, 11, 22, 7, 29, 5)
        try:
            datetime.strptime(sample.strftime(timestamp_format), timestamp_format)
        except ValueError as exc:
            raise ValueError(
                f"{source}: serial.timestamp_format: expected a strptime format, got {timestamp_format!r} ({exc})"
            ) from None
        defaults = {}
        for group in ("state", "verify"):
            key = f"default_{group}"
            defaults[group] = get(key, int, None)
            if defaults[group] is None and group not in pattern.groupindex:
                raise ValueError(
                    f"{source}: serial.{key}: expected an int because the pattern has no (?P<{group}>...) group, "
                    "got nothing"
                )
        template = get("line_template", str, None)
        if template is not None:
            _check_template(template, source)
        return cls(
            source=source,
            baud=get("baud", int, choices=STANDARD_BAUDS),
            bytesize=get("bytesize", int, 8, choices=(7, 8)),
            parity=get("parity", str, "N", choices=("N", "E", "O")),
            stopbits=get("stopbits", int, 1, choices=(1, 2)),
            encoding=encoding,
            line_end=get("line_end", str, "\r\n", choices=LINE_ENDS),
            pattern=pattern,
            timestamp_format=timestamp_format,
            state_map=_code_map(table, source, "state_map"),
            verify_map=_code_map(table, source, "verify_map"),
            default_state=defaults["state"],
            default_verify=defaults["verify"],
            checksum=get("checksum", str, "none", choices=CHECKSUMS),
            line_template=template,
        )

    @property
    def line_end_bytes(self) -> bytes:
        return self.line_end.encode("ascii")

    def parse_line(self, raw: bytes) -> DevicePunch:
        """One whole line, line end included, as it came off the wire."""
        end = self.line_end_bytes
        if not raw.endswith(end):
            raise GarbledLine(f"no line end {self.line_end!r}")
        body = raw[: -len(end)]
        if end in body or (end == b"\r\n" and b"\n" in body):
            raise GarbledLine("more than one line")
        if self.checksum != "none":
            body = self._verified(body)
        try:
            text = body.decode(self.encoding)
        except UnicodeDecodeError as exc:
            raise GarbledLine(f"not valid {self.encoding}: {exc.reason} at byte {exc.start}") from None
        match = self.pattern.fullmatch(text)
        if match is None:
            raise GarbledLine(f"does not match the pattern of {self.source}")
        pin, stamp = match["pin"], match["timestamp"]
        if not pin or not stamp:
            raise GarbledLine("empty pin or timestamp")
        try:
            local_time = datetime.strptime(stamp, self.timestamp_format)
        except ValueError as exc:
            raise GarbledLine(f"bad timestamp {stamp!r}: {exc}") from None
        state = _code(_group(match, "state"), self.state_map, self.default_state, "state")
        verify = _code(_group(match, "verify"), self.verify_map, self.default_verify, "verify")
        return DevicePunch(pin=pin, local_time=local_time, state=state, verify=verify)

    def _verified(self, body: bytes) -> bytes:
        star = body.rfind(b"*")
        if star < 0:
            raise GarbledLine("no '*' before the checksum")
        payload, digits = body[:star], body[star + 1 :]
        if not _HEX2.fullmatch(digits):
            raise GarbledLine(f"checksum must be two hex digits after '*', got {digits!r}")
        expected = checksum_of(self.checksum, payload)
        if int(digits, 16) != expected:
            raise GarbledLine(f"bad {self.checksum} checksum: line says {digits.decode()}, bytes give {expected:02X}")
        return payload


def _setting(
    table: dict[str, Any], source: str, key: str, kind: type, default: Any, choices: tuple[Any, ...] | None
) -> Any:
    """`table[key]`, checked to be a `kind` (never a bool) among `choices`; `default` when absent, unless required."""
    expected = f"one of {list(choices)}" if choices else f"a {kind.__name__}"
    if key not in table:
        if default is _REQUIRED:
            raise ValueError(f"{source}: serial.{key}: missing; expected {expected}")
        return default
    value = table[key]
    if not isinstance(value, kind) or isinstance(value, bool) or (choices and value not in choices):
        raise ValueError(f"{source}: serial.{key}: expected {expected}, got {value!r}")
    return value


def _compile(source_pattern: str, source: str) -> re.Pattern[str]:
    try:
        pattern = re.compile(source_pattern)
    except re.error as exc:
        raise ValueError(f"{source}: serial.pattern: expected a Python regex, got {source_pattern!r} ({exc})") from None
    groups = set(pattern.groupindex)
    missing = sorted({"pin", "timestamp"} - groups)
    if missing:
        raise ValueError(
            f"{source}: serial.pattern: expected named groups (?P<pin>...) and (?P<timestamp>...), "
            f"got {source_pattern!r} without {', '.join(missing)}"
        )
    extra = sorted(groups - _GROUPS)
    if extra:
        raise ValueError(f"{source}: serial.pattern: expected only groups {sorted(_GROUPS)}, got also {extra}")
    return pattern


def _check_template(template: str, source: str) -> None:
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise ValueError(f"{source}: serial.line_template: expected a str.format template ({exc})") from None
    if not names <= TEMPLATE_FIELDS:
        raise ValueError(
            f"{source}: serial.line_template: expected only fields {sorted(TEMPLATE_FIELDS)}, "
            f"got {sorted(names - TEMPLATE_FIELDS)}"
        )


def _code_map(table: dict[str, Any], source: str, key: str) -> dict[str, int] | None:
    if key not in table:
        return None
    value = table[key]
    ok = isinstance(value, dict) and value
    ok = ok and all(isinstance(k, str) and k and type(v) is int and 0 <= v <= 255 for k, v in value.items())
    if not ok:
        raise ValueError(f"{source}: serial.{key}: expected a table of text = int (0-255), got {value!r}")
    return dict(value)


def _group(match: re.Match[str], name: str) -> str | None:
    return match[name] if name in match.re.groupindex else None


def _code(text: str | None, mapping: dict[str, int] | None, default: int | None, what: str) -> int:
    if text is None:
        if default is None:
            raise GarbledLine(f"no {what}")
        return default
    if mapping is not None:
        if text not in mapping:
            raise GarbledLine(f"unknown {what} {text!r}; expected one of {sorted(mapping)}")
        return mapping[text]
    if not text.isascii() or not text.isdigit():
        raise GarbledLine(f"{what} {text!r} is not a number")
    return int(text)


class SerialLineDriver:
    """DeviceDriver for one serial terminal. One thread at a time; keep it alive across reconnects.

    Punches parsed but not yet handed out survive a lost port and are handed out after `connect()`.
    """

    def __init__(
        self,
        port: str,
        line_format: SerialLineFormat,
        *,
        serial_number: str,
        timeout_s: float = 1.0,
        quarantine: Callable[[bytes, str], None],
        zone: tzinfo | None = None,
    ) -> None:
        self.port = port
        self.line_format = line_format
        self.serial_number = serial_number
        self.timeout_s = timeout_s
        self.zone = zone  # the office zone, for read_info's clock; None means the gateway's local zone
        self.quarantine = quarantine
        self._serial: serial.Serial | None = None
        self._partial = bytearray()
        self._pending: deque[DevicePunch] = deque()

    @property
    def connected(self) -> bool:
        return self._serial is not None

    def connect(self) -> None:
        if self._serial is not None:
            return
        if not os.path.exists(self.port):
            raise DeviceError(f"serial port {self.port} is not present (cable unplugged?)")
        fmt = self.line_format
        try:
            self._serial = serial.Serial(
                port=self.port,
                baudrate=fmt.baud,
                bytesize=fmt.bytesize,
                parity=fmt.parity,
                stopbits=fmt.stopbits,
                timeout=min(_SLICE_S, self.timeout_s),
                exclusive=True,  # two gateways reading one terminal would each get half the lines
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            raise DeviceError(f"serial port {self.port}: cannot open: {exc}") from exc

    def close(self) -> None:
        port, self._serial = self._serial, None
        self._drop_partial("the port was closed")
        if port is not None:
            try:
                port.close()
            except (serial.SerialException, OSError) as exc:
                log.debug("closing %s: %s", self.port, exc)

    def read_info(self) -> DeviceInfo:
        self._require_port()
        now = datetime.now(self.zone).replace(tzinfo=None)  # a terminal cannot be asked its time
        return DeviceInfo(self.serial_number, "serial", "", now, 0, 0, 0)

    def read_punches(self) -> list[DevicePunch]:
        """Punches received since the last call, after draining what is waiting on the port."""
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline and self._read_chunk():
            pass
        punches = list(self._pending)
        self._pending.clear()
        return punches

    def read_users(self) -> list[DeviceUser]:
        return []

    def live_punches(
        self, stop_after_idle_s: float, *, stop_when: Callable[[], bool] | None = None
    ) -> Iterator[DevicePunch]:
        idle_until = time.monotonic() + stop_after_idle_s
        while True:
            while self._pending:
                yield self._pending.popleft()
            if time.monotonic() >= idle_until or (stop_when is not None and stop_when()):
                return
            if self._read_chunk():
                idle_until = time.monotonic() + stop_after_idle_s

    def set_time(self, local_time: datetime) -> None:
        raise DeviceError("serial terminals have no settable clock")

    def _require_port(self) -> serial.Serial:
        if self._serial is None:
            raise DeviceError(f"serial port {self.port}: not connected")
        if not os.path.exists(self.port):
            self._lost("the device path vanished")
        return self._serial

    def _read_chunk(self) -> int:
        """Read what the port has (waiting at most one slice); returns the number of whole lines taken."""
        port = self._require_port()
        try:
            waiting = port.in_waiting
            data = port.read(waiting or 1)
            if data and not waiting and (more := port.in_waiting):
                data += port.read(more)
        except (serial.SerialException, OSError) as exc:
            self._lost(str(exc))
        return self._feed(data) if data else 0

    def _feed(self, data: bytes) -> int:
        self._partial += data
        end = self.line_format.line_end_bytes
        lines = 0
        while (cut := self._partial.find(end)) >= 0:
            line = bytes(self._partial[: cut + len(end)])
            del self._partial[: cut + len(end)]
            lines += 1
            try:
                self._pending.append(self.line_format.parse_line(line))
            except GarbledLine as exc:
                self._reject(line, str(exc))
        if len(self._partial) > _MAX_LINE_BYTES:
            self._reject(bytes(self._partial), f"no line end within {_MAX_LINE_BYTES} bytes")
            self._partial.clear()
        return lines

    def _lost(self, reason: str) -> None:
        self.close()
        raise DeviceError(f"serial port {self.port}: lost: {reason}")

    def _drop_partial(self, why: str) -> None:
        # The rest of a held partial line can never arrive: what follows a reopen is a new line.
        if self._partial:
            self._reject(bytes(self._partial), f"line cut off: {why} before its line end")
            self._partial.clear()

    def _reject(self, raw: bytes, reason: str) -> None:
        log.warning("serial %s: quarantined %r: %s", self.port, raw[:80], reason)
        try:
            self.quarantine(raw, reason)
        except Exception:
            log.exception("serial %s: quarantine callback failed", self.port)
