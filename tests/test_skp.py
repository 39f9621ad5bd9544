"""Work plans (SKP) stored and served, on both deployments (issue 17): the cascade refuses an RHK without
a parent, a parent not in the superior's plan and a loop of superiors; a change after agreement is a new
version and the agreed one stays readable; realisation comes from approved claims only; the
organisation's roll-up sums minutes and averages the employees' achievements up the unit tree (numbers by
hand; discipline and predicates in tests/test_organisation_performance.py).

    kemen > dj-a > dir-1 (Ani, head; Budi under Ani), dir-2 (Citra)
"""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction

import pytest

from server.activity_models import ActivityClaimRecord
from server.auth import SESSION_COOKIE
from server.errors import Conflict, Invalid, NotFound, Refused
from server.i18n import translate_text
from server.models import Employee
from server.services.accounts import Role
from server.services.organisation import flatten, organisation
from server.services.skp import (
    add_indicator,
    add_result,
    add_target,
    agree_submitted,
    agreed_version,
    cascade_for,
    edit_result,
    editable_version,
    link_activity,
    links_of,
    parent_choices,
    period_of,
    periods_of,
    realisation,
    remove_result,
    set_review,
    submit_plan,
    versions,
)
from server.skp_models import PlannedResultRecord, WorkPlanRecord
from tests.test_requests import principal
from tests.web_seed import ANI, BUDI, CITRA, WIB, World, session_cookie, web_world

YEAR = 2025


@pytest.fixture
async def world(db_url):
    async with web_world(db_url) as w:
        yield w


async def head_plan(targets: tuple[str, ...] = ("T1",)) -> None:
    """The bureau's targets for dir-1; Ani (dir-1's head) plans one RHK under each, the bureau agrees."""
    biro, ani = await principal("biro"), await principal("ani")
    for code in targets:
        await add_target(biro, "dir-1", YEAR, code, f"Sasaran {code}", "rkakl_output")
    for number, code in enumerate(targets, start=1):
        await add_result(ani, YEAR, f"Tersusunnya laporan {code}", code)
        await add_indicator(ani, YEAR, f"RHK{number}", "Jumlah rapat", "kuantitas", "4", "rapat")
    await link_activity(ani, YEAR, "RAPAT", "RHK1.1")
    await submit_plan(ani, YEAR)
    await agree_submitted(biro, ANI, YEAR)


async def staff_plan() -> None:
    """Budi: one RHK under Ani's RHK1, ten reports a year from the LAPORAN activity; Ani agrees."""
    budi, ani = await principal("budi"), await principal("ani")
    await add_result(budi, YEAR, "Laporan kegiatan tersusun", "RHK1")
    await add_indicator(budi, YEAR, "RHK1", "Jumlah laporan", "kuantitas", "10", "laporan")
    await link_activity(budi, YEAR, "LAPORAN", "RHK1.1")
    await submit_plan(budi, YEAR)
    await agree_submitted(ani, BUDI, YEAR)


async def claim(nip: str, unit: str, activity: str, day: tuple[int, int], quantity: int, state: str) -> None:
    minutes = {"LAPORAN": 120, "RAPAT": 60, "SURAT": 30}[activity]
    start = datetime(YEAR, day[0], day[1], 9, 0, tzinfo=WIB).astimezone(UTC)
    await ActivityClaimRecord.create(
        claim_id=f"{nip[-4:]}{activity}{day[0]:02d}{day[1]:02d}{state[:3]}",
        nip=nip, unit_code=unit, activity=activity, activity_name=activity, start=start, quantity=quantity,
        minutes=minutes * quantity, state=state,
    )  # fmt: skip


async def test_an_rhk_needs_a_parent_from_the_superiors_agreed_plan(world: World):
    budi, ani, biro = [await principal(n) for n in ("budi", "ani", "biro")]
    with pytest.raises(Invalid):  # Ani has no agreed plan yet: Budi has nothing to hang an RHK under
        await add_result(budi, YEAR, "Laporan", "RHK1")
    with pytest.raises(Invalid):  # nor Ani, while dir-1 has no organisation target
        await add_result(ani, YEAR, "Laporan", "T1")
    await head_plan()
    assert [c.code for c in await parent_choices(await Employee.get(nip=BUDI), YEAR)] == ["RHK1"]
    with pytest.raises(Invalid):
        await add_result(budi, YEAR, "Laporan", "RHK7")
    # A draft whose RHK lost its parent (stored by hand): submitting is refused, in Indonesian and English.
    draft = await editable_version(budi, YEAR)
    await PlannedResultRecord.create(plan_id=draft.id, code="RHK1", text="Tanpa induk", parent_code=None)
    with pytest.raises(Invalid) as refused:
        await submit_plan(budi, YEAR)
    assert "tidak diintervensi RHK atasan" in refused.value.reason and "without a parent" in refused.value.reason
    assert translate_text("id", refused.value.reason).startswith("Rencana belum berjenjang")
    await PlannedResultRecord.filter(plan_id=draft.id).update(parent_code="RHK9")  # not in Ani's plan
    with pytest.raises(Invalid) as refused:
        await submit_plan(budi, YEAR)
    assert "'RHK9' yang tidak ada di RHK atasan" in refused.value.reason
    with pytest.raises(Conflict):  # nothing submitted: nothing to agree
        await agree_submitted(ani, BUDI, YEAR)
    with pytest.raises(Refused):  # the bureau agrees the unit head's plan, not Budi's (Ani is his superior)
        await agree_submitted(biro, BUDI, YEAR)


async def test_a_loop_of_superiors_is_refused(world: World):
    await head_plan()
    await staff_plan()
    # Budi is made Ani's superior (a registry mistake): Ani's next draft hangs under Budi, who hangs under Ani.
    await Employee.filter(nip=ANI).update(supervisor_id=BUDI)
    ani = await principal("ani")
    draft = await editable_version(ani, YEAR)
    assert draft.superior_nip == BUDI and draft.version == 2
    await PlannedResultRecord.filter(plan_id=draft.id).update(parent_code="RHK1")
    with pytest.raises(Invalid) as refused:
        await submit_plan(ani, YEAR)
    assert "rantai atasan berputar" in refused.value.reason


async def test_a_change_after_agreement_is_a_new_version_and_reaches_the_childrens_view(world: World):
    await head_plan()
    await staff_plan()
    ani, biro = await principal("ani"), await principal("biro")
    first = await agreed_version(ANI, YEAR)
    assert first is not None and (first.version, first.state) == (1, "agreed")
    await edit_result(ani, YEAR, "RHK1", "Tersusunnya laporan T1 yang diperbarui")
    draft = await editable_version(ani, YEAR)
    assert (draft.version, draft.state) == (2, "draft")
    # The agreed version keeps counting and stays as it was until the new one is agreed.
    assert (await agreed_version(ANI, YEAR)).version == 1  # type: ignore[union-attr]
    chain = (await cascade_for(BUDI, YEAR, "dir-1")).chain((BUDI, "RHK1"))
    assert chain == ["Sasaran T1", "Tersusunnya laporan T1", "Laporan kegiatan tersusun"]
    with pytest.raises(Conflict):  # Budi's agreed RHK hangs under RHK1: it cannot go
        await remove_result(ani, YEAR, "RHK1")
    await submit_plan(ani, YEAR)
    await edit_result(ani, YEAR, "RHK1", "Tersusunnya laporan T1 yang diperbarui")  # changed after submitting
    with pytest.raises(Conflict):  # back with Ani until she submits again
        await agree_submitted(biro, ANI, YEAR)
    await submit_plan(ani, YEAR)
    await agree_submitted(biro, ANI, YEAR)
    rows = await versions(ANI, YEAR)
    assert [(r.version, r.state, r.superseded_at is not None) for r in rows] == [
        (1, "agreed", True),
        (2, "agreed", False),
    ]
    old = [r.text for r in await PlannedResultRecord.filter(plan_id=rows[0].id)]
    assert old == ["Tersusunnya laporan T1"]  # the older version is readable as agreed
    chain = (await cascade_for(BUDI, YEAR, "dir-1")).chain((BUDI, "RHK1"))
    assert chain[1] == "Tersusunnya laporan T1 yang diperbarui"  # Budi sees the superior's change


async def test_realisation_counts_approved_claims_of_linked_activities_only(world: World):
    await head_plan()
    await staff_plan()
    await claim(BUDI, "dir-1", "LAPORAN", (2, 3), 2, "approved")
    await claim(BUDI, "dir-1", "LAPORAN", (2, 4), 2, "approved")
    await claim(BUDI, "dir-1", "LAPORAN", (3, 31), 2, "approved")
    await claim(BUDI, "dir-1", "LAPORAN", (3, 5), 5, "rejected")
    await claim(BUDI, "dir-1", "LAPORAN", (3, 6), 4, "submitted")
    await claim(BUDI, "dir-1", "SURAT", (3, 7), 3, "approved")  # approved but not linked to an indicator
    await claim(BUDI, "dir-1", "LAPORAN", (4, 2), 3, "approved")  # the second quarter
    plan = await agreed_version(BUDI, YEAR)
    assert plan is not None
    q1 = await realisation(plan, period_of(YEAR, plan.review, f"{YEAR}-Q1"))
    indicator = q1.measurement.results[0].indicators[0]
    assert (indicator.realised, indicator.achievement) == (6, Fraction(6, 10))  # 2 + 2 + 2 of 10
    assert q1.measurement.achievement_bp == 6000
    assert q1.minutes == 6 * 120 + 3 * 30  # every approved minute of the quarter, linked or not
    q2 = await realisation(plan, period_of(YEAR, plan.review, f"{YEAR}-Q2"))
    assert q2.measurement.results[0].indicators[0].realised == 9  # the year to the end of June
    assert q2.minutes == 3 * 120
    with pytest.raises(Invalid):
        period_of(YEAR, plan.review, "2025-Q5")


async def test_the_organisation_rolls_up_from_employee_to_ministry(world: World):
    await head_plan(("T1", "T2"))
    await staff_plan()
    await claim(ANI, "dir-1", "RAPAT", (1, 15), 2, "approved")  # Ani: 2 of 4 meetings, RHK1 = 50 %
    await claim(BUDI, "dir-1", "LAPORAN", (2, 3), 9, "approved")  # Budi: 9 of 10 reports = 90 %
    await claim(CITRA, "dir-2", "SURAT", (3, 3), 4, "approved")  # Citra: no plan, 120 minutes
    biro = await principal("biro")
    period, roots = await organisation(biro, YEAR, f"{YEAR}-Q1")
    units = {n.code: n for n in flatten(roots)}
    assert [r.code for r in roots] == ["kemen"] and period.key == "2025-Q1"
    dir1 = units["dir-1"]
    # T1 hangs over Ani's RHK1 (measured: 2/4); T2 over her RHK2 (no activity linked: 0 of 4).
    assert [(t.code, v) for t, v in dir1.targets] == [("T1", Fraction(1, 2)), ("T2", Fraction(0))]
    lines = {e.nip: e for e in dir1.employees}
    assert lines[BUDI].achievement == Fraction(9, 10) and lines[ANI].achievement == Fraction(1, 4)
    # The unit's figure is its employees' mean (Ani 1/4, Budi 9/10), not the head's RHK alone (1/4).
    assert dir1.achievement == Fraction(23, 40)
    assert (lines[ANI].minutes, lines[BUDI].minutes) == (120, 1080)
    assert dir1.minutes == 1200 and units["dir-2"].minutes == 120
    assert units["dir-2"].achievement is None  # Citra has no plan: nothing to average
    assert (units["dj-a"].minutes, units["dj-a"].achievement) == (1320, Fraction(23, 40))
    assert (units["kemen"].minutes, units["kemen"].achievement) == (1320, Fraction(23, 40))


async def test_the_organisation_is_scoped_by_role(world: World):
    await head_plan()
    await staff_plan()
    _, roots = await organisation(await principal("admin-dir2"), YEAR, None)
    assert [n.code for n in flatten(roots)] == ["dir-2"]  # the unit administrator's subtree only
    _, roots = await organisation(await principal("ani"), YEAR, None)
    nodes = flatten(roots)
    assert [n.code for n in nodes] == ["dir-1"] and {e.nip for e in nodes[0].employees} == {ANI, BUDI}
    with pytest.raises(Refused):
        await organisation(await principal("budi"), YEAR, None)
    with pytest.raises(NotFound):  # a unit outside the administrator's subtree
        await add_target(await principal("admin-dir2"), "dir-1", YEAR, "X1", "Sasaran", "rkakl_output")
    with pytest.raises(Refused):
        await add_target(await principal("ani"), "dir-1", YEAR, "X1", "Sasaran", "rkakl_output")


async def test_versions_made_by_a_change_keep_the_activity_links(world: World):
    await head_plan()
    await staff_plan()
    budi = await principal("budi")
    draft = await editable_version(budi, YEAR)
    assert (await WorkPlanRecord.get(id=draft.id)).version == 2
    assert await links_of(draft) == {"LAPORAN": ("RHK1", "RHK1.1")}
    assert await links_of(await agreed_version(BUDI, YEAR)) == {"LAPORAN": ("RHK1", "RHK1.1")}  # type: ignore[arg-type]


async def page(world: World, role: Role, path: str, form: dict[str, str] | None = None) -> tuple[int, str, str]:
    """(status, location, text) of a page GET, or of a form POST without following the redirect."""
    cookie, csrf = await session_cookie(world, role)
    cookies = {SESSION_COOKIE: cookie}
    if form is None:
        response = await world.client.get(path, cookies=cookies, allow_redirects=False)
    else:
        response = await world.client.post(path, data={**form, "csrf_token": csrf}, cookies=cookies,
                                           allow_redirects=False)  # fmt: skip
    return response.status, response.headers.get("Location", ""), (await response.read()).decode(errors="replace")


async def test_the_pages_keep_to_the_readers_scope_and_refuse_bad_input_in_words(world: World):
    await head_plan()
    await staff_plan()
    status, _, text = await page(world, Role.UNIT_ADMIN, f"/kinerja/organisasi?year={YEAR}")
    assert status == 200 and "Direktorat Dua" in text and "Direktorat Satu" not in text
    status, _, text = await page(world, Role.BUREAU_ADMIN, f"/kinerja/organisasi?year={YEAR}&period={YEAR}-Q1")
    assert status == 200 and "Direktorat Satu" in text and "Kementerian Contoh" in text
    status, _, text = await page(world, Role.SUPERVISOR, f"/kinerja/skp/tim?year={YEAR}")
    assert status == 200 and "Budi Santoso" in text and "Citra" not in text
    assert (await page(world, Role.SUPERVISOR, f"/kinerja/skp/pegawai/{CITRA}?year={YEAR}"))[0] == 404
    assert (await page(world, Role.EMPLOYEE, f"/kinerja/skp/pegawai/{ANI}/skp.pdf?year={YEAR}"))[0] == 404
    status, _, text = await page(world, Role.SUPERVISOR, f"/kinerja/skp/pegawai/{BUDI}/skp.pdf?year={YEAR}")
    assert status == 200 and text.startswith("%PDF-")
    # Budi agreeing his own plan, a unit administrator entering another unit's target, a year that is no year:
    # each is refused with the reason on the page, never a 500.
    await edit_result(await principal("budi"), YEAR, "RHK1", "Laporan kegiatan tersusun lengkap")
    await submit_plan(await principal("budi"), YEAR)
    status, location, _ = await page(world, Role.EMPLOYEE, f"/kinerja/skp/pegawai/{BUDI}/setujui", {"year": str(YEAR)})
    assert status == 303 and "error=" in location
    status, location, _ = await page(world, Role.UNIT_ADMIN, "/kinerja/sasaran",
                                     {"year": str(YEAR), "unit": "dir-1", "code": "X", "text": "x"})  # fmt: skip
    assert status == 303 and "error=no+such+unit+in+your+scope" in location
    status, location, _ = await page(world, Role.EMPLOYEE, "/kinerja/skp", {"year": "abc", "action": "submit"})
    assert status == 303 and "error=" in location
    status, _, text = await page(world, Role.EMPLOYEE, location)
    assert status == 200 and "tahun: dari 2020 sampai 2100" in text
    status, location, _ = await page(world, Role.EMPLOYEE, "/kinerja/skp",
                                     {"year": str(YEAR), "action": "indicator", "rhk": "RHK1", "text": "x",
                                      "aspect": "kuantitas", "target": "-3"})  # fmt: skip
    assert "error=target" in location
    assert (await agreed_version(BUDI, YEAR)).version == 1  # type: ignore[union-attr]  # the agreed one still counts


async def test_the_api_reads_plans_and_the_organisation_within_scope(world: World):
    await head_plan()
    await staff_plan()
    await claim(BUDI, "dir-1", "LAPORAN", (2, 3), 4, "approved")
    response = await world.client.get(f"/api/v1/employees/{BUDI}/skp", params={"year": YEAR, "period": f"{YEAR}-Q1"},
                                      headers=world.auth(Role.SUPERVISOR))  # fmt: skip
    assert response.status == 200, await response.text()
    body = await response.json()
    assert [(v["version"], v["state"], v["agreed_by"]) for v in body["versions"]] == [(1, "agreed", "ani")]
    assert body["versions"][0]["results"][0]["parent"] == "RHK1"
    assert (body["realisation"]["period"], body["realisation"]["achievement"]) == (f"{YEAR}-Q1", "40%")  # 4 of 10
    outside = await world.client.get(f"/api/v1/employees/{ANI}/skp", headers=world.auth(Role.EMPLOYEE))
    assert outside.status == 404
    wrong = await world.client.get(f"/api/v1/employees/{BUDI}/skp", params={"period": "1999-Q1"},
                                   headers=world.auth(Role.EMPLOYEE))  # fmt: skip
    assert wrong.status == 400 and "period" in (await wrong.json())["reason"]
    month = await world.client.get(f"/api/v1/employees/{BUDI}/skp", params={"period": f"{YEAR}-02"},
                                   headers=world.auth(Role.EMPLOYEE))  # fmt: skip
    assert (await month.json())["realisation"]["achievement"] == "40%"  # any period; the plan reviews quarterly
    units = await world.client.get("/api/v1/organisation/performance", params={"year": YEAR},
                                   headers=world.auth(Role.UNIT_ADMIN))  # fmt: skip
    assert [u["unit"] for u in (await units.json())["units"]] == ["dir-2"]
    query = {"year": YEAR, "period": f"{YEAR}-Q1"}
    everything = await world.client.get("/api/v1/organisation/performance", params=query,
                                        headers=world.auth(Role.BUREAU_ADMIN))  # fmt: skip
    dir1 = next(u for u in (await everything.json())["units"] if u["unit"] == "dir-1")
    assert (dir1["minutes"], dir1["targets"][0]["achievement"]) == (480, "0.00%")  # Ani's RHK1: no meeting yet
    employee = await world.client.get("/api/v1/organisation/performance", headers=world.auth(Role.EMPLOYEE))
    assert employee.status == 403


async def test_a_plan_reviewed_monthly_is_measured_by_month(world: World):
    await head_plan()
    budi = await principal("budi")
    await set_review(budi, YEAR, "monthly")
    with pytest.raises(Invalid):
        await set_review(budi, YEAR, "weekly")
    draft = await editable_version(budi, YEAR)
    assert draft.review == "monthly"
    assert [p.key for p in periods_of(YEAR, draft.review)][:2] == [f"{YEAR}-01", f"{YEAR}-02"]
    february = period_of(YEAR, draft.review, f"{YEAR}-02")
    assert (february.first.isoformat(), february.last.isoformat()) == (f"{YEAR}-02-01", f"{YEAR}-02-28")
