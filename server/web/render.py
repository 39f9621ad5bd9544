"""Rendering pages with jinja2 (autoescaped), with the labels of the reader's language."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from server.auth import PRINCIPAL, Principal
from server.web.i18n import pick_language, translate

TEMPLATES = Path(__file__).parent / "templates"
LANGUAGE_COOKIE = "kinerja_lang"

_environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def language_of(request: web.Request) -> str:
    principal: Principal | None = request.get(PRINCIPAL)
    return pick_language(
        request.query.get("lang"), request.cookies.get(LANGUAGE_COOKIE), principal.language if principal else None
    )


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    language = language_of(request)
    principal: Principal | None = request.get(PRINCIPAL)

    def t(key: str, **values: object) -> str:
        return translate(language, key, **values)

    html = _environment.get_template(template).render(
        t=t, lang=language, user=principal, path=request.path, query=request.query, **context
    )
    response = web.Response(text=html, content_type="text/html", status=status)
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    if "lang" in request.query and request.query["lang"] == language:
        response.set_cookie(LANGUAGE_COOKIE, language, samesite="Lax", httponly=True, max_age=365 * 86400)
    return response
