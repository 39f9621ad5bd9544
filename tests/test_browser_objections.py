"""Objections in a real browser (Debian's Chromium, PostgreSQL behind): the employee objects to a late
day, his own supervisor has nothing to decide, the superior's superior sees it counted in the menu and
upholds it with an excuse, and the employee reads the decision and its reason; the day is excused.
Screenshots in tests/artifacts/."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest

from server.activity_models import ExcuseRecord
from server.models import Employee
from server.objection_models import Objection
from server.services.accounts import Role, UserAccount
from tests.test_browser import (  # noqa: F401 (fixtures)
    TIMES_WITHOUT_ZONE,
    UNLABELLED_CONTROLS,
    _chromium_installed,
    base,
    browser,
    log_in,
    log_out,
)
from tests.web_seed import _HASH, ANI, BUDI, WIB, World, last_working_day, seed_month, web_world

ARTIFACTS = Path(__file__).parent / "artifacts"
DAY = last_working_day(datetime.now(WIB).date())
DEDI = "197801012005011001"


@pytest.fixture
async def world(postgres_url) -> AsyncIterator[World]:
    async with web_world(postgres_url) as w:
        await seed_month(DAY)
        await Employee.create(nip=DEDI, name="Dedi Kurniawan", unit_id="dir-1", position="Kepala Bagian")
        await Employee.filter(nip=ANI).update(supervisor_id=DEDI)
        await UserAccount.create(username="dedi", display_name="Dedi", password_hash=_HASH, role=Role.SUPERVISOR,
                                 employee_nip=DEDI)  # fmt: skip
        yield w


async def page_is_tidy(page: object) -> None:
    assert await page.evaluate(TIMES_WITHOUT_ZONE) == []  # type: ignore[attr-defined]
    assert await page.evaluate(UNLABELLED_CONTROLS) == []  # type: ignore[attr-defined]


@pytest.mark.timeout(300)  # three password logins (Argon2, slow on purpose) and the month re-scored
async def test_an_employee_objects_to_a_day_and_the_superiors_superior_upholds_it(
    world: World,
    browser,  # noqa: F811
):
    ARTIFACTS.mkdir(exist_ok=True)
    url = base(world)
    budi = await log_in(browser, url, "budi")
    await budi.set_viewport_size({"width": 1280, "height": 900})
    await budi.click("nav a[href='/objections']")
    assert await budi.inner_text("h1") == "Keberatan"
    await budi.fill("#day-objection input[name=date]", f"{DAY:%d/%m/%Y}")
    await budi.fill("#day-objection input[name=reason]", "Hari itu saya dinas luar ke kantor wilayah")
    await budi.click("#day-objection button[type=submit]")
    await budi.wait_for_url("**/objections?filed=*")
    assert "menunggu keputusan" in (await budi.inner_text("main")).lower()
    row = budi.locator("#my-objections tbody tr[data-status=pending]")
    assert await row.count() == 1 and "atasan dari atasan langsung" in await row.inner_text()
    await page_is_tidy(budi)
    await budi.screenshot(path=str(ARTIFACTS / "objections-id-desktop.png"), full_page=True)
    await log_out(budi)

    ani = await log_in(browser, url, "ani")  # Budi's own supervisor: not hers to decide
    assert await ani.locator("#nav-objections .count").count() == 0
    await ani.goto(f"{url}/objections/queue")
    assert await ani.locator("#objection-queue").count() == 0
    assert "Tidak ada keberatan yang menunggu keputusan Anda." in await ani.inner_text("main")
    await log_out(ani)

    dedi = await log_in(browser, url, "dedi")
    await dedi.set_viewport_size({"width": 1280, "height": 900})
    assert await dedi.inner_text("#nav-objections .count") == "1"
    await dedi.click("#nav-objections")
    form = dedi.locator("#objection-queue tbody tr:first-child form")
    assert "Budi Santoso" in await dedi.inner_text("#objection-queue")
    await form.locator("input[name=reason]").fill("Surat tugas ke kantor wilayah sudah diperiksa")
    await form.locator("select[name=excuse_kind]").select_option("official_travel")
    await page_is_tidy(dedi)
    await dedi.screenshot(path=str(ARTIFACTS / "objection-queue-id-desktop.png"), full_page=True)
    await form.locator("button[value=uphold]").click()
    await dedi.wait_for_url("**/objections/queue?decided=upheld")
    assert "dikabulkan" in (await dedi.inner_text("main")).lower()
    assert await dedi.locator("#nav-objections .count").count() == 0
    await log_out(dedi)

    objection = await Objection.get(nip=BUDI)
    assert (objection.status, objection.decided_by, objection.remedy) == ("upheld", "dedi", "excuse")
    assert (await ExcuseRecord.get(id=int(objection.remedy_ref))).kind == "official_travel"

    budi = await log_in(browser, url, "budi")
    await budi.set_viewport_size({"width": 1280, "height": 900})
    await budi.goto(f"{url}/objections")
    decided = budi.locator("#my-objections tbody tr[data-status=upheld]")
    text = await decided.inner_text()
    assert "Dikabulkan" in text and "Surat tugas ke kantor wilayah sudah diperiksa" in text
    assert "Hari itu diberi keterangan." in text
    await budi.screenshot(path=str(ARTIFACTS / "objections-upheld-id-desktop.png"), full_page=True)
    await budi.goto(f"{url}/employees/{BUDI}/month?month={DAY:%Y-%m}")
    cell = budi.locator(f"details[data-date='{DAY.isoformat()}']")
    assert await cell.get_attribute("data-category") == "excused"
