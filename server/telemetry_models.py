"""The gateways' recent telemetry (issue 20's fleet view): one row a report, kept for HISTORY_DAYS and pruned as
new reports come (server/status.py), for the per-gateway chart and for what the fleet shows of each gateway's
last report (uptime, clock, certificate) and of its trend (a backlog growing)."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

HISTORY_DAYS = 7


class GatewayTelemetrySample(Model):
    """One telemetry report as received: `clock_offset_s` is the gateway's clock at sending minus the centre's
    at receipt (network delay included: seconds off are a clock to look at, not a transit)."""

    id = fields.BigIntField(primary_key=True)
    gateway_id = fields.CharField(max_length=63)
    received_at = fields.DatetimeField()
    version = fields.CharField(max_length=64)
    uptime_s = fields.FloatField()
    queued_punches = fields.IntField()
    relayed_punches = fields.BigIntField(default=0)
    clock_offset_s = fields.FloatField()
    tls = fields.BooleanField(null=True)
    tls_expires_at = fields.DatetimeField(null=True)

    class Meta:
        table = "gateway_telemetry_sample"
        indexes = (("gateway_id", "received_at"),)
