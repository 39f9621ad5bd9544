"""A serial attendance terminal on a pseudo-terminal: it prints one line per punch, as its profile says.

The gateway opens `path`, a symlink to the pty's terminal side, as it would open a stable
/dev/serial/by-id/... link to a USB-serial adapter. Unplugging removes the link and closes the pty,
so the gateway's open port fails the way a pulled cable does; plugging back makes a new pty behind
the same link. Knobs: every `garble_every`-th line is garbled (a flipped byte, a cut line, line
noise), and `send_raw` puts any bytes on the wire.

For the tests and for `kinerja simulate serial`. Lines are formatted from the profile's
`line_template`, so the simulator and the driver read one description of the model.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import tty
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Self

from gateway.devices.serial_line import SerialLineFormat, checksum_of

log = logging.getLogger(__name__)

GARBLE_KINDS = ("flipped", "cut", "noise")


class SerialTerminalSimulator:
    def __init__(self, line_format: SerialLineFormat, path: Path | str, *, garble_every: int = 0) -> None:
        if line_format.line_template is None:
            raise ValueError(f"{line_format.source}: serial.line_template: the simulator needs one to print lines")
        self.line_format = line_format
        self.path = Path(path)
        self.garble_every = garble_every
        self.lines_sent = 0
        self.garbled_sent: list[bytes] = []
        self._master: int | None = None
        self._slave: int | None = None
        self._lock = threading.Lock()

    @property
    def plugged_in(self) -> bool:
        return self._master is not None

    def plug_in(self) -> Self:
        """Make a pty and point `path` at it (again, after an unplug)."""
        with self._lock:
            if self._master is not None:
                raise RuntimeError("the terminal is already plugged in")
            master, slave = os.openpty()
            tty.setraw(slave)  # no echo, no line editing: bytes pass as a UART passes them
            self._master, self._slave = master, slave
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            self.path.symlink_to(os.ttyname(slave))
        log.info("serial terminal on %s (%s)", self.path, os.ttyname(slave))
        return self

    def unplug(self) -> None:
        """The cable is pulled: the link vanishes and the open port reads end in an error."""
        with self._lock:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            for fd in (self._master, self._slave):
                if fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            self._master = self._slave = None

    def __enter__(self) -> Self:
        return self.plug_in()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.unplug()

    def format_line(self, pin: str, local_time: datetime, state: int = 0, verify: int = 1) -> bytes:
        """The line the terminal prints for a punch, checksum and line end included."""
        fmt = self.line_format
        assert fmt.line_template is not None
        text = fmt.line_template.format(
            pin=pin,
            timestamp=local_time.strftime(fmt.timestamp_format),
            state=_printed(state, fmt.state_map),
            verify=_printed(verify, fmt.verify_map),
        )
        body = text.encode(fmt.encoding)
        if fmt.checksum != "none":
            body += b"*%02X" % checksum_of(fmt.checksum, body)
        return body + fmt.line_end_bytes

    def punch(self, pin: str, local_time: datetime | None = None, state: int = 0, verify: int = 1) -> bytes:
        """Someone punches: the terminal prints the line (garbled, when the knob says this one is)."""
        line = self.format_line(pin, (local_time or datetime.now()).replace(microsecond=0), state, verify)
        self.lines_sent += 1
        if self.garble_every and self.lines_sent % self.garble_every == 0:
            line = garble(line, GARBLE_KINDS[(self.lines_sent // self.garble_every) % len(GARBLE_KINDS)])
            self.garbled_sent.append(line)
        self.send_raw(line)
        return line

    def send_raw(self, data: bytes) -> None:
        with self._lock:
            if self._master is None:
                log.info("serial terminal unplugged: %r went nowhere", data[:40])
                return
            os.write(self._master, data)


def garble(line: bytes, kind: str) -> bytes:
    """Damage a line as a bad cable or a wrong baud rate does; the line end survives (or comes twice)."""
    if kind == "flipped":  # the top bit flipped in the middle, as a framing error reads
        middle = len(line) // 2
        return line[:middle] + bytes((line[middle] ^ 0x80,)) + line[middle + 1 :]
    if kind == "cut":  # the start of the line lost, as when the gateway opened the port mid-line
        return line[len(line) // 2 :]
    if kind == "noise":  # framing errors read as bytes above 0x7F
        return b"\xfe\x8f" + line[2:]
    raise ValueError(f"garble kind {kind!r} is not one of {GARBLE_KINDS}")


def _printed(code: int, mapping: dict[str, int] | None) -> str:
    if mapping is None:
        return str(code)
    for text, value in mapping.items():
        if value == code:
            return text
    raise ValueError(f"code {code} is not printable by this model (known: {mapping})")
