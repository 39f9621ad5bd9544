"""Filing an activity claim over the policy's limit in a real browser (Debian's Chromium, PostgreSQL behind):
the page says which limit in Indonesian and keeps what was typed; the bureau reads every unit's approval
queue without deciding. Screenshots in tests/artifacts/ (and /tmp/t15-*.png)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest

from server.activity_models import ActivityClaimRecord
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
DAY = last_working_day(datetime.now(WIB).date())


@pytest.fixture
async def world(postgres_url) -> AsyncIterator[World]:
    async with web_world(postgres_url) as w:
        await seed_month(DAY)
        yield w


async def shot(page: object, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    shutil.copy(path, f"/tmp/t15-{name}.png")


@pytest.mark.timeout(300)
async def test_a_claim_over_the_limit_is_refused_in_indonesian_and_keeps_what_was_typed(
    world: World,
    browser,  # noqa: F811
):
    url = base(world)
    budi = await log_in(browser, url, "budi")
    await budi.set_viewport_size({"width": 1280, "height": 900})
    await budi.goto(f"{url}/activities")
    await budi.select_option("#claim-form select[name=activity]", "LAPORAN")
    await budi.fill("#claim-form input[name=date]", f"{DAY:%d/%m/%Y}")
    await budi.fill("#claim-form input[name=start]", "08:30")
    await budi.fill("#claim-form input[name=quantity]", "5")  # 5 reports of 120 minutes: 600 > presence + 30
    await budi.fill("#claim-form input[name=evidence]", "laporan triwulan ND-9")
    await budi.click("#claim-form button[type=submit]")
    await budi.wait_for_load_state()
    error = await budi.inner_text("p.error")
    assert "klaim dalam satu hari paling banyak" in error and "ditambah 30 menit" in error
    assert "dengan klaim ini menjadi 600 menit" in error
    # what was typed is still there, to change and send again
    assert await budi.input_value("#claim-form select[name=activity]") == "LAPORAN"
    assert await budi.input_value("#claim-form input[name=date]") == f"{DAY:%d/%m/%Y}"
    assert await budi.input_value("#claim-form input[name=start]") == "08:30"
    assert await budi.input_value("#claim-form input[name=quantity]") == "5"
    assert await budi.input_value("#claim-form input[name=evidence]") == "laporan triwulan ND-9"
    assert await budi.evaluate(UNLABELLED_CONTROLS) == []
    await shot(budi, "claim-over-limit-id")
    assert await ActivityClaimRecord.filter(nip=BUDI).count() == 0  # nothing stored
    await budi.fill("#claim-form input[name=quantity]", "2")  # 240 minutes: within the day's presence
    await budi.click("#claim-form button[type=submit]")
    await budi.wait_for_url("**/activities?saved=1")
    assert await ActivityClaimRecord.filter(nip=BUDI).count() == 1
    await log_out(budi)

    biro = await log_in(browser, url, "biro")
    await biro.set_viewport_size({"width": 1280, "height": 900})
    await biro.click("nav a[href='/approvals']")
    assert "1 klaim menunggu keputusan." in await biro.inner_text("#waiting")
    assert await biro.locator("#approvals-read tbody[data-nip] tr[data-claim]").count() == 1
    assert await biro.locator("input[name=claim_id]").count() == 0  # the bureau reads; the supervisor decides
    assert await biro.evaluate(TIMES_WITHOUT_ZONE) == []
    await shot(biro, "approvals-bureau-id")
