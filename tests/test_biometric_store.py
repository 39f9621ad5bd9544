"""The centre's encrypted template store (issue 18): a finger enrolled on a ZK terminal travels through
the real gateway (its template check, through the unmodified pyzk), a real Mosquitto and the real server
on PostgreSQL; the server seals it under the key file's key and answers `stored`, so the gateway forgets
it. The database holds only ciphertext; every write, read and re-encryption is in the audit trail; the
key rotates without losing the template; a device of another gateway is refused, an unassigned one
deferred."""

from __future__ import annotations

import asyncio
import base64
import os
import uuid
from datetime import UTC, datetime

import pytest

from gateway.config import DeviceConfig, GatewayConfig, RelayConfig
from gateway.service import Gateway
from gateway.simulators.zk import ZKSimulator
from server.biometric_models import BiometricAccess, BiometricTemplate
from server.models import Device, QuarantinedMessage
from server.services.biometric_keys import BiometricKeyError, Keyring, Slot, new_keyring
from server.services.biometric_store import BiometricStore, rotate_key
from tests.conftest import unique_slug
from tests.helpers import running_server
from tests.test_enrolment import eventually
from wire.contract import BiometricAck, BiometricAckStatus, BiometricUpload, TopicKind, topic_for
from wire.mqtt import AsyncMqttClient, IncomingMessage, MqttSettings
from wire.zones import office_zone

WITA = office_zone("WITA")


async def test_an_enrolment_is_stored_encrypted_audited_and_survives_a_key_rotation(
    tmp_path, mosquitto: MqttSettings, postgres_url: str
):
    unit, gateway_id = unique_slug("unit"), unique_slug("gw")
    key_file = tmp_path / "keys" / "biometric.keys"
    key_file.parent.mkdir()
    first_key = new_keyring(key_file)
    with ZKSimulator(serial="STORE-ZK-1") as terminal:
        terminal.add_user("1001", "Ani")
        finger = terminal.enrol_finger("1001", 3).data
        config = GatewayConfig(
            gateway_id=gateway_id, unit=unit, zone=WITA, state_dir=tmp_path / "gw", mqtt=mosquitto,
            devices=(DeviceConfig("door", "127.0.0.1", terminal.port, timeout_s=5, poll_interval_s=30),),
            relay=RelayConfig(resend_after_s=1, max_backoff_s=2),
        )  # fmt: skip
        async with running_server(postgres_url, mosquitto, units=(unit,), biometric_key_file=str(key_file)):
            await Device.create(serial="STORE-ZK-1", name="door", gateway_id=gateway_id)
            gateway = Gateway(config)
            await gateway.start()
            try:
                assert await gateway.enrolment.check_all() == 1

                async def stored() -> bool:
                    return gateway.biometrics.stored == 1 and gateway.biometrics.pending() == 0

                await eventually(stored, "the upload stored at the centre and forgotten by the gateway")
            finally:
                await gateway.stop()
            rows = await BiometricTemplate.filter(unit_code=unit)
            writes = await BiometricAccess.filter(unit_code=unit, action="write")
            quarantined = await QuarantinedMessage.filter(gateway_id=gateway_id)

            assert len(rows) == 1
            row = rows[0]
            assert (row.pin, row.modality, row.index, row.template_format, row.size) == (
                "1001", "fingerprint", 3, "fingerprint:ZKFinger:10", len(finger),
            )  # fmt: skip
            assert row.key_id == first_key.current and row.source_device_serial == "STORE-ZK-1"
            sealed = bytes(row.ciphertext)
            assert finger[:16] not in sealed and base64.b64encode(finger)[:16] not in sealed
            assert [(w.actor, w.template_id) for w in writes] == [(f"gateway:{gateway_id}", row.id)]
            assert quarantined == []  # nothing kept aside, with or without its template

            store = BiometricStore(Keyring.load(key_file))
            opened = await store.read_templates(unit, ["1001"], actor="user:test", purpose="a test reads it")
            assert [t.data for t in opened["1001"]] == [finger]
            assert "\\x" not in repr(opened) and str(len(finger)) in repr(opened)

            ring, moved = await rotate_key(Keyring.load(key_file))
            assert moved == 1 and ring.current != first_key.current
            assert Keyring.load(key_file).key_ids == (ring.current,)  # the old key dropped once unused
            assert key_file.stat().st_mode & 0o077 == 0
            again = await BiometricStore(Keyring.load(key_file)).read_templates(
                unit, ["1001"], actor="user:test", purpose="after the rotation"
            )
            assert [t.data for t in again["1001"]] == [finger]
            trail = await BiometricAccess.filter(unit_code=unit).order_by("id").values_list("action", "actor")
    assert trail == [
        ("write", f"gateway:{gateway_id}"), ("read", "user:test"),
        ("reencrypt", "cli:rotate-biometric-key"), ("read", "user:test"),
    ]  # fmt: skip


async def test_an_upload_for_a_device_of_another_gateway_is_rejected_and_an_unassigned_one_deferred(
    tmp_path, mosquitto: MqttSettings, postgres_url: str
):
    unit, gateway_id, other = unique_slug("unit"), unique_slug("gw"), unique_slug("gw")
    key_file = tmp_path / "biometric.keys"
    new_keyring(key_file)
    acks: list[BiometricAck] = []
    client = AsyncMqttClient(mosquitto, client_id=f"test-{uuid.uuid4().hex[:8]}")

    async def heard(message: IncomingMessage) -> None:
        acks.append(BiometricAck.from_json(message.payload))
        client.ack(message)

    client.subscribe(topic_for(unit, gateway_id, TopicKind.BIOMETRIC_ACKS), heard)

    def upload(serial: str) -> BiometricUpload:
        return BiometricUpload(
            uuid.uuid4().hex, gateway_id, unit, serial, "7", "fingerprint", 1, "fingerprint:ZKFinger:10",
            b"\x05" * 1200, datetime.now(UTC),
        )  # fmt: skip

    async with running_server(postgres_url, mosquitto, units=(unit,), biometric_key_file=str(key_file)):
        await Device.create(serial="OTHERS-1", gateway_id=other)
        await client.start()
        try:
            await client.wait_connected(10)
            await asyncio.sleep(0.3)
            foreign, unknown = upload("OTHERS-1"), upload("NEVER-SEEN-1")
            for sent in (foreign, unknown):
                await client.publish_confirmed(topic_for(unit, gateway_id, TopicKind.BIOMETRICS), sent.to_json())

            async def answered() -> bool:
                return len(acks) == 2

            await eventually(answered, "both answers")
        finally:
            await client.close()
        kept = await BiometricTemplate.filter(unit_code=unit).count()
    by_id = {ack.upload_id: ack for ack in acks}
    assert by_id[foreign.upload_id].status is BiometricAckStatus.REJECTED
    assert "registered to another gateway" in (by_id[foreign.upload_id].reason or "")
    assert by_id[unknown.upload_id].status is BiometricAckStatus.DEFERRED
    assert kept == 0


def test_a_sealed_template_opens_only_in_its_own_slot_and_only_with_its_key(tmp_path):
    ring = new_keyring(tmp_path / "keys")
    slot = Slot("unit-1", "1001", "fingerprint", 3, "fingerprint:ZKFinger:10")
    key_id, sealed = ring.seal(slot, b"\x01" * 500)
    assert ring.open(slot, key_id, sealed) == b"\x01" * 500
    with pytest.raises(BiometricKeyError, match="does not open"):
        ring.open(Slot("unit-1", "1002", "fingerprint", 3, "fingerprint:ZKFinger:10"), key_id, sealed)
    with pytest.raises(BiometricKeyError, match="does not open"):
        ring.open(slot, key_id, sealed[:-1] + bytes([sealed[-1] ^ 1]))
    with pytest.raises(BiometricKeyError, match="no longer holds"):
        ring.open(slot, "k-gone", sealed)
    assert repr(ring) == f"Keyring(current={ring.current!r}, ids={[ring.current]!r})"  # never a key


def test_a_key_file_others_can_read_is_refused(tmp_path):
    path = tmp_path / "keys"
    new_keyring(path)
    os.chmod(path, 0o644)
    with pytest.raises(BiometricKeyError, match="chmod 600"):
        Keyring.load(path)
    path.write_text("k1 not-base64\n")
    os.chmod(path, 0o600)
    with pytest.raises(BiometricKeyError, match="line 1"):
        Keyring.load(path)
