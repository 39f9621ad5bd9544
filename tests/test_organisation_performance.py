"""The organisation's performance page and API (issue 17): realisation, discipline from the stored monthly
results and the predicate distribution, rolled up employee -> unit -> echelon I -> ministry, every sum
checked by hand; scoped by role on the page and the API.

    kemen > dj-a > dir-1 (Ani, head; Budi under Ani; Dodi, no supervisor), dir-2 (Citra, head)
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from fractions import Fraction

import pytest

from server.appraisal_models import AppraisalRating, OrganisationRatingRecord
from server.models import Employee
from server.results_models import MonthlyScore
from server.services.accounts import Role, UserAccount
from server.services.organisation import flatten, organisation
from server.services.skp import add_indicator, add_result, add_target, agree_submitted, link_activity, submit_plan
from tests.test_browser import _chromium_installed, base, browser, log_in, log_out  # noqa: F401 (fixtures)
from tests.test_browser_skp import tidy
from tests.test_requests import principal
from tests.test_skp import YEAR, claim, head_plan, page, staff_plan
from tests.web_seed import _HASH, ANI, BUDI, CITRA, World, web_world

DODI = "199203032016041004"
QUARTER = f"{YEAR}-Q1"


@pytest.fixture
async def world(db_url):
    async with web_world(db_url, score_worker=False) as w:  # the stored results are the test's own
        await Employee.create(nip=DODI, name="Dodi Kurniawan", unit_id="dir-1", position="Pengemudi")
        await UserAccount.create(username="citra", display_name="citra", password_hash=_HASH, role=Role.SUPERVISOR,
                                 employee_nip=CITRA)  # fmt: skip
        await seed_performance()
        yield w


async def month(nip: str, unit: str, number: int, codes: dict[str, int], deduction_bp: int) -> None:
    """A stored monthly result, as the scoring worker leaves it (only what the roll-up reads matters)."""
    await MonthlyScore.create(
        nip=nip, unit_code=unit, year=YEAR, month=number, policy_name="national-common",
        policy_effective_from=date(2020, 1, 1), policy_fingerprint="f" * 32, planned_days=20, score_bp=9000,
        allowance_deduction_bp=deduction_bp, discipline_deduction_bp=deduction_bp, performance_bp=9000,
        discipline_bp=10000 - deduction_bp, effective_minutes=6000, target_minutes=6600, codes=codes, explain={},
        digest=f"{nip}{number}", computed_at=datetime.now(UTC),
    )  # fmt: skip


async def rated(nip: str, unit: str, predicate: str, period: str = QUARTER) -> None:
    await AppraisalRating.create(nip=nip, unit_code=unit, year=YEAR, period=period, work_result="sesuai_ekspektasi",
                                 behaviour="sesuai_ekspektasi", predicate=predicate, rated_by="test")  # fmt: skip


async def seed_performance() -> None:
    # Plans: Ani (dir-1's head) 2 of 4 meetings = 1/2; Budi under her 9 of 10 reports = 9/10; Citra (dir-2's
    # head) 3 of 4 letters = 3/4; Dodi has no plan.
    await head_plan()
    await staff_plan()
    biro, citra = await principal("biro"), await principal("citra")
    await add_target(biro, "dir-2", YEAR, "T9", "Sasaran dir-2", "rkakl_output")
    await add_result(citra, YEAR, "Surat layanan terkirim", "T9")
    await add_indicator(citra, YEAR, "RHK1", "Jumlah surat", "kuantitas", "4", "surat")
    await link_activity(citra, YEAR, "SURAT", "RHK1.1")
    await submit_plan(citra, YEAR)
    await agree_submitted(biro, CITRA, YEAR)
    await claim(ANI, "dir-1", "RAPAT", (1, 15), 2, "approved")
    await claim(BUDI, "dir-1", "LAPORAN", (2, 3), 9, "approved")
    await claim(BUDI, "dir-1", "LAPORAN", (2, 4), 5, "rejected")  # rejected: realises nothing
    await claim(CITRA, "dir-2", "SURAT", (3, 3), 3, "approved")
    # Stored monthly results: the first quarter's months count, April's do not.
    await month(ANI, "dir-1", 1, {"TL1": 2, "PSW1": 1}, 150)
    await month(ANI, "dir-1", 2, {"TK": 1}, 300)
    await month(BUDI, "dir-1", 1, {"TL2": 1, "TL3": 1, "PSW2": 2}, 400)
    await month(BUDI, "dir-1", 4, {"TK": 5}, 1000)
    await month(DODI, "dir-1", 1, {"TL1": 1}, 50)
    await month(CITRA, "dir-2", 3, {}, 0)
    # The quarter's predicates: dir-1 rated "Baik" (some Butuh Perbaikan: Dodi's) keeps its rule; dir-2 rated
    # "Istimewa" with its one employee Sangat Baik (1 of 1 > 70 %) breaks it. The year's rating is not the quarter's.
    await OrganisationRatingRecord.create(unit_code="dir-1", year=YEAR, rating="baik", set_by="biro")
    await OrganisationRatingRecord.create(unit_code="dir-2", year=YEAR, rating="istimewa", set_by="biro")
    await rated(ANI, "dir-1", "sangat_baik")
    await rated(BUDI, "dir-1", "sangat_baik")
    await rated(DODI, "dir-1", "butuh_perbaikan")
    await rated(CITRA, "dir-2", "sangat_baik")
    await rated(BUDI, "dir-1", "kurang", period=str(YEAR))


async def test_the_bureau_sees_every_figure_rolled_up_by_hand(world: World):
    _, roots = await organisation(await principal("biro"), YEAR, QUARTER)
    units = {n.code: n for n in flatten(roots)}
    assert list(units) == ["kemen", "dj-a", "dir-1", "dir-2"]
    dir1, dir2, dja, kemen = units["dir-1"], units["dir-2"], units["dj-a"], units["kemen"]
    # Realisation: the mean of the employees' plan achievements, never the head's alone.
    assert (dir1.measured, dir1.achievement) == (2, (Fraction(1, 2) + Fraction(9, 10)) / 2)  # 7/10
    assert [(t.code, v) for t, v in dir1.targets] == [("T1", Fraction(1, 2))]  # the cascade: Ani's own RHK
    assert (dir2.measured, dir2.achievement) == (1, Fraction(3, 4))
    # Above: every employee counts once (43/60), not the mean of the two units' means (29/40).
    expected = (Fraction(1, 2) + Fraction(9, 10) + Fraction(3, 4)) / 3
    assert expected == Fraction(43, 60)
    assert (dja.measured, dja.achievement) == (3, expected) and (kemen.measured, kemen.achievement) == (3, expected)
    # Discipline: dir-1's January and February (Ani 2, Budi 1, Dodi 1 months); Budi's April is another quarter.
    d = dir1.discipline
    assert (d.months, d.late, d.early, d.absent, d.deduction_bp) == (4, 2 + 2 + 1, 1 + 2, 1, 150 + 300 + 400 + 50)
    lines = {e.nip: e for e in dir1.employees}
    assert (lines[BUDI].discipline.late, lines[BUDI].discipline.absent, lines[BUDI].predicate) == (2, 0, "sangat_baik")
    assert (lines[DODI].achievement, lines[DODI].discipline.deduction_bp) == (None, 50)
    d = kemen.discipline
    assert (d.months, d.late, d.early, d.absent, d.deduction_bp) == (5, 5, 3, 1, 900)
    assert d.mean_deduction_bp == Fraction(900, 5)  # 1,80 %
    # Predicates: counted per unit, summed up; the rule checked per unit, the break named above.
    assert dir1.predicates == {"sangat_baik": 2, "baik": 0, "butuh_perbaikan": 1, "kurang": 0, "sangat_kurang": 0}
    assert dir1.distribution is not None and dir1.distribution.ok and dir1.breaking == []
    assert dir2.distribution is not None and not dir2.distribution.ok
    assert "at most 0 of 1 employees with Sangat Baik; it has 1" in dir2.distribution_problems[0].text
    assert kemen.predicates["sangat_baik"] == 3 and kemen.predicates["butuh_perbaikan"] == 1 and kemen.rated == 4
    assert kemen.distribution is None and kemen.breaking == ["dir-2"] and dja.breaking == ["dir-2"]
    assert (kemen.minutes, dir1.minutes) == (2 * 60 + 9 * 120 + 3 * 30, 2 * 60 + 9 * 120)
    # The year's ratings are the year's: only Budi's.
    _, roots = await organisation(await principal("biro"), YEAR, str(YEAR))
    year = {n.code: n for n in flatten(roots)}
    assert year["kemen"].rated == 1 and year["kemen"].predicates["kurang"] == 1
    assert year["dir-1"].discipline.months == 5  # the whole year's stored months, April's too


async def test_a_unit_head_sees_their_tree_and_the_rule_only_where_they_see_every_rating(world: World):
    _, roots = await organisation(await principal("ani"), YEAR, QUARTER)
    nodes = flatten(roots)
    assert [n.code for n in nodes] == ["dir-1"]
    dir1 = nodes[0]
    assert {e.nip for e in dir1.employees} == {ANI, BUDI}  # Dodi is not below Ani
    assert dir1.predicates["sangat_baik"] == 2 and dir1.rated == 2
    assert dir1.distribution is None and dir1.distribution_partial  # Dodi's rating is not hers to see
    d = dir1.discipline
    assert (d.months, d.late, d.early, d.absent, d.deduction_bp) == (3, 4, 3, 1, 850)
    _, roots = await organisation(await principal("admin-dir2"), YEAR, QUARTER)
    assert [n.code for n in flatten(roots)] == ["dir-2"]


async def test_the_page_shows_the_figures_and_the_warning_in_indonesian(world: World):
    status, _, text = await page(world, Role.BUREAU_ADMIN, f"/kinerja/organisasi?year={YEAR}&period={QUARTER}")
    assert status == 200, text[:500]
    assert "Disiplin" in text and "Predikat" in text and "Rata-rata potongan" in text
    row = text[text.index('data-unit="dir-2"') :]
    row = row[: row.index("</tr>")]
    assert 'data-breaks="dir-2"' in row and "Istimewa" in row
    assert "paling banyak boleh memiliki 0 dari 1 pegawai berpredikat Sangat Baik" in row, row
    kemen = text[text.index('data-unit="kemen"') :]
    kemen = kemen[: kemen.index("</tr>")]
    assert "71,67%" in kemen and "1,80%" in kemen, kemen  # 43/60 and 900/5 bp, as Indonesian writes them
    assert "1 unit di bawahnya melanggar aturan" in kemen, kemen
    status, _, text = await page(world, Role.SUPERVISOR, f"/kinerja/organisasi?year={YEAR}&period={QUARTER}")
    assert status == 200 and "Direktorat Satu" in text and "Direktorat Dua" not in text and "Dodi" not in text
    assert "tidak diperiksa" in text
    status, _, text = await page(world, Role.UNIT_ADMIN, f"/kinerja/organisasi?year={YEAR}&period={QUARTER}")
    assert status == 200 and "Direktorat Dua" in text and "Direktorat Satu" not in text
    for role in (Role.EMPLOYEE, Role.OPERATIONS):
        status, _, text = await page(world, role, f"/kinerja/organisasi?year={YEAR}")
        assert status == 403, (role, status)
    anonymous = await world.client.get("/kinerja/organisasi", allow_redirects=False)
    assert anonymous.status in (302, 303) and "/login" in anonymous.headers["Location"]


async def test_the_api_carries_the_same_figures_within_scope(world: World):
    query = {"year": YEAR, "period": QUARTER}
    response = await world.client.get("/api/v1/organisation/performance", params=query,
                                      headers=world.auth(Role.BUREAU_ADMIN))  # fmt: skip
    assert response.status == 200, await response.text()
    units = {u["unit"]: u for u in (await response.json())["units"]}
    kemen, dir2 = units["kemen"], units["dir-2"]
    assert (kemen["achievement"], kemen["employees_measured"]) == ("71.67%", 3)
    assert kemen["discipline"] == {"months": 5, "TL": 5, "PSW": 3, "TK": 1, "mean_deduction": "1.80%"}
    assert kemen["predicates"]["sangat_baik"] == 3 and kemen["breaking"] == ["dir-2"]
    assert dir2["distribution"]["ok"] is False and dir2["organisation_rating"] == "istimewa"
    assert units["dir-1"]["distribution"] == {"ok": True, "problems": []}
    budi = next(e for e in units["dir-1"]["employees"] if e["nip"] == BUDI)
    assert (budi["achievement"], budi["predicate"], budi["discipline"]["TL"]) == ("90.00%", "sangat_baik", 2)
    response = await world.client.get("/api/v1/organisation/performance", params=query,
                                      headers=world.auth(Role.SUPERVISOR))  # fmt: skip
    mine = (await response.json())["units"]
    assert [u["unit"] for u in mine] == ["dir-1"] and mine[0]["distribution_partial"] is True
    assert {e["nip"] for e in mine[0]["employees"]} == {ANI, BUDI}
    response = await world.client.get("/api/v1/organisation/performance", params=query,
                                      headers=world.auth(Role.UNIT_ADMIN))  # fmt: skip
    assert [u["unit"] for u in (await response.json())["units"]] == ["dir-2"]
    for role in (Role.EMPLOYEE, Role.OPERATIONS):
        response = await world.client.get("/api/v1/organisation/performance", headers=world.auth(role))
        assert response.status == 403, role
    bad = await world.client.get("/api/v1/organisation/performance", params={"period": "2025-Q7"},
                                 headers=world.auth(Role.BUREAU_ADMIN))  # fmt: skip
    assert bad.status == 400


@pytest.mark.timeout(200)  # two password logins (Argon2, slow on purpose)
async def test_in_the_browser_the_bureau_sees_the_warning_and_the_head_only_their_unit(
    world: World,
    browser,  # noqa: F811
):
    url = base(world)
    biro = await log_in(browser, url, "biro")
    await biro.set_viewport_size({"width": 1280, "height": 900})
    await biro.goto(f"{url}/kinerja/organisasi?year={YEAR}&period={QUARTER}")
    warning = biro.locator("#organisation tr[data-unit='dir-2'] [data-breaks]")
    assert await warning.is_visible()  # on the row, not folded away
    assert "Istimewa" in await warning.inner_text()
    assert "1 unit di bawahnya melanggar aturan" in await biro.inner_text("#organisation tr[data-unit='kemen']")
    assert await biro.inner_text("#organisation tr[data-unit='kemen'] .deduction") == "1,80%"
    await biro.click("#organisation tr[data-unit='dir-1'] summary")
    assert "Dodi Kurniawan" in await biro.inner_text("#organisation tr[data-unit='dir-1']")
    # Opened, the unit's employees fit the page: nothing hidden past its right edge at 1280 pixels.
    overflow = await biro.evaluate("() => { const s = document.querySelector('#organisation').parentElement;"
                                   " return s.scrollWidth - s.clientWidth; }")  # fmt: skip
    assert overflow <= 0, f"the table is {overflow} px wider than the page"
    await tidy(biro)
    await biro.screenshot(path="/tmp/t17d-organisation.png", full_page=True)
    await log_out(biro)
    ani = await log_in(browser, url, "ani")
    await ani.goto(f"{url}/kinerja/organisasi?year={YEAR}&period={QUARTER}")
    assert await ani.locator("#organisation tr[data-unit]").count() == 1
    assert "tidak diperiksa" in await ani.inner_text("#organisation tr[data-unit='dir-1'] .distribution")
    await tidy(ani)
