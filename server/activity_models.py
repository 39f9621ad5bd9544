"""Activity claims (e-Kinerja) as entered by employees and decided by their supervisors.

The scoring library's `scoring.activities.Claim` is the rule-bearing value; this table is where the
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
    state = fields.CharField(max_length=24, default="submitted")  # scoring.activities.ClaimState
    reason = fields.TextField(default="")
    decided_by = fields.CharField(max_length=64, null=True)
    decided_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "activity_claim"
        indexes = (("nip", "start"),)
