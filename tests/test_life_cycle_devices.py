"""The employee life cycle reaching the devices (issue 18), through the real gateway, broker and server
on both deployments, with ZK simulators behind the unmodified pyzk: a transfer dated tomorrow leaves the
employee on the old office's devices until its day, then moves them (and their fingerprint) to the new
office's device and off the old ones; a device reset to empty is refilled by the next reconcile; a
retirement takes them off every device. "Today" is the runner's injected clock, a month ahead of the
real one, so the server's own runner (on the real clock) never finds these changes due."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time

from gateway.config import DeviceConfig, GatewayConfig, RelayConfig
from gateway.service import Gateway as GatewayService
from gateway.simulators import zk_protocol as wire
from gateway.simulators.zk import ZKSimulator
from server.area_models import AreaMember
from server.context import CONSUMER, DIALECT
from server.history_models import ScheduledChange
from server.models import Device, Employee, Gateway, GatewayCommand, Office, Unit
from server.services.biometric_keys import new_keyring
from server.services.history import Change, apply_change, today_local
from server.services.life_cycle import run_life_cycle
from tests.conftest import Stack, unique_slug
from tests.helpers import running_server
from tests.test_zk_simulator import RawClient
from wire.zones import office_zone

WIB, WITA = office_zone("WIB"), office_zone("WITA")
ANI = "198001012005012001"


async def settled(what: str, condition: Callable[[], Awaitable[bool]], timeout_s: float = 40) -> None:
    deadline = time.monotonic() + timeout_s
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s} s")
        await asyncio.sleep(0.2)


async def all_answered() -> bool:
    return not await GatewayCommand.filter(status="sent").exists()


def pins(sim: ZKSimulator) -> list[str]:
    return [user.pin for user in sim.users]


def reset_to_empty(sim: ZKSimulator) -> None:
    """CMD_CLEAR_DATA over the device protocol, as a factory reset leaves a device (pyzk's own
    clear_data() cannot be called on Python 3)."""
    raw = RawClient(sim.port)
    try:
        raw.connect()
        assert raw.request(wire.CMD_CLEAR_DATA).command == wire.CMD_ACK_OK
    finally:
        raw.sock.close()


async def test_a_transfer_moves_the_user_on_its_date_a_reset_device_is_refilled_and_a_retirement_removes_it(
    tmp_path, stack: Stack
):
    ministry, gateway_id = unique_slug("kemen"), unique_slug("gw")
    old_unit, new_unit = f"{ministry}-a", f"{ministry}-b"
    key_file = tmp_path / "biometric.keys"
    new_keyring(key_file)
    today = today_local() + timedelta(days=30)  # the injected "today"
    tomorrow, day_after = today + timedelta(days=1), today + timedelta(days=2)
    clock = [datetime.combine(today, clock_time(12), tzinfo=WIB).astimezone(UTC)]

    def midnight_past(day: date) -> None:  # five minutes into `day` at the new office (WITA)
        clock[0] = datetime.combine(day, clock_time(0, 5), tzinfo=WITA).astimezone(UTC)

    with ZKSimulator(serial="LC-A1") as a1, ZKSimulator(serial="LC-A2") as a2, ZKSimulator(serial="LC-B1") as b1:
        config = GatewayConfig(
            gateway_id=gateway_id, unit=ministry, zone=WIB, state_dir=tmp_path / "gw", mqtt=stack.mqtt,
            devices=tuple(
                DeviceConfig(name, "127.0.0.1", sim.port, timeout_s=5, poll_interval_s=30)
                for name, sim in (("a1", a1), ("a2", a2), ("b1", b1))
            ),
            relay=RelayConfig(resend_after_s=1, max_backoff_s=2),
        )  # fmt: skip
        async with running_server(
            stack.db_url, stack.mqtt, units=(ministry,), biometric_key_file=str(key_file)
        ) as client:
            await Unit.create(code=ministry, name="Kementerian", kind="ministry")
            await Unit.create(code=old_unit, name="Balai Lama", parent_id=ministry)
            await Unit.create(code=new_unit, name="Balai Baru", parent_id=ministry)
            await Office.create(code=f"{old_unit}-x", name="Kantor Jakarta", unit_id=old_unit, zone="WIB")
            await Office.create(code=f"{new_unit}-y", name="Kantor Makassar", unit_id=new_unit, zone="WITA")
            await Gateway.create(gateway_id=gateway_id, unit_code=ministry, registered=True)
            for name, office in (("a1", f"{old_unit}-x"), ("a2", f"{old_unit}-x"), ("b1", f"{new_unit}-y")):
                await Device.create(serial=f"LC-{name.upper()}", name=name, gateway_id=gateway_id, office_id=office)
            await Employee.create(nip=ANI, name="Ani Suryani", unit_id=old_unit)
            consumer = client.app[CONSUMER]
            runner = asyncio.create_task(
                run_life_cycle(client.app[DIALECT], consumer, consumer.biometric_store, worker="test-runner",
                               clock=lambda: clock[0], idle_s=0.2)
            )  # fmt: skip
            gateway = GatewayService(config)
            await gateway.start()
            try:
                await gateway.relay.mqtt.wait_connected(10)
                await asyncio.sleep(0.3)
                for area, serials in (("gedung-jakarta", ("LC-A1", "LC-A2")), ("gedung-makassar", ("LC-B1",))):
                    response = await client.post(f"/api/v1/units/{ministry}/areas", json={"code": area, "name": area})
                    assert response.status == 201, await response.text()
                    for serial in serials:
                        response = await client.post(
                            f"/api/v1/units/{ministry}/areas/{area}/devices", json={"serial": serial}
                        )
                        assert response.status == 201, await response.text()
                await settled("the empty areas' syncs answered", all_answered)

                # Ani is placed in the Jakarta office today: she joins the area holding its devices.
                await apply_change(ANI, Change("edit", today_local(), office_code=f"{old_unit}-x"), "biro",
                                   "bureau_admin")  # fmt: skip

                async def on_old_devices() -> bool:
                    return pins(a1) == ["1"] and pins(a2) == ["1"] and await all_answered()

                await settled("Ani written to the Jakarta devices", on_old_devices)
                a1.enrol_finger("1", 6)  # enrolled once, on A1
                finger = a1.fingerprints_of("1")[6]
                assert await gateway.enrolment.check_all() == 1

                async def copied() -> bool:
                    return a2.fingerprints_of("1") == {6: finger} and await all_answered()

                await settled("the finger copied to A2", copied)

                # The transfer (mutasi) to the Makassar office from tomorrow: scheduled, nothing moves today.
                moved = Change("move", tomorrow, unit_code=new_unit, office_code=f"{new_unit}-y", reason="SK mutasi")
                await apply_change(ANI, moved, "biro", "bureau_admin", today=today)
                await asyncio.sleep(2)  # ten rounds of the runner on "today"
                await settled("nothing sent", all_answered)
                before = (pins(a1), pins(a2), pins(b1), (await Employee.get(nip=ANI)).unit_id)  # type: ignore[attr-defined]
                pending = await ScheduledChange.filter(nip=ANI, status="pending").count()

                midnight_past(tomorrow)

                async def moved_over() -> bool:
                    return pins(a1) == pins(a2) == [] and pins(b1) == ["1"] and b1.fingerprints_of("1") == {6: finger}

                await settled("Ani moved to the Makassar device with her finger, off the Jakarta ones", moved_over)
                await settled("the move's syncs answered", all_answered)
                after = (await Employee.get(nip=ANI)).unit_id  # type: ignore[attr-defined]

                # B1 replaced (or reset to empty): the next reconcile of its area writes everything back.
                reset_to_empty(b1)
                assert pins(b1) == [] and b1.fingerprints == []
                response = await client.post(f"/api/v1/units/{ministry}/areas/gedung-makassar/sync")
                assert response.status == 202, await response.text()
                await settled("the reconcile answered", all_answered)
                refilled = (pins(b1), b1.fingerprints_of("1"))

                # Retirement from the day after: on that day she leaves every device.
                await apply_change(ANI, Change("end", day_after, status="retired"), "biro", "bureau_admin",
                                   today=tomorrow)  # fmt: skip
                await asyncio.sleep(1)
                still = pins(b1)
                midnight_past(day_after)

                async def gone() -> bool:
                    return pins(a1) == pins(a2) == pins(b1) == [] and await all_answered()

                await settled("Ani off every device", gone)
                memberships = await AreaMember.filter(employee_nip=ANI).count()
                told = await ScheduledChange.filter(nip=ANI, devices_told_at__isnull=True).count()
            finally:
                runner.cancel()
                await gateway.stop()

    assert before == (["1"], ["1"], [], old_unit) and pending == 1
    assert after == new_unit
    assert refilled == (["1"], {6: finger})
    assert still == ["1"]  # the retirement waits for its day
    assert memberships == 0 and told == 0
