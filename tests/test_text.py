"""Strings the database cannot store (NUL, unpaired surrogates, over-long) are a 400 with a reason, in
the caller's language, on every route the app serves and in every string it reads: query parameters,
path parameters, JSON bodies and page forms. On both databases: PostgreSQL refuses NUL, neither can
encode a lone surrogate.

The routes come from the app's router, the parameter names from the OpenAPI document and the pages'
forms, so a route added later is swept too. Before server/text.py, e.g. GET /api/v1/offices?unit=a%00b
and the `supervisor` of POST /api/v1/employees were 500s on PostgreSQL."""

from __future__ import annotations

import json
import re
from urllib.parse import quote

import pytest
from aiohttp import web

from server.api.openapi import document
from server.services.accounts import Role
from server.text import MAX_TEXT, problem_with, strings_in
from tests.web_seed import BUDI, World, session_cookie, web_world

NUL = "a\x00b"
# Names the pages read from their query strings and forms (server/pages/*.py), beside the API's own.
PAGE_FIELDS = (
    "unit", "month", "nip", "status", "next", "lang", "sort", "dir", "category", "username", "password", "name",
    "role", "language", "activity", "date", "start", "quantity", "evidence", "claim_id", "decision", "reason",
    "action", "pin", "device", "kind", "first_day", "last_day", "note", "supervisor", "error", "to", "from",
)  # fmt: skip


def fields_of(method: str, canonical: str) -> list[str]:
    """The string parameters and body fields the document gives an API operation; for a page (or an API
    route the document does not know) every name any page or operation reads."""
    operation = document()["paths"].get(canonical, {}).get(method.lower())
    if operation is None:
        return sorted(set(PAGE_FIELDS) | every_api_field())
    names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
    for media in operation.get("requestBody", {}).get("content", {}).values():
        names.update(media.get("schema", {}).get("properties", {}))
    return sorted(names | {"unit"})  # and one the operation does not take: it is checked all the same


def every_api_field() -> set[str]:
    names: set[str] = set()
    for item in document()["paths"].values():
        for operation in item.values():
            names.update(p["name"] for p in operation.get("parameters", []))
            for media in operation.get("requestBody", {}).get("content", {}).values():
                names.update(media.get("schema", {}).get("properties", {}))
    return names


# A value that passes every path check (a NIP, a code...) so the NUL is what gets the request refused.
PATH_DEFAULTS = {"nip": BUDI, "code": "dir-1", "gateway_id": "gw-dir1", "username": "budi", "claim_id": "x"}


def served_routes(app: web.Application) -> list[tuple[str, str]]:
    return sorted(
        {
            (route.method, route.resource.canonical)
            for route in app.router.routes()
            if route.resource is not None
            and route.method in ("GET", "POST", "PUT", "PATCH", "DELETE")
            and not route.resource.canonical.startswith("/static")
        }
    )


def path_for(canonical: str, bad: str | None = None) -> str:
    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        return quote(NUL if name == bad else PATH_DEFAULTS.get(name, "x"), safe="")

    return re.sub(r"\{(\w+)\}", fill, canonical)


@pytest.fixture
async def world(db_url):
    async with web_world(db_url) as world:
        yield world


async def refused(world: World, method: str, path: str, cookie: tuple[str, str], **kwargs: object) -> str | None:
    """None if the request was refused as it should be (a 400 naming the problem), else what happened."""
    api = path.startswith("/api/")
    headers = world.auth(Role.BUREAU_ADMIN) if api else {"X-CSRF-Token": cookie[1]}
    cookies = {} if api else {"kinerja_session": cookie[0]}
    world.client.session.cookie_jar.clear()
    response = await world.client.request(
        method, path, headers=headers, cookies=cookies, allow_redirects=False, **kwargs
    )
    text = await response.text()
    if response.status != 400:
        return f"{response.status}: {text[:200]}"
    reason = json.loads(text)["reason"] if api else text
    if "NUL" not in reason:
        return f"400 without the reason: {reason[:200]}"
    return None


async def test_nul_in_any_string_of_any_route_is_a_400_with_a_reason(world: World):
    cookie = await session_cookie(world, Role.BUREAU_ADMIN)
    routes = served_routes(world.client.server.app)
    assert ("GET", "/api/v1/offices") in routes and ("POST", "/activities") in routes
    failures = []
    for method, canonical in routes:
        api = canonical.startswith("/api/")
        for name in re.findall(r"\{(\w+)\}", canonical):
            problem = await refused(world, method, path_for(canonical, name), cookie)
            if problem is not None and problem.startswith('404: {"error": "not_found", "reason": "404: Not Found"}'):
                problem = None  # the route's own pattern (digits only) did not match: the router answered
            if problem is not None:
                failures.append(f"{method} {canonical} path {name}: {problem}")
        for name in fields_of(method, canonical):
            query = f"{path_for(canonical)}?{name}={quote(NUL)}"
            if (problem := await refused(world, method, query, cookie)) is not None:
                failures.append(f"{method} {canonical} ?{name}: {problem}")
            if method == "GET":
                continue
            body = {"json": {name: NUL}} if api else {"data": {name: NUL}}
            if (problem := await refused(world, method, path_for(canonical), cookie, **body)) is not None:
                failures.append(f"{method} {canonical} body {name}: {problem}")
    assert failures == [], "\n".join(failures[:40])


async def test_the_issue_examples_and_other_unstorable_strings(world: World):
    headers = world.auth(Role.BUREAU_ADMIN)
    for path in (
        "/api/v1/offices?unit=a%00b",
        "/api/v1/attendance/daily?unit=a%00b",
        "/api/v1/employees?unit=a%00b",
        "/api/v1/gateways?unit=a%00b",
        "/api/v1/units/a%00b",
    ):
        response = await world.client.get(path, headers=headers)
        assert response.status == 400, path
        body = await response.json()
        assert "tidak dapat disimpan" in body["reason"] and body["error"] == "bad_request", body
    employee = {"nip": "199001012015031009", "name": "Dewi", "unit": "dir-1"}
    for bad in ("a\x00b", "a\ud800b", "\udfff", "x" * (MAX_TEXT + 1)):
        for field in ("supervisor", "name", "position"):
            raw = json.dumps({**employee, field: bad})  # json.dumps writes a lone surrogate as \\ud800
            response = await world.client.post(
                "/api/v1/employees", data=raw, headers={**headers, "Content-Type": "application/json"}
            )
            assert response.status == 400, (field, bad[:10], await response.text())
            assert (await response.json())["field"] == f"body.{field}"
    # A key holding NUL, deep inside; a CSV import with a NUL in a name.
    nested = {"code": "u1", "name": "U", "parent": "kemen", "x": [{"y": {"a\x00": 1}}]}
    response = await world.client.post("/api/v1/units", json=nested, headers=headers)
    assert response.status == 400 and "NUL" in (await response.json())["reason"]
    csv = "nip,name,unit,position,supervisor_nip,pin\n199001012015031009,De\x00wi,dir-1,,,\n"
    response = await world.client.post(
        "/api/v1/employees/import", data=csv.encode(), headers={**headers, "Content-Type": "text/csv"}
    )
    assert response.status == 400


async def test_the_reason_is_in_the_callers_language(world: World):
    from server.services.accounts import UserAccount

    await UserAccount.filter(username="biro").update(language="en")
    response = await world.client.get("/api/v1/offices?unit=a%00b", headers=world.auth(Role.BUREAU_ADMIN))
    assert response.status == 400
    assert "cannot be stored" in (await response.json())["reason"]
    # A page says it on an error page, not as JSON.
    cookie, _ = await session_cookie(world, Role.EMPLOYEE)
    world.client.session.cookie_jar.clear()
    response = await world.client.get("/my/month?month=a%00b", cookies={"kinerja_session": cookie})
    assert response.status == 400 and "text/html" in response.headers["Content-Type"]
    assert "tidak dapat disimpan" in await response.text()


async def test_an_overlong_value_for_its_column_is_a_400_not_a_500(world: World):
    """Shorter than MAX_TEXT but longer than the column: the model's validation answers, in Indonesian."""
    headers = world.auth(Role.BUREAU_ADMIN)
    response = await world.client.post(
        "/api/v1/tokens", json={"name": "n" * 100}, headers=headers
    )  # the column's limit exactly: stored
    assert response.status == 201
    response = await world.client.post(
        "/api/v1/users",
        json={"username": "u" * 65, "password": "kata-sandi-rahasia-2", "role": "employee", "nip": BUDI},
        headers=headers,
    )
    assert response.status == 400, await response.text()
    assert (await response.json())["reason"]


def test_what_cannot_be_stored():
    assert problem_with("Budi Santoso") is None
    assert problem_with("a\x00") == "nul"
    assert problem_with("\ud83d") == "surrogate"
    assert problem_with("\U0001f600") is None  # a whole astral character is fine
    assert problem_with("x" * (MAX_TEXT + 1)) == "too_long"
    nested = {"a": [{"b\x00": "c"}], "d": "e"}
    assert ("body.a[0].<key>", "b\x00") in list(strings_in(nested, "body"))


async def test_control_characters_in_names_are_refused_so_every_export_still_opens(world: World):
    """Found by schemathesis (seed 7): an employee named with a control character made openpyxl refuse the
    cell, and every XLSX recap of that unit was a 500 from then on."""
    headers = world.auth(Role.BUREAU_ADMIN)
    employee = {"nip": "199001012015031009", "name": "Dewi", "unit": "dir-2"}
    for field in ("name", "position"):
        response = await world.client.post("/api/v1/employees", json={**employee, field: "De\x01wi"}, headers=headers)
        assert response.status == 400 and "control" in (await response.json())["reason"], field
    assert (await world.client.post("/api/v1/employees", json=employee, headers=headers)).status == 201
    assert (await world.client.get("/api/v1/exports/recap.xlsx?unit=dir-2", headers=headers)).status == 200
