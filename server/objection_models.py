"""Employees' objections (keberatan) to a day's category, a rejected request or activity claim, or a
month's result, and the decision on each (server/services/objections.py; who decides is in the request
policy, scoring/presets/requests). The decision and its reason stay on the row the employee reads."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class ObjectionStatus(StrEnum):
    PENDING = "pending"
    UPHELD = "upheld"
    REJECTED = "rejected"


class Objection(Model):
    """One objection. `day` is the day objected to, the rejected request's first day, the claim's day, or
    the month's first day. `decider` is who the policy named ("second_supervisor", "bureau") and
    `decider_nip` the superior's superior it resolved to at filing. `remedy` is what an upheld objection
    recorded ("excuse", "punch", "request", "claim", "correction" (a closed month's payroll correction) with
    `remedy_ref` its row, or "" for none)."""

    id = fields.IntField(primary_key=True)
    nip = fields.CharField(max_length=18, db_index=True)
    unit_code = fields.CharField(max_length=63, db_index=True)
    subject = fields.CharField(max_length=16)
    day = fields.DateField()
    request_id = fields.IntField(null=True)
    claim_id = fields.CharField(max_length=32, null=True)
    category = fields.CharField(max_length=32, default="")  # the day's category as the employee saw it
    reason = fields.TextField()
    decider = fields.CharField(max_length=32)
    decider_nip = fields.CharField(max_length=18, null=True)
    status = fields.CharField(max_length=16, default=ObjectionStatus.PENDING.value, db_index=True)
    decision_reason = fields.TextField(default="")
    decided_by = fields.CharField(max_length=64, null=True)
    decided_at = fields.DatetimeField(null=True)
    remedy = fields.CharField(max_length=16, default="")
    remedy_ref = fields.CharField(max_length=64, default="")
    policy = fields.CharField(max_length=100, default="")
    filed_by = fields.CharField(max_length=64)
    filed_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "objection"
        indexes = (("status", "decider_nip"),)
