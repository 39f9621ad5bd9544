"""The appraisal on the server, both deployments (SQLite and PostgreSQL): the feedback dialogue, the
BerAKHLAK behaviour ratings with their scores worked out by hand, the predicate by the matrix, peer and
subordinate input weighed as a policy says, the unit's distribution against its organisation rating
(finalising refused while it breaks, the reason in Indonesian), the yearly SIASN export's rows, and the
pages: who reads and writes what, and a refused form shown again with what was typed."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from openpyxl import load_workbook

from scoring import parse_appraisal_text
from server.appraisal_models import AppraisalRating
from server.auth import SESSION_COOKIE, Principal
from server.errors import Conflict, NotFound, Refused
from server.i18n import translate_text
from server.models import Employee
from server.payroll_models import AuditEntry
from server.services import appraisal
from server.services.accounts import Role, UserAccount
from server.services.appraisal import (
    add_feedback,
    employee_appraisal,
    finalise_unit,
    record_behaviour,
    set_organisation_rating,
    set_rating,
    unit_appraisal,
    yearly_results,
)
from server.services.appraisal_exports import SKP_HEADER
from tests.web_seed import ANI, BUDI, CITRA, World, session_cookie, web_world

DEDI = "197801012005011001"  # in dj-a, Ani's superior
EKO = "199205052018011004"  # in dir-1 under Ani: Budi's peer
FAJAR = "199512122020121005"  # in dir-1 under Budi: Budi's subordinate
YEAR = "2026"
PRESETS = Path(__file__).resolve().parent.parent / "scoring" / "presets" / "appraisal"  # the shipped files
VALUES = ("berorientasi_pelayanan", "akuntabel", "kompeten", "harmonis", "loyal", "adaptif", "kolaboratif")
A, S, B = "di_atas_ekspektasi", "sesuai_ekspektasi", "di_bawah_ekspektasi"


@pytest.fixture
async def world(db_url) -> AsyncIterator[World]:
    async with web_world(db_url) as w:
        await Employee.create(nip=DEDI, name="Dedi Kurniawan", unit_id="dj-a", position="Direktur")
        await Employee.filter(nip=ANI).update(supervisor_id=DEDI)
        await Employee.create(nip=EKO, name="Eko Prasetyo", unit_id="dir-1", position="Analis", supervisor_id=ANI)
        await Employee.create(nip=FAJAR, name="Fajar Nugroho", unit_id="dir-1", position="Pengadministrasi",
                              supervisor_id=BUDI)  # fmt: skip
        yield w
    appraisal.appraisal_policy.cache_clear()


def person(nip: str, name: str, role: Role = Role.EMPLOYEE) -> Principal:
    """A principal for an employee without an account in the seed."""
    return Principal(0, name, name, role, None, nip, "id", "session")


async def account(username: str) -> Principal:
    return Principal.of(await UserAccount.get(username=username), "session")


def marks(*ratings: str, note: str = "") -> dict[str, tuple[object, object]]:
    return {v: (r, note or f"bukti {v}") for v, r in zip(VALUES, ratings, strict=True)}


async def test_behaviour_scores_and_predicates_by_the_matrix(world: World):
    ani = await account("ani")
    # 3 + 3 + 2 + 2 + 2 + 2 + 1 = 15 points over seven values: 2.14, as expected (1.5 <= mean < 2.5)
    assert await record_behaviour(ani, BUDI, YEAR, marks(A, A, S, S, S, S, B)) == "superior"
    row = await set_rating(ani, BUDI, YEAR, A)
    assert (row.behaviour, row.behaviour_points, row.predicate) == (S, "2.14", "baik")  # above x as
    # 3 x 5 + 2 x 2 = 19 points: 2.71, above; the stored predicate follows at once: above x above
    await record_behaviour(ani, BUDI, YEAR, marks(A, A, A, A, A, S, S))
    row = await AppraisalRating.get(nip=BUDI, period=YEAR)
    assert (row.behaviour, row.behaviour_points, row.predicate) == (A, "2.71", "sangat_baik")
    assert (await set_rating(ani, BUDI, YEAR, S)).predicate == "baik"  # as x above
    assert (await set_rating(ani, BUDI, YEAR, B)).predicate == "butuh_perbaikan"  # below x above
    # seven times 1 point: 1.00, below (under 1.5)
    await record_behaviour(ani, BUDI, YEAR, marks(B, B, B, B, B, B, B))
    assert (await AppraisalRating.get(nip=BUDI, period=YEAR)).predicate == "sangat_kurang"  # below x below
    assert (await set_rating(ani, BUDI, YEAR, A)).predicate == "kurang"  # above x below: Kurang/Misconduct
    assert (await set_rating(ani, BUDI, YEAR, S)).predicate == "kurang"
    # 1 x 3 + 6 x ... exactly on a bound: 2 x 3 + 5 x 2 = 16/7 = 2.29 as expected; 4 x 3 + 3 x 2 = 18/7 = 2.57 above
    await record_behaviour(ani, BUDI, YEAR, marks(A, A, A, A, S, S, S))
    row = await AppraisalRating.get(nip=BUDI, period=YEAR)
    assert (row.behaviour, row.behaviour_points, row.predicate) == (A, "2.57", "baik")
    view = await employee_appraisal(await account("budi"), BUDI, YEAR)
    assert view.score is not None and view.score.explain()["points_mean"] == "2.57"
    assert [r.note for r in view.behaviour if r.core_value == "loyal"] == ["bukti loyal"]
    assert await AuditEntry.filter(action="appraisal.rating", target=BUDI).count() >= 5


async def test_the_rating_needs_all_seven_values_and_only_the_superior_sets_it(world: World):
    ani, budi, citra = await account("ani"), await account("budi"), person(CITRA, "citra")
    with pytest.raises(Conflict, match="seven BerAKHLAK"):
        await set_rating(ani, BUDI, YEAR, A)
    incomplete = {**marks(A, A, A, A, A, A, A)}
    incomplete["loyal"] = ("", "")
    with pytest.raises(Exception, match="Loyal: choose above, as or below expectation"):
        await record_behaviour(ani, BUDI, YEAR, incomplete)
    with pytest.raises(Refused):
        await set_rating(budi, BUDI, YEAR, A)  # not one's own
    with pytest.raises(NotFound):  # the preset weighs no peers: to a peer Budi's appraisal is not there
        await record_behaviour(person(EKO, "eko"), BUDI, YEAR, marks(A, A, A, A, A, A, A))
    with pytest.raises(NotFound):
        await record_behaviour(citra, BUDI, YEAR, marks(A, A, A, A, A, A, A))  # another unit: not even seen
    with pytest.raises(Exception, match="period"):
        await record_behaviour(ani, BUDI, "2026-Q5", marks(A, A, A, A, A, A, A))


async def test_peer_and_subordinate_input_weighed_as_the_policy_says(world: World, monkeypatch):
    text = (PRESETS / "permenpanrb-6-2022.toml").read_text(encoding="utf-8")
    weighed = text.replace("raters = { superior = 100 }", "raters = { superior = 60, peer = 20, subordinate = 20 }")
    assert weighed != text
    monkeypatch.setattr(appraisal, "appraisal_policy", lambda: parse_appraisal_text(weighed))
    ani, eko, fajar = await account("ani"), person(EKO, "eko"), person(FAJAR, "fajar")
    await record_behaviour(ani, BUDI, YEAR, marks(*[A] * 7))
    assert await record_behaviour(eko, BUDI, YEAR, marks(*[B] * 7)) == "peer"
    # per value: superior 60 and peer 20 present, renormalised 3/4 x 3 + 1/4 x 1 = 2.5: above (>= 2.5)
    row = await set_rating(ani, BUDI, YEAR, S)
    assert (row.behaviour, row.behaviour_points, row.predicate) == (A, "2.50", "baik")
    assert await record_behaviour(fajar, BUDI, YEAR, marks(*[B] * 7)) == "subordinate"
    # 0.6 x 3 + 0.2 x 1 + 0.2 x 1 = 2.2: as expected
    row = await AppraisalRating.get(nip=BUDI, period=YEAR)
    assert (row.behaviour, row.behaviour_points, row.predicate) == (S, "2.20", "baik")
    view = await employee_appraisal(ani, BUDI, YEAR)
    assert {r.rater_role for r in view.behaviour} == {"superior", "peer", "subordinate"}
    with pytest.raises(Refused):  # Dedi, Ani's superior, is neither Budi's superior, peer nor subordinate
        await record_behaviour(person(DEDI, "dedi", Role.SUPERVISOR), BUDI, YEAR, marks(*[A] * 7))


async def test_peers_and_subordinates_find_whom_they_rate_on_a_list_page_only_where_the_policy_weighs_them(
    world: World, monkeypatch
):
    from server.pages import appraisal as appraisal_pages
    from server.services.appraisal import Period, rating_duties

    period = Period(2026)
    cookie, _ = await session_cookie(world, Role.EMPLOYEE)  # Budi: Ani's staff, Eko's peer, Fajar's superior
    shipped = await world.client.get("/kinerja/penilaian/rekan", params={"period": YEAR},
                                     cookies={SESSION_COOKIE: cookie})  # fmt: skip
    assert shipped.status == 200 and 'id="superior-only"' in await shipped.text()
    assert await rating_duties(person(EKO, "eko"), period) == []  # the preset weighs the superior alone
    text = (PRESETS / "permenpanrb-6-2022.toml").read_text(encoding="utf-8")
    weighed = parse_appraisal_text(
        text.replace("raters = { superior = 100 }", "raters = { superior = 60, peer = 20, subordinate = 20 }")
    )
    monkeypatch.setattr(appraisal, "appraisal_policy", lambda: weighed)
    monkeypatch.setattr(appraisal_pages, "appraisal_policy", lambda: weighed)
    eko = person(EKO, "eko")
    duties = await rating_duties(eko, period)
    assert [(d.employee.nip, d.role, d.weight_bp, d.done) for d in duties] == [
        (ANI, "subordinate", 2000, False),  # his own superior, as her subordinate
        (BUDI, "peer", 2000, False),  # the same superior
    ]
    await record_behaviour(eko, BUDI, YEAR, marks(*[S] * 7))
    assert [(d.employee.nip, d.rated, d.done) for d in await rating_duties(eko, period)][1] == (BUDI, 7, True)
    assert [(d.employee.nip, d.role) for d in await rating_duties(person(FAJAR, "fajar"), period)] == [
        (BUDI, "subordinate")
    ]
    assert await rating_duties(await account("biro"), period) == []  # the bureau rates as the superior, if at all
    page = await world.client.get("/kinerja/penilaian/rekan", params={"period": YEAR}, cookies={SESSION_COOKIE: cookie})
    html = await page.text()
    assert page.status == 200 and "Nilai rekan kerja dan atasan" in html
    assert f'data-nip="{ANI}" data-role="subordinate"' in html and f'data-nip="{EKO}" data-role="peer"' in html
    assert ">Bawahan</td>" in html and "20%" in html and "Belum dinilai" in html
    overview = await world.client.get("/kinerja/penilaian", params={"period": YEAR}, cookies={SESSION_COOKIE: cookie})
    assert 'id="rating-duties-link"' in await overview.text()
    for role in (Role.BUREAU_ADMIN, Role.UNIT_ADMIN, Role.OPERATIONS):
        other, _ = await session_cookie(world, role)
        refused = await world.client.get("/kinerja/penilaian/rekan", cookies={SESSION_COOKIE: other},
                                         allow_redirects=False)  # fmt: skip
        assert refused.status == 403, role


async def test_the_dialogue_is_kept_per_period(world: World):
    ani, budi = await account("ani"), await account("budi")
    with pytest.raises(Conflict, match="no feedback from your superior"):
        await add_feedback(budi, BUDI, YEAR, "Saya ingin bertanya")
    await add_feedback(ani, BUDI, YEAR, "Laporan triwulan tepat waktu; tingkatkan kolaborasi.")
    await add_feedback(budi, BUDI, YEAR, "Terima kasih, saya akan ikut rapat lintas bagian.")
    await add_feedback(ani, BUDI, "2026-Q1", "Triwulan I: target surat tercapai.")
    with pytest.raises(Refused):  # Dedi reads Budi (below him) but is not his direct superior
        await add_feedback(person(DEDI, "dedi", Role.SUPERVISOR), BUDI, YEAR, "Bukan atasan langsung")
    with pytest.raises(NotFound):
        await add_feedback(person(EKO, "eko"), BUDI, YEAR, "Rekan kerja")
    with pytest.raises(NotFound):
        await add_feedback(person(CITRA, "citra"), BUDI, YEAR, "Unit lain")
    with pytest.raises(Exception, match="Please write"):
        await add_feedback(ani, BUDI, YEAR, "   ")
    view = await employee_appraisal(budi, BUDI, YEAR)
    assert [(m.author_role, m.body[:9]) for m in view.thread] == [("superior", "Laporan t"), ("employee", "Terima ka")]
    assert view.can_answer and not view.is_superior
    assert [(p, n) for p, n, _ in view.history] == [("2026", 2), ("2026-Q1", 1)]
    older = await employee_appraisal(budi, BUDI, "2026-Q1")
    assert [m.body for m in older.thread] == ["Triwulan I: target surat tercapai."]
    with pytest.raises(NotFound):  # an employee reads only their own
        await employee_appraisal(budi, ANI, YEAR)
    assert (await employee_appraisal(await account("biro"), BUDI, YEAR)).thread  # the bureau reads all
    with pytest.raises(NotFound):
        await employee_appraisal(await account("admin-dir2"), BUDI, YEAR)  # the unit admin of dir-2: not dir-1


async def rate(rater: Principal, nip: str, behaviour: str, work: str) -> None:
    await record_behaviour(rater, nip, YEAR, marks(*[behaviour] * 7))
    await set_rating(rater, nip, YEAR, work)


async def test_the_distribution_bounds_and_finalising(world: World):
    biro, ani, budi, dedi = (
        await account("biro"),
        await account("ani"),
        await account("budi"),
        person(DEDI, "dedi", Role.SUPERVISOR),
    )
    await rate(dedi, ANI, S, S)  # Baik
    await rate(ani, BUDI, S, S)  # Baik
    await rate(ani, EKO, S, S)  # Baik
    view = await unit_appraisal(biro, "dir-1", YEAR)
    assert [e.nip for e, _ in view.members] == [ANI, BUDI, EKO, FAJAR]
    assert [p.text for p in view.problems] == [
        "1 of 4 employees have no rating yet.",
        "The bureau has not set the unit's organisation rating for 2026.",
    ]
    await rate(budi, FAJAR, S, S)  # Budi (an employee's account) is Fajar's superior in master data: Baik
    with pytest.raises(Refused):
        await set_organisation_rating(await account("admin-dir2"), "dir-1", 2026, "baik")
    await set_organisation_rating(biro, "dir-1", 2026, "baik")
    view = await unit_appraisal(biro, "dir-1", YEAR)
    # "Baik": at most 70 % Baik (2 of 4, 2.8 rounded down) and at least one Butuh Perbaikan or Kurang
    assert [p.text for p in view.problems] == [
        "A unit rated Baik may have at most 2 of 4 employees with Baik; it has 4.",
        "A unit rated Baik needs at least 1 of 4 employees with Butuh Perbaikan / Kurang/Misconduct; it has 0.",
    ]
    with pytest.raises(Conflict) as refused:
        await finalise_unit(biro, "dir-1", YEAR)
    assert refused.value.reason == view.problems[0].text
    assert translate_text("id", refused.value.reason) == (
        "Unit dengan penilaian organisasi Baik paling banyak boleh memiliki 2 dari 4 pegawai berpredikat Baik;"
        " saat ini 4."
    )
    await set_organisation_rating(biro, "dir-1", 2026, "istimewa")
    await rate(ani, BUDI, A, A)  # Sangat Baik
    await rate(ani, EKO, A, A)
    await rate(budi, FAJAR, A, A)
    view = await unit_appraisal(biro, "dir-1", YEAR)
    # "Istimewa": at most 70 % Sangat Baik: 2 of 4; it has 3
    assert [p.text for p in view.problems] == [
        "A unit rated Istimewa may have at most 2 of 4 employees with Sangat Baik; it has 3."
    ]
    with pytest.raises(Refused):
        await finalise_unit(ani, "dir-1", YEAR)  # a superior does not finalise
    with pytest.raises(Conflict, match="at most 2 of 4"):
        await finalise_unit(biro, "dir-1", YEAR)
    assert not await AppraisalRating.filter(final_at__isnull=False).exists()
    await set_rating(budi, FAJAR, YEAR, S)  # above behaviour, as work: Baik
    assert (await unit_appraisal(biro, "dir-1", YEAR)).problems == []
    assert await finalise_unit(biro, "dir-1", YEAR) == 4
    assert (await unit_appraisal(biro, "dir-1", YEAR)).final
    with pytest.raises(Conflict, match="final"):
        await set_rating(ani, BUDI, YEAR, S)
    with pytest.raises(Conflict, match="final"):
        await record_behaviour(ani, BUDI, YEAR, marks(*[S] * 7))
    with pytest.raises(Conflict, match="final"):
        await set_organisation_rating(biro, "dir-1", 2026, "baik")
    await add_feedback(ani, BUDI, YEAR, "Dialog tetap terbuka setelah final.")  # the dialogue stays open


async def test_the_yearly_export_rows_by_role(world: World):
    ani, biro = await account("ani"), await account("biro")
    await rate(ani, BUDI, A, A)
    everyone = await yearly_results(biro, 2026)
    assert [(r.unit_code, r.nip) for r in everyone] == [
        ("dir-1", ANI), ("dir-1", BUDI), ("dir-1", EKO), ("dir-1", FAJAR), ("dir-2", CITRA), ("dj-a", DEDI),
    ]  # fmt: skip
    budi_row = next(r for r in everyone if r.nip == BUDI)
    assert (budi_row.work_result, budi_row.behaviour, budi_row.predicate, budi_row.final) == (
        "Di Atas Ekspektasi", "Di Atas Ekspektasi", "Sangat Baik", False,
    )  # fmt: skip
    assert next(r for r in everyone if r.nip == EKO).predicate == ""  # not rated: still in the file
    assert [r.nip for r in await yearly_results(biro, 2026, "dir-1")] == [ANI, BUDI, EKO, FAJAR]
    assert [r.nip for r in await yearly_results(await account("admin-dir2"), 2026)] == [CITRA]
    assert [r.nip for r in await yearly_results(ani, 2026)] == [ANI, BUDI, EKO, FAJAR]
    assert [r.nip for r in await yearly_results(await account("budi"), 2026)] == [BUDI]
    with pytest.raises(NotFound):
        await yearly_results(await account("admin-dir2"), 2026, "dir-1")

    response = await world.client.get("/api/v1/exports/skp.csv", params={"year": "2026", "unit": "dir-1"},
                                      headers=world.auth(Role.BUREAU_ADMIN))  # fmt: skip
    assert response.status == 200, await response.text()
    assert 'filename="skp-2026.csv"' in response.headers["Content-Disposition"]
    lines = list(csv.reader(io.StringIO((await response.read()).decode("utf-8-sig"))))
    assert tuple(lines[0]) == SKP_HEADER
    assert lines[2] == ["2", BUDI, "Budi Santoso", "dir-1", "2026", "01/01/2026", "31/12/2026",
                        "Di Atas Ekspektasi", "Di Atas Ekspektasi", "Sangat Baik", "Belum final"]  # fmt: skip
    assert [line[1] for line in lines[1:]] == [ANI, BUDI, EKO, FAJAR]
    assert lines[1][-1] == "Belum dinilai"
    response = await world.client.get("/api/v1/exports/skp.xlsx", params={"year": "2026"},
                                      headers=world.auth(Role.EMPLOYEE))  # fmt: skip
    assert response.status == 200
    sheet = load_workbook(io.BytesIO(await response.read())).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == SKP_HEADER and len(rows) == 2  # Budi's own row only
    assert rows[1][1] == BUDI and sheet["B2"].data_type == "s" and sheet["B2"].number_format == "@"
    assert rows[1][9] == "Sangat Baik"
    refused = await world.client.get("/api/v1/exports/skp.csv", headers=world.auth(Role.OPERATIONS))
    assert refused.status == 403
    bad = await world.client.get("/api/v1/exports/skp.csv", params={"year": "20x6"},
                                 headers=world.auth(Role.BUREAU_ADMIN))  # fmt: skip
    assert bad.status == 400 and "year" in (await bad.json())["reason"]


async def test_pages_write_and_refuse_in_the_readers_language(world: World):
    ani_cookie, ani_csrf = await session_cookie(world, Role.SUPERVISOR)
    budi_cookie, budi_csrf = await session_cookie(world, Role.EMPLOYEE)

    async def post(cookie: str, csrf: str, path: str, data: dict[str, str]):
        return await world.client.post(path, data={"csrf_token": csrf, **data}, cookies={SESSION_COOKIE: cookie},
                                       allow_redirects=False)  # fmt: skip

    page = f"/kinerja/penilaian/pegawai/{BUDI}"
    refused = await post(ani_cookie, ani_csrf, f"{page}/umpan-balik", {"period": YEAR, "body": "  "})
    assert refused.status == 400
    assert "Tulis umpan balik atau jawabannya." in await refused.text()
    typed = {"period": YEAR, **{f"rating-{v}": A for v in VALUES}, **{f"note-{v}": f"catatan {v}" for v in VALUES}}
    typed["rating-loyal"] = ""
    refused = await post(ani_cookie, ani_csrf, f"{page}/perilaku", typed)
    assert refused.status == 400
    html = await refused.text()
    assert "Loyal: pilih di atas, sesuai atau di bawah ekspektasi" in html
    assert 'value="catatan kolaboratif"' in html  # nothing typed is lost
    saved = await post(ani_cookie, ani_csrf, f"{page}/perilaku", {**typed, "rating-loyal": S})
    assert saved.status == 303
    saved = await post(ani_cookie, ani_csrf, f"{page}/rating", {"period": YEAR, "work_result": A})
    assert saved.status == 303
    saved = await post(ani_cookie, ani_csrf, f"{page}/umpan-balik", {"period": YEAR, "body": "Bagus sekali."})
    assert saved.status == 303
    answered = await post(budi_cookie, budi_csrf, f"{page}/umpan-balik", {"period": YEAR, "body": "Terima kasih."})
    assert answered.status == 303
    own = await world.client.get(page, params={"period": YEAR}, cookies={SESSION_COOKIE: budi_cookie})
    html = await own.text()
    assert own.status == 200 and "Sangat Baik" in html and "Terima kasih." in html and "Bagus sekali." in html
    assert 'id="behaviour-form"' not in html and 'id="rating-form"' not in html  # the employee rates nothing
    refused = await post(budi_cookie, budi_csrf, f"{page}/rating", {"period": YEAR, "work_result": A})
    assert refused.status == 403
    bad = await world.client.get(page, params={"period": "kemarin"}, cookies={SESSION_COOKIE: budi_cookie})
    assert bad.status == 200 and str(bad.url.path) == "/kinerja/penilaian"  # back to the overview, told why
    assert "periode: " in await bad.text()


async def test_the_demo_unit_carries_feedback_behaviour_and_predicates_within_the_rules(world: World):
    from datetime import date

    from kinerja.demo import DEMO_ADMIN_NIP, DEMO_APPRAISAL, DEMO_APPRAISAL_UNIT, seed_appraisal, seed_registry
    from tests.web_seed import _HASH

    today = date(2026, 12, 3)
    await seed_registry(today)
    await UserAccount.create(username="demo", display_name="demo", password_hash=_HASH, role=Role.BUREAU_ADMIN,
                             employee_nip=DEMO_ADMIN_NIP)  # fmt: skip
    await seed_appraisal(today)
    await seed_appraisal(today)  # a rerun adds nothing twice
    biro = await account("biro")
    view = await unit_appraisal(biro, DEMO_APPRAISAL_UNIT, "2026")
    assert view.problems == [] and view.organisation_rating is not None
    assert view.organisation_rating.value == "baik" and view.rated == len(DEMO_APPRAISAL) == 8
    counts = {code: view.count(code) for code in ("sangat_baik", "baik", "butuh_perbaikan", "kurang", "sangat_kurang")}
    assert counts == {"sangat_baik": 2, "baik": 5, "butuh_perbaikan": 1, "kurang": 0, "sangat_kurang": 0}
    analyst = await employee_appraisal(biro, "198711232012121003", "2026")
    assert [m.author_role for m in analyst.thread] == ["superior", "employee"]
    assert all(r.note for r in analyst.behaviour) and len(analyst.behaviour) == 7
    rows = await yearly_results(biro, 2026, DEMO_APPRAISAL_UNIT)
    assert {r.nip for r in rows} == set(DEMO_APPRAISAL) and all(r.predicate for r in rows)
    assert await finalise_unit(biro, DEMO_APPRAISAL_UNIT, "2026") == 8
