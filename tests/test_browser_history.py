"""A transfer mid-month in a real browser (Debian's Chromium), on PostgreSQL: the bureau moves Budi from
dir-1 to dir-2 on the 15th of last month (a wrong unit first, refused in Indonesian), the employee page
shows the dated history, both units' month results and payrolls have their own days, paid pro rata by
calendar days; screenshots in tests/artifacts/."""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

from server.history_models import EmployeeAssignment
from server.models import Employee
from tests.test_browser import _chromium_installed, base, browser, log_in  # noqa: F401 (fixtures)
from tests.test_employee_history import DAYS, GRADE_7, MONTH, MOVED, half_up, world  # noqa: F401 (fixture)
from tests.web_seed import BUDI, CITRA, World, settle

ARTIFACTS = Path(__file__).parent / "artifacts"
MONTH_TEXT = MONTH.strftime("%Y-%m")


def rupiah(text: str) -> int:
    return int(re.sub(r"\D", "", text))


async def test_a_transfer_mid_month_splits_both_units_months_and_the_payroll(world: World, browser):  # noqa: F811
    ARTIFACTS.mkdir(exist_ok=True)
    url = base(world)
    page = await log_in(browser, url, "biro")
    await page.set_viewport_size({"width": 1280, "height": 900})
    await page.goto(f"{url}/master/employees")
    await page.click(f"#employees tr[data-nip='{BUDI}'] a[href='/master/employees/{BUDI}']")
    assert await page.inner_text("h1") == f"Budi Santoso {BUDI}"
    assert "sejak awal catatan" in await page.inner_text("#history")

    move = page.locator("#form-move")
    await move.locator("input[name=valid_from]").fill(MOVED.strftime("%d/%m/%Y"))
    await move.locator("select[name=unit]").select_option("dir-1")  # where he already is
    await move.locator("button[type=submit]").click()
    await page.wait_for_selector("#change-error")
    assert await page.inner_text("#change-error") == "Pegawai sudah berada di unit dir-1"
    await page.screenshot(path=str(ARTIFACTS / "employee-move-refused-id-desktop.png"), full_page=True)
    assert not await EmployeeAssignment.exists(nip=BUDI)

    move = page.locator("#form-move")
    await move.locator("input[name=valid_from]").fill(MOVED.strftime("%d/%m/%Y"))
    await move.locator("select[name=unit]").select_option("dir-2")
    await move.locator("input[name=reason]").fill("SK Mutasi 821/2026")
    await move.locator("button[type=submit]").click()
    await page.wait_for_selector("#change-done")
    history = await page.inner_text("#history")
    assert "Pindah unit" in history and "Direktorat Dua" in history and "SK Mutasi 821/2026" in history
    assert "Direktorat Dua" in await page.inner_text("#current")
    await page.screenshot(path=str(ARTIFACTS / "employee-history-id-desktop.png"), full_page=True)
    assert (await Employee.get(nip=BUDI)).unit_id == "dir-2"

    # both units' month results: Budi in each, each with its own days, no TK on the other unit's days
    await settle()  # the scoring workers rescore what the move marked (the recap reads stored results only)
    await page.goto(f"{url}/recap?month={MONTH_TEXT}")
    rows = page.locator(f"#recap tr[data-nip='{BUDI}']")
    assert await rows.count() == 2
    texts = [await rows.nth(k).inner_text() for k in range(2)]
    assert "dir-1" in texts[0] and "dir-2" in texts[1]
    await page.screenshot(path=str(ARTIFACTS / "recap-transfer-id-desktop.png"), full_page=True)
    await page.goto(f"{url}/employees/{BUDI}/month?month={MONTH_TEXT}")
    before = page.locator(f"[data-date='{MONTH.isoformat()}']")
    assert await before.get_attribute("data-category") == "not_employed"
    assert await page.locator("[data-category=TK]").count() == 0
    await page.screenshot(path=str(ARTIFACTS / "employee-month-after-transfer-id-desktop.png"), full_page=True)

    # the payroll: each unit pays its own calendar days, rounded half up once (14 days in dir-1)
    gross = {}
    for unit in ("dir-1", "dir-2"):
        await page.goto(f"{url}/payroll?month={MONTH_TEXT}&unit={unit}")
        cells = page.locator(f"#payroll tr[data-nip='{BUDI}'] td")
        gross[unit] = rupiah(await cells.nth(4).inner_text())
        await page.screenshot(path=str(ARTIFACTS / f"payroll-transfer-{unit}-id-desktop.png"), full_page=True)
    assert gross["dir-1"] == half_up(Fraction(GRADE_7 * 14, DAYS))
    assert gross["dir-2"] == half_up(Fraction(GRADE_7 * (DAYS - 14), DAYS))
    assert abs(gross["dir-1"] + gross["dir-2"] - GRADE_7) <= 1

    await page.goto(f"{url}/audit")
    assert "employee.move" in await page.locator("#audit").inner_text()

    # a unit's go-live date, set on the unit tree: days before it are no planned days for anyone
    await page.goto(f"{url}/master/units")
    form = page.locator("#go-live-form")
    await form.locator("select[name=unit]").select_option("dir-2")
    await form.locator("input[name=live_from]").fill(MOVED.strftime("%d/%m/%Y"))
    await form.locator("button[type=submit]").click()
    await page.wait_for_url("**/master/units")
    assert "dinilai sejak" in await page.locator("li[data-unit='dir-2'] .go-live").inner_text()
    await page.screenshot(path=str(ARTIFACTS / "units-go-live-id-desktop.png"), full_page=True)
    await page.goto(f"{url}/employees/{CITRA}/month?month={MONTH_TEXT}")
    assert await page.locator(f"[data-date='{MONTH.isoformat()}']").get_attribute("data-category") == "not_live"
