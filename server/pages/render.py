"""Rendering pages with jinja2 (autoescaped), in the reader's language: `_("...")` translates through the
gettext catalogues (server.i18n), `fmt` writes numbers, dates and times the reader's way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from server.auth import PRINCIPAL, Principal
from server.i18n import NAMES, Formats, pick_language, translate, translate_text
from server.pages.months import month_links, months_around, months_named

TEMPLATES = Path(__file__).parent / "templates"
LANGUAGE_COOKIE = "kinerja_lang"
# Requests waiting for the reader's decision, counted for the menu (server/pages/requests.py's middleware).
QUEUE_COUNT = web.RequestKey("request_queue_count", int)
# Objections waiting for the reader's decision (server/pages/objections.py's middleware).
OBJECTION_COUNT = web.RequestKey("objection_queue_count", int)

_environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_environment.globals.update(months_around=months_around, month_links=month_links, months_named=months_named)


def site_settings() -> dict[str, str]:
    """The agency's name and logo on every page: KINERJA_AGENCY_NAME, KINERJA_AGENCY_LOGO (a URL path or
    an https URL of an image; none by default)."""
    import os

    return {
        "agency": os.environ.get("KINERJA_AGENCY_NAME", "").strip(),
        "logo": os.environ.get("KINERJA_AGENCY_LOGO", "").strip(),
    }


def language_of(request: web.Request) -> str:
    principal: Principal | None = request.get(PRINCIPAL)
    return pick_language(
        request.query.get("lang"), request.cookies.get(LANGUAGE_COOKIE), principal.language if principal else None
    )


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    language = language_of(request)
    principal: Principal | None = request.get(PRINCIPAL)

    def gettext(message: str, **values: object) -> str:
        return translate(language, message, **values)

    def reason(text: str) -> str:
        return translate_text(language, text)

    html = _environment.get_template(template).render(
        _=gettext,
        reason=reason,
        fmt=Formats(language),
        lang=language,
        user=principal,
        path=request.path,
        query=request.query,
        settings=site_settings(),
        names=NAMES,
        request_queue=request.get(QUEUE_COUNT),
        objection_queue=request.get(OBJECTION_COUNT),
        **context,
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
