"""Activity claims (e-Kinerja) as entered by employees and decided by their supervisors, and the
excused days (leave, official travel, work from home) administrators record.

The scoring library's `scoring.Claim` is the rule-bearing value; this table is where the
claims live between entry and scoring. Times are UTC; the office zone is the unit's.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class ActivityClaimRecord(Model):
    claim_id = fields.CharField(max_length=32, primary_key=True)
    nip = fields.CharField(max_length=18, db_index=True)
    unit_code = fields.CharField(max_length=63, db_index=True)
    activity = fields.CharField(max_length=64)
    activity_name = fields.CharField(max_length=200)
    start = fields.DatetimeField()
    quantity = fields.IntField()
    minutes = fields.IntField()
    output = fields.CharField(max_length=64, default="")
    evidence = fields.TextField(default="")
    state = fields.CharField(max_length=24, default="submitted")  # scoring.ClaimState
    reason = fields.TextField(default="")
    decided_by = fields.CharField(max_length=64, null=True)
    decided_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "activity_claim"
        indexes = (("nip", "start"),)


class ExcuseRecord(Model):
    """Leave, official travel, work from home: days an employee needs no punches, as the policy's
    excuse kinds (`annual_leave`, `sick_leave`, `official_travel`, ...), recorded by an administrator."""

    id = fields.IntField(primary_key=True)
    nip = fields.CharField(max_length=18, db_index=True)
    unit_code = fields.CharField(max_length=63, db_index=True)
    kind = fields.CharField(max_length=64)
    first_day = fields.DateField()
    last_day = fields.DateField()
    note = fields.TextField(default="")
    recorded_by = fields.CharField(max_length=64)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "excuse_record"
