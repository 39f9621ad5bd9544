"""The server's scoring adapter on a real database: SQLite (embedded) and PostgreSQL (production)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import pytest

from scoring import PolicyBook, load_policy_version, parse_policy_text
from server.db import close_database, open_database
from server.models import DevicePin, Employee, Punch, Unit
from server.results_models import MonthlyScore
from server.services.results import absence_flags, compute_unit_month, unit_month_scores
from tests.test_scoring_activities import CATALOGUE

WITA = timezone(timedelta(hours=8))
NIP_A = "198001012005011001"
NIP_B = "199002022015022002"
NIP_OTHER = "198503032010031003"


@pytest.fixture
async def database(db_url):
    context = await open_database(db_url)
    yield db_url
    await close_database(context)


async def add_punch(
    unit: str, pin: str, day: date, clock: str, *, flag: str | None = None, serial: str = "ZK1"
) -> None:
    hh, mm = (int(x) for x in clock.split(":"))
    await Punch.create(
        device_serial=serial,
        pin=pin,
        punched_at=datetime.combine(day, time(hh, mm), WITA),
        utc_offset_minutes=480,
        state=0,
        verify=1,
        unit_code=unit,
        gateway_id="gw-1",
        batch_id="b1",
        flag=flag,
    )


async def seed() -> None:
    balai = await Unit.create(code="balai-makassar", name="Balai Makassar")
    other = await Unit.create(code="loka-kendari", name="Loka Kendari")
    a = await Employee.create(nip=NIP_A, name="Andi", unit=balai)
    b = await Employee.create(nip=NIP_B, name="Becce", unit=balai)
    c = await Employee.create(nip=NIP_OTHER, name="Cici", unit=other)
    await DevicePin.create(unit=balai, pin="1", employee=a)
    await DevicePin.create(unit=balai, pin="2", employee=b)
    await DevicePin.create(unit=other, pin="1", employee=c)  # the same PIN in another unit: not Andi
    monday = date(2025, 5, 5)
    await add_punch("balai-makassar", "1", monday, "07:45")  # TL1
    await add_punch("balai-makassar", "1", monday, "16:00")
    await add_punch("balai-makassar", "1", monday + timedelta(days=1), "07:20")
    await add_punch("balai-makassar", "1", monday + timedelta(days=1), "16:05")
    await add_punch("balai-makassar", "1", monday + timedelta(days=2), "07:00", flag="clock_reset")  # ignored
    await add_punch("loka-kendari", "1", monday + timedelta(days=2), "07:25")  # Cici's, not Andi's
    await add_punch("balai-makassar", "2", monday, "08:31")  # TL3, no departure: PSW4


POLICY = """
[policy]
extends = "national-common"
name = "sulawesi"
effective_from = 2025-01-01
time_zone = "WITA"
"""


async def test_unit_month_is_scored_stored_and_recomputed_idempotently(database, monkeypatch):
    await seed()
    book = PolicyBook((parse_policy_text(POLICY),))
    claim = CATALOGUE.claim("k1", "REPORT", datetime(2025, 5, 5, 9, 0, tzinfo=WITA)).approve()
    report = await compute_unit_month(
        "balai-makassar", 2025, 5, book, claims={NIP_A: [claim]}, excuses={NIP_B: {date(2025, 5, 6): "sick_leave"}}
    )
    assert (report.created, report.updated, report.unchanged, report.employees, report.punches) == (2, 0, 0, 2, 5)
    rows = {row.nip: row for row in await unit_month_scores("balai-makassar", 2025, 5)}
    andi, becce = rows[NIP_A], rows[NIP_B]
    assert andi.codes == {"TL1": 1, "TK": 15} and andi.planned_days == 17 and andi.effective_minutes == 120
    assert becce.codes["TL3"] == 1 and becce.codes["PSW4"] == 1 and becce.codes["CS"] == 1
    monday = andi.explain["days"][4]
    assert monday["codes"] == ["TL1"] and monday["punches"][0] == {"at": "2025-05-05T07:45:00+08:00", "device": "ZK1"}
    assert andi.explain["days"][6]["punches"] == []  # the flagged punch and Cici's punch are not Andi's
    assert andi.policy_name == "sulawesi" and andi.discipline_deduction_bp == 50 + 15 * 500
    first_computed = andi.computed_at

    monkeypatch.setattr("server.services.results._CHUNK", 1)  # read and compare one employee at a time: same results
    again = await compute_unit_month(
        "balai-makassar", 2025, 5, book, claims={NIP_A: [claim]}, excuses={NIP_B: {date(2025, 5, 6): "sick_leave"}}
    )
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    flags = await absence_flags(NIP_A, 2025)  # 15 TK days, 14 of them in a row from 7 May
    assert [f.sanction for f in flags] == ["25% allowance cut for 9 months", "dismissal proceedings"]
    assert flags[1].days[0] == date(2025, 5, 7) and len(flags[1].days) == 14
    assert (await MonthlyScore.get(nip=NIP_A, year=2025, month=5)).computed_at == first_computed
    assert await MonthlyScore.filter(year=2025, month=5).count() == 2

    await add_punch("balai-makassar", "2", date(2025, 5, 5), "16:00")  # a late-arriving departure punch
    third = await compute_unit_month(
        "balai-makassar", 2025, 5, book, claims={NIP_A: [claim]}, excuses={NIP_B: {date(2025, 5, 6): "sick_leave"}}
    )
    assert (third.created, third.updated, third.unchanged) == (0, 1, 1)
    becce = await MonthlyScore.get(nip=NIP_B, year=2025, month=5)
    assert "PSW4" not in becce.codes and becce.codes["TL3"] == 1


async def test_next_months_policy_leaves_this_month_alone(database, tmp_path):
    await seed()
    book = PolicyBook((parse_policy_text(POLICY),))
    await compute_unit_month("balai-makassar", 2025, 5, book)
    may = {
        row.nip: (row.digest, row.allowance_deduction_bp) for row in await unit_month_scores("balai-makassar", 2025, 5)
    }
    later = tmp_path / "june.toml"
    later.write_text(POLICY.replace("2025-01-01", "2025-06-01") + "[absence]\ndeduction = 3\n")
    book = PolicyBook((parse_policy_text(POLICY), load_policy_version(later)))
    report = await compute_unit_month("balai-makassar", 2025, 5, book)
    assert (report.unchanged, report.policy) == (2, "sulawesi")
    assert may == {
        row.nip: (row.digest, row.allowance_deduction_bp) for row in await unit_month_scores("balai-makassar", 2025, 5)
    }
    june = await compute_unit_month("balai-makassar", 2025, 6, book)
    assert june.created == 2 and june.results[0].policy.absence.deduction_bp == 300


async def test_night_shift_punches_after_the_month_are_read(database):
    await seed()
    rehab = parse_policy_text(POLICY.replace('"national-common"', '"rehab-centre-shifts"'))
    await add_punch("balai-makassar", "2", date(2025, 5, 31), "21:00")
    await add_punch("balai-makassar", "2", date(2025, 6, 1), "07:00")
    report = await compute_unit_month("balai-makassar", 2025, 5, rehab.base, rosters={NIP_B: {date(2025, 5, 31): "M"}})
    becce = next(r for r in report.results if r.nip == NIP_B)
    assert [(r.day, r.codes) for r in becce.days] == [(date(2025, 5, 31), ())]
