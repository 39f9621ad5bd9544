"""A device reset to empty refilled by its gateway, with no sync started from the centre (issue 18),
through the real gateway, broker and server on both deployments, with ZK simulators behind the
unmodified pyzk: the gateway keeps the last list the centre sent each device; a poll counting fewer
users than that list has the gateway write the users and their fingerprints back, and answer the
device's last sync command again, so the centre's device-users view shows the device in sync and what
was restored. The list on disk is readable by the gateway's user only."""

from __future__ import annotations

import asyncio
import base64
import stat
import time
from collections.abc import Awaitable, Callable

from gateway.config import DeviceConfig, GatewayConfig, RelayConfig
from gateway.service import Gateway as GatewayService
from gateway.simulators import zk_protocol as wire
from gateway.simulators.zk import ZKSimulator
from server.models import Device, Employee, Gateway, GatewayCommand, Unit
from server.services.biometric_keys import new_keyring
from tests.conftest import Stack, unique_slug
from tests.helpers import running_server
from tests.test_zk_simulator import RawClient
from wire.zones import office_zone

WIB = office_zone("WIB")
ANI = "198001012005012001"


async def settled(what: str, condition: Callable[[], Awaitable[bool]], timeout_s: float = 40) -> None:
    deadline = time.monotonic() + timeout_s
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s} s")
        await asyncio.sleep(0.2)


async def all_answered() -> bool:
    return not await GatewayCommand.filter(status="sent").exists()


def reset_to_empty(sim: ZKSimulator) -> None:
    """CMD_CLEAR_DATA over the device protocol, as a factory reset leaves a device."""
    raw = RawClient(sim.port)
    try:
        raw.connect()
        assert raw.request(wire.CMD_CLEAR_DATA).command == wire.CMD_ACK_OK
    finally:
        raw.sock.close()


async def test_a_device_reset_to_empty_is_refilled_by_its_gateway_without_a_sync_from_the_centre(
    tmp_path, stack: Stack
):
    unit, gateway_id = unique_slug("unit"), unique_slug("gw")
    key_file = tmp_path / "biometric.keys"
    new_keyring(key_file)
    with ZKSimulator(serial="RS-A") as a, ZKSimulator(serial="RS-B") as b:
        config = GatewayConfig(
            gateway_id=gateway_id, unit=unit, zone=WIB, state_dir=tmp_path / "gw", mqtt=stack.mqtt,
            devices=tuple(
                DeviceConfig(name, "127.0.0.1", sim.port, timeout_s=5, poll_interval_s=1)
                for name, sim in (("a", a), ("b", b))
            ),
            relay=RelayConfig(resend_after_s=1, max_backoff_s=2),
        )  # fmt: skip
        async with running_server(stack.db_url, stack.mqtt, units=(unit,), biometric_key_file=str(key_file)) as client:
            await Unit.create(code=unit, name="Balai Uji")
            await Gateway.create(gateway_id=gateway_id, unit_code=unit, registered=True)
            for name in "ab":
                await Device.create(serial=f"RS-{name.upper()}", name=name, gateway_id=gateway_id)
            await Employee.create(nip=ANI, name="Ani Suryani", unit_id=unit)
            gateway = GatewayService(config)
            await gateway.start()
            try:
                await gateway.relay.mqtt.wait_connected(10)
                await asyncio.sleep(0.3)
                response = await client.post(f"/api/v1/units/{unit}/areas", json={"code": "gedung", "name": "Gedung"})
                assert response.status == 201, await response.text()
                for serial in ("RS-A", "RS-B"):
                    response = await client.post(f"/api/v1/units/{unit}/areas/gedung/devices", json={"serial": serial})
                    assert response.status == 201, await response.text()
                response = await client.post(f"/api/v1/units/{unit}/areas/gedung/members", json={"nip": ANI})
                assert response.status == 201, await response.text()
                pin = (await response.json())["pin"]
                await settled("the member's syncs answered", all_answered)
                a.enrol_finger(pin, 6)  # enrolled once, on A; the centre copies it to B
                finger = a.fingerprints_of(pin)[6]
                assert await gateway.enrolment.check_all() == 1

                async def copied() -> bool:
                    return b.fingerprints_of(pin) == {6: finger} and await all_answered()

                await settled("the finger copied to B", copied)
                commands_before = await GatewayCommand.filter(gateway_id=gateway_id).count()
                kept = tmp_path / "gw" / "user_lists" / "b.json"
                mode = stat.S_IMODE(kept.stat().st_mode)

                reset_to_empty(b)  # a factory reset: no users, no fingerprints, same serial
                assert b.users == [] and b.fingerprints == []

                async def refilled() -> bool:
                    return [u.pin for u in b.users] == [pin] and b.fingerprints_of(pin) == {6: finger}

                await settled("B refilled by its gateway", refilled, timeout_s=20)

                async def view_restored() -> dict:  # type: ignore[type-arg]
                    view = await client.get(f"/api/v1/units/{unit}/areas/gedung/device-users")
                    assert view.status == 200
                    return {d["name"]: d["last_sync"] for d in (await view.json())["devices"]}

                async def centre_told() -> bool:
                    return "restored" in ((await view_restored())["b"]["device_result"] or {})

                await settled("the centre told of the restore", centre_told)
                shown = await view_restored()
                commands_after = await GatewayCommand.filter(gateway_id=gateway_id).count()
                await asyncio.sleep(2.5)  # two more polls: B holds its list now, nothing is written again
                anomalies = dict(next(c for c in gateway.coordinators if c.config.name == "b").health.anomalies)
                untouched = a.fingerprints_of(pin) == {6: finger}
            finally:
                await gateway.stop()

    assert mode == 0o600  # templates on the gateway's disk: its own user only
    assert commands_after == commands_before  # nothing was started from the centre
    b_sync = shown["b"]
    assert b_sync["status"] == "ok" and b_sync["device_result"]["ok"] is True  # in sync
    restored = b_sync["device_result"]["restored"]
    assert restored["ok"] is True and restored["users_held"] == 0 and restored["users_expected"] == 1
    assert restored["users_added"] == 1 and restored["templates_written"] == 1
    assert "restored" not in (shown["a"]["device_result"] or {})
    assert anomalies.get("users_restored") == 1  # restored once, not at every poll
    assert untouched


def test_the_kept_list_follows_complete_lists_and_pages_as_the_device_does(tmp_path):
    from gateway.devices.base import DeviceTemplate
    from gateway.user_lists import UserLists
    from gateway.user_sync import DesiredUser, SyncRequest

    finger = DeviceTemplate("1", "fingerprint", 6, b"\x01" * 600, "fingerprint:ZKFinger:10")
    lists = UserLists(tmp_path / "lists")
    lists.applied("door", SyncRequest((DesiredUser("1", "Ani"), DesiredUser("2", "Budi")), complete=True))
    lists.applied("door", SyncRequest((DesiredUser("1", "Ani", 0, (finger,)),), complete=False))
    lists.applied("door", SyncRequest((DesiredUser("1", "Ani Suryani"),), dry_run=True))  # a plan only: nothing
    after_pages = {u.pin: (u.name, u.templates) for u in lists.desired("door")}
    # Another run (a restart) reads the users from disk but cannot open the templates: its key is its own.
    after_restart = {u.pin: (u.name, u.templates) for u in UserLists(tmp_path / "lists").desired("door")}
    on_disk = (tmp_path / "lists" / "door.json").read_bytes()
    lists.applied("door", SyncRequest((DesiredUser("1", "Ani"),), complete=True))  # Budi removed; Ani's finger kept
    after_removal = {u.pin: u.templates for u in lists.desired("door")}
    lists.applied("door", SyncRequest((DesiredUser("1", "Ani", 0, ()),), complete=False))  # biometrics deleted
    after_deletion = {u.pin: u.templates for u in lists.desired("door")}
    (tmp_path / "lists" / "broken.json").write_text("{not json")

    assert after_pages == {"1": ("Ani", (finger,)), "2": ("Budi", ())}
    assert after_restart == {"1": ("Ani", ()), "2": ("Budi", ())}
    # Sealed at rest (UU 27/2022): neither the bytes nor their base64 are in the file.
    assert finger.data not in on_disk and base64.b64encode(finger.data)[:40] not in on_disk and b"sealed" in on_disk
    assert after_removal == {"1": (finger,)}
    assert after_deletion == {"1": ()}
    assert UserLists(tmp_path / "lists").expected_users("broken") == 0  # unreadable: as if nothing was sent
