"""Requests, objections and an employee's dated history as JSON API, on both deployments: the same services
as the pages (one code path), listed within the caller's scope, filed for the caller's own record, decided by
whom the request policy names."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta

import pytest

from server.services.accounts import Role
from tests.web_seed import BUDI, CITRA, WIB, World, last_working_day, seed_month, web_world

DAY = last_working_day(datetime.now(WIB).date())
SOON = DAY + timedelta(days=14)  # a leave ahead, in no closed month


@pytest.fixture
async def world(db_url):
    async with web_world(db_url) as w:
        await seed_month(DAY)
        yield w


async def test_a_leave_filed_read_and_decided_through_the_api(world: World):
    client = world.client
    budi, ani, other_unit = world.auth(Role.EMPLOYEE), world.auth(Role.SUPERVISOR), world.auth(Role.UNIT_ADMIN)
    leave = {"kind": "annual_leave", "first_day": SOON.isoformat(), "last_day": SOON.isoformat(), "reason": "urusan"}
    response = await client.post("/api/v1/requests", json=leave, headers=budi)
    assert response.status == 201, await response.text()
    filed = await response.json()
    assert (filed["nip"], filed["status"], filed["waiting_for"]) == (BUDI, "pending", "supervisor")
    mine = await (await client.get("/api/v1/requests", headers=budi)).json()
    assert [r["id"] for r in mine["items"]] == [filed["id"]]
    # scope: the supervisor sees her team's, the other unit's administrator nothing of it
    assert (await (await client.get("/api/v1/requests", headers=other_unit)).json())["total"] == 0
    assert (await client.get(f"/api/v1/requests/{filed['id']}", headers=other_unit)).status == 404
    queue = await (await client.get("/api/v1/requests/queue", headers=ani)).json()
    assert [r["id"] for r in queue["items"]] == [filed["id"]]
    assert (await client.get("/api/v1/requests/queue", headers=budi)).status == 403  # an employee decides nothing
    decision = f"/api/v1/requests/{filed['id']}/decision"
    assert (await client.post(decision, json={"decision": "approve"}, headers=budi)).status == 403
    no_reason = await client.post(decision, json={"decision": "reject"}, headers=ani)
    assert no_reason.status == 409 and "reason" in (await no_reason.json())["reason"]
    approved = await client.post(decision, json={"decision": "approve"}, headers=ani)
    assert approved.status == 200 and (await approved.json())["status"] == "approved"  # one day: the supervisor
    read = await (await client.get(f"/api/v1/requests/{filed['id']}", headers=budi)).json()
    assert read["decisions"][0]["by"] == "ani" and read["status"] == "approved"
    # cancel: only what nobody decided yet
    assert (await client.post(f"/api/v1/requests/{filed['id']}/cancel", headers=budi)).status == 409


async def test_a_request_the_policy_refuses_says_why(world: World):
    client, budi = world.client, world.auth(Role.EMPLOYEE)
    sick = {"kind": "sick_leave", "first_day": SOON.isoformat(), "last_day": SOON.isoformat(), "reason": "demam"}
    refused = await client.post("/api/v1/requests", json=sick, headers=budi)
    assert refused.status == 400 and "evidence" in (await refused.json())["reason"]  # a letter is required
    letter = {
        "content_type": "application/pdf",
        "filename": "surat.pdf",
        "data": base64.b64encode(b"%PDF-1.4 x").decode(),
    }
    taken = await client.post("/api/v1/requests", json={**sick, "evidence": letter}, headers=budi)
    assert taken.status == 201 and (await taken.json())["evidence"] is True
    unknown = await client.post("/api/v1/requests", json={**sick, "kind": "holiday"}, headers=budi)
    assert unknown.status == 400
    nobody = await client.post("/api/v1/requests", json=sick, headers=world.auth(Role.BUREAU_ADMIN))
    assert nobody.status == 403  # no employee record to file for


async def test_an_objection_filed_and_decided_through_the_api(world: World):
    client = world.client
    budi, bureau, other_unit = world.auth(Role.EMPLOYEE), world.auth(Role.BUREAU_ADMIN), world.auth(Role.UNIT_ADMIN)
    body = {"subject": "day", "date": DAY.isoformat(), "reason": "saya dinas luar"}
    response = await client.post("/api/v1/objections", json=body, headers=budi)
    assert response.status == 201, await response.text()
    filed = await response.json()
    assert filed["decider"] == "bureau"  # Ani, his supervisor, has no supervisor of her own
    again = await client.post("/api/v1/objections", json=body, headers=budi)
    assert again.status == 409  # one waiting already
    assert (await (await client.get("/api/v1/objections", headers=other_unit)).json())["total"] == 0
    assert (await client.get(f"/api/v1/objections/{filed['id']}", headers=other_unit)).status == 404
    queue = await (await client.get("/api/v1/objections/queue", headers=bureau)).json()
    assert [o["id"] for o in queue["items"]] == [filed["id"]]
    decision = f"/api/v1/objections/{filed['id']}/decision"
    assert (await client.post(decision, json={"decision": "reject", "reason": "x"}, headers=budi)).status == 403
    rejected = await client.post(decision, json={"decision": "reject", "reason": "tidak ada surat tugas"},
                                 headers=bureau)  # fmt: skip
    assert rejected.status == 200, await rejected.text()
    read = await (await client.get(f"/api/v1/objections/{filed['id']}", headers=budi)).json()
    assert (read["status"], read["decision_reason"], read["decided_by"]) == (
        "rejected",
        "tidak ada surat tugas",
        "biro",
    )


async def test_the_history_is_read_within_scope(world: World):
    client = world.client
    for role, status in (
        (Role.EMPLOYEE, 200),
        (Role.SUPERVISOR, 200),
        (Role.BUREAU_ADMIN, 200),
        (Role.UNIT_ADMIN, 404),
    ):
        response = await client.get(f"/api/v1/employees/{BUDI}/history", headers=world.auth(role))
        assert response.status == status, (role, response.status)
        if status == 200:
            body = await response.json()
            assert body["total"] == len(body["items"]) and all("valid_from" in row for row in body["items"])
    citra = await client.get(f"/api/v1/employees/{CITRA}/history", headers=world.auth(Role.UNIT_ADMIN))
    assert citra.status == 200  # dir-2's administrator reads dir-2's employee
    ops = await client.get(f"/api/v1/employees/{BUDI}/history", headers=world.auth(Role.OPERATIONS))
    assert ops.status == 403
