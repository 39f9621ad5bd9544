"""Push devices: terminals that call the gateway over HTTP with ZKTeco's push protocol (ADMS, `/iclock/`).

`protocol` parses and encodes the wire text and knows nothing of HTTP or the queue; `server` is the
aiohttp endpoint on the office LAN; `device` is the per-device coordinator that queues commands for a
device until it polls for them. See docs/push-devices.md for the protocol as implemented.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.config import GatewayConfig
    from gateway.push.frontend import PushFrontend
    from gateway.queue import PunchQueue


def push_frontend(config: GatewayConfig, queue: PunchQueue, on_new_punches: Callable[[], None]) -> PushFrontend | None:
    """The push side of the gateway when the config has a push device, else None (aiohttp stays unimported)."""
    if not any(device.protocol == "push" for device in config.devices):
        return None
    from gateway.push.frontend import PushFrontend

    return PushFrontend(config, queue, on_new_punches)
