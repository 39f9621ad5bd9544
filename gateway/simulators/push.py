"""A push-protocol terminal (ADMS / iclock) that calls a gateway over real HTTP, the way firmware does.

For the tests, the demo and `kinerja simulate push`. From its own thread it:
- registers (`GET /iclock/cdata?SN=..&options=all`) and takes its upload position and timings from
  the reply (a numeric ATTLOGStamp / Stamp moves its position there; "None" leaves it where it is);
- uploads its log in batches of `batch_size` lines (`POST table=ATTLOG&Stamp=<last stamp in batch>`)
  and advances its position only on an answer that starts with "OK"; on anything else (an error, a
  refused or cut connection) it waits ErrorDelay, registers again and resends from its position;
- polls for commands every Delay seconds (`GET /iclock/getrequest`), carries them out and reports each
  result (`POST /iclock/devicecmd`), resending results the gateway did not take;
- uploads changed users as OPERLOG lines;
- after an enrolment at the terminal (`enrol`), uploads the user and the new template: a BIODATA line in
  table=BIODATA on unified-template firmware (`biodata=True`, SpeedFace-class), an FP or FACE line in
  table=OPERLOG on the others (gateway/push/templates.py has the formats and their sources).

Commands understood: SET OPTIONS DateTime=<packed>, DATA UPDATE USERINFO (current firmware) or DATA USER
(legacy firmware), DATA DELETE USERINFO / DATA DEL_USER (the user and their templates), DATA UPDATE
BIODATA and DATA DELETE BIODATA (biodata firmware), DATA UPDATE FINGERTMP and DATA DELETE FINGERTMP
(current firmware), DATA FP and DATA DEL_FP (legacy), DATA QUERY ATTLOG StartTime=..\tEndTime=.., INFO,
REBOOT, CLEAR LOG (the attendance records; stamps keep counting); anything else is answered
Return=-1002 (not supported), as firmware does. A template of another
algorithm version than the device's (`finger_version`, `face_version`) is refused with Return=-1 (bad
parameter). `legacy=True` speaks the older PUSH 2.x variant.
"""

from __future__ import annotations

import base64
import binascii
import http.client
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from types import TracebackType
from typing import Self
from urllib.parse import urlencode, urlsplit

from gateway.push import protocol
from gateway.push import templates as biometric
from gateway.simulators.zk_templates import fresh_template

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SimPushUser:
    pin: str
    name: str = ""
    card: str = ""


@dataclass
class SimPushStats:
    registrations: int = 0
    uploads_ok: int = 0
    uploads_failed: int = 0
    records_acknowledged: int = 0  # lines answered OK (resends included)
    polls: int = 0
    commands: list[tuple[int, str, int]] = field(default_factory=list)  # (id, command, return code)
    refused: int = 0  # 4xx answers (an unknown serial gets 403)
    last_error: str | None = None


class PushDeviceSimulator:
    def __init__(
        self,
        server: str,
        serial: str = "SIM-PUSH-0001",
        *,
        batch_size: int = 100,
        legacy: bool = False,
        delay_s: float | None = None,
        error_delay_s: float | None = None,
        clock_offset: timedelta = timedelta(0),
        zone: tzinfo | None = None,
        request_timeout_s: float = 5.0,
        biodata: bool = False,
        finger_version: int = 10,
        face_version: int = 39,
    ) -> None:
        parts = urlsplit(server)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"server: expected http://host:port, got {server!r}")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.serial = serial
        self.batch_size = batch_size
        self.legacy = legacy
        self.encoding = "latin-1" if legacy else "utf-8"
        self.delay_override_s = delay_s  # the gateway's Delay/ErrorDelay are whole seconds; tests go faster
        self.error_delay_override_s = error_delay_s
        self.clock_offset = clock_offset
        self.zone = zone  # the zone of the office it hangs in; None: this machine's
        self.request_timeout_s = request_timeout_s
        self.delay_s = 10.0
        self.error_delay_s = 30.0
        self.realtime = True
        self.users: dict[str, SimPushUser] = {}
        self.biodata = biodata and not legacy  # unified templates (BIODATA): current face/palm firmware
        self.algorithm_versions = {"fingerprint": finger_version, "face": face_version, "palm": 12}
        # (pin, modality, index) -> template bytes: what the terminal matches against
        self.templates: dict[tuple[str, str, int], bytes] = {}
        self._template_uploads: list[tuple[str, str]] = []  # (table, line) not yet taken by the server
        self.stats = SimPushStats()
        self.in_flight = False  # a request is on the wire, its answer not yet read
        self._records: list[protocol.AttlogRecord] = []  # stamp of record i is i + 1
        self._position = 0  # stamp of the last record the server answered OK for
        self._cleared = 0  # records before this index were wiped by CLEAR LOG (stamps keep counting on)
        self._operlog: list[str] = []
        self._results: list[str] = []  # command results not yet taken by the server
        self._registered = False
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the device's own data -------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        """The device clock: local wall time, plus whatever it is off by."""
        return self._wall_clock() + self.clock_offset

    def _wall_clock(self) -> datetime:
        return datetime.now(self.zone).replace(tzinfo=None, microsecond=0)

    def add_user(self, pin: str, name: str = "", card: str = "") -> None:
        with self._lock:
            self.users[pin] = SimPushUser(pin, name, card)

    def enrol(self, pin: str, modality: str = "fingerprint", index: int = 0) -> bytes:
        """Someone enrols at the terminal (the user is created if new): the template is stored and
        uploaded with its user, as firmware does after an enrolment."""
        data = fresh_template()
        with self._lock:
            user = self.users.setdefault(pin, SimPushUser(pin))
            self.templates[(pin, modality, index)] = data
            self._operlog.append(f"USER PIN={pin}\tName={user.name}\tPri=0\tPasswd=\tCard={user.card}\tGrp=1\tTZ=")
            tmp = base64.b64encode(data).decode()
            if self.biodata:
                kind = biometric.TYPE_OF_MODALITY[modality]
                line = (
                    f"BIODATA Pin={pin}\tNo={index}\tIndex=0\tValid=1\tDuress=0\tType={kind}"
                    f"\tMajorVer={self.algorithm_versions[modality]}\tMinorVer=0\tFormat=0\tTmp={tmp}"
                )
                self._template_uploads.append(("BIODATA", line))
            else:
                word = {"fingerprint": "FP", "face": "FACE"}[modality]
                line = f"{word} PIN={pin}\tFID={index}\tSize={len(tmp)}\tValid=1\tTMP={tmp}"
                self._template_uploads.append(("OPERLOG", line))
        self._wake.set()
        return data

    def templates_of(self, pin: str) -> dict[tuple[str, int], bytes]:
        with self._lock:
            return {(m, i): data for (p, m, i), data in self.templates.items() if p == pin}

    def add_punch(self, pin: str, local_time: datetime | None = None, status: int = 0, verify: int = 1) -> None:
        with self._lock:
            self._records.append(protocol.AttlogRecord(pin, local_time or self.now, status, verify))
        if self.realtime:
            self._wake.set()

    @property
    def records(self) -> list[protocol.AttlogRecord]:
        """The attendance log as the device holds it (what CLEAR LOG wiped is gone)."""
        with self._lock:
            return self._records[self._cleared :]

    @property
    def position(self) -> int:
        return self._position

    def pending(self) -> int:
        with self._lock:
            return len(self._records) - self._position

    # -- running ---------------------------------------------------------------------------------

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"push-sim-{self.serial}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self.request_timeout_s + 2)
            self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def _run(self) -> None:
        next_poll = 0.0
        while not self._stop.is_set():
            try:
                if not self._registered:
                    self._register()
                self._upload_pending()
                self._upload_operlog()
                self._upload_templates()
                if time.monotonic() >= next_poll:
                    self._poll_commands()
                    next_poll = time.monotonic() + self._delay()
            except _RequestFailed as exc:
                self.stats.last_error = str(exc)
                self._registered = False
                self._stop.wait(self._error_delay())  # firmware waits ErrorDelay, then starts over
                continue
            self._wake.wait(max(0.0, min(self._delay(), next_poll - time.monotonic())))
            self._wake.clear()

    def _delay(self) -> float:
        return self.delay_override_s if self.delay_override_s is not None else self.delay_s

    def _error_delay(self) -> float:
        return self.error_delay_override_s if self.error_delay_override_s is not None else self.error_delay_s

    # -- the protocol ----------------------------------------------------------------------------

    def _register(self) -> None:
        query = {"SN": self.serial, "options": "all", "pushver": "2.0.1" if self.legacy else "2.4.1"}
        if not self.legacy:
            query["language"] = "83"
        reply = self._request("GET", "/iclock/cdata", query)
        options = protocol.parse_options(reply)
        self.delay_s = float(options.get("Delay", self.delay_s))
        self.error_delay_s = float(options.get("ErrorDelay", self.error_delay_s))
        self.realtime = options.get("Realtime", "1") == "1"
        stamp = protocol.parse_stamp(options.get("Stamp" if self.legacy else "ATTLOGStamp"))
        with self._lock:
            if stamp is not None:
                self._position = min(stamp, len(self._records))
        self._registered = True
        self.stats.registrations += 1

    def _upload_pending(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                start = self._position
                batch = self._records[start : start + self.batch_size]
            if not batch:
                return
            last_stamp = start + len(batch)
            self._upload(batch, {"Stamp": str(last_stamp)})
            with self._lock:
                self._position = max(self._position, last_stamp)

    def _upload(self, batch: list[protocol.AttlogRecord], extra: dict[str, str]) -> None:
        try:
            reply = self._request(
                "POST",
                "/iclock/cdata",
                {"SN": self.serial, "table": "ATTLOG", **extra},
                protocol.format_attlog(batch).encode(),
            )
        except _RequestFailed:
            self.stats.uploads_failed += 1
            raise
        if not reply.startswith("OK"):
            self.stats.uploads_failed += 1
            raise _RequestFailed(f"upload answered {reply[:80]!r}")
        self.stats.uploads_ok += 1
        self.stats.records_acknowledged += len(batch)

    def _upload_operlog(self) -> None:
        with self._lock:
            lines = list(self._operlog)
        if not lines:
            return
        body = "".join(line + "\n" for line in lines).encode(self.encoding, errors="replace")
        reply = self._request("POST", "/iclock/cdata", {"SN": self.serial, "table": "OPERLOG", "OpStamp": "1"}, body)
        if not reply.startswith("OK"):
            raise _RequestFailed(f"operation log upload answered {reply[:80]!r}")
        with self._lock:
            del self._operlog[: len(lines)]

    def _upload_templates(self) -> None:
        with self._lock:
            waiting = list(self._template_uploads)
        for table, line in waiting:
            stamp = {"Stamp": "1"} if table == "BIODATA" else {"OpStamp": "1"}
            body = (line + "\n").encode(self.encoding, errors="replace")
            reply = self._request("POST", "/iclock/cdata", {"SN": self.serial, "table": table, **stamp}, body)
            if not reply.startswith("OK"):
                raise _RequestFailed(f"{table} upload answered {reply[:80]!r}")
            with self._lock:
                self._template_uploads.remove((table, line))

    def _poll_commands(self) -> None:
        self._send_results()
        query = {"SN": self.serial}
        if not self.legacy:
            with self._lock:
                users, records, fingers = len(self.users), len(self._records) - self._cleared, len(self.templates)
            query["INFO"] = f"Ver 8.0.4.2-20230101,{users},{fingers},{records},127.0.0.1,10,7,12,0,111"
        reply = self._request("GET", "/iclock/getrequest", query, decode=self.encoding)
        self.stats.polls += 1
        for command_id, text in protocol.parse_commands(reply):
            code, verb = self._execute(text)
            self.stats.commands.append((command_id, text, code))
            self._results.append(protocol.format_command_result(command_id, code, verb))
        self._send_results()

    def _send_results(self) -> None:
        if not self._results:
            return
        body = "".join(self._results).encode()
        reply = self._request("POST", "/iclock/devicecmd", {"SN": self.serial}, body)
        if not reply.startswith("OK"):
            raise _RequestFailed(f"command results answered {reply[:80]!r}")
        self._results.clear()

    def _execute(self, text: str) -> tuple[int, str]:
        verb = text.partition(" ")[0]
        try:
            for prefix, applies, run in self._command_table():
                if text.startswith(prefix) and applies:
                    return run(text.removeprefix(prefix)), "SET OPTIONS" if prefix == "SET OPTIONS " else "DATA"
            if text == "CLEAR LOG":  # the attendance records only; users and templates stay
                with self._lock:
                    self._cleared = len(self._records)
                    self._position = max(self._position, self._cleared)
                return protocol.RETURN_OK, "CLEAR"
            if text in ("INFO", "REBOOT"):
                if text == "REBOOT":
                    self._registered = False
                return protocol.RETURN_OK, text
        except (ValueError, KeyError, binascii.Error):
            return protocol.RETURN_BAD_PARAMETER, verb
        return protocol.RETURN_UNSUPPORTED, verb

    def _command_table(self) -> list[tuple[str, bool, Callable[[str], int]]]:
        """The commands this firmware understands: (prefix, whether this dialect has it, what it does)."""
        return [
            ("SET OPTIONS ", True, self._set_options),
            ("DATA UPDATE USERINFO ", not self.legacy, self._update_user),
            ("DATA USER ", self.legacy, self._update_user),
            ("DATA DELETE USERINFO ", True, lambda rest: self._delete_user(_fields(rest))),
            ("DATA DEL_USER ", True, lambda rest: self._delete_user(_fields(rest))),
            ("DATA UPDATE BIODATA ", self.biodata, lambda rest: self._store_template(_fields(rest), unified=True)),
            ("DATA DELETE BIODATA ", self.biodata, self._delete_biodata),
            (
                "DATA UPDATE FINGERTMP ",
                not self.legacy,
                lambda rest: self._store_template(_fields(rest), unified=False),
            ),
            ("DATA FP ", self.legacy, lambda rest: self._store_template(_fields(rest), unified=False)),
            ("DATA DELETE FINGERTMP ", True, self._delete_fingerprint),
            ("DATA DEL_FP ", True, self._delete_fingerprint),
            ("DATA QUERY ATTLOG", True, lambda rest: self._query_attlog(rest.strip())),
        ]

    def _set_options(self, rest: str) -> int:
        for option in rest.removeprefix("OPTIONS ").split(","):
            key, _, value = option.partition("=")
            if key.strip() == "DateTime":
                wanted = protocol.decode_zk_time(int(value))
                self.clock_offset = wanted - self._wall_clock()
        return protocol.RETURN_OK

    def _delete_biodata(self, rest: str) -> int:
        fields = _fields(rest)
        modality = biometric.BIODATA_TYPES[int(fields["type"])]
        return self._drop_template(fields["pin"], modality, int(fields["no"]))

    def _delete_fingerprint(self, rest: str) -> int:
        fields = _fields(rest)
        return self._drop_template(fields["pin"], "fingerprint", int(fields["fid"]))

    def _update_user(self, fields_text: str) -> int:
        fields = dict(field.partition("=")[::2] for field in fields_text.split("\t"))
        pin = fields["PIN"]
        if not pin:
            raise ValueError("no PIN")
        self.add_user(pin, fields.get("Name", ""), fields.get("Card", ""))
        with self._lock:
            self._operlog.append(f"USER PIN={pin}\tName={fields.get('Name', '')}\tPri=0\tPasswd=\tCard=\tGrp=1\tTZ=")
        return protocol.RETURN_OK

    def _delete_user(self, fields: dict[str, str]) -> int:
        pin = fields["pin"]
        with self._lock:
            self.users.pop(pin, None)
            for key in [key for key in self.templates if key[0] == pin]:  # the firmware deletes them too
                del self.templates[key]
        return protocol.RETURN_OK

    def _store_template(self, fields: dict[str, str], *, unified: bool) -> int:
        pin = fields["pin"]
        data = base64.b64decode(fields["tmp"], validate=True)
        if unified:
            modality, index = biometric.BIODATA_TYPES[int(fields["type"])], int(fields["no"])
            if int(fields.get("majorver") or 0) != self.algorithm_versions[modality]:
                return protocol.RETURN_BAD_PARAMETER  # another algorithm: the terminal cannot match it
        else:
            modality, index = "fingerprint", int(fields["fid"])
        if not data or pin not in self.users:
            return protocol.RETURN_BAD_PARAMETER  # the user must be written first
        with self._lock:
            self.templates[(pin, modality, index)] = data
        return protocol.RETURN_OK

    def _drop_template(self, pin: str, modality: str, index: int) -> int:
        with self._lock:
            self.templates.pop((pin, modality, index), None)
        return protocol.RETURN_OK

    def _query_attlog(self, condition: str) -> int:
        bounds = dict(part.partition("=")[::2] for part in condition.split("\t") if part)
        start = datetime.strptime(bounds["StartTime"], protocol.ATTLOG_TIME_FORMAT)
        end = datetime.strptime(bounds["EndTime"], protocol.ATTLOG_TIME_FORMAT)
        chosen = [r for r in self.records if start <= r.local_time <= end]
        for first in range(0, len(chosen), self.batch_size):
            self._upload(chosen[first : first + self.batch_size], {})
        return protocol.RETURN_OK

    def _request(
        self, method: str, path: str, query: dict[str, str], body: bytes | None = None, decode: str = "utf-8"
    ) -> str:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=self.request_timeout_s)
        headers = {"User-Agent": "iClock Proxy/1.09", "Connection": "close"}
        if body is not None:
            headers["Content-Type"] = "text/plain"
        self.in_flight = True
        try:
            connection.request(method, f"{path}?{urlencode(query)}", body=body, headers=headers)
            response = connection.getresponse()
            text = response.read().decode(decode, errors="replace")
        except (OSError, http.client.HTTPException) as exc:
            raise _RequestFailed(f"{method} {path}: {exc or type(exc).__name__}") from exc
        finally:
            self.in_flight = False
            connection.close()
        if response.status != 200:
            if 400 <= response.status < 500:
                self.stats.refused += 1
            raise _RequestFailed(f"{method} {path}: HTTP {response.status} {text[:120]!r}")
        return text


def _fields(text: str) -> dict[str, str]:
    """Tab-separated key=value fields, keys lower-cased (firmware writes `Pin` and `PIN`)."""
    return {key.strip().lower(): value for key, _, value in (part.partition("=") for part in text.split("\t"))}


class _RequestFailed(Exception):
    """A request the server did not answer as the protocol says: wait ErrorDelay and start over."""
