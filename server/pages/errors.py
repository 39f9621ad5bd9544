"""Errors on pages as pages: a refused or missing page gets an HTML answer in the reader's language;
the API keeps its JSON errors (the app's json_errors middleware)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from tortoise.exceptions import ValidationError

from server.auth import PRINCIPAL, is_api
from server.errors import DomainError, Invalid, page_message
from server.i18n import N_
from server.pages.render import render
from server.text import message

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_MESSAGES = {403: N_("You may not open this page."), 404: N_("Page not found.")}


@web.middleware
async def html_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    if is_api(request):
        try:
            return await handler(request)
        except ValidationError as exc:
            # A value the database model refuses (too long, wrong kind) is the client's to fix: a 400 with
            # the model's reason, not a 500, even where a handler forgot to check it first.
            log.warning("model validation refused %s %s: %s", request.method, request.path, exc)
            raise Invalid(_invalid_value(request, exc)[:500]) from None
    try:
        return await handler(request)
    except ValidationError as exc:
        log.warning("model validation refused %s %s: %s", request.method, request.path, exc)
        return render(request, "error.html", status=400, message_key=None, message=_invalid_value(request, exc)[:300])
    except DomainError as exc:
        key = _MESSAGES.get(exc.status)
        message = None if key else page_message(exc)
        return render(request, "error.html", status=exc.status, message_key=key, message=message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        key = _MESSAGES.get(exc.status)
        message = None if key else _reason_text(exc)
        return render(request, "error.html", status=exc.status, message_key=key, message=message)
    except Exception:
        log.exception("unhandled error serving %s %s", request.method, request.path)
        return render(
            request, "error.html", status=500, message_key=None, message=N_("internal error; see the server log")
        )


def _invalid_value(request: web.Request, exc: ValidationError) -> str:

    principal = request.get(PRINCIPAL)
    return message(principal.language if principal else None, "column_too_long", detail=exc)


def _reason_text(exc: web.HTTPException) -> str:
    """An HTTP error's own text (aiohttp's, a middleware's); refusals of ours are domain errors, handled above."""
    return exc.text or exc.reason
