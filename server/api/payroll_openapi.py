"""The payroll routes' part of the OpenAPI document (server/api/openapi.py merges it in)."""

from __future__ import annotations

from typing import Any

from server.api.openapi import (
    CODE,
    LIMIT,
    MONTH,
    NIP,
    OBJECT,
    OFFSET,
    PATH_PROVIDERS,
    _fields,
    _get,
    _ok,
    _param,
    _post,
)

UNIT_TEXT = {"type": "string", "minLength": 1, "maxLength": 63}
UNIT_Q = {**_param("unit", "the unit code", UNIT_TEXT), "required": True}
REQUIRED_MONTH = {**MONTH, "required": True}
MONTH_TEXT = MONTH["schema"]
NIP18 = {"type": "string", "pattern": "^[0-9]{18}$"}
EMPTY_OR_NIP = {"type": "string", "pattern": "^([0-9]{18})?$"}
REASON = {"type": "string", "minLength": 1, "maxLength": 2000, "pattern": "^[^\\x00]*[^\\s\\x00][^\\x00]*$"}
BINARY = {"type": "string", "format": "binary"}


def payroll_paths() -> dict[str, Any]:
    unit_month = [UNIT_Q, REQUIRED_MONTH]
    return {
        "/api/v1/employees/{nip}/grades": {
            **_get("the employee's grades (kelas jabatan) and statuses", [NIP], _ok(OBJECT), 404),
            **_post(
                "the employee holds a grade from a day on (the grade before ends the day before)",
                [NIP],
                _fields(
                    {
                        "grade": {"type": "integer", "minimum": 1, "maximum": 17},
                        "from": {"type": "string", "format": "date"},
                    },
                    status={"type": "string", "enum": ["pns", "cpns", "pppk"]},
                ),
                "201",
                404,
            ),
        },
        "/api/v1/payroll": _get("the payroll of a unit-month (final once closed)", unit_month, _ok(OBJECT), 404, 409),
        "/api/v1/payroll/close": _post(
            "close a unit-month: its payroll lines are frozen",
            [],
            _fields({"unit": UNIT_TEXT, "month": MONTH_TEXT}),
            "201",
            404,
            409,
        ),
        "/api/v1/payroll/corrections": _post(
            "a recorded correction of a closed month's line (who, when, why)",
            [],
            _fields({"unit": UNIT_TEXT, "month": MONTH_TEXT, "nip": NIP18, "reason": REASON}),
            "201",
            404,
            409,
        ),
        "/api/v1/units/{code}/signatories": {
            **_get("who signs the unit's payroll report", [CODE], _ok(OBJECT), 404),
            **_post(
                "set the unit head, the treasurer and the office heading of the payroll report",
                [CODE],
                _fields(
                    {},
                    head_name={"type": "string", "maxLength": 200},
                    head_nip=EMPTY_OR_NIP,
                    head_title={"type": "string", "maxLength": 200},
                    treasurer_name={"type": "string", "maxLength": 200},
                    treasurer_nip=EMPTY_OR_NIP,
                    office_heading={"type": "string", "maxLength": 300},
                ),
                "200",
                404,
            ),
        },
        "/api/v1/exports/payroll.csv": _get(
            "the payroll report, CSV for Excel in Indonesian", unit_month, _ok(BINARY, media="text/csv"), 404, 409
        ),
        "/api/v1/exports/payroll.xlsx": _get(
            "the payroll report, XLSX ready to print",
            unit_month,
            _ok(BINARY, media="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
            404,
            409,
        ),
        "/api/v1/exports/payroll.pdf": _get(
            "the payroll report, PDF", unit_month, _ok(BINARY, media="application/pdf"), 404, 409
        ),
        "/api/v1/audit": _get(
            "what users changed, newest first",
            [_param("unit", "one unit", {"type": "string", "maxLength": 63}), LIMIT, OFFSET],
            _ok(OBJECT),
            400,
        ),
    }


PATH_PROVIDERS.append(payroll_paths)  # at import: the document is complete before any app serves it
