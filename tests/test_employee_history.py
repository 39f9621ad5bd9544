"""Dated employee history on PostgreSQL: edit, move, end and start, each from a date, and what the months
and the payroll make of it (a transfer on the 15th: the old unit's month has days 1-14, the new unit's the
rest; each unit pays its own days, pro rata by calendar days as the Ministry of Social Affairs' preset says).
"""

from __future__ import annotations

import asyncio
import calendar
from datetime import date, datetime, timedelta
from fractions import Fraction

import pytest

from server.auth import Scope
from server.history_models import EmployeeAssignment
from server.models import Employee
from server.payroll_models import AuditEntry, EmployeeGrade, MonthClose
from server.services.accounts import Role
from server.services.history import Change, HistoryError, apply_change, set_go_live
from server.services.members import unit_members
from server.services.month import month_view, unit_month
from server.services.payroll import sheet_for
from server.services.recap import read_recap
from tests.web_seed import ANI, BUDI, CITRA, WIB, World, add_punch, web_world

TODAY = datetime.now(WIB).date()
MONTH = (TODAY.replace(day=1) - timedelta(days=1)).replace(day=1)  # last month: every day of it has passed
DAYS = calendar.monthrange(MONTH.year, MONTH.month)[1]
MOVED = MONTH.replace(day=15)
GRADE_7 = 3_915_950  # Perpres 71/2023, kelas jabatan 7


@pytest.fixture
async def world(postgres_url):
    async with web_world(postgres_url) as w:
        day = MONTH
        while day.month == MONTH.month:  # everyone on time every weekday (Budi at dir-1's device, PIN 2)
            if day.weekday() < 5:
                at = datetime(day.year, day.month, day.day, tzinfo=WIB)
                for unit, pin, device in (("dir-1", "1", "DEV-DIR1"), ("dir-1", "2", "DEV-DIR1"),
                                          ("dir-2", "1", "DEV-DIR2")):  # fmt: skip
                    await add_punch(unit, pin, at.replace(hour=7, minute=20), device=device)
                    await add_punch(unit, pin, at.replace(hour=17, minute=0), 1, device=device)
            day += timedelta(days=1)
        for nip, grade in ((ANI, 9), (BUDI, 7), (CITRA, 8)):
            await EmployeeGrade.create(nip=nip, grade=grade, status="pns", first_day=date(2020, 1, 1))
        yield w


def scored_days(explained: dict) -> set[date]:
    return {date.fromisoformat(e["date"]) for e in explained["days"] if e.get("status") is not None}


def half_up(amount: Fraction) -> int:
    return int(amount + Fraction(1, 2))


async def test_a_transfer_on_the_15th_splits_the_month_and_the_payroll_between_the_units(world: World):
    await apply_change(BUDI, Change("move", MOVED, unit_code="dir-2", reason="SK mutasi"), "biro", "bureau_admin")

    budi = await Employee.get(nip=BUDI)
    assert budi.unit_id == "dir-2"  # the employee row follows the assignment valid today
    assert list(await unit_members("dir-1", MONTH, MONTH.replace(day=DAYS))) == [ANI, BUDI]
    old = (await unit_month("dir-1", MONTH))[BUDI]
    new = (await unit_month("dir-2", MONTH))[BUDI]
    assert scored_days(old.explained) and all(d < MOVED for d in scored_days(old.explained))
    assert scored_days(new.explained) and all(d >= MOVED for d in scored_days(new.explained))
    assert old.codes == {} and new.codes == {}  # no TK on the days in the other unit
    later = next(e for e in old.explained["days"] if e["date"] == (MOVED + timedelta(days=1)).isoformat())
    assert later["kind"] == "not_employed"

    dir1, dir2 = await sheet_for("dir-1", MONTH), await sheet_for("dir-2", MONTH)
    line1 = next(line for line in dir1.lines if line.nip == BUDI)
    line2 = next(line for line in dir2.lines if line.nip == BUDI)
    # calendar-day pro rata: 14 days in dir-1, the rest in dir-2, each rounded half up once
    assert line1.gross == half_up(Fraction(GRADE_7 * 14, DAYS))
    assert line2.gross == half_up(Fraction(GRADE_7 * (DAYS - 14), DAYS))
    assert abs(line1.gross + line2.gross - GRADE_7) <= 1
    # on time every day, no discipline cut; no activity claimed, so the 60 % performance part is not paid
    assert (line1.net, line2.net) == (half_up(line1.gross * Fraction(4, 10)), half_up(line2.gross * Fraction(4, 10)))
    assert dir1.total_gross == sum(line.gross for line in dir1.lines)

    both = Scope(personnel=True, devices=True, unit_codes=frozenset({"dir-1", "dir-2"}), employee_nips=None)
    rows = (await read_recap(both, MONTH)).rows
    assert [(r.unit_code, r.nip, r.scored) for r in rows if r.nip == BUDI] == [
        ("dir-1", BUDI, True),
        ("dir-2", BUDI, True),
    ]
    view = await month_view(budi, MONTH)
    assert view.unit_code == "dir-2"
    assert {d.kind for d in view.days if d.day < MOVED} == {"not_employed"}

    entry = await AuditEntry.get(action="employee.move")
    assert (entry.target, entry.username, entry.detail["changed"]["unit_code"]) == (BUDI, "biro", ["dir-1", "dir-2"])
    rows = await EmployeeAssignment.filter(nip=BUDI).order_by("valid_from")
    assert [(r.unit_code, r.action) for r in rows] == [("dir-1", "start"), ("dir-2", "move")]


async def test_an_employee_who_retires_has_no_tk_after_and_is_no_member_of_later_months(world: World):
    retired = MONTH.replace(day=10)
    await apply_change(CITRA, Change("end", retired, status="retired"), "biro", "bureau_admin")
    result = (await unit_month("dir-2", MONTH))[CITRA]
    assert max(scored_days(result.explained)) < retired and result.codes == {}
    this_month = TODAY.replace(day=1)
    assert CITRA not in await unit_members("dir-2", this_month, TODAY)
    view = await month_view(await Employee.get(nip=CITRA), this_month)
    assert {d.kind for d in view.days} == {"not_employed"}  # a page, not an error
    with pytest.raises(HistoryError) as refused:
        await apply_change(CITRA, Change("edit", TODAY, position="Analis"), "biro", "bureau_admin")
    assert refused.value.text("id") == (
        "Kepegawaian sudah berakhir: pindahkan pegawai ke sebuah unit untuk mengaktifkannya kembali"
    )


async def test_a_start_date_and_a_go_live_date_leave_the_days_before_them_unscored(world: World):
    await apply_change(ANI, Change("start", MONTH.replace(day=12)), "biro", "bureau_admin")
    ani = (await unit_month("dir-1", MONTH))[ANI]
    assert min(scored_days(ani.explained)) >= MONTH.replace(day=12)
    await set_go_live("dir-2", MONTH.replace(day=20), "biro", "bureau_admin")
    citra = (await unit_month("dir-2", MONTH))[CITRA]
    assert min(scored_days(citra.explained)) >= MONTH.replace(day=20)
    assert next(e for e in citra.explained["days"] if e["date"] == MONTH.isoformat())["kind"] == "not_live"
    assert await AuditEntry.exists(action="employee.start", target=ANI)
    assert await AuditEntry.exists(action="unit.go_live", target="dir-2")


async def test_an_edit_dated_on_a_day_changes_the_grade_from_that_day(world: World):
    await apply_change(BUDI, Change("edit", MOVED, position="Analis Ahli Muda", grade=9), "biro", "bureau_admin")
    grades = await EmployeeGrade.filter(nip=BUDI).order_by("first_day")
    assert [(g.grade, g.first_day, g.last_day) for g in grades] == [
        (7, date(2020, 1, 1), MOVED - timedelta(days=1)),
        (9, MOVED, None),
    ]
    assert (await Employee.get(nip=BUDI)).position == "Analis Ahli Muda"
    line = next(line for line in (await sheet_for("dir-1", MONTH)).lines if line.nip == BUDI)
    assert line.grade == "7/9"


@pytest.mark.parametrize(
    ("change", "indonesian"),
    [
        (
            Change("edit", TODAY + timedelta(days=367), position="X"),
            "Tanggal berlaku paling lambat satu tahun setelah hari ini",
        ),
        (Change("move", MOVED, unit_code="tidak-ada"), "Unit tidak-ada tidak terdaftar"),
        (Change("move", MOVED, unit_code="dir-1"), "Pegawai sudah berada di unit dir-1"),
        (Change("edit", MOVED, grade=18), "Kelas jabatan harus 1 sampai 17, bukan 18"),
        (Change("edit", MOVED, supervisor_nip=BUDI), "Pegawai tidak dapat menjadi atasan dirinya sendiri"),
        (Change("edit", MOVED, supervisor_nip="199999999999999999"), "Atasan 199999999999999999 tidak terdaftar"),
        (
            Change("edit", MOVED, position="Analis"),
            "Tidak ada yang berubah: isi jabatan, kelas jabatan, atasan atau kantor yang baru",
        ),
        (Change("end", MOVED), "Pilih alasan berakhirnya kepegawaian"),
    ],
)
async def test_a_refused_change_says_why_in_indonesian(world: World, change: Change, indonesian: str):
    with pytest.raises(HistoryError) as refused:
        await apply_change(BUDI, change, "biro", "bureau_admin")
    assert refused.value.text("id") == indonesian
    assert not await EmployeeAssignment.exists(nip=BUDI)  # nothing written


async def test_a_change_before_the_last_one_or_into_a_closed_month_is_refused(world: World):
    await apply_change(BUDI, Change("edit", MOVED, position="Analis Muda"), "biro", "bureau_admin")
    with pytest.raises(HistoryError) as refused:
        await apply_change(BUDI, Change("edit", MOVED - timedelta(days=1), position="Y"), "biro", "bureau_admin")
    assert refused.value.text("id") == f"Tanggal berlaku tidak boleh sebelum perubahan terakhir ({MOVED.isoformat()})"
    await MonthClose.create(unit_code="dir-2", year=MONTH.year, month=MONTH.month, closed_by="biro",
                            closed_at=datetime.now(WIB), allowance_policy="social-affairs-2023")  # fmt: skip
    with pytest.raises(HistoryError) as closed:
        await apply_change(BUDI, Change("move", MOVED + timedelta(days=1), unit_code="dir-2"), "biro", Role.UNIT_ADMIN)
    assert closed.value.text("id").startswith(f"Bulan {MONTH:%Y-%m} unit dir-2 sudah ditutup")


async def test_a_re_import_of_an_employee_with_a_history_adds_a_dated_row(world: World):
    from server.services.employee_import import apply_plan, plan_import
    from tests.test_employee_import import csv_bytes

    await apply_change(BUDI, Change("move", MOVED, unit_code="dir-2"), "biro", "bureau_admin")
    plan = await plan_import(csv_bytes([[1, BUDI, "Budi Santoso", "Analis Madya", 8, "dir-2", ANI]]), {}, None)
    await apply_plan(plan, TODAY, "biro")
    rows = await EmployeeAssignment.filter(nip=BUDI).order_by("valid_from")
    assert [(r.action, r.unit_code, r.position, r.grade) for r in rows[1:]] == [
        ("move", "dir-2", "Analis", 7),
        ("edit", "dir-2", "Analis Madya", 8),
    ]
    assert rows[-1].valid_from == max(TODAY, MOVED)
    assert CITRA in await unit_members("dir-2", MONTH, MONTH.replace(day=DAYS))


async def test_the_scoring_workers_split_a_transfer_the_same_way(world: World):
    from server.results_models import MonthlyScore
    from server.services.scoring_queue import score_unit_month
    from server.stale_models import StaleUnitMonth

    await apply_change(BUDI, Change("move", MOVED, unit_code="dir-2"), "biro", "bureau_admin")
    for _ in range(300):  # the app's own workers take the marks first; scoring again beside them is idempotent
        if not await StaleUnitMonth.exists():
            break
        await asyncio.sleep(0.1)
    assert await score_unit_month("dir-1", MONTH.year, MONTH.month, chunk=1) == 2
    assert await score_unit_month("dir-2", MONTH.year, MONTH.month) == 2
    rows = {r.unit_code: r for r in await MonthlyScore.filter(nip=BUDI, year=MONTH.year, month=MONTH.month)}
    assert set(rows) == {"dir-1", "dir-2"}
    assert all(d < MOVED for d in scored_days(rows["dir-1"].explain))
    assert all(d >= MOVED for d in scored_days(rows["dir-2"].explain))
    assert rows["dir-1"].planned_days + rows["dir-2"].planned_days == len(
        [e for e in rows["dir-1"].explain["days"] if e.get("status") or e.get("unit_kind") == "working"]
    )


async def test_each_role_changes_only_employees_and_units_in_its_scope(world: World):
    from server.auth import SESSION_COOKIE
    from tests.web_seed import session_cookie

    cookie, csrf = await session_cookie(world, Role.UNIT_ADMIN)  # dir-2 only
    jar = {SESSION_COOKIE: cookie}
    assert (await world.client.get(f"/master/employees/{BUDI}", cookies=jar)).status == 404
    move = {"csrf_token": csrf, "action": "move", "valid_from": MOVED.isoformat(), "unit": "dir-2"}
    response = await world.client.post(f"/master/employees/{BUDI}/change", data=move, cookies=jar)
    assert response.status == 404
    away = {**move, "unit": "dir-1"}
    response = await world.client.post(f"/master/employees/{CITRA}/change", data=away, cookies=jar)
    assert response.status == 400 and "Unit dir-1 tidak terdaftar" in await response.text()
    live = {"csrf_token": csrf, "unit": "dir-1", "live_from": MOVED.isoformat()}
    response = await world.client.post("/master/units/go-live", data=live, cookies=jar)
    assert response.status == 400 and "Unit dir-1 tidak terdaftar" in await response.text()
    response = await world.client.post(
        f"/master/employees/{CITRA}/change", data={**away, "csrf_token": "x"}, cookies=jar
    )
    assert response.status == 403  # no change without the session's CSRF token
    assert not await EmployeeAssignment.exists()
    for role in (Role.SUPERVISOR, Role.EMPLOYEE, Role.OPERATIONS):
        cookie, csrf = await session_cookie(world, role)
        assert (await world.client.get(f"/master/employees/{BUDI}", cookies={SESSION_COOKIE: cookie})).status == 403
        post = await world.client.post(
            f"/master/employees/{BUDI}/change", data={**move, "csrf_token": csrf}, cookies={SESSION_COOKIE: cookie}
        )
        assert post.status == 403
    cookie, csrf = await session_cookie(world, Role.UNIT_ADMIN)
    date_text = {"csrf_token": csrf, "action": "edit", "valid_from": "2026-11-31", "position": "X"}  # no such day
    response = await world.client.post(
        f"/master/employees/{CITRA}/change", data=date_text, cookies={SESSION_COOKIE: cookie}
    )
    html = await response.text()
    assert response.status == 400 and "&#39;2026-11-31&#39; bukan tanggal: tulis sebagai hari/bulan/tahun" in html
