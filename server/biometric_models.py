"""Tables of the centre's biometric store (issue 18): templates encrypted at rest, and the audit trail
of every read and write of one. Templates are specific personal data under UU 27/2022.

Their tables are created and changed by the migrations in server/migrations (server/db.py).
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class BiometricTemplate(Model):
    """One template of one person's finger, face or palm, as a device family's format holds it.

    `ciphertext` is AES-256-GCM (server/services/biometric_keys.py): a 12-byte nonce, then the sealed template.
    The row's identity (unit, PIN, modality, index, format) is its associated data, so a ciphertext moved
    to another row does not open. `key_id` names the key of the key file that sealed it, the key itself
    never enters the database. `size` is the plaintext's length, for pages that must never show bytes."""

    id = fields.BigIntField(primary_key=True)
    unit_code = fields.CharField(max_length=63)
    pin = fields.CharField(max_length=24)
    employee_nip = fields.CharField(max_length=18, null=True, db_index=True)
    modality = fields.CharField(max_length=16)  # fingerprint | face | palm
    index = fields.SmallIntField()
    template_format = fields.CharField(max_length=64)  # "<modality>:<algorithm>:<major version>"
    ciphertext = fields.BinaryField()
    key_id = fields.CharField(max_length=32, db_index=True)
    size = fields.IntField()
    source_device_serial = fields.CharField(max_length=64)
    source_gateway_id = fields.CharField(max_length=63)
    last_upload_id = fields.CharField(max_length=32)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "biometric_template"
        unique_together = (("unit_code", "pin", "modality", "index", "template_format"),)


class BiometricAccess(Model):
    """Who did what to which template, and when: one row per write, read, re-encryption or deletion.
    Kept when the template is deleted (the slot is named, never its bytes)."""

    id = fields.BigIntField(primary_key=True)
    at = fields.DatetimeField(auto_now_add=True)
    actor = fields.CharField(max_length=120)  # "gateway:<id>", "user:<name>", "cli:rotate-biometric-key"
    action = fields.CharField(max_length=16)  # write | read | reencrypt | delete
    purpose = fields.CharField(max_length=200)
    template_id = fields.BigIntField(null=True)
    unit_code = fields.CharField(max_length=63)
    pin = fields.CharField(max_length=24)
    modality = fields.CharField(max_length=16)
    index = fields.SmallIntField()
    template_format = fields.CharField(max_length=64)
    key_id = fields.CharField(max_length=32, null=True)

    class Meta:
        table = "biometric_access"
        indexes = (("unit_code", "pin"),)
