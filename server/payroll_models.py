"""Grades, month closes, payroll snapshots, late corrections and the audit trail.

A new module (not new fields on server.models.Employee) because a grade is effective-dated: an employee
promoted or transferred on the 15th holds one grade before it and another after, and the allowance is
paid pro rata across both. Each row is one grade held from ``first_day`` to ``last_day`` (None: still held).
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class EmployeeGrade(Model):
    """A grade (kelas jabatan 1-17) and employment status (pns, cpns, pppk) held over a span of days."""

    id = fields.BigIntField(primary_key=True)
    nip = fields.CharField(max_length=18, db_index=True)
    grade = fields.SmallIntField()
    status = fields.CharField(max_length=8, default="pns")
    first_day = fields.DateField()
    last_day = fields.DateField(null=True)
    recorded_by = fields.CharField(max_length=64, default="")
    recorded_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "employee_grade"


class UnitSignatory(Model):
    """Who signs a unit's payroll report: the unit head and the treasurer (bendahara)."""

    unit_code = fields.CharField(max_length=63, primary_key=True)
    head_name = fields.CharField(max_length=200, default="")
    head_nip = fields.CharField(max_length=18, default="")
    head_title = fields.CharField(max_length=200, default="")
    treasurer_name = fields.CharField(max_length=200, default="")
    treasurer_nip = fields.CharField(max_length=18, default="")
    office_heading = fields.CharField(max_length=300, default="")

    class Meta:
        table = "unit_signatory"


class MonthClose(Model):
    """A unit-month the bureau closed: its payroll lines are frozen in PayrollLine from then on."""

    id = fields.BigIntField(primary_key=True)
    unit_code = fields.CharField(max_length=63)
    year = fields.SmallIntField()
    month = fields.SmallIntField()
    closed_by = fields.CharField(max_length=64)
    closed_at = fields.DatetimeField()
    allowance_policy = fields.CharField(max_length=100)

    class Meta:
        table = "month_close"
        unique_together = (("unit_code", "year", "month"),)


class PayrollLine(Model):
    """One employee's line of a closed month, as it stood at the close (or after a recorded correction)."""

    id = fields.BigIntField(primary_key=True)
    close: fields.ForeignKeyRelation[MonthClose] = fields.ForeignKeyField(
        "models.MonthClose", related_name="lines", on_delete=fields.CASCADE
    )
    nip = fields.CharField(max_length=18)
    name = fields.CharField(max_length=200)
    position = fields.CharField(max_length=200, default="")
    grade = fields.CharField(max_length=16)
    status = fields.CharField(max_length=8)
    gross = fields.BigIntField()
    deduction_bp = fields.IntField()
    cut = fields.BigIntField()
    net = fields.BigIntField()
    explain = fields.JSONField(default=dict)

    class Meta:
        table = "payroll_line"
        unique_together = (("close", "nip"),)


class PayrollCorrection(Model):
    """A change to a closed month: never silent, always who, when, why, and the figures before and after."""

    id = fields.BigIntField(primary_key=True)
    close: fields.ForeignKeyRelation[MonthClose] = fields.ForeignKeyField(
        "models.MonthClose", related_name="corrections", on_delete=fields.CASCADE
    )
    nip = fields.CharField(max_length=18)
    reason = fields.TextField()
    corrected_by = fields.CharField(max_length=64)
    corrected_at = fields.DatetimeField()
    net_before = fields.BigIntField()
    net_after = fields.BigIntField()
    gross_before = fields.BigIntField()
    gross_after = fields.BigIntField()

    class Meta:
        table = "payroll_correction"


class AuditEntry(Model):
    """One change a user made (grade set, month closed, correction, signatories), for the bureau to read."""

    id = fields.BigIntField(primary_key=True)
    at = fields.DatetimeField()
    username = fields.CharField(max_length=64)
    role = fields.CharField(max_length=24)
    action = fields.CharField(max_length=64)
    target = fields.CharField(max_length=200)
    unit_code = fields.CharField(max_length=63, null=True, db_index=True)
    detail = fields.JSONField(default=dict)

    class Meta:
        table = "audit_entry"
