"""Database models. Instants are stored in UTC with the office's UTC offset beside them, so a
punch's local wall time (what the employee saw on the device) is always recoverable."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class Unit(Model):
    """An organisational unit: ministry, directorate general, directorate or centre, UPT."""

    code = fields.CharField(max_length=63, primary_key=True)
    name = fields.CharField(max_length=200)
    parent: fields.ForeignKeyNullableRelation[Unit] = fields.ForeignKeyField(
        "models.Unit", related_name="children", null=True, on_delete=fields.RESTRICT
    )

    class Meta:
        table = "unit"


class Employee(Model):
    """An ASN, identified by the 18-digit NIP."""

    nip = fields.CharField(max_length=18, primary_key=True)
    name = fields.CharField(max_length=200)
    unit: fields.ForeignKeyRelation[Unit] = fields.ForeignKeyField(
        "models.Unit", related_name="employees", on_delete=fields.RESTRICT
    )

    class Meta:
        table = "employee"


class DevicePin(Model):
    """Devices know a person only by a short PIN, unique within a unit's devices."""

    id = fields.IntField(primary_key=True)
    unit: fields.ForeignKeyRelation[Unit] = fields.ForeignKeyField("models.Unit", on_delete=fields.CASCADE)
    pin = fields.CharField(max_length=24)
    employee: fields.ForeignKeyRelation[Employee] = fields.ForeignKeyField(
        "models.Employee", related_name="pins", on_delete=fields.CASCADE
    )

    class Meta:
        table = "device_pin"
        unique_together = (("unit", "pin"),)


class Punch(Model):
    """One stored punch. The unique key makes storing idempotent: a replayed batch adds nothing."""

    id = fields.BigIntField(primary_key=True)
    device_serial = fields.CharField(max_length=64)
    pin = fields.CharField(max_length=24)
    punched_at = fields.DatetimeField()
    utc_offset_minutes = fields.SmallIntField()
    state = fields.SmallIntField()
    verify = fields.SmallIntField()
    unit_code = fields.CharField(max_length=63, db_index=True)
    gateway_id = fields.CharField(max_length=63)
    batch_id = fields.CharField(max_length=32)
    # Why a punch is suspect (device clock in the future, reset to 2000 ...); scoring ignores flagged punches.
    flag = fields.CharField(max_length=32, null=True)
    received_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "punch"
        unique_together = (("device_serial", "pin", "punched_at", "state"),)
        indexes = (("unit_code", "punched_at"),)


class QuarantinedMessage(Model):
    """A message that broke the contract, kept whole with the reason, for a person to look at."""

    id = fields.BigIntField(primary_key=True)
    topic = fields.CharField(max_length=255)
    payload = fields.BinaryField()
    reason = fields.TextField()
    gateway_id = fields.CharField(max_length=63, null=True)
    received_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "quarantined_message"
