"""The application factory: middlewares, the JSON API's and the pages' routes, and the database and MQTT
consumer that start and stop with the app (cleanup_ctx). Everything is added here, explicitly, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

from aiohttp import web
from tortoise.transactions import in_transaction

from server import api, pages
from server.access import authorize
from server.auth import LOGIN_THROTTLE, LoginThrottle, authenticate
from server.consumer import PunchConsumer
from server.context import CONSUMER, DIALECT, ENROL_LIMITER, ENROLMENT, SETTINGS
from server.db import close_database, dialect_of, open_database
from server.errors import DomainError
from server.pages.errors import html_errors
from server.partitions import ensure_ahead
from server.services.gateway_enrolment import EnrolmentSettings, FailureLimiter
from server.services.ingest import resolve_unmapped_punches
from server.services.life_cycle import run_life_cycle
from server.services.payroll import use_allowance_policy
from server.services.plan_allowance import plan_bases
from server.services.scoring_queue import run_worker
from server.settings import ServerSettings
from server.text import refuse_unstorable_text

__all__ = ["CONSUMER", "SETTINGS", "configure_enrolment", "create_app"]

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SetupHook = Callable[[web.Application], None]

# How often punches of PINs mapped since they arrived get their employee (mapping calls also do it at once).
RESOLVE_INTERVAL_S = 300.0
# How often a replica makes sure the coming months' partitions of every table partitioned by month exist
# (PostgreSQL; server/partitions.py).
PARTITION_INTERVAL_S = 6 * 3600.0
# How long shutdown waits for a background loop to stop after cancelling it.
STOP_WITHIN_S = 10.0


_KEPT_HEADERS = ("allow", "retry-after", "www-authenticate")


async def stop_task(task: asyncio.Task[None], within_s: float = STOP_WITHIN_S) -> None:
    """Cancel a background loop and wait for it, but not forever: a loop whose cancel a database client
    turned into an error of its own would otherwise hold the shutdown (and a test's teardown) for good."""
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=within_s)
    if not done:
        log.error("background task %s did not stop within %.0f s; leaving it", task.get_name(), within_s)
        return
    with contextlib.suppress(asyncio.CancelledError):
        exception = task.exception()
        if exception is not None:
            log.error("background task %s ended with %r", task.get_name(), exception)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Errors as JSON with a reason. An unexpected failure is logged here and never shown as a traceback."""
    try:
        return await handler(request)
    except DomainError as exc:  # the one place a service's refusal becomes the API's JSON answer
        return web.json_response(exc.body(), status=exc.status, headers=exc.headers())
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
    middlewares = [
        json_errors,
        html_errors,
        authenticate,
        refuse_unstorable_text,  # before the access checks and handlers query the database
        authorize,
    ]
    app = web.Application(middlewares=middlewares, client_max_size=settings.max_request_bytes)
    app[SETTINGS] = settings
    app[DIALECT] = dialect_of(settings.db_url)
    app[LOGIN_THROTTLE] = LoginThrottle()
    use_allowance_policy(settings.allowance_policy, plan_bases)  # a wrong file stops the start, naming the key
    api.add_routes(app)
    pages.add_routes(app)
    configure_enrolment(EnrolmentSettings.from_env())(app)  # gateway enrolment codes (issue 20)
    app.cleanup_ctx.append(_database)
    if consume:
        app.cleanup_ctx.append(_consumer)
        app.cleanup_ctx.append(_resolver)
        app.cleanup_ctx.append(_life_cycle)
    if settings.score_worker:
        app.cleanup_ctx.append(_scorer)
    if app[DIALECT] == "postgres":
        app.cleanup_ctx.append(_partitioner)
    for hook in setup_hooks:  # a test's or the demo's additions, after everything of ours
        hook(app)
    return app


def configure_enrolment(enrolment: EnrolmentSettings) -> SetupHook:
    """What the enrolment routes hand out and how many wrong codes they take; create_app sets them from the
    environment, a test or caller that does not read it passes this hook (it replaces them, limiter too)."""

    def hook(app: web.Application) -> None:
        app[ENROLMENT] = enrolment
        app[ENROL_LIMITER] = FailureLimiter(enrolment.failures_allowed, enrolment.failure_window_s)

    return hook


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
    await stop_task(task)


async def _life_cycle(app: web.Application) -> AsyncIterator[None]:
    """Dated changes applied on their day and their areas' devices told (server/services/life_cycle.py)."""
    consumer = app[CONSUMER]
    task = asyncio.create_task(
        run_life_cycle(app[DIALECT], consumer, getattr(consumer, "biometric_store", None)), name="life-cycle"
    )
    yield
    await stop_task(task)


async def _partitioner(app: web.Application) -> AsyncIterator[None]:
    """The coming months' partitions of every partitioned table (punches, audit, claims, corrected punches),
    at start and every few hours: a month is there before its first row (one that comes earlier anyway waits
    in the default partition and is moved when its month is made)."""

    async def ensure_forever() -> None:
        while True:
            try:
                async with in_transaction("postgres") as tx:
                    created = await ensure_ahead(tx)
                if created:
                    log.info("created partitions %s", ", ".join(created))
            except Exception:
                log.exception("creating the coming months' partitions failed; trying again later")
            await asyncio.sleep(PARTITION_INTERVAL_S)

    task = asyncio.create_task(ensure_forever(), name="partitions")
    yield
    await stop_task(task)


async def _scorer(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(run_worker(app[DIALECT]), name="score-worker")
    yield
    await stop_task(task)
