"""Employees' requests (leave, official travel, work from home, a correction of attendance), their
evidence, and the corrected punches approved corrections become.

A request goes through the steps its type's approval tier names (server/services/requests.py, the rules in
scoring/presets/requests). An approved leave or travel becomes an excuse_record row (the excuses the
scoring already reads), an approved correction a corrected_punch row: kept apart from the device punches
in its own table, read beside them by the scoring and shown as corrected in the day's explanation.
"""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class RequestStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class EmployeeRequest(Model):
    """One request of one employee: the days asked for, the steps to decide it and each decision made.
    `steps` are the approvers in order, `step` the index of the one deciding now. For a correction the
    punch asked for is in `punch_at` (UTC, with the office's offset) and `punch_state` (0 in, 1 out)."""

    id = fields.IntField(primary_key=True)
    nip = fields.CharField(max_length=18, db_index=True)
    unit_code = fields.CharField(max_length=63, db_index=True)
    kind = fields.CharField(max_length=64)
    first_day = fields.DateField()
    last_day = fields.DateField()
    reason = fields.TextField(default="")
    punch_at = fields.DatetimeField(null=True)
    punch_state = fields.SmallIntField(null=True)
    utc_offset_minutes = fields.SmallIntField(default=420)
    status = fields.CharField(max_length=16, default=RequestStatus.PENDING.value, db_index=True)
    steps = fields.JSONField(default=list)
    step = fields.SmallIntField(default=0)
    decisions = fields.JSONField(default=list)  # [{step, approver, by, role, at, decision, reason}]
    decision_reason = fields.TextField(default="")  # the rejection's reason, as the employee reads it
    policy = fields.CharField(max_length=100, default="")
    filed_by = fields.CharField(max_length=64)
    filed_at = fields.DatetimeField(auto_now_add=True)
    decided_at = fields.DatetimeField(null=True)
    excuse_id = fields.IntField(null=True)  # the excuse_record an approved leave became

    class Meta:
        table = "employee_request"
        indexes = (("status", "unit_code"),)


class RequestEvidence(Model):
    """A file attached to a request (a doctor's letter, an assignment letter, a photo of the device),
    kept whole, apart from the request so lists never load it."""

    id = fields.IntField(primary_key=True)
    request: fields.ForeignKeyRelation[EmployeeRequest] = fields.ForeignKeyField(
        "models.EmployeeRequest", related_name="evidence", on_delete=fields.CASCADE
    )
    filename = fields.CharField(max_length=200)
    content_type = fields.CharField(max_length=100)
    size = fields.IntField()
    data = fields.BinaryField()
    uploaded_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "request_evidence"


class CorrectedPunch(Model):
    """A punch an approved correction of attendance adds (a forgotten punch, a broken device): never in
    the punch table, so a device's own record stays what the device sent."""

    id = fields.IntField(primary_key=True)
    nip = fields.CharField(max_length=18)
    unit_code = fields.CharField(max_length=63)
    punched_at = fields.DatetimeField()
    utc_offset_minutes = fields.SmallIntField()
    state = fields.SmallIntField()
    request: fields.ForeignKeyRelation[EmployeeRequest] = fields.ForeignKeyField(
        "models.EmployeeRequest", related_name="corrected_punches", on_delete=fields.RESTRICT
    )
    approved_by = fields.CharField(max_length=64)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "corrected_punch"
        indexes = (("nip", "punched_at"),)
