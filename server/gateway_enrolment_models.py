"""Gateway enrolment codes (issue 20): one row per code issued, the code itself never stored, only its digest.
The rules are in server/services/gateway_enrolment.py.

Its table is created and changed by the migrations in server/migrations (server/db.py).
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class GatewayEnrolment(Model):
    """One code issued for a gateway. `used_at` set: spent. Only the code's digest is kept."""

    id = fields.BigIntField(primary_key=True)
    gateway_id = fields.CharField(max_length=63, db_index=True)
    unit_code = fields.CharField(max_length=63)
    code_hash = fields.CharField(max_length=64, unique=True)
    timezone = fields.CharField(max_length=4, default="WIB")  # the office's zone: the devices' clocks show it
    devices = fields.JSONField(default=list)  # what the gateway.toml lists, as the administrator entered it
    created_by = fields.CharField(max_length=64)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    used_from = fields.CharField(max_length=64, null=True)
    broker_login = fields.CharField(max_length=16, null=True)  # "dynsec" or "static"
    passwd_line = fields.CharField(max_length=300, null=True)  # static fallback: the broker's password-file line

    class Meta:
        table = "gateway_enrolment"
