"""The application factory: database and MQTT consumer start and stop with the app (cleanup_ctx)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from server.api import routes
from server.consumer import PunchConsumer
from server.db import close_database, open_database
from server.settings import ServerSettings

log = logging.getLogger(__name__)

SETTINGS = web.AppKey("settings", ServerSettings)
CONSUMER = web.AppKey("consumer", PunchConsumer)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Errors as JSON with a reason. An unexpected failure is logged here and never shown as a traceback."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.content_type == "application/json" or exc.status < 400:
            raise
        return web.json_response({"error": exc.reason.lower().replace(" ", "_"), "reason": exc.text}, status=exc.status)
    except Exception:
        log.exception("unhandled error serving %s %s", request.method, request.path)
        return web.json_response({"error": "internal", "reason": "internal error; see the server log"}, status=500)


def create_app(settings: ServerSettings, *, consume: bool = True) -> web.Application:
    app = web.Application(middlewares=[json_errors], client_max_size=1024**2)
    app[SETTINGS] = settings
    app.add_routes(routes)
    app.cleanup_ctx.append(_database)
    if consume:
        app.cleanup_ctx.append(_consumer)
    return app


async def _database(app: web.Application) -> AsyncIterator[None]:
    context = await open_database(app[SETTINGS].db_url)
    yield
    await close_database(context)


async def _consumer(app: web.Application) -> AsyncIterator[None]:
    consumer = PunchConsumer(app[SETTINGS])
    app[CONSUMER] = consumer
    await consumer.start()
    yield
    await consumer.close()
