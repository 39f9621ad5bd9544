"""Database models. Instants are stored in UTC with the office's UTC offset beside them, so a
punch's local wall time (what the employee saw on the device) is always recoverable.

The tables are created and changed by tortoise's migrations in server/migrations (`kinerja server
migrate`): a model change here needs a migration there, written by `tortoise -c server.db.TORTOISE_ORM
makemigrations` (docs/server.md). Docstrings become table comments: no ';' in them (a test checks).
"""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class UnitKind(StrEnum):
    """The levels of a ministry's tree, top down."""

    MINISTRY = "ministry"
    DIRECTORATE_GENERAL = "directorate_general"
    DIRECTORATE = "directorate"
    CENTRE = "centre"
    UPT = "upt"


class Unit(Model):
    """An organisational unit: ministry, directorate general, directorate or centre, UPT."""

    code = fields.CharField(max_length=63, primary_key=True)
    name = fields.CharField(max_length=200)
    kind = fields.CharField(max_length=24, default=UnitKind.UPT.value)
    parent: fields.ForeignKeyNullableRelation[Unit] = fields.ForeignKeyField(
        "models.Unit", related_name="children", null=True, on_delete=fields.RESTRICT
    )

    class Meta:
        table = "unit"


class Office(Model):
    """A building with devices, in one of the three zones: its zone turns device wall time into instants."""

    code = fields.CharField(max_length=63, primary_key=True)
    name = fields.CharField(max_length=200)
    unit: fields.ForeignKeyRelation[Unit] = fields.ForeignKeyField(
        "models.Unit", related_name="offices", on_delete=fields.RESTRICT
    )
    zone = fields.CharField(max_length=4)  # WIB, WITA or WIT

    class Meta:
        table = "office"


class Employee(Model):
    """An ASN, identified by the 18-digit NIP (birth date, appointment month and sex are encoded in it)."""

    nip = fields.CharField(max_length=18, primary_key=True)
    name = fields.CharField(max_length=200)
    unit: fields.ForeignKeyRelation[Unit] = fields.ForeignKeyField(
        "models.Unit", related_name="employees", on_delete=fields.RESTRICT, db_index=True
    )  # indexed: every unit-month's scoring lists its employees (a scan of all of them per unit before 0015)
    position = fields.CharField(max_length=200, default="")
    supervisor: fields.ForeignKeyNullableRelation[Employee] = fields.ForeignKeyField(
        "models.Employee", related_name="subordinates", null=True, on_delete=fields.SET_NULL
    )
    birth_date = fields.DateField(null=True)
    appointment_month = fields.CharField(max_length=7, null=True)  # YYYY-MM
    sex = fields.SmallIntField(null=True)  # 1 male, 2 female

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


class Gateway(Model):
    """An office gateway. A row appears with its first birth message even when nobody registered it
    (`registered` false), so an unknown gateway talking to the broker is visible, not silent."""

    gateway_id = fields.CharField(max_length=63, primary_key=True)
    unit_code = fields.CharField(max_length=63)
    office: fields.ForeignKeyNullableRelation[Office] = fields.ForeignKeyField(
        "models.Office", related_name="gateways", null=True, on_delete=fields.SET_NULL
    )
    registered = fields.BooleanField(default=False)
    online = fields.BooleanField(default=False)
    version = fields.CharField(max_length=64, null=True)
    status_at = fields.DatetimeField(null=True)  # the gateway's time of its last birth or will
    last_seen_at = fields.DatetimeField(null=True)  # the server's time of the last message from it
    queued_punches = fields.IntField(null=True)
    in_flight_batches = fields.IntField(null=True)
    oldest_queued_age_s = fields.FloatField(null=True)
    rejected_punches = fields.IntField(null=True)
    telemetry_at = fields.DatetimeField(null=True)

    class Meta:
        table = "gateway"


class Device(Model):
    """A fingerprint device, known by its serial: telemetry fields are the gateway's last report.
    `gateway_id` is the gateway it is registered to, set by an administrator (never by telemetry): only
    that gateway's punches and telemetry for this serial are taken."""

    serial = fields.CharField(max_length=64, primary_key=True)
    name = fields.CharField(max_length=100, default="")
    profile = fields.CharField(max_length=100, default="")
    office: fields.ForeignKeyNullableRelation[Office] = fields.ForeignKeyField(
        "models.Office", related_name="devices", null=True, on_delete=fields.SET_NULL
    )
    gateway_id = fields.CharField(max_length=63, null=True)
    reachable = fields.BooleanField(null=True)
    last_poll_ok_at = fields.DatetimeField(null=True)
    last_punch_at = fields.DatetimeField(null=True)
    clock_drift_s = fields.FloatField(null=True)
    record_count = fields.IntField(null=True)
    record_capacity = fields.IntField(null=True)
    last_error = fields.TextField(null=True)
    telemetry_at = fields.DatetimeField(null=True)
    held_punches = fields.IntField(default=0)  # suspect punches the gateway holds for review
    quarantined = fields.IntField(default=0)  # raw records or lines the gateway could not read as punches

    class Meta:
        table = "device"


class Punch(Model):
    """One stored punch. The unique key makes storing idempotent: a replayed batch adds nothing.
    `employee_nip` is filled once the unit's PIN is mapped, which may be long after the punch arrived."""

    id = fields.BigIntField(primary_key=True)
    device_serial = fields.CharField(max_length=64)
    pin = fields.CharField(max_length=24)
    punched_at = fields.DatetimeField()
    utc_offset_minutes = fields.SmallIntField()
    state = fields.SmallIntField()
    verify = fields.SmallIntField()
    # Indexed by (unit_code, punched_at) below; a second index on unit_code alone would only slow inserts.
    unit_code = fields.CharField(max_length=63)
    gateway_id = fields.CharField(max_length=63)
    batch_id = fields.CharField(max_length=32)
    # Why a punch is suspect (device clock in the future, reset to 2000 ...); scoring ignores flagged punches.
    flag = fields.CharField(max_length=32, null=True)
    received_at = fields.DatetimeField(auto_now_add=True)
    employee_nip = fields.CharField(max_length=18, null=True)

    class Meta:
        table = "punch"
        # Per owning unit (migration 0004): another unit's gateway naming the same serial cannot collide.
        unique_together = (("unit_code", "device_serial", "pin", "punched_at", "state"),)
        indexes = (("unit_code", "punched_at"),)


class QuarantinedMessage(Model):
    """A message that broke the contract, kept whole with the reason, for a person to look at."""

    id = fields.BigIntField(primary_key=True)
    topic = fields.CharField(max_length=255)
    payload = fields.BinaryField()
    reason = fields.TextField()
    gateway_id = fields.CharField(max_length=63, null=True)
    received_at = fields.DatetimeField(auto_now_add=True)
    # SHA-256 of topic and payload: the same message delivered again is recognised, not kept twice.
    digest = fields.CharField(max_length=64, null=True, unique=True)

    class Meta:
        table = "quarantined_message"


class PendingDevice(Model):
    """A serial the centre has never seen, as one gateway reports it (BioTime's "not authorised" area):
    its punches are held until an administrator of the unit assigns the device to that gateway."""

    id = fields.BigIntField(primary_key=True)
    serial = fields.CharField(max_length=64)
    gateway_id = fields.CharField(max_length=63)
    unit_code = fields.CharField(max_length=63, db_index=True)
    name = fields.CharField(max_length=100, default="")
    first_seen_at = fields.DatetimeField()
    last_seen_at = fields.DatetimeField()

    class Meta:
        table = "pending_device"
        unique_together = (("gateway_id", "serial"),)


class HeldBatch(Model):
    """A punch batch of a pending device, kept whole: stored (in arrival order) once the device is assigned."""

    id = fields.BigIntField(primary_key=True)
    gateway_id = fields.CharField(max_length=63)
    unit_code = fields.CharField(max_length=63)
    device_serial = fields.CharField(max_length=64)
    batch_id = fields.CharField(max_length=32)
    punches = fields.IntField()
    payload = fields.BinaryField()
    received_at = fields.DatetimeField()

    class Meta:
        table = "held_batch"
        unique_together = (("gateway_id", "batch_id"),)


class GatewayCommand(Model):
    """A command sent to a gateway and, once it answers, its result."""

    command_id = fields.CharField(max_length=64, primary_key=True)
    gateway_id = fields.CharField(max_length=63, db_index=True)
    unit_code = fields.CharField(max_length=63)
    action = fields.CharField(max_length=32)
    args = fields.JSONField(default=dict)
    status = fields.CharField(max_length=16, default="sent")  # sent, ok, failed
    detail = fields.TextField(null=True)
    results = fields.JSONField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    answered_at = fields.DatetimeField(null=True)

    class Meta:
        table = "gateway_command"
