"""The OpenAPI 3.0 document of /api/v1, served at /api/v1/openapi.json.

Operations declared with `server.api.endpoint.endpoint` are generated from the models that validate them;
the rest are still written by hand below (a test checks every route the app serves under /api/v1 is in the
document, and schemathesis checks the answers against it)."""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from server.api.endpoint import OPERATIONS, operation_document
from server.api.fields import DEVICE_PIN, NAME, SLUG  # noqa: F401  (NAME, NIP_TEXT: server/api/areas.py)
from server.api.fields import NIP as NIP_TEXT  # noqa: F401
from server.text import MAX_TEXT
from wire.contract import CommandAction

routes = web.RouteTableDef()
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_ERROR = {"$ref": "#/components/schemas/Error"}


def _param(name: str, description: str, schema: dict[str, Any], where: str = "query") -> dict[str, Any]:
    return {"name": name, "in": where, "required": where == "path", "description": description, "schema": schema}


UNIT = _param("unit", "a unit code: that unit and the units below it", {"type": "string", "maxLength": 63})
NIP = _param("nip", "the employee's 18-digit NIP", {"type": "string", "maxLength": 18}, "path")


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


def _get(summary: str, params: list[dict[str, Any]], ok: dict[str, Any], *errors: int) -> dict[str, Any]:
    return {"get": {"summary": summary, "parameters": params, "responses": {**ok, **_errors(*errors)}}}


OBJECT = {"type": "object"}


def _post(
    summary: str, params: list[dict[str, Any]], body: dict[str, Any], status: str, *errors: int
) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "parameters": params,
            "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
            "responses": {**_ok(OBJECT, status), **_errors(400, *errors)},
        }
    }


def _fields(required: dict[str, Any] | list[str], **optional: dict[str, Any]) -> dict[str, Any]:
    """A JSON object body: required fields (a list of names means text of up to 200 characters each) and
    optional ones. No other field is accepted (refuse_undocumented_fields below)."""
    if isinstance(required, list):
        required = dict.fromkeys(required, TEXT)
    return {
        "type": "object",
        # An empty `required` is not valid in OpenAPI 3.0's schema dialect: leave it out.
        **({"required": list(required)} if required else {}),
        "properties": required | optional,
        "additionalProperties": False,
    }


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "nullable": True}


CODE = _param("code", "a unit code", {"type": "string", "maxLength": 63}, "path")
GATEWAY = _param("gateway_id", "the gateway", {"type": "string", "maxLength": 63}, "path")
TEXT = {"type": "string", "maxLength": 200}
CODE_TEXT = {"type": "string", "maxLength": 63}
# What the handlers check, as patterns (wire/contract.py validate_slug, server/services/registry.py, server/nip.py).
PLAIN_TEXT = {"type": "string", "maxLength": 200, "pattern": "^[^\\x00-\\x1f\\x7f]*$"}  # no control characters
# Printable ASCII, 1-64 characters, not starting with a space.
DEVICE_SERIAL = {"type": "string", "pattern": "^[!-~][ -~]{0,63}$"}
# The header names the columns; the rows are checked against the registry (any bad row: 409, nothing written).
CSV_FILE = {"type": "string", "pattern": "^nip,name,unit,position,supervisor_nip,pin(\\r?\\n[^\\x00]*)?$"}
# What the gateway reads from a command's args (wire/contract.py CommandAction, gateway/commands.py).
COMMAND_ARGS = {
    "type": "object",
    "properties": {
        "device": {"type": "string", "maxLength": 100},
        "pin": DEVICE_PIN,
        "name": {"type": "string", "maxLength": 24},
        "card": {"type": "integer", "minimum": 0, "maximum": 4294967295},
        "version": {"type": "string", "maxLength": 64},
        "url": {"type": "string", "maxLength": 2000},
        "signature_url": {"type": "string", "maxLength": 2000},
        "start": {"type": "string", "maxLength": 64},
        "end": {"type": "string", "maxLength": 64},
    },
    "additionalProperties": False,
}


# Other modules add their routes' documentation here: each callable returns {path: path item}.
PATH_PROVIDERS: list[Callable[[], dict[str, Any]]] = []


def document() -> dict[str, Any]:
    registry: dict[str, Any] = {
        "/api/v1/units/{code}/pending-devices": _get(
            "devices the unit's gateways report that nobody registered (their punches held)", [CODE], _ok(OBJECT), 404
        ),
        "/api/v1/units/{code}/pending-devices/{serial}/assign": _post(
            "register a pending device to the gateway that reported it; its held punches are stored",
            [CODE, _param("serial", "the device serial", DEVICE_SERIAL, "path")],
            _fields({}, gateway=SLUG, office=SLUG),
            "200",
            404,
            409,
        ),
        "/api/v1/gateways": {
            **_get("gateways and their status", [UNIT], _ok(OBJECT)),
            **_post(
                "register a gateway",
                [],
                _fields({"gateway_id": SLUG, "unit": SLUG}, office=_nullable(SLUG)),
                "201",
                404,
                409,
            ),
        },
        "/api/v1/gateways/{gateway_id}": _get("one gateway with its devices", [GATEWAY], _ok(OBJECT), 404),
        "/api/v1/gateways/{gateway_id}/commands": {
            **_get("commands sent to the gateway and their results", [GATEWAY], _ok(OBJECT), 404),
            **_post(
                "send a command (sync_clock, reread_device, write_user, reload_config)",
                [GATEWAY],
                _fields(
                    {"action": {"type": "string", "enum": [action.value for action in CommandAction]}},
                    args=COMMAND_ARGS,
                ),
                "202",
                404,
                503,
            ),
        },
        "/api/v1/devices": {
            **_get(
                "devices and their status",
                [_param("office", "office code", CODE_TEXT), _param("gateway", "gateway id", CODE_TEXT)],
                _ok(OBJECT),
            ),
            **_post(
                "register a device",
                [],
                _fields(
                    {"serial": DEVICE_SERIAL, "office": SLUG},
                    name=_nullable({**PLAIN_TEXT, "maxLength": 100}),
                    profile=_nullable({**PLAIN_TEXT, "maxLength": 100}),
                    gateway=_nullable(SLUG),
                ),
                "201",
                404,
                409,
            ),
        },
        "/api/v1/employees/import": {
            "post": {
                "summary": "CSV import of employees (nip,name,unit,position,supervisor_nip,pin): all rows or none",
                "requestBody": {"required": True, "content": {"text/csv": {"schema": CSV_FILE}}},
                "responses": {**_ok(OBJECT), **_errors(400, 409)},
            }
        },
    }
    paths: dict[str, Any] = {
        "/api/v1/health": {
            "get": {"summary": "liveness", "security": [], "responses": _ok({"type": "object", "required": ["status"]})}
        },
        **registry,
    }
    for provider in PATH_PROVIDERS:
        paths.update(provider())
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
                    "properties": {"error": {"type": "string"}, "reason": {"type": "string"}},
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


@functools.cache
def _body_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(METHOD, path template) -> the JSON body schema the document gives it."""
    found = {}
    declared = {(operation.method, operation.path) for operation in OPERATIONS}  # their models refuse extra fields
    for path, item in document()["paths"].items():
        for method, operation in item.items():
            if (method.upper(), path) in declared:
                continue
            schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if schema is not None:
                found[(method.upper(), path)] = schema
    return found


def undocumented_field(schema: dict[str, Any], value: Any, where: str = "body") -> str | None:
    """The first property `value` holds that `schema` does not offer (where it says no others), or None."""
    if not isinstance(value, dict) or schema.get("type") != "object":
        return None
    properties = schema.get("properties", {})
    for key, child in value.items():
        if key not in properties:
            if schema.get("additionalProperties") is False:
                return f"{where}.{key}"
            continue
        if (found := undocumented_field(properties[key], child, f"{where}.{key}")) is not None:
            return found
    return None


@web.middleware
async def refuse_undocumented_fields(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A JSON body field the document does not list is refused (400), not silently ignored: a misspelt
    optional field would otherwise be dropped without a word. Runs after server/text.py read the body."""
    resource = request.match_info.route.resource
    schema = _body_schemas().get((request.method, resource.canonical)) if resource is not None else None
    if schema is not None and request.body_exists and request.content_type == "application/json":
        try:
            body = json.loads(await request.read())
        except (ValueError, RecursionError):
            body = None  # the handler says what is wrong with it
        if (field := undocumented_field(schema, body)) is not None:
            text = json.dumps({"error": "bad_request", "reason": f"{field}: bidang tidak dikenal (unknown field)"})
            raise web.HTTPBadRequest(text=text, content_type="application/json")
    return await handler(request)


@routes.get("/api/v1/openapi.json")
async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(document())
