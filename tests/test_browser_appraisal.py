"""The appraisal in a real browser (Debian's Chromium, PostgreSQL behind): the superior writes feedback on
Budi's year, rates the seven BerAKHLAK values with evidence notes and sets the work-result rating; the
predicate follows. Budi reads it and answers. The bureau opens the unit: three of three Sangat Baik in an
"Istimewa" unit breaks the 70 % bound, the page warns, and finalising is refused with the reason in
Indonesian. Screenshots in /tmp/t17b-appraisal-*.png."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server.appraisal_models import AppraisalFeedback, AppraisalRating
from server.auth import Principal
from server.models import Employee
from server.services.accounts import Role, UserAccount
from server.services.appraisal import record_behaviour, set_organisation_rating, set_rating
from tests.test_browser import (  # noqa: F401 (fixtures)
    TIMES_WITHOUT_ZONE,
    UNLABELLED_CONTROLS,
    _chromium_installed,
    base,
    browser,
    log_in,
    log_out,
)
from tests.web_seed import ANI, BUDI, World, web_world

SHOTS = Path("/tmp")
DEDI = "197801012005011001"
EKO = "199205052018011004"
YEAR = "2026"
VALUES = ("berorientasi_pelayanan", "akuntabel", "kompeten", "harmonis", "loyal", "adaptif", "kolaboratif")
ABOVE = "di_atas_ekspektasi"


@pytest.fixture
async def world(postgres_url) -> AsyncIterator[World]:
    """Dir-1 rated "Istimewa" for 2026; Ani (rated by Dedi) and Eko (by Ani) already Sangat Baik."""
    async with web_world(postgres_url) as w:
        await Employee.create(nip=DEDI, name="Dedi Kurniawan", unit_id="dj-a", position="Direktur")
        await Employee.filter(nip=ANI).update(supervisor_id=DEDI)
        await Employee.create(nip=EKO, name="Eko Prasetyo", unit_id="dir-1", position="Analis", supervisor_id=ANI)
        dedi = Principal(0, "dedi", "dedi", Role.SUPERVISOR, None, DEDI, "id", "session")
        ani = Principal.of(await UserAccount.get(username="ani"), "session")
        above = {v: (ABOVE, "") for v in VALUES}
        for rater, nip in ((dedi, ANI), (ani, EKO)):
            await record_behaviour(rater, nip, YEAR, above)
            await set_rating(rater, nip, YEAR, ABOVE)
        await set_organisation_rating(Principal.of(await UserAccount.get(username="biro"), "session"), "dir-1", 2026,
                                      "istimewa")  # fmt: skip
        yield w


async def page_is_tidy(page: object) -> None:
    assert await page.evaluate(TIMES_WITHOUT_ZONE) == []  # type: ignore[attr-defined]
    assert await page.evaluate(UNLABELLED_CONTROLS) == []  # type: ignore[attr-defined]


@pytest.mark.timeout(300)  # three password logins (Argon2, slow on purpose)
async def test_superior_rates_employee_answers_and_the_unit_is_warned(
    world: World,
    browser,  # noqa: F811
):
    url = base(world)
    ani = await log_in(browser, url, "ani")
    await ani.set_viewport_size({"width": 1280, "height": 900})
    await ani.click("nav a[href='/kinerja/penilaian']")
    assert await ani.inner_text("h1") == "Penilaian kinerja"
    await ani.select_option("select[name=period]", YEAR)
    await ani.click(".period-picker button")
    await ani.click(f"#appraisal-team tr[data-nip='{BUDI}'] a")
    await ani.wait_for_url(f"**/kinerja/penilaian/pegawai/{BUDI}?period={YEAR}")
    await ani.fill(
        "#feedback-form textarea", "Laporan triwulan selalu tepat waktu; pertahankan kolaborasi lintas bagian."
    )
    await ani.click("#feedback-form button[type=submit]")
    await ani.wait_for_url("**saved=feedback*")
    assert "Pesan tersimpan dalam dialog kinerja." in await ani.inner_text("main")
    for value in VALUES:
        await ani.select_option(f"#behaviour-form select[name=rating-{value}]", ABOVE)
        await ani.fill(f"#behaviour-form input[name=note-{value}]", f"Contoh nyata: {value.replace('_', ' ')}")
    await ani.click("#behaviour-form button[type=submit]")
    await ani.wait_for_url("**saved=behaviour*")
    assert "Di Atas Ekspektasi" in await ani.inner_text("#behaviour-score")
    assert "3,00" in await ani.inner_text("#behaviour-score")  # mean points, an Indonesian decimal
    await ani.check(f"#rating-form input[value={ABOVE}]")
    await ani.click("#rating-form button[type=submit]")
    await ani.wait_for_url("**saved=rating*")
    assert await ani.inner_text("#rating-facts dd[data-field=predicate]") == "Sangat Baik"
    await page_is_tidy(ani)
    await ani.screenshot(path=str(SHOTS / "t17b-appraisal-superior.png"), full_page=True)
    await log_out(ani)

    budi = await log_in(browser, url, "budi")
    await budi.set_viewport_size({"width": 1280, "height": 900})
    await budi.click("nav a[href='/kinerja/penilaian']")
    await budi.select_option("select[name=period]", YEAR)
    await budi.click(".period-picker button")
    await budi.click("#my-appraisal")
    assert "pertahankan kolaborasi" in await budi.inner_text("#thread")
    assert await budi.locator("#behaviour-form, #rating-form").count() == 0
    await budi.fill("#feedback-form textarea", "Terima kasih, Bu. Saya akan ikut rapat koordinasi bulanan.")
    await budi.click("#feedback-form button[type=submit]")
    await budi.wait_for_url("**saved=feedback*")
    roles = [await li.get_attribute("data-role") for li in await budi.locator("#thread li").all()]
    assert roles == ["superior", "employee"]
    assert "WIB" in await budi.inner_text("#thread")
    await page_is_tidy(budi)
    await budi.screenshot(path=str(SHOTS / "t17b-appraisal-employee.png"), full_page=True)
    await log_out(budi)

    biro = await log_in(browser, url, "biro")
    await biro.set_viewport_size({"width": 1280, "height": 900})
    await biro.goto(f"{url}/kinerja/penilaian?period={YEAR}")
    assert await biro.get_attribute("#appraisal-units tr[data-unit='dir-1']", "data-ok") == "no"
    await biro.click("#appraisal-units tr[data-unit='dir-1'] a")
    warning = await biro.inner_text("#distribution-warning")
    assert "Unit dengan penilaian organisasi Istimewa paling banyak boleh memiliki 2 dari 3 pegawai" in warning
    assert await biro.inner_text("#distribution .tile[data-predicate=sangat_baik] b") == "3"
    await biro.click("#final-form button[type=submit]")
    refusal = await biro.inner_text("#refusal")
    assert refusal.startswith("Unit dengan penilaian organisasi Istimewa paling banyak")
    await page_is_tidy(biro)
    await biro.screenshot(path=str(SHOTS / "t17b-appraisal-unit-warning.png"), full_page=True)
    await log_out(biro)

    assert await AppraisalFeedback.filter(nip=BUDI, period=YEAR).count() == 2
    assert not await AppraisalRating.filter(final_at__isnull=False).exists()
