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


class ScheduledChange(Model):
    """What a dated change does on its day, beyond its history row: the employee row and grade follow it
    and the employee's areas (and so their devices) change. Recorded before its day it waits as pending
    until the life-cycle runner applies it on that day in the office's zone (server/services/life_cycle.py).
    Applied, `areas` names the areas whose devices are told, `devices_told_at` says they were."""

    id = fields.BigIntField(primary_key=True)
    assignment_id = fields.BigIntField(unique=True)  # the EmployeeAssignment row of the change
    nip = fields.CharField(max_length=18, db_index=True)
    valid_from = fields.DateField()
    zone = fields.CharField(max_length=4, default="WIB")  # whose midnight the day starts at
    status = fields.CharField(max_length=16, default="pending")  # pending | applied | cancelled
    areas = fields.JSONField(default=list)  # area codes whose devices are told the change
    lease_until = fields.DatetimeField(null=True)
    leased_by = fields.CharField(max_length=96, null=True)
    recorded_by = fields.CharField(max_length=64, default="")
    recorded_at = fields.DatetimeField(auto_now_add=True)
    done_by = fields.CharField(max_length=64, default="")  # who applied (the runner) or cancelled it
    done_at = fields.DatetimeField(null=True)
    devices_told_at = fields.DatetimeField(null=True)

    class Meta:
        table = "scheduled_change"
        indexes = (("status", "valid_from"),)
