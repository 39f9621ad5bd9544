"""The OpenAPI 3.0 document of /api/v1, served at /api/v1/openapi.json.

Written by hand beside the handlers (a test checks every route the app serves under /api/v1 is in it,
and schemathesis checks the answers against it)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

routes = web.RouteTableDef()

_ERROR = {"$ref": "#/components/schemas/Error"}


def _param(name: str, description: str, schema: dict[str, Any], where: str = "query") -> dict[str, Any]:
    return {"name": name, "in": where, "required": where == "path", "description": description, "schema": schema}


LIMIT = _param("limit", "page size", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100})
OFFSET = _param("offset", "rows to skip", {"type": "integer", "minimum": 0, "maximum": 1_000_000_000, "default": 0})
UNIT = _param("unit", "a unit code: that unit and the units below it", {"type": "string", "maxLength": 63})
MONTH = _param("month", "YYYY-MM (default: this month)", {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"})
NIP = _param("nip", "the employee's 18-digit NIP", {"type": "string", "maxLength": 18}, "path")
DATE = _param("date", "an office-local day, YYYY-MM-DD", {"type": "string", "format": "date"})
NIPQ = _param("nip", "one employee", {"type": "string", "maxLength": 18})
CATEGORY = _param(
    "category",
    "only employees with at least one day of this code",
    {"type": "string", "enum": ["TL1", "TL2", "TL3", "TL4", "PSW1", "PSW2", "PSW3", "PSW4", "TK"]},
)
TODAY_STATUS = _param(
    "status",
    "only employees in this state today",
    {"type": "string", "enum": ["present", "late", "absent", "on_leave", "not_yet_in", "day_off"]},
)
TZ = _param("tz", "office zone of `date`", {"type": "string", "enum": ["WIB", "WITA", "WIT"], "default": "WIB"})


def _page_of(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["total", "items"],
        "properties": {
            "total": {"type": "integer", "minimum": 0},
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
            "items": {"type": "array", "items": item},
        },
    }


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
STRING_OR_NULL = {"type": "string", "nullable": True}
EMPLOYEE = {
    "type": "object",
    "required": ["nip", "name", "unit"],
    "properties": {
        "nip": {"type": "string"},
        "name": {"type": "string"},
        "unit": {"type": "string"},
        "position": STRING_OR_NULL,
        "supervisor": STRING_OR_NULL,
    },
}
RECAP_ROW = {
    "type": "object",
    "required": ["nip", "name", "unit", "TK", "deduction_percent", "activity_minutes", "score_percent"],
    "properties": {
        "nip": {"type": "string"},
        "name": {"type": "string"},
        "unit": {"type": "string"},
        **{
            code: {"type": "integer", "minimum": 0}
            for code in ("TL1", "TL2", "TL3", "TL4", "PSW1", "PSW2", "PSW3", "PSW4", "TK")
        },
        "deduction_percent": {"type": "number"},
        "activity_minutes": {"type": "integer"},
        "score_percent": {"type": "number"},
    },
}


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


def _fields(required: list[str], **optional: dict[str, Any]) -> dict[str, Any]:
    text = {"type": "string", "maxLength": 200}
    properties = {name: text for name in required} | optional
    # An empty `required` is not valid in OpenAPI 3.0's schema dialect: leave it out.
    return {"type": "object", **({"required": required} if required else {}), "properties": properties}


CODE = _param("code", "a unit code", {"type": "string", "maxLength": 63}, "path")
GATEWAY = _param("gateway_id", "the gateway", {"type": "string", "maxLength": 63}, "path")
TEXT = {"type": "string", "maxLength": 200}


def document() -> dict[str, Any]:
    registry: dict[str, Any] = {
        "/api/v1/server/status": _get("this replica: MQTT session, ingest counters", [], _ok(OBJECT)),
        "/api/v1/units": {
            **_get(
                "units (with `under`: that unit and its subtree)",
                [_param("under", "a unit code", {"type": "string", "maxLength": 63})],
                _ok(OBJECT),
                404,
            ),
            **_post("create a unit", [], _fields(["code", "name"], kind=TEXT, parent=TEXT), "201", 409),
        },
        "/api/v1/units/{code}": _get("one unit with its children and offices", [CODE], _ok(OBJECT), 404),
        "/api/v1/units/{code}/pins": {
            **_get("the unit's device PINs", [CODE], _ok(OBJECT), 404),
            **_post("map a device PIN to an employee", [CODE], _fields(["pin", "nip"]), "201", 404, 409),
        },
        "/api/v1/units/{code}/pending-devices": _get(
            "devices the unit's gateways report that nobody registered (their punches held)", [CODE], _ok(OBJECT), 404
        ),
        "/api/v1/units/{code}/pending-devices/{serial}/assign": _post(
            "register a pending device to the gateway that reported it; its held punches are stored",
            [CODE, _param("serial", "the device serial", {"type": "string", "maxLength": 64}, "path")],
            _fields([], gateway=TEXT, office=TEXT),
            "200",
            404,
            409,
        ),
        "/api/v1/units/{code}/enrol": _post(
            "write an employee to the unit's devices", [CODE], _fields(["nip"]), "202", 404, 503
        ),
        "/api/v1/offices": {
            **_get("offices", [UNIT], _ok(OBJECT)),
            **_post("create an office", [], _fields(["code", "name", "unit", "zone"]), "201", 409),
        },
        "/api/v1/gateways": {
            **_get("gateways and their status", [UNIT], _ok(OBJECT)),
            **_post("register a gateway", [], _fields(["gateway_id", "unit"], office=TEXT), "201", 409),
        },
        "/api/v1/gateways/{gateway_id}": _get("one gateway with its devices", [GATEWAY], _ok(OBJECT), 404),
        "/api/v1/gateways/{gateway_id}/commands": {
            **_get("commands sent to the gateway and their results", [GATEWAY], _ok(OBJECT), 404),
            **_post(
                "send a command (sync_clock, reread_device, write_user, reload_config)",
                [GATEWAY],
                _fields(["action"], args=OBJECT),
                "202",
                404,
                503,
            ),
        },
        "/api/v1/devices": {
            **_get(
                "devices and their status",
                [_param("office", "office code", TEXT), _param("gateway", "gateway id", TEXT)],
                _ok(OBJECT),
            ),
            **_post(
                "register a device",
                [],
                _fields(["serial"], name=TEXT, profile=TEXT, office=TEXT, gateway=TEXT),
                "201",
                409,
            ),
        },
        "/api/v1/employees": {
            **_get(
                "employees (a unit-bound account names its unit; a supervisor lists ?supervisor=own NIP)",
                [UNIT, _param("supervisor", "the supervisor's NIP", TEXT), LIMIT, OFFSET],
                _ok(_page_of(EMPLOYEE)),
                400,
            ),
            **_post(
                "create an employee (the NIP is checked)",
                [],
                _fields(["nip", "name", "unit"], position=TEXT, supervisor=TEXT),
                "201",
                409,
            ),
        },
        "/api/v1/employees/{nip}": _get("one employee with their PINs", [NIP], _ok(EMPLOYEE), 404),
        "/api/v1/employees/import": {
            "post": {
                "summary": "CSV import of employees (nip,name,unit,position,supervisor_nip,pin): all rows or none",
                "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}},
                "responses": {**_ok(OBJECT), **_errors(400, 409)},
            }
        },
    }
    paths: dict[str, Any] = {
        "/api/v1/health": {
            "get": {"summary": "liveness", "security": [], "responses": _ok({"type": "object", "required": ["status"]})}
        },
        "/api/v1/me": _get("the caller's account", [], _ok(OBJECT)),
        "/api/v1/tokens": {
            "post": {
                "summary": "a new API token for the caller (shown once)",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["name"],
                                "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 100}},
                            }
                        }
                    },
                },
                "responses": {**_ok({"type": "object", "required": ["token"]}, "201"), **_errors(400)},
            }
        },
        "/api/v1/employees/{nip}/month": _get(
            "one employee's month: days, categories, punches, rule, explanation", [NIP, MONTH], _ok(OBJECT), 400, 404
        ),
        "/api/v1/results": _get(
            "monthly recap, one row per employee",
            [MONTH, UNIT, NIPQ, CATEGORY, LIMIT, OFFSET],
            _ok(_page_of(RECAP_ROW)),
            400,
        ),
        "/api/v1/exports/recap.csv": _get(
            "monthly recap as CSV (payroll layout)", [MONTH, UNIT], _ok({"type": "string"}, media="text/csv"), 400
        ),
        "/api/v1/exports/recap.xlsx": _get(
            "monthly recap as XLSX (payroll layout)",
            [MONTH, UNIT],
            _ok(
                {"type": "string", "format": "binary"},
                media="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ),
            400,
        ),
        "/api/v1/today": _get("today across the unit tree", [UNIT, TODAY_STATUS, LIMIT, OFFSET], _ok(OBJECT)),
        "/api/v1/policy": _get("the attendance policy in force", [UNIT], _ok(OBJECT)),
        "/api/v1/punches": _get(
            "stored punches in scope, newest first",
            [UNIT, _param("device", "device serial", TEXT), _param("pin", "device PIN", TEXT), DATE, TZ, LIMIT, OFFSET],
            _ok(_page_of(OBJECT)),
            400,
            404,
        ),
        "/api/v1/attendance/daily": _get(
            "first in and last out per person for one day", [DATE, TZ, UNIT], _ok(OBJECT), 400, 404
        ),
        "/api/v1/quarantine": _get("messages that broke the contract", [LIMIT, OFFSET], _ok(_page_of(OBJECT)), 400),
        "/api/v1/activities": {
            **_get(
                "activity claims in scope",
                [
                    _param(
                        "status",
                        "the claim's state",
                        {"type": "string", "enum": ["submitted", "approved", "rejected", "correction_requested"]},
                    ),
                    _param("nip", "one employee", TEXT),
                    MONTH,
                    LIMIT,
                    OFFSET,
                ],
                _ok(_page_of(OBJECT)),
                400,
            ),
            **_post(
                "record one of the caller's own activities",
                [],
                _fields(["activity", "date", "start"], quantity={"type": "integer"}, evidence=TEXT),
                "201",
            ),
        },
        "/api/v1/activities/decisions": _post(
            "approve or reject subordinates' submitted claims, all or none",
            [],
            {
                "type": "object",
                "required": ["claim_ids", "decision"],
                "properties": {
                    "claim_ids": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 500},
                    "decision": {"type": "string", "enum": ["approve", "reject", "correct"]},
                    "reason": TEXT,
                },
            },
            "200",
            404,
        ),
        "/api/v1/activities/{claim_id}/resubmit": _post(
            "resubmit one of the caller's claims after a correction request",
            [_param("claim_id", "the claim", {"type": "string", "maxLength": 32}, "path")],
            {"type": "object", "properties": {"quantity": {"type": "integer"}, "evidence": TEXT}},
            "200",
            404,
        ),
        "/api/v1/excuses": {
            **_get(
                "excused days (leave, official travel, work from home) in scope",
                [
                    _param("nip", "one employee", TEXT),
                    _param("from", "overlapping from", {"type": "string", "format": "date"}),
                    _param("to", "overlapping to", {"type": "string", "format": "date"}),
                    LIMIT,
                    OFFSET,
                ],
                _ok(_page_of(OBJECT)),
                400,
            ),
            **_post(
                "record excused days for an employee in scope",
                [],
                _fields(["nip", "kind", "first_day", "last_day"], note=TEXT),
                "201",
                404,
            ),
        },
        "/api/v1/users": {
            **_get("accounts the caller manages", [LIMIT, OFFSET], _ok(_page_of(OBJECT)), 400),
            **_post(
                "create an account",
                [],
                _fields(["username", "password", "role"], unit=TEXT, nip=TEXT, name=TEXT, language=TEXT),
                "201",
                404,
            ),
        },
        "/api/v1/users/{username}/disable": {
            "post": {
                "summary": "disable an account: sessions end, API tokens are revoked",
                "parameters": [_param("username", "the account", {"type": "string", "maxLength": 64}, "path")],
                "responses": {**_ok(OBJECT), **_errors(400, 404)},
            }
        },
        **registry,
    }
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


@routes.get("/api/v1/openapi.json")
async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(document())
