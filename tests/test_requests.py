"""Employees' requests (leave, travel, work from home, corrections of attendance) on PostgreSQL: filed by
the employee within the policy's deadline, decided by the approvers the policy names, and then the day's
excuse or a corrected punch (never a device punch) that the re-scored month shows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from scoring import Approver, PolicyError, load_request_policy, parse_request_text
from server.activity_models import ExcuseRecord
from server.auth import SESSION_COOKIE, Principal
from server.errors import Conflict, Invalid, NotFound, Refused
from server.i18n import translate_text
from server.models import Employee, Punch
from server.payroll_models import MonthClose
from server.request_models import CorrectedPunch, EmployeeRequest
from server.results_models import MonthlyScore
from server.services.accounts import Role, UserAccount
from server.services.month import month_view
from server.services.requests import (
    Upload,
    approved_by_day,
    cancel_request,
    decide_request,
    evidence_of,
    file_request,
    queue,
    queue_count,
)
from server.services.scoring_queue import score_unit_month
from server.services.stale import stale_version
from tests.web_seed import BUDI, CITRA, WIB, World, last_working_day, seed_month, session_cookie, web_world

DAY = last_working_day(datetime.now(WIB).date())
LETTER = Upload("surat-dokter.pdf", "application/pdf", b"%PDF-1.4 surat keterangan sakit")


@pytest.fixture
async def world(postgres_url):
    async with web_world(postgres_url) as w:
        await seed_month(DAY)
        yield w


async def principal(username: str) -> Principal:
    return Principal.of(await UserAccount.get(username=username), "session")


async def day_of(nip: str, day: date):
    view = await month_view(await Employee.get(nip=nip), day.replace(day=1))
    return next(d for d in view.days if d.day == day)


# --- the policy file ------------------------------------------------------------------------------------


def test_the_shipped_policy_says_who_approves_by_days_and_by_when():
    policy = load_request_policy("national-common")
    annual = policy.type("annual_leave")
    assert annual.steps_for(3) == (Approver.SUPERVISOR,)
    assert annual.steps_for(4) == (Approver.SUPERVISOR, Approver.UNIT_ADMIN)
    assert annual.deadline.last_filing_day(date(2026, 10, 30)) == date(2026, 11, 22)
    assert annual.deadline.last_filing_day(date(2026, 12, 1)) == date(2027, 1, 22)
    assert annual.filed_in_time(date(2026, 10, 30), date(2026, 11, 22))
    assert not annual.filed_in_time(date(2026, 10, 30), date(2026, 11, 23))
    assert policy.type("attendance_correction").correction and policy.type("attendance_correction").max_days == 1
    assert policy.type("sick_leave").evidence.value == "required"
    kinds = {t.kind for t in policy.types}
    assert {"annual_leave", "sick_leave", "important_reasons_leave", "maternity_leave"} <= kinds
    assert {"official_travel", "work_from_home", "attendance_correction"} <= kinds


LEAVE, BY_SUPERVISOR, IN_3_DAYS = (
    'excuse = "annual_leave"',
    'approval = [{ by = ["supervisor"] }]',
    "deadline = { days_after = 3 }",
)


@pytest.mark.parametrize(
    ("lines", "key"),
    [
        ((LEAVE, 'approval = [{ by = ["boss"] }]', IN_3_DAYS), "types.x.approval[0].by"),
        ((LEAVE, BY_SUPERVISOR, "deadline = { day_of_next_month = 31 }"), "types.x.deadline.day_of_next_month"),
        ((LEAVE, 'approval = [{ up_to_days = 3, by = ["supervisor"] }]', IN_3_DAYS), "types.x.approval[0].up_to_days"),
        (("correction = true", LEAVE, BY_SUPERVISOR, IN_3_DAYS), "types.x.excuse"),
        ((LEAVE, BY_SUPERVISOR), "types.x.deadline"),
    ],
)
def test_a_wrong_request_policy_names_the_key(lines: tuple[str, ...], key: str):
    body = "\n".join(lines)
    text = f'[requests]\nname = "t"\neffective_from = 2024-01-01\n[types.x]\n{body}\n'
    with pytest.raises(PolicyError) as caught:
        parse_request_text(text, source="agency.toml")
    assert caught.value.key == key and "agency.toml" in str(caught.value)


# --- filing and deciding (PostgreSQL) -------------------------------------------------------------------


async def test_an_approved_leave_becomes_the_days_excuse_and_the_month_is_rescored(world: World):
    budi, ani = await principal("budi"), await principal("ani")
    before = await day_of(BUDI, DAY)
    assert before.category == "TL"
    row = await file_request(budi, {"kind": "annual_leave", "first_day": DAY.isoformat(), "reason": "urusan keluarga"})
    assert row.steps == ["supervisor"] and row.status == "pending"
    assert [r.id for r in await queue(ani)] == [row.id] and await queue_count(ani) == 1
    assert await queue(await principal("admin-dir2")) == []  # another unit's administrator
    assert await queue(budi) == []
    decided = await decide_request(ani, row.id, "approve", "")
    assert decided.status == "approved" and decided.excuse_id is not None
    excuse = await ExcuseRecord.get(id=decided.excuse_id)
    assert (excuse.kind, excuse.first_day, excuse.last_day, excuse.nip) == ("annual_leave", DAY, DAY, BUDI)
    assert await stale_version("dir-1", DAY.year, DAY.month) is not None  # queued for the scoring workers
    after = await day_of(BUDI, DAY)
    assert after.category == "excused" and after.codes == ["CT"]
    assert [r.id for r in (await approved_by_day(BUDI, DAY, DAY))[DAY]] == [row.id]
    assert await queue_count(ani) == 0
    with pytest.raises(Conflict):  # decided once
        await decide_request(ani, row.id, "approve", "")


async def test_an_approved_correction_is_a_corrected_punch_never_a_device_punch(world: World):
    budi, ani = await principal("budi"), await principal("ani")
    punches = await Punch.all().count()
    assert (await day_of(BUDI, DAY)).category == "TL"  # scored and stored before the correction
    fields = {"kind": "attendance_correction", "date": DAY.isoformat(), "time": "07:25", "direction": "in"}
    row = await file_request(
        budi, {**fields, "reason": "mesin presensi mati pagi itu"}, Upload("foto.jpg", "image/jpeg", b"\xff\xd8jpeg")
    )
    assert row.punch_at == datetime(DAY.year, DAY.month, DAY.day, 0, 25, tzinfo=UTC) and row.punch_state == 0
    await decide_request(ani, row.id, "approve", "benar, mesin mati")
    corrected = await CorrectedPunch.get(request_id=row.id)
    assert (corrected.nip, corrected.unit_code, corrected.state, corrected.approved_by) == (BUDI, "dir-1", 0, "ani")
    assert await Punch.all().count() == punches  # the device's record is what the device sent
    day = await day_of(BUDI, DAY)
    assert "07:25:00" in day.punches and day.corrected == ["07:25:00"]
    assert day.first_in == "07:25" and not any(c.startswith("TL") for c in day.codes)
    assert day.category == "PSW"  # still left 20 minutes early, as the device saw
    await MonthlyScore.filter(nip=BUDI).delete()  # the scoring workers read the corrected punch too
    await score_unit_month("dir-1", DAY.year, DAY.month)
    codes = (await MonthlyScore.get(nip=BUDI, year=DAY.year, month=DAY.month)).codes
    assert "TL2" not in codes and codes.get("PSW1") == 1


async def test_late_filing_is_refused_with_the_deadline_in_indonesian(world: World):
    budi = await principal("budi")
    last = date(2026, 10, 30)
    late = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    fields = {"kind": "annual_leave", "first_day": last.isoformat(), "reason": "lupa mengajukan"}
    with pytest.raises(Conflict) as caught:
        await file_request(budi, fields, now=late)
    assert caught.value.reason == "too late: a request for 2026-10-30 had to be filed by 2026-11-22"
    assert translate_text("id", caught.value.reason) == (
        "terlambat: permohonan untuk 2026-10-30 harus diajukan paling lambat 2026-11-22"
    )
    on_time = await file_request(budi, fields, now=late - timedelta(days=1))
    assert on_time.status == "pending"


async def test_a_rejection_needs_a_reason_and_the_employee_reads_it(world: World):
    budi, ani = await principal("budi"), await principal("ani")
    row = await file_request(budi, {"kind": "work_from_home", "first_day": DAY.isoformat(), "reason": "anak sakit"})
    with pytest.raises(Invalid):
        await decide_request(ani, row.id, "reject", "  ")
    decided = await decide_request(ani, row.id, "reject", "tidak ada surat tugas WFH")
    assert decided.status == "rejected" and decided.decision_reason == "tidak ada surat tugas WFH"
    assert await ExcuseRecord.all().count() == 0
    cookie, _ = await session_cookie(world, Role.EMPLOYEE)
    html = await (await world.client.get("/requests", cookies={SESSION_COOKIE: cookie})).text()
    assert "tidak ada surat tugas WFH" in html and "Ditolak" in html


async def test_a_long_leave_goes_to_the_supervisor_then_the_units_administrators(world: World):
    budi, ani, biro = await principal("budi"), await principal("ani"), await principal("biro")
    first = DAY - timedelta(days=6)
    row = await file_request(
        budi, {"kind": "annual_leave", "first_day": first.isoformat(), "last_day": DAY.isoformat(), "reason": "mudik"}
    )
    assert row.steps == ["supervisor", "unit_admin"]
    assert await queue(biro) == []  # the supervisor decides first
    with pytest.raises(Conflict):
        await decide_request(biro, row.id, "approve", "")
    assert (await decide_request(ani, row.id, "approve", "")).status == "pending"
    assert await queue(ani) == [] and await queue(await principal("admin-dir2")) == []
    assert [r.id for r in await queue(biro)] == [row.id]
    assert (await decide_request(biro, row.id, "approve", "")).status == "approved"
    assert (await day_of(BUDI, DAY)).category == "excused"


async def test_nobody_decides_their_own_request_or_one_outside_their_scope(world: World):
    budi, ani, unit_admin = await principal("budi"), await principal("ani"), await principal("admin-dir2")
    own = await file_request(ani, {"kind": "official_travel", "first_day": DAY.isoformat(), "reason": "rapat"}, LETTER)
    assert own.steps == ["unit_admin"]  # Ani has no supervisor on record: her unit's administrators decide
    with pytest.raises(Conflict):
        await decide_request(ani, own.id, "approve", "")
    with pytest.raises(NotFound):  # dir-1 is not this administrator's unit
        await decide_request(unit_admin, own.id, "approve", "")
    with pytest.raises(Refused):
        await decide_request(budi, own.id, "approve", "")
    citra = Principal.of(await UserAccount.create(username="citra", display_name="Citra", password_hash="x",
                                                   role=Role.EMPLOYEE, employee_nip=CITRA), "session")  # fmt: skip
    theirs = await file_request(citra, {"kind": "work_from_home", "first_day": DAY.isoformat(), "reason": "banjir"})
    assert [r.id for r in await queue(unit_admin)] == [theirs.id]
    with pytest.raises(NotFound):  # not in Ani's team
        await decide_request(ani, theirs.id, "approve", "")


async def test_sick_leave_needs_its_letter_which_only_the_scope_may_open(world: World):
    budi, ani = await principal("budi"), await principal("ani")
    fields = {"kind": "sick_leave", "first_day": DAY.isoformat(), "reason": "demam"}
    with pytest.raises(Invalid, match="evidence"):
        await file_request(budi, fields)
    with pytest.raises(Invalid, match="PDF"):
        await file_request(budi, fields, Upload("x.exe", "application/x-msdownload", b"MZ"))
    row = await file_request(budi, fields, LETTER)
    assert (await evidence_of(ani, row.id)).data == LETTER.data
    assert (await evidence_of(budi, row.id)).filename == "surat-dokter.pdf"
    with pytest.raises(NotFound):
        await evidence_of(await principal("admin-dir2"), row.id)
    with pytest.raises(Conflict):  # the same day asked twice
        await file_request(budi, {**fields, "kind": "annual_leave"})


async def test_bad_input_is_refused_with_a_reason(world: World):
    budi = await principal("budi")
    cases = [
        {"kind": "holiday_in_bali", "first_day": DAY.isoformat(), "reason": "x"},
        {"kind": "annual_leave", "first_day": "kemarin", "reason": "x"},
        {"kind": "annual_leave", "first_day": DAY.isoformat(), "last_day": (DAY - timedelta(days=1)).isoformat(),
         "reason": "x"},
        {"kind": "annual_leave", "first_day": DAY.isoformat(), "last_day": (DAY + timedelta(days=40)).isoformat(),
         "reason": "x"},
        {"kind": "annual_leave", "first_day": DAY.isoformat(), "reason": ""},
        {"kind": "attendance_correction", "date": DAY.isoformat(), "time": "25:99", "direction": "in", "reason": "x"},
        {"kind": "attendance_correction", "date": DAY.isoformat(), "time": "07:00", "direction": "up", "reason": "x"},
        {"kind": "attendance_correction", "date": (DAY + timedelta(days=400)).isoformat(), "time": "07:00",
         "direction": "in", "reason": "x"},
    ]  # fmt: skip
    for fields in cases:
        with pytest.raises(Invalid) as caught:
            await file_request(budi, fields)
        assert translate_text("id", caught.value.reason, record=False) != caught.value.reason, caught.value.reason
    assert await EmployeeRequest.all().count() == 0


async def test_a_request_nobody_decided_yet_can_be_cancelled(world: World):
    budi, ani = await principal("budi"), await principal("ani")
    row = await file_request(budi, {"kind": "annual_leave", "first_day": DAY.isoformat(), "reason": "x"})
    assert (await cancel_request(budi, row.id)).status == "cancelled"
    assert await queue(ani) == []
    with pytest.raises(NotFound):
        await cancel_request(ani, row.id)


async def test_the_pages_keep_each_role_to_its_scope(world: World):
    budi = await principal("budi")
    row = await file_request(budi, {"kind": "sick_leave", "first_day": DAY.isoformat(), "reason": "demam"}, LETTER)
    cookies = {role: (await session_cookie(world, role)) for role in Role}

    async def get(role: Role, path: str):
        return await world.client.get(path, cookies={SESSION_COOKIE: cookies[role][0]}, allow_redirects=False)

    assert (await get(Role.SUPERVISOR, f"/requests/{row.id}/evidence")).status == 200
    assert await (await get(Role.EMPLOYEE, f"/requests/{row.id}/evidence")).read() == LETTER.data
    for role in (Role.UNIT_ADMIN, Role.OPERATIONS):  # another unit's administrator; no personnel data at all
        assert (await get(role, f"/requests/{row.id}/evidence")).status in (403, 404)
    assert (await get(Role.SUPERVISOR, "/requests/x/evidence")).status == 404
    queue_page = await (await get(Role.SUPERVISOR, "/requests/queue")).text()
    assert f'data-request="{row.id}"' in queue_page and 'class="count"' in queue_page
    assert f'data-request="{row.id}"' not in await (await get(Role.UNIT_ADMIN, "/requests/queue")).text()
    token, csrf = cookies[Role.UNIT_ADMIN]
    refused = await world.client.post(
        f"/requests/{row.id}/decision",
        data={"csrf_token": csrf, "decision": "approve"},
        cookies={SESSION_COOKIE: token},
        allow_redirects=False,
    )
    assert refused.status == 303 and "error=" in refused.headers["Location"]
    assert (await EmployeeRequest.get(id=row.id)).status == "pending"
    token, csrf = cookies[Role.SUPERVISOR]
    approved = await world.client.post(
        f"/requests/{row.id}/decision",
        data={"csrf_token": csrf, "decision": "approve"},
        cookies={SESSION_COOKIE: token},
        allow_redirects=False,
    )
    assert approved.headers["Location"] == "/requests/queue?decided=approved"
    assert (await EmployeeRequest.get(id=row.id)).status == "approved"


async def test_a_closed_month_takes_no_request_and_no_approval(world: World):
    budi, ani = await principal("budi"), await principal("ani")
    row = await file_request(budi, {"kind": "annual_leave", "first_day": DAY.isoformat(), "reason": "x"})
    closed = {"closed_by": "biro", "closed_at": datetime.now(UTC), "allowance_policy": "social-affairs-2023"}
    await MonthClose.create(unit_code="dir-1", year=DAY.year, month=DAY.month, **closed)
    with pytest.raises(Conflict, match="closed") as caught:
        await decide_request(ani, row.id, "approve", "")
    assert "biro kepegawaian" in translate_text("id", caught.value.reason)
    assert (await EmployeeRequest.get(id=row.id)).status == "pending" and await ExcuseRecord.all().count() == 0
    with pytest.raises(Conflict, match="closed"):
        await file_request(budi, {"kind": "work_from_home", "first_day": DAY.isoformat(), "reason": "x"})
    assert (await decide_request(ani, row.id, "reject", "bulan sudah ditutup")).status == "rejected"
