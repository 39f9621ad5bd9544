"""Areas (BioTime's area): a set of devices an employee may punch at, and who is assigned to each, with
the PIN the centre gave them there (issue 18). Every device of an area holds exactly its members.

Their tables are created and changed by the migrations in server/migrations (server/db.py).
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class Area(Model):
    """A group of devices, e.g. a unit's offices, owned by a unit for who may manage it."""

    code = fields.CharField(max_length=63, primary_key=True)
    name = fields.CharField(max_length=200)
    unit_code = fields.CharField(max_length=63, db_index=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "area"


class AreaDevice(Model):
    """A device in an area: at most one area a device, so a PIN unique in the area is unique on it."""

    device_serial = fields.CharField(max_length=64, primary_key=True)
    area: fields.ForeignKeyRelation[Area] = fields.ForeignKeyField(
        "models.Area", related_name="devices", on_delete=fields.CASCADE
    )
    added_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "area_device"


class AreaMember(Model):
    """An employee assigned to an area, with the PIN every device of the area knows them by."""

    id = fields.BigIntField(primary_key=True)
    area: fields.ForeignKeyRelation[Area] = fields.ForeignKeyField(
        "models.Area", related_name="members", on_delete=fields.CASCADE
    )
    employee_nip = fields.CharField(max_length=18, db_index=True)
    pin = fields.CharField(max_length=9)
    added_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "area_member"
        unique_together = (("area", "employee_nip"), ("area", "pin"))


class DeviceSyncCommand(Model):
    """A sync_users command the centre sent for one device (its result is the gateway_command row's)."""

    command_id = fields.CharField(max_length=64, primary_key=True)
    device_serial = fields.CharField(max_length=64, db_index=True)
    area_code = fields.CharField(max_length=63)
    part = fields.CharField(max_length=16)  # "users" (the complete list) or "templates" (a page)
    users = fields.IntField()
    templates = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "device_sync_command"
