"""One declaration per API operation: the pydantic models that validate a request are the ones its OpenAPI
operation is generated from, so the document and the checks cannot drift apart.

Usage, in a resource module (server/api/<resource>.py)::

    routes = web.RouteTableDef()

    class UnitIn(Body):                       # Body: extra fields refused, as the document says
        code: Slug
        name: Name
        parent: Slug | None = None

    class UnitsQuery(Query):
        under: Text63 | None = None

    @endpoint(routes, "POST", "/api/v1/units", "create a unit", body=UnitIn, status=201, errors=(404, 409))
    async def post_unit(request: web.Request, body: UnitIn) -> web.Response: ...

    @endpoint(routes, "GET", "/api/v1/units/{code}", "one unit", path=UnitPath, errors=(404,))
    async def get_unit(request: web.Request, path: UnitPath) -> web.Response: ...

The handler receives the validated models as keyword arguments `body`, `query` and `path` (only those it
declared). A request that does not fit is a 400 (`server.errors.Invalid`) naming the field — before the
handler runs. `response=` (a model or a JSON schema) documents the answer; the handler still returns the
`web.Response` it builds. Field types with the domain's own words live in server/api/fields.py.

`OPERATIONS` holds every declaration; server/api/openapi.py turns them into the document.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError

from server.api.http import json_body
from server.errors import Invalid

Handler = Callable[..., Awaitable[web.StreamResponse]]


class Body(BaseModel):
    """A JSON request body: no field the model does not name (a misspelt optional field would otherwise be
    dropped without a word)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    where: ClassVar[str] = "body"


class Query(BaseModel):
    """Query parameters: unknown ones are ignored (browsers and proxies add their own)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    where: ClassVar[str] = "query"


class Path(BaseModel):
    """The path's variables."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    where: ClassVar[str] = "path"


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    body: type[Body] | None
    query: type[Query] | None
    path_params: type[Path] | None
    response: type[BaseModel] | dict[str, Any] | None
    status: int
    errors: tuple[int, ...]
    media: str
    public: bool = False  # no login needed: the document says so (no 401), the access rules decide it


OPERATIONS: list[Operation] = []

# What a domain check raised, kept in its own words (server/api/fields.py).
DOMAIN_ERROR = "domain"


def reason(exc: ValidationError, where: str) -> str:
    """The first thing wrong, as the API has always said it: `field: what is wrong`."""
    errors = exc.errors(include_url=False)
    # An unknown field is named first, whatever else is wrong, as the document's check of extra fields did.
    error = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    field = ".".join(str(part) for part in error["loc"]) or where
    if error["type"] == DOMAIN_ERROR:
        return error["msg"]
    if error["type"] == "extra_forbidden":
        return f"{where}.{field}: bidang tidak dikenal (unknown field)"
    if error["type"] == "missing":
        return f"{field}: required"
    return f"{field}: {error['msg'][0].lower()}{error['msg'][1:]}"


def parse(model: type[BaseModel], values: Any, where: str) -> Any:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise Invalid(reason(exc, where)) from None


def endpoint(
    routes: web.RouteTableDef,
    method: str,
    template: str,
    summary: str,
    *,
    body: type[Body] | None = None,
    query: type[Query] | None = None,
    path: type[Path] | None = None,
    response: type[BaseModel] | dict[str, Any] | None = None,
    status: int = 200,
    errors: tuple[int, ...] = (),
    media: str = "application/json",
    public: bool = False,
) -> Callable[[Handler], Handler]:
    """Register the decorated handler for `method template` on `routes` and declare its operation."""
    # A variable's pattern (`{nip:[0-9]+}`) is the router's; the document names the variable only.
    documented = re.sub(r"\{(\w+):[^}]+\}", r"{\1}", template)
    operation = Operation(
        method.upper(), documented, summary, body, query, path, response, status, errors, media, public
    )
    if any((o.method, o.path) == (operation.method, operation.path) for o in OPERATIONS):
        raise ValueError(f"{operation.method} {documented} is declared twice")
    OPERATIONS.append(operation)

    def wrap(handler: Handler) -> Handler:
        async def validated(request: web.Request) -> web.StreamResponse:
            arguments: dict[str, Any] = {}
            if path is not None:
                arguments["path"] = parse(path, dict(request.match_info), "path")
            if query is not None:
                arguments["query"] = parse(query, dict(request.query), "query")
            if body is not None:
                arguments["body"] = parse(body, await json_body(request), "body")
            return await handler(request, **arguments)

        validated.__name__ = handler.__name__
        validated.__doc__ = handler.__doc__
        routes.route(operation.method, template)(validated)
        return handler

    return wrap


# --- JSON Schema (what pydantic writes, draft 2020-12) to the OpenAPI 3.0 dialect the document speaks ---


def openapi_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's schema, inlined (no $defs) and in OpenAPI 3.0's words (nullable, no null type, no const)."""
    schema = model.model_json_schema(mode="validation")
    definitions = schema.pop("$defs", {})
    return _to_openapi30(schema, definitions)


def _to_openapi30(schema: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(schema, list):
        return [_to_openapi30(item, definitions) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        target = copy.deepcopy(definitions[schema["$ref"].rsplit("/", 1)[-1]])
        return _to_openapi30({**target, **{k: v for k, v in schema.items() if k != "$ref"}}, definitions)
    options = schema.get("anyOf")
    if isinstance(options, list) and {"type": "null"} in options:
        return _nullable(schema, options, definitions)
    return _tidy_for_openapi30(_convert_keys(schema, definitions))


def _nullable(schema: dict[str, Any], options: list[Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """`X | None`: OpenAPI 3.0 has no null type, it says `nullable` on X."""
    rest = [option for option in options if option != {"type": "null"}]
    outer = {key: value for key, value in schema.items() if key != "anyOf"}
    inner = rest[0] if len(rest) == 1 else {"anyOf": rest}
    return {**_to_openapi30(inner, definitions), **_to_openapi30(outer, definitions), "nullable": True}


def _convert_keys(schema: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    converted: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("title", "examples"):
            continue
        if key == "properties":
            converted[key] = {name: _to_openapi30(child, definitions) for name, child in value.items()}
        elif key in ("enum", "default", "required"):
            converted[key] = value
        else:
            converted[key] = _to_openapi30(value, definitions)
    return converted


def _tidy_for_openapi30(converted: dict[str, Any]) -> dict[str, Any]:
    if "const" in converted:
        converted["enum"] = [converted.pop("const")]
    if converted.get("type") == "object" and converted.get("required") == []:
        converted.pop("required")  # an empty list is not valid in OpenAPI 3.0's dialect
    if "default" in converted and converted["default"] is None and not converted.get("nullable"):
        converted.pop("default")  # a field that may be left out but not null: no default a client could send
    return converted


def _parameters(model: type[BaseModel] | None, where: str) -> list[dict[str, Any]]:
    if model is None:
        return []
    schema = openapi_schema(model)
    required = set(schema.get("required", ()))
    parameters = []
    for name, child in schema.get("properties", {}).items():
        description = child.pop("description", name)
        if child.pop("nullable", False) and child.get("default", ...) is None:
            child.pop("default")  # a query cannot send null: an optional parameter is one left out
        parameters.append(
            {
                "name": name,
                "in": where,
                "required": where == "path" or name in required,
                "description": description,
                "schema": child,
            }
        )
    return parameters


def operation_document(operation: Operation, errors: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """The OpenAPI operation object of one declaration; `errors(*statuses)` gives the error responses."""
    if isinstance(operation.response, dict):
        answer = operation.response
    elif operation.response is not None:
        answer = openapi_schema(operation.response)
    else:
        answer = {"type": "object"}
    document: dict[str, Any] = {
        "summary": operation.summary,
        "parameters": _parameters(operation.path_params, "path") + _parameters(operation.query, "query"),
        "responses": {
            str(operation.status): {"description": "OK", "content": {operation.media: {"schema": answer}}},
            **errors(
                *((400,) if operation.body or operation.query or operation.path_params else ()), *operation.errors
            ),
        },
    }
    if operation.public:
        document["security"] = []
        document["responses"].pop("401")
    if operation.body is not None:
        document["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": openapi_schema(operation.body)}},
        }
    return document
