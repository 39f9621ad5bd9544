"""The policy's sanity limits on activity claims, as the server applies them when a claim is filed (API and
page, one code path: server/services/claims.py) on both deployments: the quantity of one activity per claim
and per day, the day's minutes against the presence span (first to last punch, corrected punches too) plus
the margin; refusals name the limit, in Indonesian beside the English reason; today's claims are not
flagged "outside presence" while the employee is still at work."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from server.request_models import CorrectedPunch, EmployeeRequest
from server.services.accounts import Role
from tests.web_seed import BUDI, WIB, World, add_punch, last_working_day, seed_month, session_cookie, web_world

DAY = last_working_day(datetime.now(WIB).date())
# Budi on DAY (tests/web_seed.py): 08:15 to 15:40 (Mon-Thu) or 16:10 (Fri): 445 or 475 minutes present
PRESENT = 445 if DAY.weekday() < 4 else 475
MARGIN = 30  # the national preset's presence_margin_minutes


@pytest.fixture
async def world(db_url):
    async with web_world(db_url) as w:
        await seed_month(DAY)
        yield w


def claim(activity: str, quantity: int, start: str = "09:00", day=DAY) -> dict:
    return {"activity": activity, "date": day.isoformat(), "start": start, "quantity": quantity, "evidence": "ND"}


async def test_a_claim_over_the_quantity_per_claim_is_refused_naming_the_limit(world: World):
    budi = world.auth(Role.EMPLOYEE)
    response = await world.client.post("/api/v1/activities", json=claim("VERIFIKASI", 21), headers=budi)
    assert response.status == 409
    body = await response.json()
    assert body["limit"] == {"name": "per_claim", "allowed": 20, "asked": 21}
    assert "at most 20 of this activity in one claim" in body["reason"]
    assert "paling banyak 20 kegiatan ini dalam satu klaim" in body["message"]  # the reason in Indonesian
    mine = await (await world.client.get("/api/v1/activities", headers=budi)).json()
    assert mine["total"] == 0  # nothing stored


async def test_the_quantity_per_day_counts_the_days_other_claims(world: World):
    budi = world.auth(Role.EMPLOYEE)
    for start in ("08:30", "10:30"):  # 2 x 15 verifications of 15 minutes = 450 minutes, within presence
        ok = await world.client.post("/api/v1/activities", json=claim("VERIFIKASI", 15, start), headers=budi)
        assert ok.status == 201, await ok.text()
    over = await world.client.post("/api/v1/activities", json=claim("VERIFIKASI", 11, "14:00"), headers=budi)
    assert (await over.json())["limit"] == {"name": "per_day", "allowed": 40, "asked": 41}
    # a rejected claim does not count: the supervisor rejects one, and the same claim is taken
    ani = world.auth(Role.SUPERVISOR)
    items = (await (await world.client.get("/api/v1/activities", headers=budi)).json())["items"]
    decided = await world.client.post(
        "/api/v1/activities/decisions",
        json={"claim_ids": [items[0]["claim_id"]], "decision": "reject", "reason": "dobel"},
        headers=ani,
    )
    assert decided.status == 200
    again = await world.client.post("/api/v1/activities", json=claim("VERIFIKASI", 11, "14:00"), headers=budi)
    assert again.status == 201


async def test_the_days_minutes_are_held_to_the_presence_span_plus_the_margin(world: World):
    budi = world.auth(Role.EMPLOYEE)
    room = PRESENT + MARGIN
    first = await world.client.post("/api/v1/activities", json=claim("LAPORAN", 3, "08:20"), headers=budi)
    assert first.status == 201  # 360 minutes
    more = (room - 360) // 120 + 1  # reports of 120 minutes: one more than the room holds (Fridays hold more)
    over = await world.client.post("/api/v1/activities", json=claim("LAPORAN", more, "14:30"), headers=budi)
    body = await over.json()
    assert over.status == 409 and body["limit"] == {"name": "presence", "allowed": room, "asked": 360 + 120 * more}
    assert f"paling banyak {room} menit" in body["message"] and f"ditambah {MARGIN} menit" in body["message"]
    # what fits in the room left is taken
    fits = (room - 360) // 15
    ok = await world.client.post("/api/v1/activities", json=claim("VERIFIKASI", fits, "14:30"), headers=budi)
    assert ok.status == 201


async def test_a_day_without_presence_takes_no_claim_until_a_correction_gives_it_one(world: World):
    budi = world.auth(Role.EMPLOYEE)
    empty = DAY - timedelta(days=7)  # a week before: nobody punched
    refused = await world.client.post("/api/v1/activities", json=claim("SURAT", 1, "09:00", empty), headers=budi)
    body = await refused.json()
    assert body["limit"] == {"name": "presence", "allowed": 0, "asked": 30}
    assert "ajukan koreksi kehadiran" in body["message"]
    # an approved correction's punches count like a device's (both directions corrected here)
    for hour, state in ((8, 0), (12, 1)):
        at = datetime(empty.year, empty.month, empty.day, hour, tzinfo=WIB).astimezone(UTC)
        request = await EmployeeRequest.create(nip=BUDI, unit_code="dir-1", kind="attendance_correction",
                                               first_day=empty, last_day=empty, punch_at=at, punch_state=state,
                                               status="approved", filed_by="budi")  # fmt: skip
        await CorrectedPunch.create(nip=BUDI, unit_code="dir-1", punched_at=at, utc_offset_minutes=420,
                                    state=state, request=request, approved_by="ani")  # fmt: skip
    taken = await world.client.post("/api/v1/activities", json=claim("SURAT", 1, "09:00", empty), headers=budi)
    assert taken.status == 201, await taken.text()


async def test_todays_claim_is_not_flagged_while_the_employee_is_at_work(world: World):
    budi = world.auth(Role.EMPLOYEE)
    now = datetime.now(WIB).replace(second=0, microsecond=0)
    midnight = now.replace(hour=0, minute=0)
    arrival = max(midnight + timedelta(minutes=1), now - timedelta(hours=3))
    await add_punch("dir-1", "2", arrival)  # in, and not out yet
    body = claim("VERIFIKASI", 1, arrival.strftime("%H:%M"), now.date())
    made = await world.client.post("/api/v1/activities", json=body, headers=budi)
    assert made.status == 201, await made.text()
    mine = (await (await world.client.get("/api/v1/activities", headers=budi)).json())["items"]
    assert [c["flags"] for c in mine if c["claim_id"] == (await made.json())["claim_id"]] == [[]]


async def test_the_page_refuses_over_the_limit_in_indonesian_and_keeps_what_was_typed(world: World):
    from server.auth import SESSION_COOKIE

    cookie, csrf = await session_cookie(world, Role.EMPLOYEE)
    form = {"activity": "RAPAT", "date": DAY.strftime("%d/%m/%Y"), "start": "09:00", "quantity": "21",
            "evidence": "undangan ND-7", "csrf_token": csrf}  # fmt: skip
    response = await world.client.post(
        "/activities", data=form, cookies={SESSION_COOKIE: cookie}, allow_redirects=False
    )
    html = await response.text()
    assert response.status == 400
    assert "paling banyak 20 kegiatan ini dalam satu klaim (batas kebijakan), bukan 21" in html
    assert 'value="undangan ND-7"' in html and 'value="21"' in html and '<option value="RAPAT" selected' in html


async def test_a_resubmitted_claim_is_held_to_the_same_limits(world: World):
    budi, ani = world.auth(Role.EMPLOYEE), world.auth(Role.SUPERVISOR)
    made = await (await world.client.post("/api/v1/activities", json=claim("VERIFIKASI", 5), headers=budi)).json()
    asked = await world.client.post(
        "/api/v1/activities/decisions",
        json={"claim_ids": [made["claim_id"]], "decision": "correct", "reason": "berapa berkas?"},
        headers=ani,
    )
    assert asked.status == 200
    resubmit = f"/api/v1/activities/{made['claim_id']}/resubmit"
    over = await world.client.post(resubmit, json={"quantity": 21}, headers=budi)
    assert over.status == 409 and (await over.json())["limit"] == {"name": "per_claim", "allowed": 20, "asked": 21}
    fine = await world.client.post(resubmit, json={"quantity": 20}, headers=budi)  # itself not counted twice
    assert fine.status == 200 and (await fine.json())["quantity"] == 20
