"""Strings the database cannot store are refused at the door, once, for every route and form.

PostgreSQL refuses a NUL character in any text; neither database can encode an unpaired UTF-16
surrogate (which JSON's "\\ud800" escape, Python's str and hence aiohttp's decoded query all allow);
and no column of ours holds more than MAX_TEXT characters. Left to the handlers, each of these turns
into a database error and a 500, in whichever handler forgot to check. The middleware here looks at
every string a request carries — query names and values, path parameters, JSON bodies (keys and
values, at any depth), form fields and CSV/text bodies — before any handler or access check runs, and
answers 400 with the field and the reason, in the caller's language (Indonesian unless the account
says English). Values longer than their own column but under MAX_TEXT are refused by the model's
validation (server/pages/errors.py), also as a 400, with `column_too_long` below.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from aiohttp import web

from server.auth import PRINCIPAL
from server.errors import Invalid

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# The longest text column is a TextField (evidence, notes); nothing a person types is longer than this.
MAX_TEXT = 10_000
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

MESSAGES: dict[str, dict[str, str]] = {
    "id": {
        "nul": "{field}: teks berisi karakter NUL (\\u0000) yang tidak dapat disimpan",
        "surrogate": "{field}: teks berisi karakter Unicode tak berpasangan (surrogate) yang tidak dapat disimpan",
        "too_long": "{field}: teks terlalu panjang ({length} karakter, paling banyak {limit})",
        "column_too_long": "nilai tidak valid: {detail}",
    },
    "en": {
        "nul": "{field}: the text holds a NUL character (\\u0000), which cannot be stored",
        "surrogate": "{field}: the text holds an unpaired Unicode surrogate, which cannot be stored",
        "too_long": "{field}: the text is too long ({length} characters, at most {limit})",
        "column_too_long": "invalid value: {detail}",
    },
}


def message(language: str | None, key: str, **values: object) -> str:
    return MESSAGES.get(language or "id", MESSAGES["id"])[key].format(**values)


def problem_with(value: str, limit: int = MAX_TEXT) -> str | None:
    """Why the database cannot store `value` ("nul", "surrogate", "too_long"), or None if it can."""
    found = _UNSTORABLE.search(value)
    if found is not None:
        return "nul" if found.group() == "\x00" else "surrogate"
    return "too_long" if len(value) > limit else None


def storable(value: str, limit: int = MAX_TEXT) -> bool:
    return problem_with(value, limit) is None


class UnstorableText(Invalid):
    """A 400 naming the field; the API's body carries it, a page shows the reason on its error page."""

    def __init__(self, field: str, problem: str, length: int, language: str | None = None) -> None:
        super().__init__(message(language, problem, field=field, length=length, limit=MAX_TEXT))
        self.field = field

    def body(self) -> dict[str, Any]:
        return {**super().body(), "field": self.field}


def check(field: str, value: str, language: str | None = None, limit: int = MAX_TEXT) -> str:
    """`value` itself if the database can store it; otherwise UnstorableText naming `field`."""
    problem = problem_with(value, limit)
    if problem is not None:
        raise UnstorableText(_printable(field), problem, len(value), language)
    return value


def strings_in(value: Any, where: str) -> Iterator[tuple[str, str]]:
    """Every string in a JSON value (object keys too) with where it sits, without recursion (any depth)."""
    stack: list[tuple[str, Any]] = [(where, value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            yield path, item
        elif isinstance(item, dict):
            for key, child in item.items():
                yield f"{path}.<key>", key
                stack.append((f"{path}.{key}" if storable(key, 100) else f"{path}.<key>", child))
        elif isinstance(item, list):
            stack.extend((f"{path}[{index}]", child) for index, child in enumerate(item))


def _printable(field: str) -> str:
    """A field name fit to echo back in a reason (the name itself may be the bad string)."""
    return field if storable(field, 100) and field.isprintable() else "<name>"


def _language(request: web.Request) -> str | None:

    principal = request.get(PRINCIPAL)
    return principal.language if principal is not None else None


JSON_TYPES = ("application/json",)
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


async def request_strings(request: web.Request) -> Iterator[tuple[str, str]]:
    """Every string the request carries, named by where it came from. Reading the body here leaves it
    cached for the handler (aiohttp keeps what `read()` and `post()` returned)."""
    found: list[tuple[str, str]] = []
    for name, value in request.query.items():
        found += [("query", name), (name, value)]
    found += list(request.match_info.items())
    if request.body_exists and request.method not in ("GET", "HEAD"):
        found += await _body_strings(request)
    return iter(found)


async def _body_strings(request: web.Request) -> list[tuple[str, str]]:
    """The strings of a JSON, form or text body; another kind of body is the handler's to judge."""
    content_type = request.content_type
    if content_type in JSON_TYPES or content_type.endswith("+json"):
        try:
            body = json.loads(await request.read())
        except (ValueError, RecursionError):
            body = None  # not JSON at all: the handler says so in its own words
        return list(strings_in(body, "body"))
    if content_type in FORM_TYPES:
        try:
            form = await request.post()
        except ValueError as exc:  # e.g. multipart without a boundary
            raise Invalid(f"formulir rusak / malformed form: {exc}") from None
        found: list[tuple[str, str]] = []
        for name, value in form.items():
            found.append(("form", name))
            if isinstance(value, str):
                found.append((name, value))
        return found
    if content_type.startswith("text/"):
        try:
            text = (await request.read()).decode("utf-8")
        except UnicodeDecodeError:
            text = ""  # the handler refuses a body that is not UTF-8 in its own words
        if "\x00" in text:
            return [("body", text)]
    return []


@web.middleware
async def refuse_unstorable_text(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Runs after authentication (so the reason is in the caller's language, and nobody unauthenticated
    makes us read a body) and before the access checks and handlers, which query the database."""
    language = _language(request)
    for field, value in await request_strings(request):
        # Whole bodies (CSV) may be long; only their characters matter here.
        check(field, value, language, limit=MAX_TEXT if field != "body" else 2**62)
    return await handler(request)
