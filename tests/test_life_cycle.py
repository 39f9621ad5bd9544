"""The employee life cycle's scheduling (issue 18), on both databases: a change dated after today waits
as pending (the months before it keep the old unit), is applied by the runner on its day in its office's
zone, once, however many runners there are (PostgreSQL's SKIP LOCKED), and can be cancelled before it;
a transfer moves the employee's area memberships, an end removes them all."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta

import pytest

from server.area_models import Area, AreaDevice, AreaMember
from server.history_models import EmployeeAssignment, ScheduledChange
from server.models import Employee, Office
from server.payroll_models import AuditEntry
from server.services.areas import add_member
from server.services.history import Change, HistoryError, apply_change, apply_scheduled, cancel_scheduled
from server.services.life_cycle import work_until_done
from server.services.members import unit_members
from tests.web_seed import ANI, BUDI, CITRA, WIB, World, web_world
from wire.zones import office_zone

TODAY = date(2026, 12, 10)  # "today" as the tests inject it, a Thursday
TOMORROW = TODAY + timedelta(days=1)
WIT = office_zone("WIT")


def at(day: date, hour: int, zone=WIB) -> datetime:  # type: ignore[no-untyped-def]
    """A clock for the runner: ``hour`` o'clock on ``day`` in ``zone``, as an instant."""
    return datetime.combine(day, time(hour), tzinfo=zone).astimezone(UTC)


def dialect(db_url: str) -> str:
    return "postgres" if db_url.startswith("postgres") else "sqlite"


@pytest.fixture
async def world(db_url: str):
    async with web_world(db_url) as w:
        await Area.create(code="a-dir1", name="Gedung Satu", unit_code="dir-1")
        await Area.create(code="a-dir2", name="Gedung Dua", unit_code="dir-2")
        await Area.create(code="a-dja", name="Kantor Pusat", unit_code="dj-a")  # above both units
        await AreaDevice.create(device_serial="DEV-DIR1", area_id="a-dir1")
        await AreaDevice.create(device_serial="DEV-DIR2", area_id="a-dir2")
        for code in ("a-dir1", "a-dja"):
            await add_member(await Area.get(code=code), BUDI)
        yield w


async def areas_of(nip: str) -> list[str]:
    return sorted(await AreaMember.filter(employee_nip=nip).values_list("area_id", flat=True))


async def test_a_transfer_dated_tomorrow_waits_and_is_applied_on_its_day_once(world: World, db_url: str):
    row = await apply_change(BUDI, Change("move", TOMORROW, unit_code="dir-2", reason="SK mutasi"), "biro",
                             "bureau_admin", today=TODAY)  # fmt: skip

    scheduled = await ScheduledChange.get(assignment_id=row.id)
    budi = await Employee.get(nip=BUDI)
    members_today = await unit_members("dir-1", TODAY, TODAY)
    members_tomorrow = await unit_members("dir-2", TOMORROW, TOMORROW)
    early = await work_until_done(dialect(db_url), None, None, clock=lambda: at(TODAY, 23))
    areas_before = await areas_of(BUDI)

    done = await work_until_done(dialect(db_url), None, None, clock=lambda: at(TOMORROW, 0))
    moved = await Employee.get(nip=BUDI)
    again = await work_until_done(dialect(db_url), None, None, clock=lambda: at(TOMORROW, 9))

    assert scheduled.status == "pending" and scheduled.zone == "WIB"
    assert budi.unit_id == "dir-1"  # type: ignore[attr-defined]  # the employee row is today's
    assert members_today[BUDI] == [(date(1900, 1, 1), TODAY)]  # the days before the date keep the old unit
    assert BUDI in members_tomorrow
    assert early == [] and areas_before == ["a-dir1", "a-dja"]
    assert done == [scheduled.id] and again == []
    assert moved.unit_id == "dir-2"  # type: ignore[attr-defined]
    assert await areas_of(BUDI) == ["a-dir2", "a-dja"]  # the headquarters' area is above both units: kept
    assert (await ScheduledChange.get(id=scheduled.id)).areas == ["a-dir1", "a-dir2"]
    assert await apply_scheduled(scheduled.id, "again") is None  # idempotent: applied once
    assert await AuditEntry.filter(action="employee.move.applied", target=BUDI).count() == 1


async def test_the_day_starts_at_the_offices_midnight(world: World, db_url: str):
    await Office.create(code="kantor-jayapura", name="Kantor Jayapura", unit_id="dir-2", zone="WIT")
    await Office.create(code="kantor-jakarta", name="Kantor Jakarta", unit_id="dir-1", zone="WIB")
    await apply_change(BUDI, Change("move", TOMORROW, unit_code="dir-2", office_code="kantor-jayapura"), "biro",
                       "bureau_admin", today=TODAY)  # fmt: skip
    await apply_change(ANI, Change("edit", TOMORROW, office_code="kantor-jakarta"), "biro", "bureau_admin",
                       today=TODAY)  # fmt: skip

    # 00:30 in Jayapura is 22:30 the evening before in Jakarta.
    first = await work_until_done(
        dialect(db_url), None, None, clock=lambda: at(TOMORROW, 0, WIT) + timedelta(minutes=30)
    )
    applied_first = {row.nip for row in await ScheduledChange.filter(status="applied")}
    later = await work_until_done(dialect(db_url), None, None, clock=lambda: at(TOMORROW, 0))

    assert len(first) == 1 and applied_first == {BUDI}
    assert len(later) == 1
    assert not await ScheduledChange.filter(status="pending").exists()


async def test_a_retirement_removes_every_area_and_a_scheduled_one_can_be_cancelled(world: World, db_url: str):
    row = await apply_change(BUDI, Change("end", TOMORROW, status="retired"), "biro", "bureau_admin", today=TODAY)
    await cancel_scheduled(BUDI, (await ScheduledChange.get(assignment_id=row.id)).id, "biro", "bureau_admin")
    with pytest.raises(HistoryError) as twice:
        await cancel_scheduled(BUDI, (await ScheduledChange.get(assignment_id=row.id)).id, "biro", "bureau_admin")
    nothing = await work_until_done(dialect(db_url), None, None, clock=lambda: at(TOMORROW, 8))
    kept = await areas_of(BUDI)

    await apply_change(BUDI, Change("end", TOMORROW, status="retired"), "biro", "bureau_admin", today=TOMORROW)

    assert twice.value.text("id").startswith("Perubahan terjadwal ini tidak menunggu lagi")
    assert nothing == [] and kept == ["a-dir1", "a-dja"]
    assert not await EmployeeAssignment.filter(nip=BUDI, status="retired", valid_from__lt=TOMORROW).exists()
    assert await areas_of(BUDI) == []  # an end valid today leaves every area at once
    told = await ScheduledChange.get(nip=BUDI, status="applied")
    assert told.areas == ["a-dir1", "a-dja"] and told.devices_told_at is None  # the runner tells the devices


async def test_a_later_scheduled_change_waits_for_the_earlier_one(world: World, db_url: str):
    await apply_change(BUDI, Change("move", TOMORROW, unit_code="dir-2"), "biro", "bureau_admin", today=TODAY)
    await apply_change(BUDI, Change("end", TOMORROW + timedelta(days=1), status="retired"), "biro", "bureau_admin",
                       today=TODAY)  # fmt: skip
    with pytest.raises(HistoryError) as refused:
        await cancel_scheduled(BUDI, (await ScheduledChange.filter(nip=BUDI).order_by("valid_from").first()).id,
                               "biro", "bureau_admin")  # fmt: skip

    done = await work_until_done(dialect(db_url), None, None, clock=lambda: at(TOMORROW + timedelta(days=5), 8))

    assert refused.value.text("id") == "Batalkan dulu perubahan terjadwal yang lebih akhir"
    assert len(done) == 2
    assert await areas_of(BUDI) == []
    assert (await Employee.get(nip=BUDI)).unit_id == "dir-2"  # type: ignore[attr-defined]


async def test_several_runners_apply_each_change_exactly_once(postgres_url: str):
    async with web_world(postgres_url):
        await Area.create(code="a-dir2", name="Gedung Dua", unit_code="dir-2")
        for nip in (ANI, BUDI):
            await apply_change(nip, Change("move", TOMORROW, unit_code="dir-2"), "biro", "bureau_admin", today=TODAY)
        await apply_change(CITRA, Change("end", TOMORROW, status="dismissed"), "biro", "bureau_admin", today=TODAY)
        many = [f"replica-{k}" for k in range(4)]
        done = await asyncio.gather(
            *(work_until_done("postgres", None, None, worker=w, clock=lambda: at(TOMORROW, 1)) for w in many)
        )
        applied = [entry.target for entry in await AuditEntry.filter(action__endswith=".applied")]
        members = await AreaMember.filter(area_id="a-dir2").values_list("employee_nip", flat=True)

    ids = [claimed for by_one in done for claimed in by_one]
    assert len(ids) == len(set(ids)) == 3  # every change taken by exactly one runner
    assert sorted(applied) == sorted([ANI, BUDI, CITRA])
    assert sorted(members) == sorted([ANI, BUDI])
