"""Areas end to end (issue 18), through the real gateway, a real Mosquitto and the real server on
PostgreSQL, with ZK simulators behind the unmodified pyzk: an employee assigned to an area is written to
every device of that area (and not to a device of another area) with one PIN; a finger enrolled on one
device of the area is stored sealed at the centre and written to the others; removal takes the user off
the area's devices; the ops view lists users, templates by modality and each device's last sync, and no
answer carries template bytes; deletion on request reaches every device."""

from __future__ import annotations

import asyncio
import base64
import time

from gateway.config import DeviceConfig, GatewayConfig, RelayConfig
from gateway.service import Gateway as GatewayService
from gateway.simulators.zk import ZKSimulator
from server.area_models import AreaMember
from server.biometric_models import BiometricAccess, BiometricTemplate
from server.models import Device, DevicePin, Employee, Gateway, GatewayCommand, Unit
from server.services.biometric_keys import new_keyring
from tests.conftest import unique_slug
from tests.helpers import running_server
from wire.mqtt import MqttSettings
from wire.zones import office_zone

WITA = office_zone("WITA")
NIP_ANI = "198001012005012001"
NIP_BUDI = "198502022010011002"


async def settled(what: str, condition, timeout_s: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s} s")
        await asyncio.sleep(0.2)


async def all_answered() -> bool:
    return not await GatewayCommand.filter(status="sent").exists()


async def test_an_area_holds_its_members_and_an_enrolment_on_one_device_reaches_the_others(
    tmp_path, mosquitto: MqttSettings, postgres_url: str
):
    unit, gateway_id = unique_slug("unit"), unique_slug("gw")
    key_file = tmp_path / "biometric.keys"
    new_keyring(key_file)
    with (
        ZKSimulator(serial="AREA-A") as a, ZKSimulator(serial="AREA-B") as b,
        ZKSimulator(serial="AREA-C") as c, ZKSimulator(serial="AREA-D") as d,
    ):  # fmt: skip
        d.add_user("9", "Stranger")  # not a member of the device's area: removed by its first sync
        config = GatewayConfig(
            gateway_id=gateway_id, unit=unit, zone=WITA, state_dir=tmp_path / "gw", mqtt=mosquitto,
            devices=tuple(
                DeviceConfig(name, "127.0.0.1", sim.port, timeout_s=5, poll_interval_s=30)
                for name, sim in (("a", a), ("b", b), ("c", c), ("d", d))
            ),
            relay=RelayConfig(resend_after_s=1, max_backoff_s=2),
        )  # fmt: skip
        async with running_server(postgres_url, mosquitto, units=(unit,), biometric_key_file=str(key_file)) as client:
            await Unit.create(code=unit, name="Balai Uji")
            await Gateway.create(gateway_id=gateway_id, unit_code=unit, registered=True)
            for name in "abcd":
                await Device.create(serial=f"AREA-{name.upper()}", name=name, gateway_id=gateway_id)
            await Employee.create(nip=NIP_ANI, name="Ani Suryani", unit_id=unit)
            await Employee.create(nip=NIP_BUDI, name="Budi", unit_id=unit)
            await DevicePin.create(unit_id=unit, pin="1", employee_id=NIP_BUDI)  # PIN 1 is Budi's already
            gateway = GatewayService(config)
            await gateway.start()
            try:
                await gateway.relay.mqtt.wait_connected(10)
                await asyncio.sleep(0.3)
                for code, serials in (("gedung-utama", "ABC"), ("gudang", "D")):
                    response = await client.post(f"/api/v1/units/{unit}/areas", json={"code": code, "name": code})
                    assert response.status == 201, await response.text()
                    for letter in serials:
                        response = await client.post(
                            f"/api/v1/units/{unit}/areas/{code}/devices", json={"serial": f"AREA-{letter}"}
                        )
                        assert response.status == 201, await response.text()
                await settled("the empty area's syncs answered", all_answered)
                assert d.users == []  # gudang has no members yet: its device holds nobody
                response = await client.post(f"/api/v1/units/{unit}/areas/gudang/members", json={"nip": NIP_BUDI})
                assert (await response.json())["pin"] == "1"  # Budi keeps the PIN he has
                await settled("Budi's sync answered", all_answered)

                response = await client.post(f"/api/v1/units/{unit}/areas/gedung-utama/members", json={"nip": NIP_ANI})
                assert response.status == 201, await response.text()
                pin = (await response.json())["pin"]
                assert pin == "2"  # 1 is mapped to Budi in the unit: no collision
                await settled("the member's syncs answered", all_answered)
                assert all([(u.pin, u.name) for u in sim.users] == [("2", "Ani Suryani")] for sim in (a, b, c))

                a.enrol_finger(pin, 6)  # on device A only
                finger = a.fingerprints_of(pin)[6]
                assert await gateway.enrolment.check_all() == 1

                async def copied() -> bool:
                    return b.fingerprints_of(pin) == {6: finger} and c.fingerprints_of(pin) == {6: finger}

                await settled("the finger copied to B and C", copied)
                await settled("the template pages answered", all_answered)
                echoes = await gateway.enrolment.check_all()  # the copies are the centre's: not reported back

                view = await client.get(f"/api/v1/units/{unit}/areas/gedung-utama/device-users")
                assert view.status == 200
                view_text = await view.text()
                shown = await view.json()
                commands = await (await client.get(f"/api/v1/gateways/{gateway_id}/commands")).text()

                with b._lock:  # device B reset to empty (a factory reset, or a replacement unit)
                    b._users.clear()
                    b._templates.clear()
                response = await client.post(f"/api/v1/units/{unit}/areas/gedung-utama/sync")
                assert response.status == 202, await response.text()
                await settled("the refill answered", all_answered)
                refilled = ([u.pin for u in b.users], b.fingerprints_of(pin))
                row = await BiometricTemplate.get(employee_nip=NIP_ANI)
                reads = await BiometricAccess.filter(template_id=row.id, action="read").count()

                response = await client.delete(f"/api/v1/employees/{NIP_ANI}/biometrics")  # deletion on request
                assert response.status == 200, await response.text()
                assert (await response.json())["templates_deleted"] == 1
                await settled("the deletion answered", all_answered)
                erased = [sim.fingerprints_of(pin) for sim in (a, b, c)]
                left = await BiometricTemplate.filter(employee_nip=NIP_ANI).count()
                deletions = await BiometricAccess.filter(template_id=row.id, action="delete").count()

                response = await client.delete(f"/api/v1/units/{unit}/areas/gedung-utama/members/{NIP_ANI}")
                assert response.status == 200, await response.text()
                await settled("the removal's syncs answered", all_answered)
                removed = [[u.pin for u in sim.users] for sim in (a, b, c)]
            finally:
                await gateway.stop()
            members = await AreaMember.all().count()

    assert [(u.pin, u.name) for u in d.users] == [("1", "Budi")] and d.fingerprints == []  # never given Ani
    assert echoes == 0 and bytes(row.ciphertext).find(finger[:16]) == -1
    assert reads == 6  # opened once per device of the area (A, B, C) at the enrolment and again at the refill
    assert refilled == (["2"], {6: finger})
    assert erased == [{}, {}, {}] and left == 0 and deletions == 1
    assert shown["users"] == [{"nip": NIP_ANI, "pin": "2", "name": "Ani Suryani", "templates": {"fingerprint": 1}}]
    assert [dev["serial"] for dev in shown["devices"]] == ["AREA-A", "AREA-B", "AREA-C"]
    last = {dev["serial"]: dev["last_sync"] for dev in shown["devices"]}
    assert all(entry["status"] == "ok" and entry["part"] == "templates" for entry in last.values())
    assert last["AREA-B"]["device_result"]["templates_written"] == 1
    for text in (view_text, commands):
        assert base64.b64encode(finger)[:16].decode() not in text
    assert removed == [[], [], []] and members == 1  # Budi is still in gudang
