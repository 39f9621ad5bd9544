"""The employee import in a real browser (Debian's Chromium): a SIASN spreadsheet with errors is
previewed with each refusal in Indonesian, then fixed and imported; screenshots in tests/artifacts/."""

from __future__ import annotations

from pathlib import Path

from server.models import Employee
from tests.test_browser import _chromium_installed, base, browser, log_in, world  # noqa: F401 (fixtures)
from tests.test_employee_import import DEWI, ROWS, xlsx
from tests.web_seed import World

ARTIFACTS = Path(__file__).parent / "artifacts"


async def test_an_import_with_errors_is_previewed_then_fixed_and_applied(world: World, browser, tmp_path):  # noqa: F811
    ARTIFACTS.mkdir(exist_ok=True)
    url = base(world)
    page = await log_in(browser, url, "biro")
    await page.click("nav a[href='/master/employees']")
    await page.click(".page-head a[href='/employees/import']")
    assert await page.inner_text("h1") == "Impor pegawai"
    bad = tmp_path / "siasn.xlsx"
    bad.write_bytes(xlsx(ROWS))
    await page.set_input_files("input[name=file]", str(bad))
    await page.click("#import-form button[type=submit]")
    await page.wait_for_selector("#preview")
    assert await page.locator("#import-rows tr[data-action=refused]").count() == 4
    assert "tidak terdiri dari 18 digit" in await page.inner_text("#import-rows")
    await page.set_viewport_size({"width": 1280, "height": 800})
    await page.screenshot(path=str(ARTIFACTS / "employee-import-preview-id-desktop.png"), full_page=True)
    assert not await Employee.exists(nip=DEWI)
    await page.click("#import-confirm a.button")  # cancel, fix the file, upload again
    fixed = tmp_path / "siasn-fixed.xlsx"
    fixed.write_bytes(xlsx(ROWS[:3]))
    await page.set_input_files("input[name=file]", str(fixed))
    await page.click("#import-form button[type=submit]")
    await page.wait_for_selector("#preview")
    assert await page.locator("#import-rows tr[data-action=refused]").count() == 0
    await page.click("#import-confirm button[type=submit]")
    await page.wait_for_selector("#import-result")
    assert "2 dibuat, 1 diperbarui" in await page.inner_text("#import-result")
    await page.screenshot(path=str(ARTIFACTS / "employee-import-done-id-desktop.png"), full_page=True)
    assert await Employee.exists(nip=DEWI, unit_id="dir-1")
