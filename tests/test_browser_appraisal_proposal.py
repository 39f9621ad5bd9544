"""In a real browser (Debian's chromium): the superior sees the work-result rating proposed from the plan's
realisation, chooses otherwise, is asked for the reason in Indonesian, gives it, and the page keeps it.
Screenshots: /tmp/kinerja-appraisal-proposal*.png."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server.services.appraisal import record_behaviour
from tests.test_browser import (  # noqa: F401 (fixtures)
    _chromium_installed,
    base,
    browser,
    log_in,
)
from tests.test_browser_appraisal import page_is_tidy
from tests.test_requests import principal
from tests.test_skp import claim, head_plan, staff_plan
from tests.web_seed import BUDI, World, web_world

SHOTS = Path("/tmp")
VALUES = ("berorientasi_pelayanan", "akuntabel", "kompeten", "harmonis", "loyal", "adaptif", "kolaboratif")


@pytest.fixture
async def world(tmp_path) -> AsyncIterator[World]:
    """Budi's agreed plan (10 reports in 2025), 4 approved in April: 80 % of the half expected by June."""
    async with web_world(f"sqlite://{tmp_path / 'web.sqlite3'}") as w:
        await head_plan()
        await staff_plan()
        await claim(BUDI, "dir-1", "LAPORAN", (4, 14), 4, "approved")
        await record_behaviour(await principal("ani"), BUDI, "2025-Q2", {v: ("sesuai_ekspektasi", "") for v in VALUES})
        yield w


@pytest.mark.timeout(300)
async def test_the_superior_sees_the_proposal_and_chooses_otherwise_with_a_reason(
    world: World,
    browser,  # noqa: F811
):
    ani = await log_in(browser, base(world), "ani")
    await ani.set_viewport_size({"width": 1280, "height": 900})
    await ani.goto(f"{base(world)}/kinerja/penilaian/pegawai/{BUDI}?period=2025-Q2")
    proposal = await ani.inner_text("#work-proposal")
    assert "Usulan dari realisasi SKP: Sesuai Ekspektasi" in proposal and "Realisasi 80,00%" in proposal
    assert await ani.is_checked("#rating-form input[value=sesuai_ekspektasi]")  # the form opens on the proposal
    await page_is_tidy(ani)
    await ani.screenshot(path=str(SHOTS / "kinerja-appraisal-proposal.png"), full_page=True)

    await ani.check("#rating-form input[value=di_atas_ekspektasi]")
    await ani.click("#rating-form button[type=submit]")
    await ani.wait_for_load_state()
    assert "tuliskan alasan memilih yang lain" in await ani.inner_text("[role=alert]")
    assert await ani.is_checked("#rating-form input[value=di_atas_ekspektasi]")
    await ani.fill("#rating-form textarea[name=reason]", "Laporan April memuat evaluasi program di luar rencana.")
    await ani.click("#rating-form button[type=submit]")
    await ani.wait_for_url("**saved=rating*")
    assert await ani.inner_text("[data-field=work_result]") == "Di Atas Ekspektasi"
    assert "Laporan April memuat evaluasi program di luar rencana." in await ani.inner_text("#rating-reason")
    await page_is_tidy(ani)
    await ani.screenshot(path=str(SHOTS / "kinerja-appraisal-proposal-saved.png"), full_page=True)
