"""Small asyncio helpers shared by the gateway and the server.

Why not `asyncio.wait_for`: on Python 3.11 it swallows a cancellation that arrives in the same loop
turn as the awaited thing completes (CPython gh-86296, fixed in 3.12 by rebuilding it on
`asyncio.timeout`). A `while True` loop around it then survives `task.cancel()` and whoever awaits
the task at shutdown waits for ever: `kinerja demo` hung that way about one run in ten.
`asyncio.timeout` keeps the cancellation.
"""

from __future__ import annotations

import asyncio


async def wait_event(event: asyncio.Event, timeout_s: float) -> bool:
    """Wait until `event` is set or `timeout_s` passes; True if it was set. Cancellation always propagates."""
    try:
        async with asyncio.timeout(timeout_s):
            await event.wait()
    except TimeoutError:
        return False
    return True
