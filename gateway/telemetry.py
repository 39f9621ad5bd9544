"""Telemetry: the gateway's health as the centre sees it, published every minute (and on connect).

Read-only: it looks at the device coordinators' health and the queue's backlog and says what it sees.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from gateway.device_interface import Coordinator
from gateway.queue import PunchQueue
from wire import __version__
from wire.contract import DeviceTelemetry, Telemetry

log = logging.getLogger(__name__)


def _instant(epoch_s: float | None) -> datetime | None:
    return None if epoch_s is None else datetime.fromtimestamp(epoch_s, UTC)


def device_telemetry(coordinator: Coordinator) -> DeviceTelemetry:
    health = coordinator.health
    return DeviceTelemetry(
        name=coordinator.config.name,
        serial=health.serial,
        reachable=health.reachable,
        last_poll_ok_at=_instant(health.last_poll_ok_at),
        last_punch_at=health.last_punch_at,
        clock_drift_s=None if health.clock_drift_s is None else round(health.clock_drift_s, 1),
        record_count=health.record_count,
        record_capacity=health.record_capacity,
        last_error=health.last_error,
        held_punches=health.held_punches,
        quarantined=health.quarantined,
        anomalies=dict(health.anomalies),
    )


def snapshot(gateway_id: str, queue: PunchQueue, coordinators: Sequence[Coordinator], started_at: float) -> Telemetry:
    """One telemetry document, as of now. `started_at` is the process start on the monotonic clock."""
    backlog = queue.stats()
    oldest_age = None if backlog.oldest_queued_at is None else max(0.0, time.time() - backlog.oldest_queued_at)
    return Telemetry(
        gateway_id=gateway_id,
        version=__version__,
        uptime_s=round(time.monotonic() - started_at, 1),
        queued_punches=backlog.queued,
        in_flight_batches=backlog.in_flight_batches,
        oldest_queued_age_s=None if oldest_age is None else round(oldest_age, 1),
        rejected_punches=queue.rejected_count(),
        devices=tuple(device_telemetry(c) for c in coordinators),
    )


def certificate_expiry(path: str | None) -> datetime | None:
    """When the soonest certificate in a PEM file expires; None without a file, or one that cannot be read
    (logged: the uplink itself says soon enough whether the file works)."""
    if not path:
        return None
    try:
        from cryptography import x509

        with open(path, "rb") as pem:
            certificates = x509.load_pem_x509_certificates(pem.read())
    except (OSError, ValueError, ImportError) as exc:
        log.warning("cannot read the certificates in %s: %s", path, exc)
        return None
    return min(certificate.not_valid_after_utc for certificate in certificates)


async def publish_every(
    wait: Callable[[], Awaitable[None]], build: Callable[[], Telemetry], publish: Callable[[bytes], None]
) -> None:
    """Publish `build()`, then `await wait()`, forever. A failure is logged and the next turn comes."""
    while True:
        try:
            publish(build().to_json())
        except Exception:  # telemetry must never take the gateway down
            log.exception("could not publish telemetry")
        await wait()
