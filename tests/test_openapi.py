"""The OpenAPI document: served by the app, in step with the routes, and schemathesis-generated requests
against every operation (as a bureau administrator, and as an employee) never get a 500."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, given, settings

from server.api.endpoint import OPERATIONS
from server.api.openapi import document
from server.app import create_app
from server.services.accounts import Role
from server.settings import ServerSettings
from tests.web_seed import World, seed

METHODS = ("get", "post", "put", "patch", "delete")


def routes_served(app: web.Application) -> set[tuple[str, str]]:
    return {
        (route.method.lower(), route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith("/api/v1/")
        and route.method.lower() in METHODS
    }


def routes_documented() -> set[tuple[str, str]]:
    return {(method, path) for path, item in document()["paths"].items() for method in item if method in METHODS}


def test_every_api_route_is_documented_and_every_documented_route_is_served():
    app = create_app(ServerSettings(db_url="sqlite://:memory:"), consume=False)
    served = routes_served(app) - {("get", "/api/v1/openapi.json")}
    undocumented = sorted(served - routes_documented())
    assert undocumented == [], f"routes missing from the OpenAPI document (server/api/openapi.py): {undocumented}"
    assert sorted(routes_documented() - served) == [], "documented in server/api/openapi.py but not served"


# Written out in server/api/openapi.py, each for a reason: the document itself, and a CSV body (not JSON).
WRITTEN_OUT = {("get", "/api/v1/openapi.json"), ("post", "/api/v1/employees/import")}


def test_every_api_route_is_declared_with_its_models():
    """One declaration per operation (server/api/endpoint.py): what validates a request is what documents it,
    so no route can accept what the document forbids or the other way round."""
    app = create_app(ServerSettings(db_url="sqlite://:memory:"), consume=False)
    declared = {(operation.method.lower(), operation.path) for operation in OPERATIONS}
    assert sorted(routes_served(app) - declared - WRITTEN_OUT) == []
    assert routes_served(app) >= WRITTEN_OUT, "a written-out route is gone: take it off WRITTEN_OUT"


async def test_the_document_is_served_without_login(aiohttp_client):
    client = await aiohttp_client(create_app(ServerSettings(db_url="sqlite://:memory:"), consume=False))
    response = await client.get("/api/v1/openapi.json")
    assert response.status == 200
    body = await response.json()
    assert body["openapi"].startswith("3.0") and body == document()
    schemathesis.openapi.from_dict(body)  # loads: a well-formed document


@contextlib.contextmanager
def threaded_server(db_url: str, *, consume: bool = False, **settings: object) -> Iterator[tuple[str, World]]:
    """The real app on a real port in its own thread and event loop (schemathesis calls it synchronously)."""
    loop = asyncio.new_event_loop()
    started: dict[str, object] = {}
    ready = threading.Event()

    async def start() -> web.AppRunner:
        app = create_app(ServerSettings(db_url=db_url, **settings), consume=consume)  # type: ignore[arg-type]
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        world = World(client=None)  # type: ignore[arg-type]
        await seed(world)
        started["url"] = f"http://127.0.0.1:{runner.addresses[0][1]}"
        started["world"] = world
        return runner

    def run() -> None:
        asyncio.set_event_loop(loop)
        started["runner"] = loop.run_until_complete(start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="api-under-test", daemon=True)
    thread.start()
    assert ready.wait(30), "the server did not start"
    try:
        yield started["url"], started["world"]  # type: ignore[misc]
    finally:
        runner = started["runner"]
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)  # type: ignore[attr-defined]
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()


def fuzz(operation: schemathesis.APIOperation, base_url: str, headers: dict[str, str], failures: list[str]) -> None:
    """Generated requests for one operation; a 500 is recorded, every 4xx must carry a reason."""

    @settings(max_examples=12, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def each(case: schemathesis.Case) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=30)
        if response.status_code >= 500:
            failures.append(f"{case.method} {case.formatted_path} {case.query}: {response.status_code}")
        elif response.status_code >= 400:
            assert response.json().get("reason"), (case.method, case.formatted_path)

    each()


@pytest.mark.timeout(180)
def test_schemathesis_finds_no_server_errors(tmp_path):
    schema = schemathesis.openapi.from_dict(document())
    operations = [result.ok() for result in schema.get_all_operations()]
    failures: list[str] = []
    with threaded_server(f"sqlite://{tmp_path / 'fuzz.sqlite3'}") as (base_url, world):
        for role in (Role.EMPLOYEE, Role.BUREAU_ADMIN):  # the employee first: the admin may disable them
            for operation in operations:
                fuzz(operation, base_url, world.auth(role), failures)
    assert failures == []
