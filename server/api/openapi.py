"""The OpenAPI 3.0 document of /api/v1, served at /api/v1/openapi.json.

Operations declared with `server.api.endpoint.endpoint` are generated from the models that validate them.
One is still written by hand below: the CSV import, whose body is not JSON (tests/test_openapi.py checks
that every other route the app serves under /api/v1 is declared, and schemathesis checks the answers)."""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from server.api.endpoint import OPERATIONS, operation_document
from server.text import MAX_TEXT

routes = web.RouteTableDef()
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_ERROR = {"$ref": "#/components/schemas/Error"}


def _ok(schema: dict[str, Any], status: str = "200", media: str = "application/json") -> dict[str, Any]:
    return {status: {"description": "OK", "content": {media: {"schema": schema}}}}


def _errors(*statuses: int) -> dict[str, Any]:
    words = {
        400: "bad request",
        401: "not logged in",
        403: "role may not",
        404: "not found or not in scope",
        409: "exists already",
        429: "too many attempts",
        503: "unavailable",
    }
    return {
        str(s): {"description": words[s], "content": {"application/json": {"schema": _ERROR}}}
        for s in (401, 403, *statuses)
    }


OBJECT = {"type": "object"}


# The header names the columns; the rows are checked against the registry (any bad row: 409, nothing written).
CSV_FILE = {"type": "string", "pattern": "^nip,name,unit,position,supervisor_nip,pin(\\r?\\n[^\\x00]*)?$"}


def document() -> dict[str, Any]:
    registry: dict[str, Any] = {
        "/api/v1/employees/import": {
            "post": {
                "summary": "CSV import of employees (nip,name,unit,position,supervisor_nip,pin): all rows or none",
                "requestBody": {"required": True, "content": {"text/csv": {"schema": CSV_FILE}}},
                "responses": {**_ok(OBJECT), **_errors(400, 409)},
            }
        },
    }
    paths: dict[str, Any] = {**registry}
    for operation in OPERATIONS:  # declared with their models (server/api/endpoint.py): they win
        paths.setdefault(operation.path, {})[operation.method.lower()] = operation_document(operation, _errors)
    paths = copy.deepcopy(paths)  # the shared parameter schemas above stay as written
    _every_operation_says_what_the_middlewares_do(paths)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Kinerja API",
            "version": "1",
            "description": "Attendance and e-Performance. Every answer is limited to the caller's scope.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"session": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "an API token, knj_..."},
                "session": {"type": "apiKey", "in": "cookie", "name": "kinerja_session"},
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "reason"],
                    "properties": {
                        "error": {"type": "string"},
                        "reason": {"type": "string"},
                        # an activity claim over the policy's limits (409): the reason in Indonesian, the limit
                        "message": {"type": "string"},
                        "limit": {
                            "type": "object",
                            "required": ["name", "allowed", "asked"],
                            "properties": {
                                "name": {"type": "string", "enum": ["per_claim", "per_day", "presence"]},
                                "allowed": {"type": "integer"},
                                "asked": {"type": "integer"},
                            },
                        },
                    },
                },
            },
        },
    }


# No text the database can store holds NUL (server/text.py refuses it with a 400 on every route).
STORABLE_TEXT = "^[^\\x00]*$"
METHODS = ("get", "put", "post", "delete", "patch")


def _every_operation_says_what_the_middlewares_do(paths: dict[str, Any]) -> None:
    """What holds for every route, written once: a string with NUL (or a value too long for its column) is a
    400 (server/text.py, the model's validation); so every plain string schema excludes NUL."""
    for item in paths.values():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            operation["responses"].setdefault("400", _errors(400)["400"])
            # Before the app sees it, aiohttp's HTTP parser refuses a request line or header over 8 KiB, in plain text.
            operation["responses"]["400"]["content"]["text/plain"] = {"schema": {"type": "string"}}
            if "requestBody" in operation:
                operation["responses"]["413"] = {
                    "description": "the body is larger than the server takes",
                    "content": {"application/json": {"schema": _ERROR}},
                }
            for parameter in operation.get("parameters", []):
                _no_nul(parameter["schema"])
            for media in operation.get("requestBody", {}).get("content", {}).values():
                _no_nul(media["schema"])


def _no_nul(schema: dict[str, Any]) -> None:
    if schema.get("type") == "string" and not ({"pattern", "enum", "format"} & schema.keys()):
        schema["pattern"] = STORABLE_TEXT
    if schema.get("type") == "string" and "enum" not in schema:
        schema.setdefault("maxLength", MAX_TEXT)
    for child in schema.get("properties", {}).values():
        _no_nul(child)
    if isinstance(schema.get("items"), dict):
        _no_nul(schema["items"])


@routes.get("/api/v1/openapi.json")
async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(document())
