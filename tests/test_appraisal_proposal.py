"""The work-result rating proposed from the realisation of the plan, on both deployments: the figures by hand,
the superior free to choose otherwise with a reason (refused without one, in Indonesian on the page), the
reason kept with the rating and shown; no proposal without an agreed plan.

Budi (dir-1, under Ani) plans 10 reports a year from the LAPORAN activity; 4 approved in April (2 more
rejected). By the end of Q2 half the year's target is expected: 4 / 5 = 80 %, from ``as_from`` (80 %): as
expected. For the year: 4 / 10 = 40 %: below expectation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from fractions import Fraction

import pytest

from scoring import Rating
from server.auth import SESSION_COOKIE
from server.errors import Invalid
from server.i18n import translate_text
from server.services.accounts import Role
from server.services.appraisal import (
    Period,
    appraisal_policy,
    employee_appraisal,
    rating_reason,
    record_behaviour,
    set_rating,
)
from server.services.work_proposal import work_proposal
from tests.test_requests import principal
from tests.test_skp import claim, head_plan, staff_plan
from tests.web_seed import BUDI, World, session_cookie, web_world

VALUES = ("berorientasi_pelayanan", "akuntabel", "kompeten", "harmonis", "loyal", "adaptif", "kolaboratif")
AS_EXPECTED = {v: ("sesuai_ekspektasi", "") for v in VALUES}


@pytest.fixture
async def world(db_url) -> AsyncIterator[World]:
    async with web_world(db_url) as w:
        await head_plan()
        await staff_plan()
        await claim(BUDI, "dir-1", "LAPORAN", (4, 14), 4, "approved")
        await claim(BUDI, "dir-1", "LAPORAN", (5, 12), 2, "rejected")
        yield w


async def test_the_proposal_from_the_realisation_worked_by_hand(world: World):
    policy = appraisal_policy()
    quarter = await work_proposal(policy, BUDI, "2025-Q2")
    assert quarter is not None
    assert (quarter.achievement, quarter.expected, quarter.rating) == (
        Fraction(4, 5),
        Fraction(1, 2),
        Rating.AS_EXPECTED,
    )
    assert (quarter.achievement_bp, quarter.version, quarter.realised_to) == (8000, 1, date(2025, 6, 30))
    year = await work_proposal(policy, BUDI, "2025")
    assert year is not None and (year.achievement, year.rating) == (Fraction(2, 5), Rating.BELOW)
    # Q1: nothing approved by March: 0 %, below; 2024: no agreed plan, no proposal
    q1 = await work_proposal(policy, BUDI, "2025-Q1")
    assert q1 is not None and (q1.achievement, q1.rating) == (0, Rating.BELOW)
    assert await work_proposal(policy, BUDI, "2024") is None


async def test_choosing_otherwise_needs_a_reason_which_is_kept(world: World):
    ani = await principal("ani")
    await record_behaviour(ani, BUDI, "2025-Q2", AS_EXPECTED)
    with pytest.raises(Invalid) as refused:
        await set_rating(ani, BUDI, "2025-Q2", "di_atas_ekspektasi", "  ")
    assert translate_text("id", refused.value.reason) == (
        "Realisasi SKP mengusulkan Sesuai Ekspektasi: tuliskan alasan memilih yang lain."
    )
    why = "Laporan April memuat evaluasi program yang tidak direncanakan."
    rated = await set_rating(ani, BUDI, "2025-Q2", "di_atas_ekspektasi", why)
    assert (rated.work_result, rated.predicate) == ("di_atas_ekspektasi", "baik")
    kept = await rating_reason(BUDI, Period(2025, 2))
    assert (kept["proposed"], kept["achievement"], kept["reason"]) == ("sesuai_ekspektasi", 8000, why)
    # a change of behaviour re-stores the rating: the reason it was set with stays
    await record_behaviour(ani, BUDI, "2025-Q2", {v: ("di_atas_ekspektasi", "") for v in VALUES})
    view = await employee_appraisal(ani, BUDI, "2025-Q2")
    assert view.reason == why and view.rating is not None and view.rating.predicate == "sangat_baik"
    assert view.proposal is not None and view.proposal.rating is Rating.AS_EXPECTED
    # the proposed rating needs no reason, and the old reason no longer stands
    await set_rating(ani, BUDI, "2025-Q2", "sesuai_ekspektasi", "")
    assert (await employee_appraisal(ani, BUDI, "2025-Q2")).reason == ""
    # the employee reads the proposal and the reason too; the year: below expectation proposed
    budi_view = await employee_appraisal(await principal("budi"), BUDI, "2025")
    assert budi_view.proposal is not None and budi_view.proposal.rating is Rating.BELOW


async def test_the_page_shows_the_proposal_and_refuses_without_a_reason(world: World):
    cookie, csrf = await session_cookie(world, Role.SUPERVISOR)  # Ani
    await record_behaviour(await principal("ani"), BUDI, "2025-Q2", AS_EXPECTED)
    page = f"/kinerja/penilaian/pegawai/{BUDI}"
    shown = await world.client.get(page, params={"period": "2025-Q2"}, cookies={SESSION_COOKIE: cookie})
    html = await shown.text()
    assert shown.status == 200
    assert 'data-proposed="sesuai_ekspektasi"' in html and 'data-achievement="8000"' in html
    assert "Usulan dari realisasi SKP" in html and "Realisasi 80,00% dari target yang diharapkan sampai" in html
    assert "30 Juni 2025" in html and "(1/2 target tahunan), SKP versi 1" in html
    assert 'value="sesuai_ekspektasi" required checked' in html  # the form opens on the proposal

    async def rate(work: str, reason: str):
        data = {"csrf_token": csrf, "period": "2025-Q2", "work_result": work, "reason": reason}
        return await world.client.post(f"{page}/rating", data=data, cookies={SESSION_COOKIE: cookie},
                                       allow_redirects=False)  # fmt: skip

    refused = await rate("di_bawah_ekspektasi", "")
    html = await refused.text()
    assert refused.status == 400 and "Realisasi SKP mengusulkan Sesuai Ekspektasi: tuliskan alasan" in html
    assert 'value="di_bawah_ekspektasi" required checked' in html  # what was chosen is kept
    saved = await rate("di_bawah_ekspektasi", "Laporan terlambat dua bulan berturut-turut.")
    assert saved.status == 303
    shown = await world.client.get(page, params={"period": "2025-Q2"}, cookies={SESSION_COOKIE: cookie})
    html = await shown.text()
    assert "Alasan memilih berbeda dari usulan" in html and "Laporan terlambat dua bulan berturut-turut." in html
    # a year without an agreed plan: said so, nothing proposed
    shown = await world.client.get(page, params={"period": "2024"}, cookies={SESSION_COOKIE: cookie})
    html = await shown.text()
    assert 'id="no-proposal"' in html and 'id="work-proposal"' not in html


async def test_the_work_plan_api_carries_the_proposal(world: World):
    response = await world.client.get(
        f"/api/v1/employees/{BUDI}/skp", params={"period": "2025-Q2"}, headers=world.auth(Role.SUPERVISOR)
    )
    assert response.status == 200, await response.text()
    measured = (await response.json())["realisation"]
    assert measured["achievement"] == "40%"  # 4 of the year's 10: the realisation against the whole year
    assert measured["proposal"] == {"rating": "sesuai_ekspektasi", "achievement_bp": 8000, "expected": "1/2",
                                    "realised_to": "2025-06-30", "version": 1}  # fmt: skip
