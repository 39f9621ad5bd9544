"""A transfer recorded ahead of its date in a real browser (Debian's Chromium), on PostgreSQL: the bureau
moves Budi to dir-2 from tomorrow; the employee page says it is scheduled, keeps today's unit, lists the
change as "terjadwal" and cancels it. Screenshots in /tmp/t18-*.png."""

from __future__ import annotations

from datetime import timedelta

from server.history_models import EmployeeAssignment, ScheduledChange
from server.models import Employee
from server.services.history import today_local
from tests.test_browser import _chromium_installed, base, browser, log_in  # noqa: F401 (fixtures)
from tests.test_employee_history import world  # noqa: F401 (fixture)
from tests.web_seed import BUDI, World


async def test_a_transfer_dated_tomorrow_is_shown_as_scheduled_and_can_be_cancelled(world: World, browser):  # noqa: F811
    tomorrow = today_local() + timedelta(days=1)
    url = base(world)
    page = await log_in(browser, url, "biro")
    await page.set_viewport_size({"width": 1280, "height": 900})
    await page.goto(f"{url}/master/employees/{BUDI}")
    move = page.locator("#form-move")
    await move.locator("input[name=valid_from]").fill(tomorrow.strftime("%d/%m/%Y"))
    await move.locator("select[name=unit]").select_option("dir-2")
    await move.locator("input[name=reason]").fill("SK Mutasi 822/2026")
    await move.locator("button[type=submit]").click()
    await page.wait_for_selector("#change-done")
    notice = await page.inner_text("#change-done")
    scheduled = await page.inner_text("#scheduled")
    today_card = await page.inner_text("#current")
    history = await page.inner_text("#history")
    await page.screenshot(path="/tmp/t18-employee-scheduled-id.png", full_page=True)
    unit_while_waiting = (await Employee.get(nip=BUDI)).unit_id  # type: ignore[attr-defined]

    await page.locator("#scheduled-changes button[type=submit]").click()
    await page.wait_for_selector("#change-done")
    cancelled = await page.inner_text("#change-done")
    await page.screenshot(path="/tmp/t18-employee-scheduled-cancelled-id.png", full_page=True)

    assert notice == "Perubahan dijadwalkan: berlaku pada tanggalnya."
    assert "Perubahan terjadwal" in scheduled and "terjadwal" in scheduled and "Direktorat Dua" in scheduled
    assert "Direktorat Satu" in today_card and "Direktorat Dua" not in today_card  # today's unit
    assert "terjadwal" in history and "SK Mutasi 822/2026" in history
    assert unit_while_waiting == "dir-1"
    assert cancelled == "Perubahan terjadwal dibatalkan."
    assert await page.locator("#scheduled").count() == 0
    assert not await EmployeeAssignment.filter(nip=BUDI, valid_from=tomorrow).exists()
    assert await ScheduledChange.filter(nip=BUDI, status="cancelled").count() == 1
