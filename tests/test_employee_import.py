"""Importing employees from a SIASN/SIMPEG spreadsheet through the page: XLSX and CSV read the same way,
headers matched loosely or by the bureau's mapping, a preview that writes nothing and refuses rows with a
reason in Indonesian, a confirmation that creates and updates by NIP, and unit administrators confined
to their units."""

from __future__ import annotations

import base64
import io
import re
from datetime import date

import aiohttp
import pytest
from openpyxl import Workbook

from server.auth import SESSION_COOKIE
from server.models import Employee, Office
from server.payroll_models import AuditEntry, EmployeeGrade
from server.services.accounts import Role
from tests.web_seed import ANI, BUDI, CITRA, World, session_cookie, web_world

DEWI = "199205152018012004"
EKO = "199107072019031005"
HEADER = ["No", " NIP ", "Nama", "Jabatan", "KELAS JABATAN", "Unit  Kerja", "NIP Atasan"]
ROWS = [
    [1, DEWI, "Dewi Anggraini", "Analis Kebijakan", 9, "Direktorat Satu", ANI],
    [2, EKO, "Eko Prasetyo", "Pranata Komputer", 7, "dir-2", DEWI],  # supervisor on an earlier row
    [3, BUDI, "Budi Santoso", "Analis Madya", 8, "dir-1", ANI],  # known: updated
    [4, "1990010120150310", "Fajar", "Staf", 5, "dir-1", ""],  # 16 digits
    [5, DEWI, "Dewi Lagi", "Staf", 5, "dir-1", ""],  # duplicate in the file
    [6, "199303032020121006", "Gita", "Staf", 5, "Biro Entah", ""],  # unknown unit
    [7, "199404042021011007", "Hadi", "Staf", 5, "dir-1", "199999992000011999"],  # supervisor not found
]


def xlsx(rows: list[list[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def csv_bytes(rows: list[list[object]], header: list[str] = HEADER) -> bytes:
    lines = [";".join(header)] + [";".join(str(cell) for cell in row) for row in rows]
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
async def world(db_url):
    async with web_world(db_url) as w:
        yield w


async def upload(world: World, role: Role, data: bytes, name: str, **fields: str) -> tuple[int, str]:
    cookie, csrf = await session_cookie(world, role)
    form = aiohttp.FormData()
    form.add_field("csrf_token", csrf)
    for key, value in fields.items():
        form.add_field(key, value)
    form.add_field("file", data, filename=name, content_type="application/octet-stream")
    response = await world.client.post("/employees/import", data=form, cookies={SESSION_COOKIE: cookie})
    return response.status, await response.text()


async def confirm(world: World, role: Role, page: str) -> tuple[int, str]:
    cookie, csrf = await session_cookie(world, role)
    payload = re.search(r'name="payload" value="([^"]+)"', page)
    assert payload, page
    effective = re.search(r'name="effective" value="([^"]+)"', page)
    form = {"csrf_token": csrf, "payload": payload.group(1), "confirm": "1", "effective": effective.group(1)}  # type: ignore[union-attr]
    form.update(dict(re.findall(r'type="hidden" name="(column_\w+)" value="([^"]*)"', page)))
    response = await world.client.post("/employees/import", data=form, cookies={SESSION_COOKIE: cookie})
    return response.status, await response.text()


def actions(page: str) -> dict[int, str]:
    return {int(row): action for row, action in re.findall(r'data-row="(\d+)" data-action="(\w+)"', page)}


@pytest.mark.parametrize("kind", ["xlsx", "csv"])
async def test_the_preview_refuses_bad_rows_in_indonesian_and_writes_nothing(world: World, kind: str):
    data = xlsx(ROWS) if kind == "xlsx" else csv_bytes(ROWS)
    status, page = await upload(world, Role.BUREAU_ADMIN, data, f"siasn.{kind}")
    assert status == 200, page
    assert actions(page) == {
        2: "create",
        3: "create",
        4: "update",
        5: "refused",
        6: "refused",
        7: "refused",
        8: "refused",
    }
    assert "NIP 1990010120150310 tidak terdiri dari 18 digit." in page
    assert f"NIP {DEWI} juga ada di baris 2 berkas ini (ganda)." in page
    assert "Unit Biro Entah tidak dikenal." in page
    assert "Atasan dengan NIP 199999992000011999 tidak ditemukan" in page
    assert "2 akan dibuat, 1 akan diperbarui, 0 tidak berubah, 4 ditolak." in page
    assert not await Employee.exists(nip=DEWI)  # a preview writes nothing
    assert (await Employee.get(nip=BUDI)).position == "Analis"


async def test_confirming_creates_and_updates_and_a_reimport_does_not_duplicate(world: World):
    status, preview = await upload(world, Role.BUREAU_ADMIN, xlsx(ROWS), "siasn.xlsx", effective="2026-03-15")
    assert status == 200
    status, done = await confirm(world, Role.BUREAU_ADMIN, preview)
    assert status == 200, done
    assert "Impor selesai: 2 dibuat, 1 diperbarui, 0 tidak berubah, 4 ditolak." in done
    dewi, eko, budi = [await Employee.get(nip=n) for n in (DEWI, EKO, BUDI)]
    assert (dewi.unit_id, dewi.supervisor_id, dewi.birth_date) == ("dir-1", ANI, date(1992, 5, 15))  # type: ignore[attr-defined]
    assert (eko.unit_id, eko.supervisor_id) == ("dir-2", DEWI)  # type: ignore[attr-defined]
    assert budi.position == "Analis Madya"
    grades = await EmployeeGrade.filter(nip=DEWI).values_list("grade", "first_day", "last_day")
    assert grades == [(9, date(2026, 3, 15), None)]
    assert await AuditEntry.filter(action="employees.import").count() == 1
    # The same file again: nothing new, everything already there unchanged.
    status, again = await upload(world, Role.BUREAU_ADMIN, xlsx(ROWS[:3]), "siasn.xlsx", effective="2026-03-15")
    assert actions(again) == {2: "unchanged", 3: "unchanged", 4: "unchanged"}
    assert await Employee.filter(nip=DEWI).count() == 1
    # A promotion from the 1st of next month: the held grade ends the day before, history kept.
    promoted = [[1, DEWI, "Dewi Anggraini", "Analis Kebijakan", 10, "Direktorat Satu", ANI]]
    _, preview = await upload(world, Role.BUREAU_ADMIN, xlsx(promoted), "siasn.xlsx", effective="2026-04-01")
    assert actions(preview) == {2: "update"}
    await confirm(world, Role.BUREAU_ADMIN, preview)
    grades = await EmployeeGrade.filter(nip=DEWI).order_by("first_day").values_list("grade", "first_day", "last_day")
    assert grades == [(9, date(2026, 3, 15), date(2026, 3, 31)), (10, date(2026, 4, 1), None)]


async def test_a_bureau_mapping_names_columns_the_aliases_do_not_know(world: World):
    header = ["Nomor Induk", "Nama", "Satker"]
    data = csv_bytes([[DEWI, "Dewi Anggraini", "dir-1"]], header)
    status, page = await upload(world, Role.BUREAU_ADMIN, data, "simpeg.csv")
    assert status == 400 and "Baris judul tidak memuat kolom nip, unit" in page
    status, page = await upload(
        world, Role.BUREAU_ADMIN, data, "simpeg.csv", column_nip="nomor induk", column_unit="SATKER"
    )
    assert status == 200 and actions(page) == {2: "create"}
    status, done = await confirm(world, Role.BUREAU_ADMIN, page)
    assert "1 dibuat" in done and await Employee.exists(nip=DEWI, unit_id="dir-1")


async def test_a_unit_admin_imports_only_into_their_units_and_others_not_at_all(world: World):
    rows = [[1, DEWI, "Dewi", "Staf", 5, "dir-1", ""], [2, EKO, "Eko", "Staf", 5, "dir-2", CITRA]]
    status, page = await upload(world, Role.UNIT_ADMIN, xlsx(rows), "siasn.xlsx")
    assert status == 200 and actions(page) == {2: "refused", 3: "create"}
    assert "Unit dir-1 berada di luar unit Anda." in page
    for role in (Role.SUPERVISOR, Role.EMPLOYEE, Role.OPERATIONS):
        status, _ = await upload(world, role, xlsx(rows), "siasn.xlsx")
        assert status in (403, 404), role


async def test_a_file_that_is_not_a_spreadsheet_is_refused_in_indonesian(world: World):
    status, page = await upload(world, Role.BUREAU_ADMIN, b"PK\x03\x04broken", "x.xlsx")
    assert status == 400 and "Berkas bukan buku kerja XLSX maupun teks CSV UTF-8." in page
    status, page = await upload(world, Role.BUREAU_ADMIN, "\xff".encode("latin-1"), "x.csv")
    assert status == 400 and "Berkas bukan buku kerja XLSX" in page
    cookie, csrf = await session_cookie(world, Role.BUREAU_ADMIN)
    response = await world.client.post(
        "/employees/import",
        data={"csrf_token": csrf, "payload": base64.b64encode(b"").decode()},
        cookies={SESSION_COOKIE: cookie},
    )
    assert response.status == 400 and "Pilih berkas XLSX atau CSV" in await response.text()


async def test_the_employee_list_and_unit_tree_show_only_the_readers_units(world: World):
    await Office.create(code="kantor-2", name="Gedung Dua", unit_id="dir-2", zone="WITA")
    seen = {}
    for role in (Role.BUREAU_ADMIN, Role.UNIT_ADMIN):
        cookie, _ = await session_cookie(world, role)
        page = await (await world.client.get("/master/employees", cookies={SESSION_COOKIE: cookie})).text()
        seen[role] = set(re.findall(r'<tr data-nip="(\d+)"', page))
        tree = await (await world.client.get("/master/units", cookies={SESSION_COOKIE: cookie})).text()
        assert "Gedung Dua (WITA)" in tree and "Eselon II" in tree
        if role is Role.UNIT_ADMIN:
            assert 'data-unit="dir-1"' not in tree
            other = await world.client.get("/master/employees?unit=dir-1", cookies={SESSION_COOKIE: cookie})
            assert other.status == 404
    assert seen == {Role.BUREAU_ADMIN: {ANI, BUDI, CITRA}, Role.UNIT_ADMIN: {CITRA}}
    cookie, _ = await session_cookie(world, Role.BUREAU_ADMIN)
    page = await (await world.client.get("/master/employees?unit=dj-a&q=budi", cookies={SESSION_COOKIE: cookie})).text()
    assert set(re.findall(r'<tr data-nip="(\d+)"', page)) == {BUDI} and "1 dari 1 pegawai ditampilkan." in page
    cookie, _ = await session_cookie(world, Role.SUPERVISOR)
    assert (await world.client.get("/master/employees", cookies={SESSION_COOKIE: cookie})).status == 403


async def test_a_reimport_never_overwrites_a_scheduled_change_it_applies_from_today_and_the_change_stays_pending(
    world: World,
):
    """Budi's transfer to dir-2 is scheduled for ten days ahead; a file dated today gives him a new
    position and grade in dir-1. The file is his state from today; the transfer stays pending for its day,
    keeps its unit and reason, and carries the file's position and grade; on its day it applies them."""
    from datetime import timedelta

    from server.history_models import EmployeeAssignment, ScheduledChange
    from server.services.employee_import import apply_plan, plan_import
    from server.services.history import Change, apply_change, apply_scheduled, today_local

    today = today_local()
    transfer_day = today + timedelta(days=10)
    await apply_change(BUDI, Change("move", transfer_day, unit_code="dir-2", reason="SK mutasi"), "biro",
                       "bureau_admin", today=today)  # fmt: skip
    plan = await plan_import(csv_bytes([[1, BUDI, "Budi Santoso", "Analis Madya", 8, "dir-1", ANI]]), {}, None)
    await apply_plan(plan, today, "biro")

    rows = await EmployeeAssignment.filter(nip=BUDI).order_by("valid_from")
    history = [(r.valid_from, r.action, r.unit_code, r.position, r.grade, r.reason) for r in rows[1:]]
    pending = await ScheduledChange.filter(nip=BUDI).values_list("status", "valid_from", "assignment_id")
    budi = await Employee.get(nip=BUDI)
    now = (budi.unit_id, budi.position)  # type: ignore[attr-defined]

    # The same file again (another import the same day) changes nothing further and still keeps it.
    plan = await plan_import(csv_bytes([[1, BUDI, "Budi Santoso", "Analis Madya", 8, "dir-1", ANI]]), {}, None)
    await apply_plan(plan, today, "biro")
    still = await ScheduledChange.filter(nip=BUDI, status="pending").count()

    applied = await apply_scheduled((await ScheduledChange.get(nip=BUDI)).id, "runner")
    budi = await Employee.get(nip=BUDI)

    assert history == [
        (today, "edit", "dir-1", "Analis Madya", 8, "import"),
        (transfer_day, "move", "dir-2", "Analis Madya", 8, "SK mutasi"),
    ]
    transfer_row = next(r for r in rows if r.valid_from == transfer_day)
    assert pending == [("pending", transfer_day, transfer_row.id)]
    assert now == ("dir-1", "Analis Madya")  # the file holds from today
    assert still == 1
    assert applied is not None and applied.status == "applied"
    assert (budi.unit_id, budi.position) == ("dir-2", "Analis Madya")  # type: ignore[attr-defined]
