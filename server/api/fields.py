"""Field types the API's models share: each is validated by the domain's own check (so the refusal keeps its
words, e.g. `code: ... lower-case ...`) and documented by the schema that says what that check accepts.

A field here is the one place its rule is written for the API; schemathesis (tests/test_openapi_truth.py)
holds the schema to the check: a value the schema allows that the check refuses is a failure it reports.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from server.api.endpoint import DOMAIN_ERROR
from server.models import UnitKind
from server.services.month import parse_month
from server.services.registry import (
    CONTROL,
    RegistryError,
    check_code,
    check_kind,
    check_name,
    check_zone,
)


def checked_by(check: Callable[[Any], Any], schema: dict[str, Any], *, nullable: bool = False) -> Any:
    """A field validated by `check` (its RegistryError/ValueError text is the 400's reason) and documented by
    `schema`; `nullable`: null is accepted as "not given" (give the field a default of None)."""

    def validate(value: Any) -> Any:
        if value is None and nullable:
            return None
        try:
            return check(value)
        except (RegistryError, ValueError) as exc:
            raise PydanticCustomError(DOMAIN_ERROR, str(exc).replace("{", "{{").replace("}", "}}")) from None

    return Annotated[
        Any, BeforeValidator(validate), WithJsonSchema({**schema, "nullable": True} if nullable else schema)
    ]


def slug(what: str, *, nullable: bool = False) -> Any:
    """A code (unit, office, gateway): lower-case letters, digits, '-' and '_' (wire/contract.py validate_slug);
    `what` names it in the refusal."""
    return checked_by(lambda value: check_code(value, what), SLUG, nullable=nullable)


SLUG = {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,62}$"}
# 1-200 characters, not all blank (stored stripped), no control characters (server/services/registry.py).
NAME = {
    "type": "string",
    "minLength": 1,
    "maxLength": 200,
    "pattern": "^[^\\x00-\\x1f\\x7f]*[^\\s\\x00-\\x1f\\x7f][^\\x00-\\x1f\\x7f]*$",
}
ZONE = {"type": "string", "enum": ["WIB", "WITA", "WIT"]}
DEVICE_PIN = {"type": "string", "pattern": "^[A-Za-z0-9]{1,24}$"}
# A device serial as the registry stores it: printable ASCII, 1-64 characters, not starting with a space.
DEVICE_SERIAL = {"type": "string", "pattern": "^[!-~][ -~]{0,63}$"}
SERIAL = re.compile(DEVICE_SERIAL["pattern"])
# An 18-digit NIP that decodes (server/nip.py): born 1940-1979, appointed 2000-2025 (a subset of the valid ones,
# fixed so it stays valid as years pass), sex 1 or 2, sequence from 001.
NIP = {
    "type": "string",
    "pattern": "^19[4-7][0-9](0[1-9]|1[0-2])(0[1-9]|1[0-9]|2[0-8])(20[01][0-9]|202[0-5])(0[1-9]|1[0-2])[12]"
    "(00[1-9]|0[1-9][0-9]|[1-9][0-9]{2})$",
}


Name = checked_by(check_name, NAME)
Zone = checked_by(check_zone, ZONE)
Kind = checked_by(check_kind, {"type": "string", "enum": [kind.value for kind in UnitKind]})
# Free text a query or path names a record by (a code, a serial): looked up, never stored.
Text63 = Annotated[str, Field(max_length=63)]

# The codes bodies carry, each named by its field in a refusal.
Code = slug("code")
UnitCode = slug("unit")
ParentCode = slug("parent", nullable=True)


def check_serial(value: Any) -> str:
    if not isinstance(value, str) or not SERIAL.match(value):
        raise ValueError(f"serial: expected 1-64 printable ASCII characters, not starting with a space, got {value!r}")
    return value


def plain_text(what: str, limit: int = 200) -> Any:
    """Optional free text (a device's name or profile) of at most `limit` characters, no control characters
    (it goes into exports, where openpyxl refuses them); stored stripped. Null or left out: not given."""

    def check(value: Any) -> str:
        if not isinstance(value, str) or len(value) > limit:
            raise ValueError(f"{what}: expected text of at most {limit} characters")
        if CONTROL.search(value):
            raise ValueError(f"{what}: control characters are not allowed")
        return value.strip()

    schema = {"type": "string", "maxLength": limit, "pattern": "^[^\\x00-\\x1f\\x7f]*$"}
    return checked_by(check, schema, nullable=True)


DeviceSerial = checked_by(check_serial, DEVICE_SERIAL)
DeviceName = plain_text("name", 100)
DeviceProfile = plain_text("profile", 100)
GatewayId = slug("gateway_id")
OfficeCode = slug("office")
# A gateway or office a body may name, or leave out (null: left out).
OptionalGateway = slug("gateway", nullable=True)
OptionalOffice = slug("office", nullable=True)

# An employee's NIP as a body or path names them: looked up (an unknown one is a 404), so any text of up to 18
# characters; the document's NIP pattern gives schemathesis real ones to try.
Nip18 = Annotated[str, Field(max_length=18)]


def _nip_text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("nip: expected the employee's NIP")
    return value


EmployeeNip = checked_by(_nip_text, NIP)


# --- shared by the personnel resources (users, employees, attendance, punches, activities, excuses, payroll) ---

Limit = Annotated[int, Field(100, ge=1, le=1000, description="page size")]
Offset = Annotated[int, Field(0, ge=0, le=1_000_000_000, description="rows to skip")]
# A NIP a request names a record by (looked up, not decoded): at most 18 characters.
NipText = Annotated[str, Field(max_length=18)]


def page_of(item: dict[str, Any]) -> dict[str, Any]:
    """The answer of a paged list: `total` rows in scope, `items` the page of them."""
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


OBJECT: dict[str, Any] = {"type": "object"}

# YYYY-MM from 2000-01 to 2100-12 (server/services/month.py parse_month), as the first day of that month.
MONTH = {"type": "string", "pattern": "^(20[0-9]{2}|2100)-(0[1-9]|1[0-2])$"}


def _month(value: Any) -> date:
    if not isinstance(value, str) or not value:
        raise ValueError(f"month: expected YYYY-MM, got {value!r}")
    return parse_month(value)


# In a query, left out means this month (the handler's parse_month(None)); in a body, a month must be given.
Month = checked_by(_month, MONTH, nullable=True)
RequiredMonth = checked_by(_month, MONTH)
