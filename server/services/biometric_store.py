"""The centre's biometric store: templates sealed under the key file's current key, every write and read
of one in the audit trail (biometric_access), deletion of a person's biometrics as one call.

Nothing here logs, returns to the API or quarantines a template: callers get plaintext only from
`read_templates`, which the device sync (server/services/areas.py) calls to write templates to devices.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from tortoise.transactions import in_transaction

from server.biometric_models import BiometricAccess, BiometricTemplate
from server.db import close_database, open_database
from server.models import Device, DevicePin
from server.services.biometric_keys import BiometricKeyError, Keyring, Slot, new_keyring
from wire.contract import BiometricAck, BiometricAckStatus, BiometricUpload, TopicAddress

log = logging.getLogger(__name__)

# A device the centre has not assigned yet may be assigned soon: its gateway offers the template again.
PENDING_DEVICE_RETRY_S = 3600


@dataclass(frozen=True, slots=True)
class PlainTemplate:
    """A template opened for a device command; never logged, never in an API answer."""

    pin: str
    modality: str
    index: int
    template_format: str
    data: bytes

    def __repr__(self) -> str:
        shown = f"{self.pin!r}, {self.modality!r}, {self.index}, {self.template_format!r}"
        return f"PlainTemplate({shown}, {len(self.data)} bytes)"


def slot_of(row: BiometricTemplate) -> Slot:
    return Slot(row.unit_code, row.pin, row.modality, row.index, row.template_format)


async def _audit(row: BiometricTemplate, actor: str, action: str, purpose: str, connection: object = None) -> None:
    await BiometricAccess.create(
        actor=actor[:120], action=action, purpose=purpose[:200], template_id=row.id, unit_code=row.unit_code,
        pin=row.pin, modality=row.modality, index=row.index, template_format=row.template_format,
        key_id=row.key_id, using_db=connection,
    )  # fmt: skip


class BiometricStore:
    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    async def store_upload(self, address: TopicAddress, upload: BiometricUpload) -> tuple[BiometricAck, str | None]:
        """Store a valid upload from a device registered to the sending gateway: the ack, and the NIP whose
        template was written now (None: nothing new, or nobody's PIN yet), for the areas to be told."""
        device = await Device.get_or_none(serial=upload.device_serial)
        if device is None or device.gateway_id is None:
            return BiometricAck(
                upload.upload_id, BiometricAckStatus.DEFERRED, retry_after_s=PENDING_DEVICE_RETRY_S,
                reason=f"perangkat {upload.device_serial} belum didaftarkan (device not assigned yet): offer it later",
            ), None  # fmt: skip
        if device.gateway_id != address.gateway:
            return BiometricAck(
                upload.upload_id, BiometricAckStatus.REJECTED,
                reason=f"perangkat {upload.device_serial} terdaftar pada gateway lain "
                f"(device {upload.device_serial} is registered to another gateway)",
            ), None  # fmt: skip
        slot = Slot(address.unit, upload.pin, upload.modality, upload.index, upload.template_format)
        mapping = await DevicePin.get_or_none(unit_id=address.unit, pin=upload.pin)
        async with in_transaction() as connection:
            row = (
                await BiometricTemplate.filter(
                    unit_code=slot.unit_code, pin=slot.pin, modality=slot.modality, index=slot.index,
                    template_format=slot.template_format,
                ).using_db(connection).select_for_update().first()
            )  # fmt: skip
            if row is not None and row.last_upload_id == upload.upload_id:
                return BiometricAck(upload.upload_id, BiometricAckStatus.STORED), None  # a resend: stored already
            key_id, ciphertext = self.keyring.seal(slot, upload.template)
            if row is None:
                row = await BiometricTemplate.create(
                    unit_code=slot.unit_code, pin=slot.pin, modality=slot.modality, index=slot.index,
                    template_format=slot.template_format, ciphertext=ciphertext, key_id=key_id,
                    size=len(upload.template), source_device_serial=upload.device_serial,
                    source_gateway_id=address.gateway, last_upload_id=upload.upload_id,
                    employee_nip=mapping.employee_id if mapping else None,  # type: ignore[attr-defined]
                    using_db=connection,
                )  # fmt: skip
            else:
                row.ciphertext, row.key_id, row.size = ciphertext, key_id, len(upload.template)
                row.source_device_serial, row.source_gateway_id = upload.device_serial, address.gateway
                row.last_upload_id = upload.upload_id
                if mapping is not None:
                    row.employee_nip = mapping.employee_id  # type: ignore[attr-defined]
                await row.save(using_db=connection)
            await _audit(row, f"gateway:{address.gateway}", "write", f"enrolled on device {upload.device_serial}",
                         connection)  # fmt: skip
        return BiometricAck(upload.upload_id, BiometricAckStatus.STORED), row.employee_nip

    async def read_templates(
        self, unit_code: str, pins: list[str], *, actor: str, purpose: str
    ) -> dict[str, list[PlainTemplate]]:
        """The templates of these PINs, opened; one audit row per template read."""
        opened: dict[str, list[PlainTemplate]] = {}
        rows = await BiometricTemplate.filter(unit_code=unit_code, pin__in=pins).order_by("pin", "modality", "index")
        for row in rows:
            try:
                data = self.keyring.open(slot_of(row), row.key_id, bytes(row.ciphertext))
            except BiometricKeyError as exc:
                log.error("template %s (PIN %s, %s %s) not readable: %s", row.id, row.pin, row.modality, row.index, exc)
                continue
            await _audit(row, actor, "read", purpose)
            opened.setdefault(row.pin, []).append(
                PlainTemplate(row.pin, row.modality, row.index, row.template_format, data)
            )
        return opened


async def delete_templates(unit_code: str, pin: str, *, actor: str, purpose: str) -> int:
    """Delete a person's templates at the centre (the audit rows stay); returns how many."""
    async with in_transaction() as connection:
        rows = await BiometricTemplate.filter(unit_code=unit_code, pin=pin).using_db(connection)
        for row in rows:
            await _audit(row, actor, "delete", purpose, connection)
            await row.delete(using_db=connection)
    return len(rows)


async def rotate_key(
    keyring: Keyring, *, actor: str = "cli:rotate-biometric-key", batch: int = 200
) -> tuple[Keyring, int]:
    """Add a new key to the key file, re-encrypt every template under it, then drop keys nobody uses.
    The file holds the new key before any template does, and keeps the old ones until none is left under
    them: a rotation cut off anywhere loses nothing; running it again finishes it (with one more key)."""
    ring = keyring.with_new_key()
    ring.save()
    moved = 0
    while True:
        rows = await BiometricTemplate.exclude(key_id=ring.current).order_by("id").limit(batch)
        if not rows:
            break
        for row in rows:
            async with in_transaction() as connection:
                plain = ring.open(slot_of(row), row.key_id, bytes(row.ciphertext))
                row.key_id, row.ciphertext = ring.seal(slot_of(row), plain)
                await row.save(update_fields=["key_id", "ciphertext", "updated_at"], using_db=connection)
                await _audit(row, actor, "reencrypt", "key rotation", connection)
            moved += 1
    in_use = set(await BiometricTemplate.all().distinct().values_list("key_id", flat=True))
    ring = ring.keeping_only(in_use)  # type: ignore[arg-type]
    ring.save()
    return ring, moved


async def rotate_configured_key(db_url: str, key_file: str) -> str:
    """`kinerja server rotate-biometric-key`: the first run creates the key file; later ones rotate."""
    from pathlib import Path

    if not key_file:
        raise BiometricKeyError("set KINERJA_BIOMETRIC_KEY_FILE to the key file's path (outside the database)")
    path = Path(key_file)
    if not path.exists():
        ring = new_keyring(path)
        return f"created {path} with key {ring.current}; templates will be sealed under it"
    keyring = Keyring.load(path)
    context = await open_database(db_url, create_schema=True)
    try:
        ring, moved = await rotate_key(keyring)
    finally:
        await close_database(context)
    return f"{moved} templates re-encrypted under key {ring.current}; the key file holds {', '.join(ring.key_ids)}"


async def read_templates_of(
    store: BiometricStore, nips: list[str], *, actor: str, purpose: str
) -> dict[str, list[PlainTemplate]]:
    """The templates of these employees (wherever enrolled), one per slot (modality, index): the newest,
    as a device takes one template a slot. One audit row per template read."""
    chosen: dict[tuple[str, str, int], BiometricTemplate] = {}
    for row in await BiometricTemplate.filter(employee_nip__in=nips).order_by("updated_at", "id"):
        chosen[(row.employee_nip or "", row.modality, row.index)] = row  # a later row wins
    opened: dict[str, list[PlainTemplate]] = {}
    for (nip, _modality, _index), row in sorted(chosen.items()):
        try:
            data = store.keyring.open(slot_of(row), row.key_id, bytes(row.ciphertext))
        except BiometricKeyError as exc:
            log.error("template %s (%s %s) not readable: %s", row.id, row.modality, row.index, exc)
            continue
        await _audit(row, actor, "read", purpose)
        opened.setdefault(nip, []).append(PlainTemplate(row.pin, row.modality, row.index, row.template_format, data))
    return opened


async def delete_templates_of(nip: str, *, actor: str, purpose: str) -> int:
    """Delete an employee's templates at the centre, wherever enrolled (the audit rows stay)."""
    async with in_transaction() as connection:
        rows = await BiometricTemplate.filter(employee_nip=nip).using_db(connection)
        for row in rows:
            await _audit(row, actor, "delete", purpose, connection)
            await row.delete(using_db=connection)
    return len(rows)
