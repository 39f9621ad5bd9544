"""Employee history: each dated change to an employee's unit, office, position, grade, supervisor or status.

A new module (not new fields on server.models.Employee) because an assignment is effective-dated: an
employee transferred on the 15th belongs to the old unit before it and to the new one after, and the
month results and payroll of both units read the assignment valid on each day. Each row holds from
``valid_from`` until the next row of the same NIP. The employee row keeps the assignment valid today,
so code that only needs the present reads it as before.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class EmployeeAssignment(Model):
    """An employee's unit, office, position, grade, supervisor and status from valid_from until the next row."""

    id = fields.BigIntField(primary_key=True)
    nip = fields.CharField(max_length=18, db_index=True)
    valid_from = fields.DateField()
    unit_code = fields.CharField(max_length=63)
    office_code = fields.CharField(max_length=63, null=True)
    position = fields.CharField(max_length=200, default="")
    grade = fields.SmallIntField(null=True)
    supervisor_nip = fields.CharField(max_length=18, null=True)
    status = fields.CharField(max_length=24, default="active")
    action = fields.CharField(max_length=16, default="edit")
    reason = fields.TextField(default="")
    recorded_by = fields.CharField(max_length=64, default="")
    recorded_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "employee_assignment"
        unique_together = (("nip", "valid_from"),)
        indexes = (("unit_code", "valid_from"),)


class UnitGoLive(Model):
    """The day a unit is scored from: days before it are no planned days for anyone in it."""

    unit_code = fields.CharField(max_length=63, primary_key=True)
    live_from = fields.DateField()
    recorded_by = fields.CharField(max_length=64, default="")

    class Meta:
        table = "unit_go_live"
