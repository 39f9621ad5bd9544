"""Configuration from the centre (issue 20): each revision of a gateway's configuration as it was sent, and
how the gateway answered (server/services/gateway_config.py); and the revision each gateway says it runs."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class GatewayConfigRevision(Model):
    """One revision sent to a gateway: the document, who sent it, and the gateway's answer.

    status: sent (no answer yet), applied, rejected (the gateway refused it, or is too old to know the
    command: `reason` says which), failed (the broker did not take it)."""

    id = fields.BigIntField(primary_key=True)
    gateway_id = fields.CharField(max_length=63, db_index=True)
    unit_code = fields.CharField(max_length=63)
    revision = fields.IntField()
    document = fields.JSONField()
    created_by = fields.CharField(max_length=150)
    created_at = fields.DatetimeField()
    command_id = fields.CharField(max_length=64, null=True)
    status = fields.CharField(max_length=16, default="sent")
    reason = fields.TextField(null=True)
    answered_at = fields.DatetimeField(null=True)

    class Meta:
        table = "gateway_config_revision"
        unique_together = (("gateway_id", "revision"),)


class GatewayConfigRunning(Model):
    """The revision a gateway last said (in its telemetry) that it runs (null: its config file's own)."""

    gateway_id = fields.CharField(max_length=63, primary_key=True)
    revision = fields.IntField(null=True)
    reported_at = fields.DatetimeField()

    class Meta:
        table = "gateway_config_running"
