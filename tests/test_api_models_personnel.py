"""The personnel resources declared with pydantic models (server/api/endpoint.py: users, employees, tokens,
attendance, punches, activities, excuses, payroll) refuse, before the handler runs, a body field the model does
not name and a value of the wrong shape: a 400 whose reason names the field. Query parameters a model does not
name are ignored (proxies add their own); a malformed one is refused by name."""

from __future__ import annotations

from typing import Any

import pytest

from server.services.accounts import Role
from tests.web_seed import BUDI, CITRA, World, web_world

# resource: (method, path, a body the model accepts, a field it does not name, (a field, a malformed value))
BODIES: dict[str, tuple[str, str, dict[str, Any], str, tuple[str, Any]]] = {
    "users": (
        "POST",
        "/api/v1/users",
        {"username": "dewi", "password": "kata-sandi-rahasia-9", "role": "operations"},
        "colour",
        ("role", "emperor"),
    ),
    "employees": (
        "POST",
        "/api/v1/employees",
        {"nip": "199001012015031009", "name": "Dewi", "unit": "dir-2"},
        "grade",
        ("nip", "12345"),
    ),
    "employee pins": ("POST", "/api/v1/units/dir-2/pins", {"pin": "9", "nip": CITRA}, "card", ("pin", "9 9")),
    "tokens": ("POST", "/api/v1/tokens", {"name": "ekspor gaji"}, "scope", ("name", "   ")),
    "activities": (
        "POST",
        "/api/v1/activities",
        {"activity": "rapat", "date": "2025-05-05", "start": "09:00"},
        "minutes",
        ("start", "25:00"),
    ),
    "activity decisions": (
        "POST",
        "/api/v1/activities/decisions",
        {"claim_ids": ["c1"], "decision": "approve"},
        "all",
        ("claim_ids", []),
    ),
    "excuses": (
        "POST",
        "/api/v1/excuses",
        {"nip": BUDI, "kind": "sick_leave", "first_day": "2025-05-05", "last_day": "2025-05-06"},
        "reason",
        ("first_day", "2025-05-32"),
    ),
    "payroll grades": (
        "POST",
        f"/api/v1/employees/{BUDI}/grades",
        {"grade": 9, "from": "2025-01-01"},
        "kelas",
        ("grade", 18),
    ),
    "payroll signatories": (
        "POST",
        "/api/v1/units/dir-1/signatories",
        {"head_name": "Ani Wulandari"},
        "deputy",
        ("head_nip", "12345"),
    ),
    "payroll close": (
        "POST",
        "/api/v1/payroll/close",
        {"unit": "dir-1", "month": "2025-05"},
        "final",
        ("month", "2025-13"),
    ),
}
# Who calls: the bureau administrator, but for what only another role may call.
ROLES = {"activity decisions": Role.SUPERVISOR}
# resource: (path, query parameters the model accepts, (a parameter, a malformed value))
QUERIES: dict[str, tuple[str, dict[str, str], tuple[str, str]]] = {
    "punches": ("/api/v1/punches", {"unit": "dir-1"}, ("tz", "CET")),
    "attendance": ("/api/v1/attendance/daily", {"date": "2025-05-05"}, ("date", "2025-02-30")),
    "results": ("/api/v1/results", {"month": "2025-05"}, ("category", "TL9")),
    "employees": ("/api/v1/employees", {"unit": "dir-1"}, ("limit", "lots")),
    "excuses": ("/api/v1/excuses", {"nip": BUDI}, ("from", "kemarin")),
    "payroll": ("/api/v1/payroll", {"unit": "dir-1", "month": "2025-05"}, ("month", "2025-5")),
}


@pytest.fixture
async def world(db_url):
    async with web_world(db_url) as w:
        yield w


async def reason_of(world: World, method: str, path: str, role: Role = Role.BUREAU_ADMIN, **kwargs: Any) -> str:
    response = await world.client.request(method, path, headers=world.auth(role), **kwargs)
    assert response.status == 400, (method, path, kwargs, await response.text())
    return str((await response.json())["reason"])


async def test_an_unknown_body_field_and_a_malformed_value_are_a_400_naming_the_field(world: World):
    for resource, (method, path, body, unknown, (field, bad)) in BODIES.items():
        role = ROLES.get(resource, Role.BUREAU_ADMIN)
        reason = await reason_of(world, method, path, role, json={**body, unknown: "x"})
        assert reason == f"body.{unknown}: bidang tidak dikenal (unknown field)", resource
        reason = await reason_of(world, method, path, role, json={**body, field: bad})
        assert reason.startswith(f"{field}: "), (resource, reason)
        # Without the fault the body is not refused for its shape (the model does not simply refuse everything).
        response = await world.client.request(method, path, json=body, headers=world.auth(role))
        assert response.status != 400, (resource, await response.text())


async def test_an_unknown_query_parameter_is_ignored_and_a_malformed_one_is_a_400_naming_it(world: World):
    for resource, (path, params, (name, bad)) in QUERIES.items():
        response = await world.client.get(
            path, params={**params, "utm_source": "x"}, headers=world.auth(Role.BUREAU_ADMIN)
        )
        assert response.status == 200, (resource, await response.text())
        reason = await reason_of(world, "GET", path, params={**params, name: bad})
        assert reason.startswith(f"{name}: "), (resource, reason)
