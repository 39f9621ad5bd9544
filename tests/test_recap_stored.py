"""The recap never scores on a reader's request (issue 19): it reads what the scoring workers stored.

A unit-month marked stale is shown with its stored figures and flagged (the API's `recalculating`, the
page's notice); a member never scored is a row "belum dihitung" without figures; the stored rows, the
mark and its version are exactly as they were after the view. Only the worker's round changes them.
Payroll closing refuses while a mark is left. The app's own worker is off here, so nothing but the
test's own `settle()` (the worker's round) scores.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from server.auth import SESSION_COOKIE, Scope
from server.models import Employee
from server.results_models import MonthlyScore
from server.services.accounts import Role
from server.services.payroll import StillRecalculating, close_month
from server.services.recap import read_recap
from server.services.stale import mark_stale
from server.stale_models import StaleUnitMonth
from tests.web_seed import (
    ANI,
    BUDI,
    CITRA,
    WIB,
    World,
    add_punch,
    last_working_day,
    seed_month,
    session_cookie,
    settle,
    web_world,
)

DAY = last_working_day(datetime.now(WIB).date())
MONTH = DAY.strftime("%Y-%m")
NEWCOMER = "199512312020121001"


@pytest.fixture
async def world(db_url):
    async with web_world(db_url, score_worker=False) as w:
        await seed_month(DAY)
        await settle()
        yield w


async def stored_state() -> list[tuple]:
    return sorted(
        await MonthlyScore.filter(year=DAY.year, month=DAY.month).values_list(
            "unit_code", "nip", "digest", "score_bp", "computed_at"
        )
    )


async def marks() -> list[tuple]:
    return sorted(await StaleUnitMonth.filter(year=DAY.year, month=DAY.month).values_list("unit_code", "version"))


async def results(world: World) -> dict:
    response = await world.client.get("/api/v1/results", params={"month": MONTH}, headers=world.auth(Role.BUREAU_ADMIN))
    assert response.status == 200, await response.text()
    return await response.json()


async def test_a_view_of_a_stale_recap_scores_nothing_and_says_so(world: World):
    fresh = await results(world)
    assert not fresh["recalculating"] and fresh["recalculating_units"] == []
    assert {row["nip"]: row["scored"] for row in fresh["items"]} == {ANI: True, BUDI: True, CITRA: True}
    budi_before = next(row for row in fresh["items"] if row["nip"] == BUDI)
    assert budi_before["TL2"] == 1 and not budi_before["recalculating"]

    # Budi's punches for an earlier working day, when he was absent (TK), arrive; the ingest marks dir-1 stale
    # (marked here by hand: the ORM insert does not), and a newcomer joins dir-1 (the registry marks it).
    earlier = last_working_day(DAY)
    if earlier.month == DAY.month:
        at = datetime(earlier.year, earlier.month, earlier.day, tzinfo=WIB)
        await add_punch("dir-1", "2", at.replace(hour=7, minute=0))
        await add_punch("dir-1", "2", at.replace(hour=17, minute=0), 1)
    await mark_stale([("dir-1", DAY.year, DAY.month)])
    await Employee.create(nip=NEWCOMER, name="Dewi Anggraini", unit_id="dir-1", position="Analis")  # marks too
    before, marked = await stored_state(), await marks()
    assert tuple(unit for unit, _ in marked) == ("dir-1",)

    body = await results(world)
    assert body["recalculating"] and body["recalculating_units"] == ["dir-1"]
    rows = {row["nip"]: row for row in body["items"]}
    assert set(rows) == {ANI, BUDI, CITRA, NEWCOMER} and body["total"] == 4
    assert rows[BUDI] == {**budi_before, "recalculating": True}  # the stored figures, flagged
    assert rows[CITRA]["recalculating"] is False  # dir-2 was not touched
    newcomer = rows[NEWCOMER]
    assert (newcomer["scored"], newcomer["recalculating"], newcomer["TK"], newcomer["score_percent"]) == (
        False, True, None, None,
    )  # fmt: skip
    csv = await (await world.client.get("/api/v1/exports/recap.csv", params={"month": MONTH},
                                        headers=world.auth(Role.BUREAU_ADMIN))).text()  # fmt: skip
    assert next(line for line in csv.splitlines() if NEWCOMER in line).endswith(",belum dihitung")
    cookie, _ = await session_cookie(world, Role.BUREAU_ADMIN)
    page = await (await world.client.get(f"/recap?month={MONTH}", cookies={SESSION_COOKIE: cookie})).text()
    assert "Sedang dihitung ulang" in page and "Direktorat Satu" in page and "belum dihitung" in page
    charts = await (await world.client.get(f"/charts?month={MONTH}", cookies={SESSION_COOKIE: cookie})).text()
    assert "Sedang dihitung ulang" in charts

    # nothing was scored by those views: the same stored rows (digest and computed_at too), the same mark
    assert await stored_state() == before
    assert await marks() == marked
    assert not await MonthlyScore.exists(nip=NEWCOMER)

    # closing the month on figures a mark has outdated is refused
    with pytest.raises(StillRecalculating):
        await close_month("dir-1", DAY.year, DAY.month, {}, "biro", "bureau_admin")

    # the worker's round scores it; the recap then reads the new figures, unflagged
    assert await settle() >= 1  # dir-1's month (and the month before: a newcomer touches both)
    assert await marks() == []
    after = await results(world)
    assert not after["recalculating"]
    rows = {row["nip"]: row for row in after["items"]}
    assert rows[NEWCOMER]["scored"] and rows[NEWCOMER]["recalculating"] is False
    if earlier.month == DAY.month:
        assert rows[BUDI]["TK"] == budi_before["TK"] - 1


async def test_the_recap_pages_in_the_database_in_a_stable_order(world: World):
    everyone = await results(world)
    walked = []
    for offset in range(0, everyone["total"], 2):
        response = await world.client.get(
            "/api/v1/results",
            params={"month": MONTH, "limit": 2, "offset": offset},
            headers=world.auth(Role.BUREAU_ADMIN),
        )
        walked += [row["nip"] for row in (await response.json())["items"]]
    assert walked == [row["nip"] for row in everyone["items"]] == [ANI, BUDI, CITRA]  # by unit, then name
    only_late = await world.client.get(
        "/api/v1/results", params={"month": MONTH, "category": "TL2"}, headers=world.auth(Role.BUREAU_ADMIN)
    )
    body = await only_late.json()
    assert [row["nip"] for row in body["items"]] == [BUDI] and body["total"] == 1


async def test_pages_spanning_units_read_only_those_units_and_keep_the_order(world: World):
    everyone = Scope(personnel=True, devices=True, unit_codes=None, employee_nips=None)
    month = DAY.replace(day=1)
    for sort in ("unit", "name", "score", "TL2"):
        for descending in (False, True):
            whole = [r.nip for r in (await read_recap(everyone, month, sort=sort, descending=descending)).rows]
            assert sorted(whole) == sorted([ANI, BUDI, CITRA])
            for size in (1, 2):
                walked = []
                for offset in range(0, 3, size):
                    found = await read_recap(
                        everyone, month, limit=size, offset=offset, sort=sort, descending=descending
                    )
                    assert found.total == 3
                    walked += [r.nip for r in found.rows]
                assert walked == whole, (sort, descending, size)
    by_unit = [r.unit_code for r in (await read_recap(everyone, month, descending=True)).rows]
    assert by_unit == ["dir-2", "dir-1", "dir-1"]


async def test_a_month_before_the_policy_is_a_404_and_queues_nothing(world: World):
    response = await world.client.get(
        "/api/v1/results", params={"month": "2000-01"}, headers=world.auth(Role.BUREAU_ADMIN)
    )
    assert response.status == 404 and "in force from" in (await response.json())["reason"]
    assert not await StaleUnitMonth.exists(year=2000)  # a worker would fail on it for ever
    cookie, _ = await session_cookie(world, Role.BUREAU_ADMIN)
    page = await world.client.get("/recap?month=2000-01", cookies={SESSION_COOKIE: cookie})
    assert page.status == 200 and not await StaleUnitMonth.exists(year=2000)
