"""Requests in a real browser (Debian's Chromium, PostgreSQL behind): the employee files a leave and a
correction of attendance with its evidence, the supervisor sees them counted in the menu and approves
both, and the employee's calendar changes: the leave day is excused, the corrected day no longer late,
its corrected punch marked as such. Dates are typed day/month/year and times on the 24-hour clock, whatever
the browser's language (the request and master-data forms are checked in a browser set to en-US); a date
that is not one is refused in Indonesian with what was typed kept. Screenshots in tests/artifacts/."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest

from server.history_models import EmployeeAssignment, UnitGoLive
from server.models import Punch
from server.request_models import CorrectedPunch, EmployeeRequest
from tests.test_browser import (  # noqa: F401 (fixtures)
    CHROMIUM,
    CHROMIUM_ARGS,
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
    await budi.fill("#leave-form input[name=first_day]", "31/02/2026")  # no such day
    await budi.fill("#leave-form input[name=last_day]", LEAVE_DAY.strftime("%d/%m/%Y"))
    await budi.fill("#leave-form input[name=reason]", "Urusan keluarga")
    await budi.click("#leave-form button[type=submit]")
    error = await budi.inner_text("p.error[role=alert]")
    assert error == "'31/02/2026' bukan tanggal: tulis sebagai hari/bulan/tahun, misalnya 03/12/2026"
    assert await budi.input_value("#leave-form input[name=first_day]") == "31/02/2026"  # what was typed, kept
    assert await budi.input_value("#leave-form input[name=last_day]") == LEAVE_DAY.strftime("%d/%m/%Y")
    assert await budi.input_value("#leave-form input[name=reason]") == "Urusan keluarga"
    assert await budi.input_value("#leave-form select[name=kind]") == "annual_leave"
    assert await budi.input_value("#correction-form input[name=date]") == ""  # the other form is left alone
    assert await EmployeeRequest.all().count() == 0
    await page_is_tidy(budi)
    await budi.screenshot(path=str(ARTIFACTS / "requests-bad-date-id-desktop.png"), full_page=True)
    await budi.fill("#leave-form input[name=first_day]", LEAVE_DAY.strftime("%d/%m/%Y"))
    await budi.click("#leave-form button[type=submit]")
    await budi.wait_for_url("**/requests?filed=*")
    assert "menunggu keputusan" in (await budi.inner_text("main")).lower()

    photo = tmp_path / "mesin-mati.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    await budi.fill("#correction-form input[name=date]", CORRECTED_DAY.strftime("%d/%m/%Y"))
    await budi.fill("#correction-form input[name=time]", "07.20")  # the Indonesian way of writing 07:20
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


PICKERS = "input[type=date], input[type=time], input[type=datetime-local]"  # drawn in the browser's locale
TYPED_FIELDS = f"() => document.querySelectorAll('{PICKERS}').length"


@pytest.mark.timeout(300)  # two password logins (Argon2, slow on purpose)
async def test_request_and_master_data_dates_are_typed_the_indonesian_way_in_a_browser_set_to_english_us(
    world: World,
):
    """Chromium in en-US would draw its own pickers as mm/dd/yyyy and AM/PM: the request, unit-tree and
    employee-history forms take day/month/year (and the 24-hour clock) as text, and refuse what is not a date
    in Indonesian, keeping what was typed."""
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    url = base(world)
    today = datetime.now(WIB).date().strftime("%d/%m/%Y")
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await chromium.new_context(locale="en-US", timezone_id="America/New_York")
            budi = await log_in(context, url, "budi")
            assert await budi.evaluate("navigator.language") == "en-US"
            await budi.set_viewport_size({"width": 1280, "height": 900})
            await budi.goto(f"{url}/requests")
            assert await budi.evaluate(TYPED_FIELDS) == 0
            assert "hari/bulan/tahun" in await budi.inner_text("#leave-form")
            assert "24 jam, WIB" in await budi.inner_text("#correction-form")
            # The file fields too: our button and "nothing chosen" in Indonesian over the browser's English one,
            # which still takes the file; the chosen file's name shows.
            evidence = budi.locator("#correction-form .file-field")
            words = " ".join((await evidence.inner_text()).split())
            assert words == "Bukti (foto, surat; PDF, JPEG, PNG) Pilih berkas Belum ada berkas dipilih"
            assert await evidence.locator("input[type=file]").evaluate("e => getComputedStyle(e).opacity") == "0"
            await evidence.locator("input[type=file]").set_input_files(
                {"name": "surat-sakit.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4"}
            )
            assert await evidence.locator(".file-name").inner_text() == "surat-sakit.pdf"
            await page_is_tidy(budi)
            await budi.screenshot(path=str(ARTIFACTS / "requests-form-en-us.png"), full_page=True)

            biro = await log_in(context, url, "biro")
            await biro.set_viewport_size({"width": 1280, "height": 900})
            await biro.goto(f"{url}/master/units")
            assert await biro.evaluate(TYPED_FIELDS) == 0
            form = biro.locator("#go-live-form")
            await form.locator("select[name=unit]").select_option("dir-2")
            await form.locator("input[name=live_from]").fill("13/13/2026")
            await form.locator("button[type=submit]").click()
            await biro.wait_for_selector("#go-live-error")
            assert "'13/13/2026' bukan tanggal" in await biro.inner_text("#go-live-error")
            assert await form.locator("input[name=live_from]").input_value() == "13/13/2026"
            assert await form.locator("select[name=unit]").input_value() == "dir-2"
            assert not await UnitGoLive.exists()
            await page_is_tidy(biro)
            await biro.screenshot(path=str(ARTIFACTS / "units-go-live-en-us.png"), full_page=True)

            await biro.goto(f"{url}/master/employees/{BUDI}")
            assert await biro.evaluate(TYPED_FIELDS) == 0
            move = biro.locator("#form-move")
            assert await move.locator("input[name=valid_from]").input_value() == today  # today, day/month/year
            await move.locator("input[name=valid_from]").fill("31/02/2026")
            await move.locator("select[name=unit]").select_option("dir-2")
            await move.locator("button[type=submit]").click()
            await biro.wait_for_selector("#change-error")
            assert "'31/02/2026' bukan tanggal" in await biro.inner_text("#change-error")
            assert await move.locator("input[name=valid_from]").input_value() == "31/02/2026"
            assert await biro.locator("#form-edit input[name=valid_from]").input_value() == today
            assert not await EmployeeAssignment.exists()
            await page_is_tidy(biro)
            await biro.screenshot(path=str(ARTIFACTS / "employee-history-bad-date-en-us.png"), full_page=True)
        finally:
            await chromium.close()
