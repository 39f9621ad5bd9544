"""Crash points: where the kill-anywhere tests make a real gateway process die as if by `kill -9`.

`KINERJA_GATEWAY_CRASH_AT=relay.published@3` kills the process with SIGKILL the third time it passes
the point named `relay.published`. Without the variable (production) a crash point costs one dict
lookup. SIGKILL, not an exception or exit: no `finally`, no atexit, no flush, exactly what a power
cut or the OOM killer leaves behind.
"""

from __future__ import annotations

import os
import signal
import sys

CRASH_ENV = "KINERJA_GATEWAY_CRASH_AT"

# Every point the gateway passes, in the order a punch meets them; the tests kill at each.
CRASH_POINTS = (
    "device.reading",  # inside a device session, the whole log read, not handed over
    "device.live_event",  # a live punch event received from the device, not handed over
    "queue.enqueueing",  # inside the queue transaction, some punches inserted
    "queue.enqueued",  # committed, before the relay was woken
    "relay.claimed",  # a batch claimed and committed, not published
    "relay.published",  # handed to the MQTT client, maybe not on the wire yet
    "relay.sent",  # marked as sent
    "ack.received",  # the server's ack arrived, queue untouched
    "queue.acknowledging",  # inside the transaction that forgets the batch
    "ack.done",  # the batch forgotten, the broker not yet told (no PUBACK)
)


def _parse(spec: str) -> tuple[str, int] | None:
    if not spec:
        return None
    name, _, count = spec.partition("@")
    if name not in CRASH_POINTS:
        raise ValueError(f"{CRASH_ENV}: unknown crash point {name!r}; known: {', '.join(CRASH_POINTS)}")
    return name, int(count or 1)


_armed = _parse(os.environ.get(CRASH_ENV, ""))
_passes: dict[str, int] = {}


def crash_point(name: str) -> None:
    """Die here by SIGKILL if the environment asks for it."""
    if _armed is None or _armed[0] != name:
        return
    _passes[name] = _passes.get(name, 0) + 1
    if _passes[name] >= _armed[1]:
        sys.stderr.write(f"crash point {name} reached (pass {_passes[name]}): SIGKILL\n")
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)


def is_armed(name: str) -> bool:
    """Whether this process is set to die at `name` (so a wrapper is worth putting in place)."""
    return _armed is not None and _armed[0] == name
