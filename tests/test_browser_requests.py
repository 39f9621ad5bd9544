"""Requests in a real browser (Debian's Chromium, PostgreSQL behind): the employee files a leave and a
correction of attendance with its evidence, the supervisor sees them counted in the menu and approves
both, and the employee's calendar changes: the leave day is excused, the corrected day no longer late,
its corrected punch marked as such. Screenshots in tests/artifacts/."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest

from server.models import Punch
from server.request_models import CorrectedPunch, EmployeeRequest
from tests.test_browser import (  # noqa: F401 (fixtures)
    TIMES_WITHOUT_ZONE,
    UNLABELLED_CONTROLS,
    _chromium_installed,
    base,
    browser,
    log_in,
    log_out,
)
from tests.web_seed import BUDI, WIB, World, last_working_day, seed_month, web_world

ARTIFACTS = Path(__file__).parent / "artifacts"
LEAVE_DAY = last_working_day(datetime.now(WIB).date())
CORRECTED_DAY = last_working_day(LEAVE_DAY)


@pytest.fixture
async def world(postgres_url) -> AsyncIterator[World]:
    async with web_world(postgres_url) as w:
        await seed_month(LEAVE_DAY)
        await seed_month(CORRECTED_DAY)
        yield w


async def categories(page: object, url: str) -> dict[str, str]:
    found = {}
    for day in (LEAVE_DAY, CORRECTED_DAY):
        await page.goto(f"{url}/employees/{BUDI}/month?month={day:%Y-%m}")  # type: ignore[attr-defined]
        cell = page.locator(f"details[data-date='{day.isoformat()}']")  # type: ignore[attr-defined]
        found[day.isoformat()] = await cell.get_attribute("data-category")
    return found


async def page_is_tidy(page: object) -> None:
    assert await page.evaluate(TIMES_WITHOUT_ZONE) == []  # type: ignore[attr-defined]
    assert await page.evaluate(UNLABELLED_CONTROLS) == []  # type: ignore[attr-defined]


@pytest.mark.timeout(300)  # three password logins (Argon2, slow on purpose) and a month scored after each decision
async def test_an_employee_files_a_leave_and_a_correction_and_the_supervisor_approves_them(
    world: World,
    browser,  # noqa: F811
    tmp_path,
):
    ARTIFACTS.mkdir(exist_ok=True)
    url = base(world)
    device_punches = await Punch.all().count()
    budi = await log_in(browser, url, "budi")
    await budi.set_viewport_size({"width": 1280, "height": 900})
    assert await categories(budi, url) == {LEAVE_DAY.isoformat(): "TL", CORRECTED_DAY.isoformat(): "TL"}

    await budi.click("nav a[href='/requests']")
    assert await budi.inner_text("h1") == "Permohonan"
    await budi.select_option("#leave-form select[name=kind]", "annual_leave")
    await budi.fill("#leave-form input[name=first_day]", LEAVE_DAY.isoformat())
    await budi.fill("#leave-form input[name=last_day]", LEAVE_DAY.isoformat())
    await budi.fill("#leave-form input[name=reason]", "Urusan keluarga")
    await budi.click("#leave-form button[type=submit]")
    await budi.wait_for_url("**/requests?filed=*")
    assert "menunggu keputusan" in (await budi.inner_text("main")).lower()

    photo = tmp_path / "mesin-mati.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    await budi.fill("#correction-form input[name=date]", CORRECTED_DAY.isoformat())
    await budi.fill("#correction-form input[name=time]", "07:20")
    await budi.check("#correction-form input[name=direction][value=in]")
    await budi.fill("#correction-form input[name=reason]", "Mesin presensi mati pagi itu")
    await budi.set_input_files("#correction-form input[name=evidence]", str(photo))
    await budi.click("#correction-form button[type=submit]")
    await budi.wait_for_url("**/requests?filed=*")
    rows = budi.locator("#my-requests tbody tr[data-status=pending]")
    assert await rows.count() == 2
    assert "07:20 WIB" in await budi.inner_text("#my-requests")
    await page_is_tidy(budi)
    await budi.screenshot(path=str(ARTIFACTS / "requests-id-desktop.png"), full_page=True)
    await log_out(budi)

    ani = await log_in(browser, url, "ani")
    await ani.set_viewport_size({"width": 1280, "height": 900})
    assert await ani.inner_text("#nav-queue .count") == "2"
    await ani.click("#nav-queue")
    queue = ani.locator("#request-queue tbody tr")
    assert await queue.count() == 2
    assert await ani.locator("#request-queue a.evidence").count() == 1  # the correction's photo
    await page_is_tidy(ani)
    await ani.screenshot(path=str(ARTIFACTS / "request-queue-id-desktop.png"), full_page=True)
    for _ in range(2):
        await ani.click("#request-queue tbody tr:first-child button[value=approve]")
        await ani.wait_for_url("**/requests/queue?decided=approved")
        assert "disetujui" in (await ani.inner_text("main")).lower()
    assert await ani.locator("#request-queue").count() == 0
    assert await ani.locator("#nav-queue .count").count() == 0
    await ani.screenshot(path=str(ARTIFACTS / "request-queue-done-id-desktop.png"), full_page=True)
    await log_out(ani)

    assert await EmployeeRequest.filter(status="approved").count() == 2
    assert await CorrectedPunch.filter(nip=BUDI).count() == 1
    assert await Punch.all().count() == device_punches  # the correction is not a device punch

    budi = await log_in(browser, url, "budi")
    await budi.set_viewport_size({"width": 1280, "height": 900})
    assert await categories(budi, url) == {LEAVE_DAY.isoformat(): "excused", CORRECTED_DAY.isoformat(): "PSW"}
    await budi.goto(f"{url}/employees/{BUDI}/month?month={CORRECTED_DAY:%Y-%m}")
    day = budi.locator(f"details[data-date='{CORRECTED_DAY.isoformat()}']")
    await day.locator("summary").click()
    text = await day.inner_text()
    assert "07:20:00 koreksi" in text and "08:15:00" in text  # the device's punch stays, the correction beside it
    assert "Koreksi presensi, disetujui" in text
    await budi.screenshot(path=str(ARTIFACTS / "request-corrected-month-id-desktop.png"), full_page=True)
    await budi.goto(f"{url}/requests")
    assert await budi.locator("#my-requests tbody tr[data-status=approved]").count() == 2
    await budi.screenshot(path=str(ARTIFACTS / "requests-approved-id-desktop.png"), full_page=True)
    await budi.set_viewport_size({"width": 390, "height": 844})
    await budi.goto(f"{url}/requests?lang=en")
    assert await budi.inner_text("h1") == "Requests"
    assert "Approved" in await budi.inner_text("#my-requests")
    await budi.screenshot(path=str(ARTIFACTS / "requests-en-phone.png"), full_page=True)
