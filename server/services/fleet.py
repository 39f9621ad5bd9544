"""What the fleet view reads of the gateways' telemetry history (server/telemetry_models.py): each gateway's
last reports (its uptime, clock and certificate; whether its backlog grows), and one gateway's last day as
queue depth and punches per minute, in buckets for a chart."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

from server.auth import Scope
from server.errors import NotFound
from server.models import Gateway, GatewayCommand
from server.telemetry_models import GatewayTelemetrySample
from wire.contract import CommandAction

# A backlog "grows" when it rose from each report to the next over this many reports.
GROWING_OVER = 4


@dataclass(frozen=True, slots=True)
class Bucket:
    """One stretch of the chart: its start, the deepest queue reported in it (None: no report), and the
    punches the centre acknowledged in it, per minute."""

    start: datetime
    queue_depth: int | None
    punches_per_minute: float


async def recent_samples(gateway_ids: list[str], count: int = GROWING_OVER) -> dict[str, list[GatewayTelemetrySample]]:
    """Each gateway's last `count` reports, oldest first (one indexed query a gateway)."""
    found: dict[str, list[GatewayTelemetrySample]] = {}
    for gateway_id in gateway_ids:
        rows = await GatewayTelemetrySample.filter(gateway_id=gateway_id).order_by("-received_at", "-id").limit(count)
        found[gateway_id] = list(reversed(rows))
    return found


def backlog_growing(samples: list[GatewayTelemetrySample]) -> bool:
    """The queue deeper at every one of the last GROWING_OVER reports than at the one before."""
    if len(samples) < GROWING_OVER:
        return False
    depths = [sample.queued_punches for sample in samples[-GROWING_OVER:]]
    return all(later > earlier for earlier, later in pairwise(depths))


async def gateway_in_scope(scope: Scope, gateway_id: str) -> Gateway:
    gateway = await Gateway.get_or_none(gateway_id=gateway_id)
    if gateway is None or not scope.sees_unit(gateway.unit_code):
        raise NotFound(f"gateway {gateway_id!r}: tidak ada dalam cakupan Anda (no such gateway in your scope)")
    return gateway


async def last_day(gateway_id: str, now: datetime, buckets: int = 48) -> list[Bucket]:
    """The last 24 hours in `buckets` equal stretches. Punches per minute come from the rise of the
    gateway's relayed_punches counter between reports; a counter that fell (the gateway restarted) counts
    from zero again."""
    span = timedelta(hours=24) / buckets
    start = now - timedelta(hours=24)
    rows = await GatewayTelemetrySample.filter(gateway_id=gateway_id, received_at__gte=start - span).order_by(
        "received_at", "id"
    )
    depth: list[int | None] = [None] * buckets
    punches = [0] * buckets
    previous: GatewayTelemetrySample | None = None
    for row in rows:
        index = int((row.received_at - start) / span)
        if 0 <= index < buckets:
            depth[index] = max(depth[index] or 0, row.queued_punches)
            if previous is not None:
                restarted = row.relayed_punches < previous.relayed_punches
                punches[index] += row.relayed_punches - (0 if restarted else previous.relayed_punches)
        previous = row
    minutes = span.total_seconds() / 60
    return [Bucket(start + i * span, depth[i], round(punches[i] / minutes, 2)) for i in range(buckets)]


async def announced_versions(gateway_ids: list[str], recent: int = 500) -> list[str]:
    """The versions the centre announced to these gateways (their latest `upgrade` commands): a gateway
    below the newest of them runs an old version even before any gateway runs the new one."""
    rows = (
        await GatewayCommand.filter(gateway_id__in=gateway_ids, action=CommandAction.UPGRADE.value)
        .order_by("-created_at")
        .limit(recent)
        .values_list("args", flat=True)
    )
    return [str(args["version"]) for args in rows if isinstance(args, dict) and isinstance(args.get("version"), str)]
