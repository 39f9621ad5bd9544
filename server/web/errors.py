"""Errors on pages as pages: a refused or missing page gets an HTML answer in the reader's language;
the API keeps its JSON errors (the app's json_errors middleware)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from server.auth import is_api
from server.web.render import render

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_MESSAGES = {403: "forbidden", 404: "not_found"}


@web.middleware
async def html_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    if is_api(request):
        return await handler(request)
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        key = _MESSAGES.get(exc.status)
        message = None if key else _reason_text(exc)
        return render(request, "error.html", status=exc.status, key=key, message=message)
    except Exception:
        log.exception("unhandled error serving %s %s", request.method, request.path)
        return render(request, "error.html", status=500, key=None, message="internal error; see the server log")


def _reason_text(exc: web.HTTPException) -> str:
    import json

    text = exc.text or exc.reason
    try:
        body = json.loads(text)
    except ValueError:
        return text
    return str(body.get("reason", text)) if isinstance(body, dict) else text
