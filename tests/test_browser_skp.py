"""Work plans (SKP) in a real browser (Debian's Chromium, PostgreSQL behind): with dir-1's target set and
Ani's plan agreed, Budi drafts his plan under Ani's RHK (an RHK, an indicator, an activity), submits it;
Ani finds it among the plans to agree and agrees it; Budi reads the realisation of his approved reports
and downloads the SKP PDF; the bureau reads the organisation's roll-up. Screenshots in /tmp/t17a-*.png."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import pytest
from pypdf import PdfReader

from server.activity_models import ActivityClaimRecord
from server.services.skp import add_indicator, add_result, add_target, agree_submitted, link_activity, submit_plan
from server.skp_models import WorkPlanRecord
from tests.test_browser import (  # noqa: F401 (fixtures)
    TIMES_WITHOUT_ZONE,
    UNLABELLED_CONTROLS,
    _chromium_installed,
    base,
    browser,
    log_in,
    log_out,
)
from tests.test_requests import principal
from tests.web_seed import ANI, BUDI, WIB, World, web_world

YEAR = date.today().year
SHOTS = "/tmp/t17a-{}.png"


@pytest.fixture
async def world(postgres_url) -> AsyncIterator[World]:
    async with web_world(postgres_url) as w:
        biro, ani = await principal("biro"), await principal("ani")
        await add_target(biro, "dir-1", YEAR, "3360.003", "Laporan kinerja direktorat tersusun", "rkakl_output")
        await add_result(ani, YEAR, "Tersusunnya laporan kinerja Direktorat Satu", "3360.003")
        await add_indicator(ani, YEAR, "RHK1", "Laporan triwulanan", "kuantitas", "4", "laporan")
        await link_activity(ani, YEAR, "RAPAT", "RHK1.1")
        await submit_plan(ani, YEAR)
        await agree_submitted(biro, ANI, YEAR)
        for day, quantity in ((2, 2), (3, 1)):  # Budi's approved reports: 3 of the 12 he will plan
            start = datetime(YEAR, 1, day, 9, tzinfo=WIB).astimezone(UTC)
            await ActivityClaimRecord.create(claim_id=f"lap-{day}", nip=BUDI, unit_code="dir-1", activity="LAPORAN",
                                             activity_name="Menyusun laporan kegiatan", start=start,
                                             quantity=quantity, minutes=120 * quantity, state="approved")  # fmt: skip
        yield w


async def tidy(page: object) -> None:
    assert await page.evaluate(TIMES_WITHOUT_ZONE) == []  # type: ignore[attr-defined]
    assert await page.evaluate(UNLABELLED_CONTROLS) == []  # type: ignore[attr-defined]


@pytest.mark.timeout(300)  # three password logins (Argon2, slow on purpose)
async def test_an_employee_drafts_a_plan_and_the_superior_agrees_it(
    world: World,
    browser,  # noqa: F811
):
    url = base(world)
    budi = await log_in(browser, url, "budi")
    await budi.set_viewport_size({"width": 1280, "height": 900})
    await budi.click("#nav-skp")
    assert await budi.inner_text("h1") == f"Rencana Kinerja (SKP) {YEAR}"
    parents = await budi.locator("#rhk-form select[name=parent] option").all_inner_texts()
    assert parents == ["RHK1 · Tersusunnya laporan kinerja Direktorat Satu"]  # Ani's agreed RHK
    await budi.fill("#rhk-form input[name=text]", "Laporan kegiatan subbagian tersusun tepat waktu")
    await budi.click("#rhk-form button[type=submit]")
    await budi.wait_for_url("**/kinerja/skp?*saved=rhk*")
    await budi.click("#submit-plan")  # no indicator yet: refused, in Indonesian, nothing lost
    await budi.wait_for_url("**/kinerja/skp?*error=*")
    refusal = await budi.inner_text("p.error[role=alert]")
    assert refusal.startswith("Rencana belum berjenjang") and "tanpa indikator" in refusal
    assert await budi.locator("#rhk-table tr[data-rhk=RHK1]").count() == 1
    form = budi.locator("tr[data-rhk=RHK1] form.indicator-form")
    await form.locator("input[name=text]").fill("Jumlah laporan kegiatan")
    await form.locator("input[name=target]").fill("12")
    await form.locator("input[name=unit]").fill("laporan")
    await form.locator("button[type=submit]").click()
    await budi.wait_for_url("**/kinerja/skp?*saved=indicator*")
    await budi.select_option("#link-form select[name=activity]", "LAPORAN")
    await budi.click("#link-form button[type=submit]")
    await budi.wait_for_url("**/kinerja/skp?*saved=link*")
    assert "LAPORAN → RHK1.1" in await budi.inner_text("tr[data-rhk=RHK1]")
    await tidy(budi)
    await budi.screenshot(path=SHOTS.format("draft"), full_page=True)
    await budi.click("#submit-plan")
    await budi.wait_for_url("**/kinerja/skp?*saved=submit*")
    assert "Diajukan, menunggu persetujuan" in await budi.inner_text("#plan-state")
    await log_out(budi)

    ani = await log_in(browser, url, "ani")
    await ani.set_viewport_size({"width": 1280, "height": 900})
    await ani.goto(f"{url}/kinerja/skp/tim")
    row = ani.locator(f"#team-plans tr[data-nip='{BUDI}']")
    assert "Diajukan, menunggu persetujuan" in await row.inner_text()
    await tidy(ani)
    await ani.screenshot(path=SHOTS.format("team"), full_page=True)
    await row.locator("button[type=submit]").click()
    await ani.wait_for_url("**/kinerja/skp/tim?*agreed=*")
    assert "Rencana disetujui." in await ani.inner_text("main")
    assert "Disepakati" in await ani.locator(f"#team-plans tr[data-nip='{BUDI}']").inner_text()
    await log_out(ani)
    plan = await WorkPlanRecord.get(nip=BUDI, year=YEAR)
    assert (plan.version, plan.state, plan.agreed_by) == (1, "agreed", "ani")

    budi = await log_in(browser, url, "budi")
    await budi.set_viewport_size({"width": 1280, "height": 900})
    await budi.goto(f"{url}/kinerja/skp?year={YEAR}&period={YEAR}-Q1")
    assert await budi.inner_text("#realisation-table tr[data-indicator='RHK1.1'] .realised") == "3"
    assert await budi.inner_text("#plan-achievement") == "25,00%"  # 3 of 12
    await tidy(budi)
    await budi.screenshot(path=SHOTS.format("agreed"), full_page=True)
    async with budi.expect_download() as download:
        await budi.click("#skp-pdf")
    text = "".join(p.extract_text() for p in PdfReader(str(await (await download.value).path())).pages)
    for expected in ("SASARAN KINERJA PEGAWAI (SKP)", f"NIP {BUDI}", "Ani Wulandari", "Jumlah laporan kegiatan",
                     "Tersusunnya", "Capaian rencana (rata-rata RHK): 25%",
                     "s.d. akhir Triwulan I"):  # fmt: skip
        assert expected in text, (expected, text)
    await log_out(budi)

    biro = await log_in(browser, url, "biro")
    await biro.set_viewport_size({"width": 1280, "height": 900})
    await biro.goto(f"{url}/kinerja/organisasi?year={YEAR}&period={YEAR}-Q1")
    assert await biro.inner_text("#organisation tr[data-unit=dir-1] .minutes") == "360"
    await biro.click("#organisation tr[data-unit=dir-1] summary")
    await tidy(biro)
    await biro.screenshot(path=SHOTS.format("organisation"), full_page=True)
