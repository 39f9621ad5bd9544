"""The allowance's performance component from the work plan, in the server's payroll, on both deployments:
the same month's line under the shipped policy (minutes) and under one whose ``[performance] source`` is the
plan (work 80 %, behaviour 20 %), each worked out by hand, and the trace saying in Indonesian which source
counted.

November 2025 in dir-1: Ani (head, grade 9, Rp 5,079,200) on time every weekday and with no activity claimed
in November: 0 % by the minutes. Her agreed plan: 12 meetings a year (RAPAT); 8 approved by the end of
November (5 in March, 3 in June; one more, rejected, counts nothing).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

import scoring
from server.activity_models import ActivityClaimRecord
from server.auth import SESSION_COOKIE
from server.services.accounts import Role
from server.services.appraisal import record_behaviour
from server.services.payroll import ALLOWANCE_PRESET, explained_month, live_lines, sheet_for, use_allowance_policy
from server.services.skp import add_indicator, add_result, add_target, agree_submitted, link_activity, submit_plan
from tests.test_requests import principal
from tests.web_seed import ANI, BUDI, WIB, World, add_punch, session_cookie, web_world

MONTH = date(2025, 11, 1)
KEMENSOS = Path(scoring.__file__).parent / "presets" / "allowance" / "social-affairs-2023.toml"
VALUES = [v.value for v in scoring.CoreValue]


@pytest.fixture
async def world(db_url, tmp_path):
    policy = tmp_path / "kemensos-plan.toml"
    policy.write_text(KEMENSOS.read_text() + '\n[performance]\nsource = "plan"   # Surabaya: work 80, behaviour 20\n')
    try:
        async with web_world(db_url, allowance_policy=str(policy)) as w:
            await _month_of_punches()
            for nip, grade, status in ((ANI, 9, "pns"), (BUDI, 7, "cpns")):
                response = await w.client.post(
                    f"/api/v1/employees/{nip}/grades",
                    headers=w.auth(Role.BUREAU_ADMIN),
                    json={"grade": grade, "status": status, "from": "2020-01-01"},
                )
                assert response.status == 201, await response.text()
            await _ani_plan_and_claims()
            yield w
    finally:
        use_allowance_policy(ALLOWANCE_PRESET)  # the process's other tests compute with the shipped policy


async def _month_of_punches() -> None:
    day = MONTH
    while day.month == MONTH.month:  # Ani on time every weekday; Budi 45 minutes late
        if day.weekday() < 5:
            at = datetime(day.year, day.month, day.day, tzinfo=WIB)
            await add_punch("dir-1", "1", at.replace(hour=7, minute=20))
            await add_punch("dir-1", "1", at.replace(hour=17, minute=0), 1)
            await add_punch("dir-1", "2", at.replace(hour=8, minute=15))
            await add_punch("dir-1", "2", at.replace(hour=17, minute=0), 1)
        day += timedelta(days=1)


async def _ani_plan_and_claims() -> None:
    biro, ani = await principal("biro"), await principal("ani")
    await add_target(biro, "dir-1", 2025, "T1", "Koordinasi program direktorat", "rkakl_output")
    await add_result(ani, 2025, "Terselenggaranya rapat koordinasi", "T1")
    await add_indicator(ani, 2025, "RHK1", "Jumlah rapat", "kuantitas", "12", "rapat")
    await link_activity(ani, 2025, "RAPAT", "RHK1.1")
    await submit_plan(ani, 2025)
    await agree_submitted(biro, ANI, 2025)
    for month, day, quantity, state in ((3, 10, 5, "approved"), (6, 9, 3, "approved"), (9, 8, 4, "rejected")):
        await ActivityClaimRecord.create(
            claim_id=f"ani-rapat-{month}", nip=ANI, unit_code="dir-1", activity="RAPAT", activity_name="Rapat",
            start=datetime(2025, month, day, 9, 0, tzinfo=WIB).astimezone(UTC), quantity=quantity,
            minutes=60 * quantity, state=state,
        )  # fmt: skip


async def _payroll(world: World) -> dict[str, dict]:
    response = await world.client.get(
        "/api/v1/payroll", params={"unit": "dir-1", "month": "2025-11"}, headers=world.auth(Role.BUREAU_ADMIN)
    )
    assert response.status == 200, await response.text()
    return {line["nip"]: line for line in (await response.json())["lines"]}


async def _traces() -> dict[str, dict]:
    return {line.nip: line.explain for line in (await sheet_for("dir-1", MONTH)).lines}


def _strings(value: object) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


async def test_the_line_differs_between_minutes_and_the_plan_as_worked_by_hand(world: World):
    explained = await explained_month("dir-1", MONTH)
    minutes, _ = await live_lines("dir-1", 2025, 11, explained, preset=ALLOWANCE_PRESET)
    by_minutes = {line.nip: line for line in minutes}
    # Minutes: nothing claimed in November, 0 %; no cut. paid = 60 % x 0 % + 40 % x 100 % = 40 %: Rp 2,031,680
    assert (by_minutes[ANI].gross, by_minutes[ANI].net) == (5_079_200, 2_031_680)
    assert by_minutes[ANI].explain["performance"]["source"] == "hasil bulanan (menit efektif terhadap target)"

    # The plan, no behaviour rated yet: 8 of the 12 x 11/12 = 11 meetings expected by the end of November:
    # 8/11 = 72.73 %, the work alone. paid = 60 % x 72.73 % + 40 % = 83.638 %; Rp 5,079,200 x 83.638 %
    # = Rp 4,248,141.296 -> Rp 4,248,141
    lines = await _payroll(world)
    assert (lines[ANI]["gross"], lines[ANI]["net"]) == (5_079_200, 4_248_141)
    trace = (await _traces())[ANI]["performance"]
    assert trace["basis"] == "plan" and trace["component"] == "72,73%" and trace["work"] == "72,73%"
    assert trace["source"] == "realisasi SKP: hasil kerja 72,73% (belum ada penilaian perilaku untuk periode ini)"
    assert trace["plan"] == {"year": 2025, "version": 1, "realised_to": "2025-11-30", "expected": "11/12",
                             "behaviour_period": None}  # fmt: skip

    # The bureau (Ani's superior: she has none on record) rates her seven values as expected for Q4: 100 %.
    # 80 % x 8/11 + 20 % x 100 % = 78.18 %; paid = 60 % x 78.18 % + 40 % = 86.908 %; Rp 5,079,200 x 86.908 %
    # = Rp 4,414,231.136 -> Rp 4,414,231
    ratings = {value: ("sesuai_ekspektasi", "") for value in VALUES}
    await record_behaviour(await principal("biro"), ANI, "2025-Q4", ratings)
    lines = await _payroll(world)
    assert lines[ANI]["net"] == 4_414_231 and lines[ANI]["cut"] == 5_079_200 - 4_414_231
    traces = await _traces()
    trace = traces[ANI]["performance"]
    assert trace["source"] == "realisasi SKP: 80% × hasil kerja 72,73% + 20% × perilaku 100%"
    assert trace["plan"]["behaviour_period"] == "2025-Q4" and trace["component"] == "78,18%"
    assert traces[ANI]["net"]["formula"] == "dibayar = 60% × kinerja 78,18% + 40% × (100% − potongan 0%)"

    # Budi has no agreed plan: the minutes, as the shipped policy computes them, and the trace says why.
    assert (lines[BUDI]["gross"], lines[BUDI]["net"]) == (by_minutes[BUDI].gross, by_minutes[BUDI].net)
    assert traces[BUDI]["performance"]["basis"] == "minutes"
    assert traces[BUDI]["performance"]["source"] == (
        "hasil bulanan (menit efektif terhadap target): tidak ada SKP yang disepakati untuk 2025"
    )
    cookie, _ = await session_cookie(world, Role.BUREAU_ADMIN)
    page = await world.client.get("/payroll", params={"unit": "dir-1", "month": "2025-11"},
                                  cookies={SESSION_COOKIE: cookie})  # fmt: skip
    html = await page.text()
    assert page.status == 200 and "Rp 4.414.231" in html
    assert "Komponen kinerja: realisasi SKP untuk 1 pegawai, menit aktivitas untuk 1 pegawai." in html
    words = " ".join(
        s for nip in (ANI, BUDI) for s in _strings({k: v for k, v in traces[nip].items() if k != "policy"})
    )
    for english in ("plan realisation", "work", "behaviour", "agreed", "expected", "effective minutes"):
        assert english not in words, english


async def test_closing_the_month_freezes_the_plan_line(world: World):
    response = await world.client.post(
        "/api/v1/payroll/close", json={"unit": "dir-1", "month": "2025-11"}, headers=world.auth(Role.BUREAU_ADMIN)
    )
    assert response.status == 201, await response.text()
    closed = {line["nip"]: line for line in (await response.json())["lines"]}
    assert closed[ANI]["net"] == 4_248_141
    # a behaviour rating after the close changes nothing: the month is frozen
    ratings = {value: ("di_bawah_ekspektasi", "") for value in VALUES}
    await record_behaviour(await principal("biro"), ANI, "2025-Q4", ratings)
    assert (await _payroll(world))[ANI]["net"] == 4_248_141


def test_the_server_reads_the_policy_from_the_environment_and_refuses_a_wrong_file(tmp_path):
    from server.app import create_app
    from server.settings import ServerSettings

    assert ServerSettings.from_env({}).allowance_policy == "social-affairs-2023"
    assert ServerSettings.from_env({"KINERJA_ALLOWANCE_POLICY": "/etc/kinerja/tukin.toml"}).allowance_policy == (
        "/etc/kinerja/tukin.toml"
    )
    wrong = tmp_path / "tukin.toml"
    wrong.write_text(KEMENSOS.read_text() + '\n[performance]\nsource = "rencana"\n')
    try:
        with pytest.raises(scoring.PolicyError) as err:
            create_app(ServerSettings(db_url="sqlite://:memory:", allowance_policy=str(wrong)), consume=False)
        assert err.value.key == "performance.source"
    finally:
        use_allowance_policy(ALLOWANCE_PRESET)
