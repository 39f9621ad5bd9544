"""Stored monthly scoring results: one row per employee and month, rewritten only when it changes."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from server.db_fields import JSONTextField


class MonthlyScore(Model):
    """What :func:`scoring.score_month` found for one employee in one month.

    The figures are basis points (1 bp = 0.01 %) and minutes, as the scoring library computes them:
    ``explain`` is the library's explanation (days, punches, activities, rules), shown to the employee.
    ``digest`` fingerprints the explanation: a recomputation with the same inputs and policy gives the
    same digest and leaves the row untouched.
    """

    id = fields.BigIntField(primary_key=True)
    nip = fields.CharField(max_length=18)
    unit_code = fields.CharField(max_length=63, db_index=True)
    year = fields.SmallIntField()
    month = fields.SmallIntField()
    policy_name = fields.CharField(max_length=100)
    policy_effective_from = fields.DateField()
    policy_fingerprint = fields.CharField(max_length=32)
    planned_days = fields.SmallIntField()
    score_bp = fields.IntField()
    allowance_deduction_bp = fields.IntField()
    discipline_deduction_bp = fields.IntField()
    performance_bp = fields.IntField()
    discipline_bp = fields.IntField()
    effective_minutes = fields.IntField()
    target_minutes = fields.IntField()
    codes = fields.JSONField(default=dict)
    explain = JSONTextField(default=dict)  # text on PostgreSQL, not jsonb: written far more than queried
    digest = fields.CharField(max_length=64)
    computed_at = fields.DatetimeField()

    class Meta:
        table = "monthly_score"
        # per unit: an employee transferred mid-month has a result in each unit for its own days
        unique_together = (("nip", "unit_code", "year", "month"),)
        indexes = (("unit_code", "year", "month"),)
