"""The device-management pages (issue 18) in a real browser (Debian's Chromium): each page's main action
done through its form, and its result checked in the page and in the database (or on the simulated ZK
device, through the real gateway and broker). Screenshots in tests/artifacts/."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.config import DeviceConfig, GatewayConfig, RelayConfig
from gateway.service import Gateway as GatewayService
from gateway.simulators.zk import ZKSimulator
from server.area_models import Area, AreaDevice, AreaMember
from server.models import Device, GatewayCommand, Office, PendingDevice
from server.services.areas import add_member
from tests.helpers import running_server
from tests.test_browser import _chromium_installed, base, browser, log_in, wait_until, world  # noqa: F401 (fixtures)
from tests.web_seed import ANI, BUDI, CITRA, WIB, World, seed

ARTIFACTS = Path(__file__).parent / "artifacts"
DESKTOP = {"width": 1280, "height": 900}


async def shot(page: object, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.set_viewport_size(DESKTOP)  # type: ignore[attr-defined]
    await page.screenshot(path=str(ARTIFACTS / f"{name}-id-desktop.png"), full_page=True)  # type: ignore[attr-defined]


async def an_area(code: str = "gedung", unit: str = "dir-1", serial: str = "DEV-DIR1") -> Area:
    area = await Area.create(code=code, name="Gedung Utama", unit_code=unit)
    await AreaDevice.create(area=area, device_serial=serial)
    return area


async def test_an_administrator_creates_an_area_and_fills_it_with_a_device_and_an_employee(world: World, browser):  # noqa: F811
    page = await log_in(browser, base(world), "biro")
    await page.click("nav a[href='/areas']")
    assert await page.inner_text("h1") == "Area"
    await page.select_option("#area-form select[name=unit]", "dir-1")
    await page.fill("#area-form input[name=code]", "Gedung Utama")  # not a code: refused, in Indonesian
    await page.fill("#area-form input[name=name]", "Gedung Utama")
    await page.click("#area-form button[type=submit]")
    assert "kode: gunakan 1-63 huruf kecil" in await page.inner_text("p.error")
    assert await page.input_value("#area-form input[name=name]") == "Gedung Utama"  # what was typed stays
    await page.fill("#area-form input[name=code]", "gedung-utama")
    await page.click("#area-form button[type=submit]")
    await page.wait_for_url("**/areas/gedung-utama?done=created")
    assert "Area dibuat." in await page.inner_text("p.notice")
    await page.select_option("#device-form select[name=serial]", "DEV-DIR1")
    await page.click("#device-form button[type=submit]")
    await page.wait_for_url("**/areas/gedung-utama?done=device_added*")
    assert await page.locator("#area-devices tr[data-serial='DEV-DIR1']").count() == 1
    assert "server ini tidak terhubung ke broker" in await page.inner_text("p.notice")  # this app has no consumer
    await page.fill("#member-form input[name=nip]", CITRA)  # of dir-2: not this area's
    await page.click("#member-form button[type=submit]")
    assert f"pegawai {CITRA} bukan pegawai unit pemilik area ini" in await page.inner_text("p.error")
    await page.fill("#member-form input[name=nip]", BUDI)
    await page.click("#member-form button[type=submit]")
    await page.wait_for_url("**/areas/gedung-utama?done=member_added*")
    row = page.locator(f"#area-members tr[data-nip='{BUDI}']")
    assert await row.get_attribute("data-pin") == "2"  # the PIN dir-1's devices already know him by
    await shot(page, "area")
    assert await AreaMember.exists(area_id="gedung-utama", employee_nip=BUDI, pin="2")
    await page.click("a.button[href='/areas']")
    tree = page.locator("li[data-unit='dir-1'] li[data-area='gedung-utama']")
    assert "1 mesin · 1 pegawai" in await tree.inner_text()
    await shot(page, "areas")


async def test_an_administrator_assigns_an_employee_to_an_area_and_removes_them(world: World, browser):  # noqa: F811
    await an_area()
    page = await log_in(browser, base(world), "biro")
    await page.goto(f"{base(world)}/master/employees")
    await page.click(f"tr[data-nip='{BUDI}'] a[href='/employees/{BUDI}/devices']")
    assert await page.locator("#no-enrolment").count() == 1
    await page.select_option("#assign-form select[name=area]", "gedung")
    await page.click("#assign-form button[type=submit]")
    await page.wait_for_url(f"**/employees/{BUDI}/devices?done=assigned*")
    section = page.locator("section.enrolment[data-area='gedung']")
    assert await section.locator(".pin").inner_text() == "2"
    assert await section.locator("tr[data-serial='DEV-DIR1'] .last-sync").inner_text() == "Belum pernah disinkronkan"
    await shot(page, "enrolment")
    await section.locator("summary", has_text="Keluarkan dari area").click()  # one click only asks
    assert await AreaMember.exists(employee_nip=BUDI)
    await section.locator("button.danger", has_text="Ya, keluarkan").click()
    await page.wait_for_url(f"**/employees/{BUDI}/devices?done=removed*")
    assert await page.locator("#no-enrolment").count() == 1
    assert not await AreaMember.exists(employee_nip=BUDI)


async def test_a_unit_administrator_adopts_a_pending_device_into_an_office_and_an_area(world: World, browser):  # noqa: F811
    now = datetime.now(UTC)
    await Office.create(code="jkt", name="Kantor Jakarta", unit_id="dir-2", zone="WIB")
    await Area.create(code="pintu", name="Pintu Masuk", unit_code="dir-2")
    for serial, gateway, unit in (("DEV-NEW", "gw-dir2", "dir-2"), ("DEV-ELSE", "gw-dir1", "dir-1")):
        await PendingDevice.create(serial=serial, gateway_id=gateway, unit_code=unit, name="samping",
                                   first_seen_at=now, last_seen_at=now)  # fmt: skip
    page = await log_in(browser, base(world), "admin-dir2")
    await page.click("nav a[href='/devices']")
    await page.click(".page-head a[href='/devices/pending']")
    rows = await page.locator("#pending tbody tr[data-serial]").evaluate_all("rows => rows.map(r => r.dataset.serial)")
    assert rows == ["DEV-NEW"]  # dir-1's pending device is not this administrator's
    assert "WIB" in await page.inner_text("#pending tr[data-serial='DEV-NEW']")
    await shot(page, "pending")
    row = page.locator("#pending tr[data-serial='DEV-NEW']")
    await row.locator("select[name=office]").select_option("jkt")
    await row.locator("select[name=area]").select_option("pintu")
    await row.locator("button[type=submit]").click()
    await page.wait_for_url("**/devices/pending?done=DEV-NEW*")
    assert "Mesin DEV-NEW didaftarkan" in await page.inner_text("#adopted")
    assert "Mesin masuk ke area pintu." in await page.inner_text("#adopted")
    assert await page.locator("#pending tr[data-serial='DEV-NEW']").count() == 0
    device = await Device.get(serial="DEV-NEW")
    assert (device.gateway_id, device.office_id) == ("gw-dir2", "jkt")  # type: ignore[attr-defined]
    assert await AreaDevice.exists(device_serial="DEV-NEW", area_id="pintu")
    assert await PendingDevice.exists(serial="DEV-ELSE")


@dataclass
class Live:
    url: str
    device: ZKSimulator


@pytest.fixture
async def live(embedded_broker, tmp_path) -> AsyncIterator[Live]:
    """The real server with its consumer, the real gateway, and a ZK simulator as dir-1's device DEV-DIR1."""
    with ZKSimulator(serial="DEV-DIR1") as device:
        device.add_user(pin="9", name="Orang Lain")  # nobody of the area: the first sync removes them
        config = GatewayConfig(
            gateway_id="gw-dir1", unit="dir-1", zone=WIB, state_dir=tmp_path / "gw", mqtt=embedded_broker,
            devices=(DeviceConfig("lobby", "127.0.0.1", device.port, timeout_s=5, poll_interval_s=30),),
            relay=RelayConfig(batch_size=100, resend_after_s=2),
        )  # fmt: skip
        async with running_server(f"sqlite://{tmp_path / 'live.sqlite3'}", embedded_broker) as client:
            await seed(World(client))
            gateway = GatewayService(config)
            await gateway.start()
            try:
                await gateway.relay.mqtt.wait_connected(10)
                yield Live(str(client.make_url("")).rstrip("/"), device)
            finally:
                await gateway.stop()


async def test_operations_syncs_a_device_and_it_holds_the_areas_users(live: Live, browser):  # noqa: F811
    area = await an_area()
    for nip in (ANI, BUDI):
        await add_member(area, nip)
    page = await log_in(browser, live.url, "ops")
    await page.click("nav a[href='/areas']")
    await page.click("li[data-area='gedung'] a")
    await page.click("#area-devices tr[data-serial='DEV-DIR1'] a.button")
    pins = await page.locator("#device-users tbody tr").evaluate_all("rows => rows.map(r => r.dataset.pin)")
    assert pins == ["1", "2"]
    assert await page.inner_text("#device-state .last-sync") == "Belum pernah disinkronkan"
    await page.click("#sync-device button")
    await page.wait_for_url("**/areas/gedung/devices/DEV-DIR1?done=synced&sent=1")

    async def synced() -> bool:
        await page.reload()
        state = page.locator("#device-state .sync-state")
        return await state.count() == 1 and await state.get_attribute("data-sync") == "ok"

    assert await wait_until(synced), await page.inner_text("#device-state")
    state = await page.inner_text("#device-state .last-sync")
    assert "Sesuai" in state and "2 ditambah, 0 diperbarui, 1 dihapus" in state and "WIB" in state
    assert [(u.pin, u.name) for u in live.device.users] == [("1", "Ani Wulandari"), ("2", "Budi Santoso")]
    await shot(page, "device-users")


async def test_operations_sends_a_clock_sync_to_one_device_and_sees_its_answer(live: Live, browser):  # noqa: F811
    page = await log_in(browser, live.url, "ops")
    await page.click("nav a[href='/devices/commands']")
    assert await page.locator("#commands tr[data-command]").count() == 0
    await page.select_option("#command-form select[name=serial]", "DEV-DIR1")
    await page.select_option("#command-form select[name=action]", "sync_clock")
    await page.click("#command-form button[type=submit]")
    await page.wait_for_url("**/devices/commands?gateway=gw-dir1&device=lobby&sent=sync_clock")
    assert "Perintah Sinkronkan jam dikirim ke lobby." in await page.inner_text("p.notice")
    row = page.locator("#commands tr[data-action='sync_clock']")

    async def answered() -> bool:
        await page.reload()
        return await row.count() == 1 and await row.locator("td.command-status").get_attribute("data-status") == "ok"

    assert await wait_until(answered), await page.inner_text("#commands")
    assert "jam sudah disinkronkan" in await row.locator("td.results").inner_text()
    assert "jam dikoreksi" in await row.locator("li[data-device='lobby']").inner_text()
    assert "WIB" in await row.locator("td").first.inner_text()
    command = await GatewayCommand.get(action="sync_clock")
    assert command.status == "ok" and command.args == {"device": "lobby"}
    await shot(page, "commands")


async def test_operations_restarts_a_device_after_confirming_and_it_comes_back(live: Live, browser):  # noqa: F811
    live.device.boot_s = 1.0
    page = await log_in(browser, live.url, "ops")
    await page.click("nav a[href='/devices/commands']")
    await page.select_option("#device-danger select[name=serial]", "DEV-DIR1")
    confirm = page.locator("#device-danger details[data-action='reboot_device']")
    assert not await confirm.locator("button[value=reboot_device]").is_visible()  # nothing sent by one click
    await confirm.locator("summary").click()
    assert "Mulai ulang mesin ini?" in await confirm.inner_text()
    assert await page.locator("#device-danger details[data-action='clear_log'] summary").inner_text() == (
        "Kosongkan log absensi"
    )
    await shot(page, "commands-restart-confirm")
    await confirm.locator("button[value=reboot_device]").click()
    await page.wait_for_url("**/devices/commands?gateway=gw-dir1&device=lobby&sent=reboot_device")
    assert "Perintah Mulai ulang mesin dikirim ke lobby." in await page.inner_text("p.notice")
    row = page.locator("#commands tr[data-action='reboot_device']")

    async def answered() -> bool:
        await page.reload()
        return await row.count() == 1 and await row.locator("td.command-status").get_attribute("data-status") == "ok"

    assert await wait_until(answered), await page.inner_text("#commands")
    assert "mesin sedang dimulai ulang" in await row.locator("td.results").inner_text()
    assert live.device.restarts == 1

    async def booted() -> bool:
        return live.device.booted.is_set()

    assert await wait_until(booted)
    command = await GatewayCommand.get(action="reboot_device")
    assert command.args == {"device": "lobby"}
    # Without the confirmation's confirm=1 (a hand-made form), nothing is sent.
    token = await page.locator("#device-danger input[name=csrf_token]").get_attribute("value")
    form = {"csrf_token": token or "", "serial": "DEV-DIR1", "action": "clear_log"}
    unconfirmed = await page.request.post(live.url + "/devices/commands", form=form)
    assert unconfirmed.status == 400 and "hanya dikirim setelah dikonfirmasi" in await unconfirmed.text()
    assert not await GatewayCommand.exists(action="clear_log")
    await shot(page, "commands-restarted")
