"""The application factory: database and MQTT consumer start and stop with the app (cleanup_ctx).

Other server modules extend the app without editing this file's body: append a route table to
ROUTE_TABLES, or a setup hook (called with the new app before it starts: add middlewares, routes,
cleanup contexts) to SETUP_HOOKS.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

from aiohttp import web

from server import api, api_registry
from server.api_areas import install as install_areas
from server.consumer import PunchConsumer
from server.context import CONSUMER, DIALECT, SETTINGS
from server.db import close_database, dialect_of, open_database
from server.gateway_enrolment_routes import install as install_enrolment
from server.ingest import resolve_unmapped_punches
from server.settings import ServerSettings
from server.web import install as install_web

__all__ = ["CONSUMER", "ROUTE_TABLES", "SETTINGS", "SETUP_HOOKS", "create_app"]

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SetupHook = Callable[[web.Application], None]

ROUTE_TABLES: list[web.RouteTableDef] = [api.routes, api_registry.routes]
SETUP_HOOKS: list[SetupHook] = [install_web, install_areas]  # accounts, sessions, roles, pages; areas (issue 18)
SETUP_HOOKS.append(install_enrolment)  # gateway enrolment codes (issue 20)

# How often punches of PINs mapped since they arrived get their employee (mapping calls also do it at once).
RESOLVE_INTERVAL_S = 300.0


_KEPT_HEADERS = ("allow", "retry-after", "www-authenticate")


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Errors as JSON with a reason. An unexpected failure is logged here and never shown as a traceback."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.content_type == "application/json" or exc.status < 400:
            raise
        # Headers the status needs (405's Allow, 429's Retry-After, 401's WWW-Authenticate) stay on the answer.
        kept = {name: value for name, value in exc.headers.items() if name.lower() in _KEPT_HEADERS}
        body = {"error": exc.reason.lower().replace(" ", "_"), "reason": exc.text}
        return web.json_response(body, status=exc.status, headers=kept)
    except Exception:
        log.exception("unhandled error serving %s %s", request.method, request.path)
        return web.json_response({"error": "internal", "reason": "internal error; see the server log"}, status=500)


def create_app(
    settings: ServerSettings, *, consume: bool = True, setup_hooks: Iterable[SetupHook] = ()
) -> web.Application:
    app = web.Application(middlewares=[json_errors], client_max_size=settings.max_request_bytes)
    app[SETTINGS] = settings
    app[DIALECT] = dialect_of(settings.db_url)
    for table in ROUTE_TABLES:
        app.add_routes(table)
    app.cleanup_ctx.append(_database)
    if consume:
        app.cleanup_ctx.append(_consumer)
        app.cleanup_ctx.append(_resolver)
    for hook in (*SETUP_HOOKS, *setup_hooks):
        hook(app)
    return app


async def _database(app: web.Application) -> AsyncIterator[None]:
    context = await open_database(app[SETTINGS].db_url, create_schema=app[SETTINGS].migrate_on_start)
    yield
    await close_database(context)


async def _consumer(app: web.Application) -> AsyncIterator[None]:
    consumer = PunchConsumer(app[SETTINGS])
    app[CONSUMER] = consumer
    await consumer.start()
    yield
    await consumer.close()


async def _resolver(app: web.Application) -> AsyncIterator[None]:
    async def resolve_forever() -> None:
        while True:
            await asyncio.sleep(RESOLVE_INTERVAL_S)
            try:
                await resolve_unmapped_punches(app[DIALECT])
            except Exception:
                log.exception("resolving punches of newly mapped PINs failed; trying again later")

    task = asyncio.create_task(resolve_forever(), name="pin-resolver")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
