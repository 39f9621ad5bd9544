"""Objections (keberatan) on PostgreSQL: an employee objects to a day's category, a rejected request or
claim, or a month's result; the superior's superior (or the bureau, as the request policy says) decides,
never the supervisor objected to; an upheld day records an excuse or a corrected punch that the stale
queue re-scores; a closed month takes no upheld change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from scoring import ObjectionDecider, load_request_policy
from server.activity_models import ActivityClaimRecord, ExcuseRecord
from server.auth import Principal
from server.errors import Conflict, Invalid, NotFound, Refused
from server.i18n import translate_text
from server.models import Employee
from server.objection_models import Objection
from server.payroll_models import AuditEntry, MonthClose
from server.request_models import CorrectedPunch, EmployeeRequest
from server.results_models import MonthlyScore
from server.services.accounts import Role, UserAccount
from server.services.objections import decide_objection, file_objection, my_objections, queue, queue_count
from server.services.requests import decide_request, file_request
from server.services.scoring_queue import score_unit_month
from server.services.stale import stale_version
from tests.test_requests import day_of, principal
from tests.web_seed import ANI, BUDI, WIB, World, last_working_day, seed_month, web_world

DAY = last_working_day(datetime.now(WIB).date())
DEDI = "197801012005011001"


@pytest.fixture
async def world(postgres_url):
    """The seed's chain made one step longer: Dedi supervises Ani, who supervises Budi."""
    async with web_world(postgres_url) as w:
        await seed_month(DAY)
        await Employee.create(nip=DEDI, name="Dedi Kurniawan", unit_id="dir-1", position="Kepala Bagian")
        await Employee.filter(nip=ANI).update(supervisor_id=DEDI)
        await UserAccount.create(username="dedi", display_name="Dedi", password_hash="x", role=Role.SUPERVISOR,
                                 employee_nip=DEDI)  # fmt: skip
        yield w


def test_the_policy_names_who_decides_each_objection():
    policy = load_request_policy("national-common")
    assert policy.objection("day").decided_by is ObjectionDecider.SECOND_SUPERVISOR
    assert policy.objection("month").decided_by is ObjectionDecider.BUREAU
    assert policy.objection("request").deadline.days_after == 14 and policy.objection("nothing") is None


async def test_an_upheld_day_objection_becomes_the_days_excuse_and_is_rescored(world: World):
    budi, ani, dedi, biro = [await principal(n) for n in ("budi", "ani", "dedi", "biro")]
    assert (await day_of(BUDI, DAY)).category == "TL"
    row = await file_objection(budi, {"subject": "day", "date": DAY.isoformat(), "reason": "saya dinas luar"})
    assert (row.decider, row.decider_nip, row.category, row.status) == ("second_supervisor", DEDI, "TL", "pending")
    assert await queue(ani) == [] and await queue(biro) == []  # not the supervisor objected to, not the bureau
    assert [o.id for o in await queue(dedi)] == [row.id] and await queue_count(dedi) == 1
    with pytest.raises(NotFound):  # Ani is Budi's own supervisor: the objection is not hers to see or decide
        await decide_objection(ani, row.id, "uphold", "benar", {"remedy": "excuse", "excuse_kind": "official_travel"})
    with pytest.raises(Refused):  # nor the employee
        await decide_objection(budi, row.id, "uphold", "x", {"remedy": "excuse", "excuse_kind": "official_travel"})
    with pytest.raises(Invalid):  # an upheld day names what it records
        await decide_objection(dedi, row.id, "uphold", "benar", {})
    with pytest.raises(Invalid):
        await decide_objection(dedi, row.id, "uphold", "", {"remedy": "excuse", "excuse_kind": "official_travel"})
    await MonthlyScore.filter(nip=BUDI).delete()
    decided = await decide_objection(
        dedi, row.id, "uphold", "surat tugas ada", {"remedy": "excuse", "excuse_kind": "official_travel"}
    )
    assert (decided.status, decided.decision_reason, decided.decided_by, decided.remedy) == (
        "upheld", "surat tugas ada", "dedi", "excuse"
    )  # fmt: skip
    excuse = await ExcuseRecord.get(id=int(decided.remedy_ref))
    assert (excuse.nip, excuse.kind, excuse.first_day, excuse.recorded_by) == (BUDI, "official_travel", DAY, "dedi")
    assert await stale_version("dir-1", DAY.year, DAY.month) is not None  # queued for the scoring workers
    await score_unit_month("dir-1", DAY.year, DAY.month)
    assert "TL2" not in (await MonthlyScore.get(nip=BUDI, year=DAY.year, month=DAY.month)).codes
    assert (await day_of(BUDI, DAY)).category == "excused"
    mine = await my_objections(budi)
    assert [(o.id, o.status, o.decision_reason) for o in mine] == [(row.id, "upheld", "surat tugas ada")]
    actions = await AuditEntry.filter(action__startswith="objection.").values_list("action", "username")
    assert sorted(actions) == [("objection.file", "budi"), ("objection.uphold", "dedi")]
    with pytest.raises(Conflict):  # decided once
        await decide_objection(dedi, row.id, "reject", "x")


async def test_an_upheld_day_can_record_a_corrected_punch_and_a_rejection_keeps_its_reason(world: World):
    budi, dedi = await principal("budi"), await principal("dedi")
    row = await file_objection(budi, {"subject": "day", "date": DAY.isoformat(), "reason": "mesin mati pagi itu"})
    decided = await decide_objection(dedi, row.id, "uphold", "dicek CCTV", {"remedy": "punch", "time": "07:20",
                                                                           "direction": "in"})  # fmt: skip
    corrected = await CorrectedPunch.get(request_id=int(decided.remedy_ref))
    assert corrected.punched_at == datetime(DAY.year, DAY.month, DAY.day, 0, 20, tzinfo=UTC)
    assert (await EmployeeRequest.get(id=int(decided.remedy_ref))).status == "approved"
    day = await day_of(BUDI, DAY)
    assert day.corrected == ["07:20:00"] and day.category == "PSW"
    again = await file_objection(budi, {"subject": "day", "date": DAY.isoformat(), "reason": "pulang juga benar"})
    with pytest.raises(Conflict):  # one pending objection to the same day at a time
        await file_objection(budi, {"subject": "day", "date": DAY.isoformat(), "reason": "lagi"})
    rejected = await decide_objection(dedi, again.id, "reject", "pulang 20 menit lebih awal")
    assert (rejected.status, rejected.decision_reason, rejected.remedy) == (
        "rejected", "pulang 20 menit lebih awal", ""
    )  # fmt: skip
    assert await ExcuseRecord.all().count() == 0


async def test_an_upheld_objection_to_a_rejected_request_applies_it(world: World):
    budi, ani, dedi = await principal("budi"), await principal("ani"), await principal("dedi")
    asked = await file_request(budi, {"kind": "work_from_home", "first_day": DAY.isoformat(), "reason": "banjir"})
    await decide_request(ani, asked.id, "reject", "tidak ada surat")
    with pytest.raises(Invalid):  # only a rejected request of one's own
        await file_objection(budi, {"subject": "request", "ref": "999", "reason": "x"})
    row = await file_objection(budi, {"subject": "request", "ref": str(asked.id), "reason": "banjir ada beritanya"})
    assert row.decider_nip == DEDI and row.request_id == asked.id
    upheld = await decide_objection(dedi, row.id, "uphold", "banjir tercatat BPBD")
    request = await EmployeeRequest.get(id=asked.id)
    assert (upheld.remedy, request.status) == ("request", "approved") and request.excuse_id is not None
    assert (await day_of(BUDI, DAY)).category == "excused"


async def test_a_rejected_claim_objection_and_the_month_go_where_the_policy_says(world: World):
    budi, ani, dedi, biro = [await principal(n) for n in ("budi", "ani", "dedi", "biro")]
    start = datetime(DAY.year, DAY.month, DAY.day, 9, tzinfo=WIB)
    await ActivityClaimRecord.create(claim_id="c-1", nip=BUDI, unit_code="dir-1", activity="rapat",
                                     activity_name="Rapat", start=start, quantity=1, minutes=60, state="rejected",
                                     reason="tanpa notulen", decided_by="ani", decided_at=start)  # fmt: skip
    claim = await file_objection(budi, {"subject": "claim", "ref": "c-1", "reason": "notulen terlampir"})
    assert claim.day == DAY and claim.decider_nip == DEDI
    assert (await decide_objection(dedi, claim.id, "uphold", "notulen ada")).remedy == "claim"
    assert (await ActivityClaimRecord.get(claim_id="c-1")).state == "approved"
    month = await file_objection(budi, {"subject": "month", "month": f"{DAY:%Y-%m}", "reason": "TK salah hitung"})
    assert (month.decider, month.decider_nip) == ("bureau", None)
    assert await queue(dedi) == [] and [o.id for o in await queue(biro)] == [month.id]
    with pytest.raises(Refused):
        await decide_objection(budi, month.id, "uphold", "x")
    assert (await decide_objection(biro, month.id, "reject", "hitungan sudah benar")).status == "rejected"
    ani_row = await file_objection(ani, {"subject": "day", "date": DAY.isoformat(), "reason": "x"})
    assert (ani_row.decider, ani_row.decider_nip) == ("bureau", None)  # Dedi has no supervisor: the bureau


async def test_a_closed_month_takes_an_objection_but_no_upheld_change(world: World):
    budi, dedi = await principal("budi"), await principal("dedi")
    row = await file_objection(budi, {"subject": "day", "date": DAY.isoformat(), "reason": "saya dinas luar"})
    closed = {"closed_by": "biro", "closed_at": datetime.now(UTC), "allowance_policy": "social-affairs-2023"}
    await MonthClose.create(unit_code="dir-1", year=DAY.year, month=DAY.month, **closed)
    with pytest.raises(Conflict, match="closed") as caught:
        await decide_objection(dedi, row.id, "uphold", "benar", {"remedy": "excuse", "excuse_kind": "official_travel"})
    assert "biro kepegawaian" in translate_text("id", caught.value.reason)
    assert (await Objection.get(id=row.id)).status == "pending" and await ExcuseRecord.all().count() == 0
    assert (await decide_objection(dedi, row.id, "reject", "bulan sudah ditutup")).status == "rejected"


async def test_late_future_and_bad_objections_are_refused_in_indonesian(world: World):
    budi = await principal("budi")
    cases = [
        {"subject": "holiday", "date": DAY.isoformat(), "reason": "x"},
        {"subject": "day", "date": "kemarin", "reason": "x"},
        {"subject": "day", "date": DAY.isoformat(), "reason": " "},
        {"subject": "day", "date": (DAY + timedelta(days=30)).isoformat(), "reason": "x"},
        {"subject": "claim", "ref": "tidak-ada", "reason": "x"},
    ]
    for fields in cases:
        with pytest.raises(Invalid) as caught:
            await file_objection(budi, fields)
        assert translate_text("id", caught.value.reason, record=False) != caught.value.reason, caught.value.reason
    late = datetime(DAY.year + 1, 3, 1, tzinfo=UTC)
    with pytest.raises(Conflict) as too_late:
        await file_objection(budi, {"subject": "day", "date": DAY.isoformat(), "reason": "x"}, now=late)
    assert translate_text("id", too_late.value.reason).startswith("terlambat")
    nobody = Principal.of(await UserAccount.get(username="biro"), "session")
    with pytest.raises(Refused):
        await file_objection(nobody, {"subject": "day", "date": DAY.isoformat(), "reason": "x"})
    assert await Objection.all().count() == 0


async def test_the_pages_keep_the_decision_to_the_decider(world: World):
    from server.auth import SESSION_COOKIE
    from tests.web_seed import session_cookie

    budi = await principal("budi")
    row = await file_objection(budi, {"subject": "day", "date": DAY.isoformat(), "reason": "saya dinas luar"})
    cookies = {role: (await session_cookie(world, role)) for role in (Role.SUPERVISOR, Role.EMPLOYEE)}

    async def call(role: Role, method: str, path: str, **data: str):
        token, csrf = cookies[role]
        return await world.client.request(method, path, data={"csrf_token": csrf, **data} if data else None,
                                          cookies={SESSION_COOKIE: token}, allow_redirects=False)  # fmt: skip

    assert (await call(Role.EMPLOYEE, "GET", "/objections/queue")).status == 403
    page = await (await call(Role.EMPLOYEE, "GET", "/objections")).text()
    assert f'data-objection="{row.id}"' in page and "Menunggu keputusan" in page
    assert f'data-objection="{row.id}"' not in await (await call(Role.SUPERVISOR, "GET", "/objections/queue")).text()
    refused = await call(Role.SUPERVISOR, "POST", f"/objections/{row.id}/decision", decision="reject", reason="x")
    assert refused.status == 303 and "error=" in refused.headers["Location"]
    assert (await call(Role.SUPERVISOR, "POST", "/objections/x/decision", decision="reject", reason="x")).status == 404
    bad = await call(Role.EMPLOYEE, "POST", "/objections", subject="day", date="31/02/2026", reason="x")
    assert bad.status == 303 and "error=" in bad.headers["Location"]
    assert (await Objection.get(id=row.id)).status == "pending" and await Objection.all().count() == 1
