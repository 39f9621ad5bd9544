"""What issue 16 left: the month picked in the reader's language, the audit trail read as a person reads
it, and the API's explanation of a score in the reader's language (Accept-Language, Indonesian first)."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from server.auth import SESSION_COOKIE
from server.i18n import Formats
from server.services.accounts import Role
from server.services.month import next_month, previous_month
from server.services.payroll import record_audit
from server.services.reader_language import language_from_header
from tests.web_seed import BUDI, WIB, World, last_working_day, seed_month, session_cookie, web_world

DAY = last_working_day(datetime.now(WIB).date())
MONTH = DAY.strftime("%Y-%m")


@pytest.fixture
async def world(db_url):
    async with web_world(db_url) as w:
        await seed_month(DAY)
        yield w


async def get(world: World, role: Role, path: str) -> str:
    cookie, _ = await session_cookie(world, role)
    response = await world.client.get(path, cookies={SESSION_COOKIE: cookie})
    assert response.status == 200, (path, response.status)
    return await response.text()


@pytest.mark.parametrize("path", [f"/recap?month={MONTH}&unit=dir-1", f"/charts?month={MONTH}",
                                  f"/payroll?month={MONTH}&unit=dir-1"])  # fmt: skip
@pytest.mark.parametrize("language", ["id", "en"])
async def test_the_month_is_picked_in_the_readers_language(world: World, path: str, language: str):
    html = await get(world, Role.BUREAU_ADMIN, f"{path}&lang={language}")
    fmt, month = Formats(language), DAY.replace(day=1)
    assert 'type="month"' not in html  # the browser's own picker speaks the browser's language
    selected = re.search(r'<option value="(\d{4}-\d{2})" selected>([^<]+)</option>', html)
    assert selected and selected.groups() == (MONTH, fmt.month(month))
    for other in (previous_month(month), next_month(month)):
        link = re.search(rf'href="\?[^"]*month={other:%Y-%m}[^"]*"[^>]*>[^<]*<span class="label">([^<]+)<', html)
        assert link and link.group(1) == fmt.month(other), other
        if "unit=" in path:  # the links keep the unit chosen
            assert "unit=dir-1" in link.group(0)


async def test_the_audit_trail_reads_in_indonesian_on_the_offices_clock(world: World):
    await record_audit("biro", "bureau_admin", "month.close", f"dir-1 {MONTH}", "dir-1", {"lines": 2, "net": 9190300})
    await record_audit("biro", "bureau_admin", "grade.set", BUDI, "dir-1", {"grade": 7, "from": "2020-01-01"})
    html = await get(world, Role.BUREAU_ADMIN, "/audit")
    assert "UTC" not in html and " WIB" in html
    assert "Bulan ditutup" in html and "Kelas jabatan ditetapkan" in html
    assert "Admin biro kepegawaian" in html and "bureau_admin<" not in html
    assert "Rp 9.190.300" in html and "1 Januari 2020" in html
    english = await get(world, Role.BUREAU_ADMIN, "/audit?lang=en")
    assert "Month closed" in english and "1 January 2020" in english


def test_the_readers_language_from_accept_language():
    assert language_from_header(None) == "id"
    assert language_from_header("") == "id"
    assert language_from_header("*") == "id"
    assert language_from_header("fr-FR,fr;q=0.9") == "id"
    assert language_from_header("en-GB,en;q=0.9") == "en"
    assert language_from_header("id;q=0.5, en;q=0.8") == "en"
    assert language_from_header("en;q=0, id") == "id"
    assert language_from_header("id-ID,en;q=0.9") == "id"


async def test_the_api_explains_the_month_in_the_readers_language(world: World):
    async def body(language: str | None) -> dict:
        headers = world.auth(Role.EMPLOYEE) | ({"Accept-Language": language} if language else {})
        response = await world.client.get(f"/api/v1/employees/{BUDI}/month", params={"month": MONTH}, headers=headers)
        assert response.status == 200
        return await response.json()

    indonesian, english = await body(None), await body("en-GB,en;q=0.9")
    assert any(line.startswith("Nilai") for line in indonesian["explanation"]), indonesian["explanation"]
    assert any(line.startswith("Potongan tunjangan") for line in indonesian["explanation"])
    assert not any("deduction" in line for line in indonesian["explanation"])
    assert any(line.startswith("Score") for line in english["explanation"])
    assert await body("id") == indonesian
    # The machine fields are the same whatever the language; each day's `rule` is its sentence for a reader.
    for key in ("counts", "score_percent", "deduction_percent", "month", "unit"):
        assert indonesian[key] == english[key], key

    def machine(days: list[dict]) -> list[dict]:
        return [{key: value for key, value in day.items() if key != "rule"} for day in days]

    assert machine(indonesian["days"]) == machine(english["days"])
    rules = {
        day["kind"]: (day["rule"], other["rule"])
        for day, other in zip(indonesian["days"], english["days"], strict=True)
    }
    assert rules["working"][0].startswith("Jam kerja") and rules["working"][1].startswith("Office hours"), rules


def test_a_reason_names_its_month_the_readers_way():
    from server.pages.months import months_named

    assert months_named("198503122010012001: tidak ada kelas jabatan pada 2026-12", Formats("id")).endswith(
        "pada Desember 2026"
    )
    assert months_named("month: expected YYYY-MM, got '2026-12'", Formats("en")).endswith("'2026-12'")
    assert months_named("2026-13", Formats("id")) == "2026-13"


async def test_the_payroll_names_the_month_of_a_missing_grade(world: World):
    html = await get(world, Role.BUREAU_ADMIN, f"/payroll?month={MONTH}&unit=dir-1")
    assert f"tidak ada kelas jabatan pada {Formats('id').month(DAY)}" in html
