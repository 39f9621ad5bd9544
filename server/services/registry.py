"""The registry's rules: the unit tree, offices and zones, employees by NIP, PINs per unit, and the CSV
import of employees that writes all of a file or nothing.

Knows the database, not HTTP: every refusal is a RegistryError whose text is shown to the user.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import Any

from tortoise.transactions import in_transaction

from server.errors import NotFound
from server.models import DevicePin, Employee, Unit, UnitKind
from server.nip import InvalidNip, parse_nip
from server.services.stale import mark_stale, running_months
from wire.contract import ContractError, validate_slug
from wire.zones import ZONE_NAMES

ZONES = ZONE_NAMES
# Where a kind of unit may sit: its parent must be of a higher rank (ministry at the top, no parent).
UNIT_RANK = {
    UnitKind.MINISTRY: 0,
    UnitKind.DIRECTORATE_GENERAL: 1,
    UnitKind.DIRECTORATE: 2,
    UnitKind.CENTRE: 2,
    UnitKind.UPT: 3,
}
MAX_IMPORT_ROWS = 100_000
MAX_NAME = 200
CSV_COLUMNS = ("nip", "name", "unit", "position", "supervisor_nip", "pin")
REQUIRED_CSV_COLUMNS = ("nip", "name", "unit")


class RegistryError(ValueError):
    """Bad input to the registry; the text says what and why."""


def check_code(value: Any, what: str) -> str:
    try:
        return validate_slug(value, what)
    except ContractError as exc:
        raise RegistryError(str(exc)) from None


# Control characters (C0 and DEL) have no place in a name, and openpyxl refuses most of them in a cell:
# one such name would make every recap export of its unit fail.
CONTROL = re.compile("[\x00-\x1f\x7f]")


def check_name(value: Any, what: str = "name") -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME:
        raise RegistryError(f"{what}: expected 1-{MAX_NAME} characters, got {value!r}")
    if CONTROL.search(value):
        raise RegistryError(f"{what}: control characters are not allowed, got {value!r}")
    return value.strip()


def check_pin(value: Any) -> str:
    if not isinstance(value, str) or not value.isascii() or not value.isalnum() or not 1 <= len(value) <= 24:
        raise RegistryError(f"pin: expected 1-24 letters or digits, got {value!r}")
    return value


def check_kind(value: Any) -> UnitKind:
    try:
        return UnitKind(value)
    except ValueError:
        raise RegistryError(f"kind: expected one of {[k.value for k in UnitKind]}, got {value!r}") from None


def check_zone(value: Any) -> str:
    if value not in ZONES:
        raise RegistryError(f"zone: expected one of {list(ZONES)}, got {value!r}")
    return value


async def create_unit(code: str, name: str, kind: UnitKind, parent_code: str | None) -> Unit:
    if await Unit.exists(code=code):
        raise RegistryError(f"unit {code!r} exists already")
    parent = None
    if kind is UnitKind.MINISTRY:
        if parent_code:
            raise RegistryError("a ministry is the top of its tree: it has no parent")
    else:
        if not parent_code:
            raise RegistryError(f"a unit of kind {kind.value} needs a parent unit")
        parent = await Unit.get_or_none(code=parent_code)
        if parent is None:
            raise RegistryError(f"parent: no unit {parent_code!r}")
        parent_kind = UnitKind(parent.kind)
        if UNIT_RANK[parent_kind] >= UNIT_RANK[kind]:
            raise RegistryError(f"a {kind.value} cannot sit under a {parent_kind.value}")
    return await Unit.create(code=code, name=name, kind=kind.value, parent=parent)


async def unit_subtree(code: str) -> list[str]:
    """The unit and every unit below it, breadth first."""
    if not await Unit.exists(code=code):
        raise NotFound(f"no unit {code!r}")
    found, frontier = [code], [code]
    while frontier:
        frontier = list(await Unit.filter(parent_id__in=frontier).values_list("code", flat=True))
        found.extend(frontier)
    return found


async def map_pin(unit_code: str, pin: str, nip: str) -> DevicePin:
    unit = await Unit.get_or_none(code=unit_code)
    if unit is None:
        raise NotFound(f"no unit {unit_code!r}")
    employee = await Employee.get_or_none(nip=nip)
    if employee is None:
        raise RegistryError(f"nip: no employee {nip!r}")
    existing = await DevicePin.get_or_none(unit_id=unit_code, pin=pin)
    if existing is not None:
        if existing.employee_id != nip:  # type: ignore[attr-defined]
            raise RegistryError(f"PIN {pin} of unit {unit_code} belongs to {existing.employee_id} already")  # type: ignore[attr-defined]
        return existing
    return await DevicePin.create(unit=unit, pin=pin, employee=employee)


# --- CSV import ---


@dataclass(frozen=True, slots=True)
class RowError:
    row: int  # 1-based line number in the file, the header being line 1
    nip: str
    errors: tuple[str, ...]


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    pins_mapped: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True, slots=True)
class _Row:
    line: int
    nip: str
    name: str
    unit: str
    position: str
    supervisor: str
    pin: str
    birth: Any
    appointment: str
    sex: int


def _read_csv(data: bytes) -> tuple[list[dict[str, str]], list[int]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RegistryError(f"the file is not UTF-8 text ({exc})") from None
    reader = csv.DictReader(io.StringIO(text, newline=""), restkey="_extra")
    header = reader.fieldnames or []
    missing = [column for column in REQUIRED_CSV_COLUMNS if column not in header]
    if missing:
        raise RegistryError(f"the header must name the columns {list(CSV_COLUMNS)}; missing {missing}")
    unknown = [column for column in header if column not in CSV_COLUMNS]
    if unknown:
        raise RegistryError(f"unknown columns {unknown}; expected {list(CSV_COLUMNS)}")
    rows, lines = [], []
    try:
        for record in reader:
            if len(rows) >= MAX_IMPORT_ROWS:
                raise RegistryError(f"more than {MAX_IMPORT_ROWS} rows; split the file")
            rows.append(record)
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise RegistryError(f"line {reader.line_num}: not valid CSV ({exc})") from None
    return rows, lines


async def import_employees_csv(data: bytes) -> ImportReport:
    """Check every row first; write all rows in one transaction only if none has an error."""
    records, lines = _read_csv(data)
    report = ImportReport(rows=len(records))
    units = set(await Unit.all().values_list("code", flat=True))
    in_file_nips: dict[str, int] = {}
    in_file_pins: dict[tuple[str, str], int] = {}
    good: list[_Row] = []
    for record, line in zip(records, lines, strict=True):
        checked_row = _check_row(record, line, units, in_file_nips, in_file_pins)
        if isinstance(checked_row, RowError):
            report.errors.append(checked_row)
        else:
            good.append(checked_row)
    checked, taken = await _check_against_database(good, in_file_nips, report)
    if report.errors:
        report.errors.sort(key=lambda e: e.row)
        return report
    await _write_rows(checked, taken, report)
    return report


def _check_row(
    record: dict[str, str],
    line: int,
    units: set[str],
    in_file_nips: dict[str, int],
    in_file_pins: dict[tuple[str, str], int],
) -> _Row | RowError:
    """One CSV row checked on its own and against the rows before it (`in_file_*` record where each was seen)."""
    errors: list[str] = []
    if record.get("_extra"):
        errors.append("more fields than the header names")
    value = {column: (record.get(column) or "").strip() for column in CSV_COLUMNS}
    nip_text = value["nip"]
    decoded = None
    try:
        decoded = parse_nip(nip_text)
    except InvalidNip as exc:
        errors.append(str(exc))
    if nip_text in in_file_nips:
        errors.append(f"NIP {nip_text} is also on line {in_file_nips[nip_text]}")
    else:
        in_file_nips[nip_text] = line
    errors.extend(_field_errors(value, units))
    if value["pin"]:
        errors.extend(_pin_errors(value["unit"], value["pin"], line, in_file_pins))
    if errors or decoded is None:
        return RowError(line, nip_text, tuple(errors))
    return _Row(line, nip_text, value["name"], value["unit"], value["position"], value["supervisor_nip"],
                value["pin"], decoded.birth_date, decoded.appointment, decoded.sex)  # fmt: skip


def _field_errors(value: dict[str, str], units: set[str]) -> list[str]:
    """The name, position, unit and supervisor of one row, in the order the report lists them."""
    errors: list[str] = []
    if not value["name"] or len(value["name"]) > MAX_NAME:
        errors.append(f"name: expected 1-{MAX_NAME} characters")
    elif CONTROL.search(value["name"]):
        errors.append("name: control characters are not allowed")
    if CONTROL.search(value["position"]):
        errors.append("position: control characters are not allowed")
    if value["unit"] not in units:
        errors.append(f"unit: no unit {value['unit']!r}")
    if len(value["position"]) > MAX_NAME:
        errors.append(f"position: at most {MAX_NAME} characters")
    if value["supervisor_nip"] == value["nip"] and value["nip"]:
        errors.append("supervisor_nip: an employee cannot supervise themself")
    return errors


def _pin_errors(unit: str, pin: str, line: int, in_file_pins: dict[tuple[str, str], int]) -> list[str]:
    errors: list[str] = []
    try:
        check_pin(pin)
    except RegistryError as exc:
        errors.append(str(exc))
    key = (unit, pin)
    if key in in_file_pins:
        errors.append(f"PIN {pin} of unit {unit} is also on line {in_file_pins[key]}")
    else:
        in_file_pins[key] = line
    return errors


async def _check_against_database(
    good: list[_Row], in_file_nips: dict[str, int], report: ImportReport
) -> tuple[list[_Row], dict[tuple[str, str], str]]:
    """Supervisors that exist (here or in the file), PINs taken by others: the rows that pass, and the PINs taken.

    A row that fails goes to `report.errors`."""
    supervisors = {row.supervisor for row in good if row.supervisor}
    known_supervisors = set(
        await Employee.filter(nip__in=sorted(supervisors - set(in_file_nips))).values_list("nip", flat=True)
    )
    taken = {
        (unit, pin): nip
        for unit, pin, nip in await DevicePin.filter(unit_id__in=sorted({r.unit for r in good if r.pin})).values_list(
            "unit_id", "pin", "employee_id"
        )
    }
    checked: list[_Row] = []
    for row in good:
        errors = []
        if row.supervisor and row.supervisor not in in_file_nips and row.supervisor not in known_supervisors:
            errors.append(f"supervisor_nip: no employee {row.supervisor!r} here or in the file")
        owner = taken.get((row.unit, row.pin)) if row.pin else None
        if owner is not None and owner != row.nip:
            errors.append(f"PIN {row.pin} of unit {row.unit} belongs to {owner} already")
        if errors:
            report.errors.append(RowError(row.line, row.nip, tuple(errors)))
        else:
            checked.append(row)
    return checked, taken


async def _write_rows(rows: list[_Row], taken: dict[tuple[str, str], str], report: ImportReport) -> None:
    async with in_transaction():
        existing = {employee.nip: employee for employee in await Employee.filter(nip__in=[row.nip for row in rows])}
        new = []
        for row in rows:
            fields = {
                "name": row.name, "unit_id": row.unit, "position": row.position, "birth_date": row.birth,
                "appointment_month": row.appointment, "sex": row.sex,
            }  # fmt: skip
            if row.nip in existing:
                employee = existing[row.nip]
                employee.update_from_dict(fields)
                await employee.save()
                report.updated += 1
            else:
                new.append(Employee(nip=row.nip, **fields))
        if new:
            await Employee.bulk_create(new, batch_size=1000)
            report.created += len(new)
        # Supervisors after everyone exists: a file may name a supervisor on a later line.
        for row in rows:
            if row.supervisor:
                await Employee.filter(nip=row.nip).update(supervisor_id=row.supervisor)
        pins = [
            DevicePin(unit_id=row.unit, pin=row.pin, employee_id=row.nip)
            for row in rows
            if row.pin and (row.unit, row.pin) not in taken
        ]
        if pins:
            await DevicePin.bulk_create(pins, batch_size=1000)
        report.pins_mapped = len(pins)
        # bulk_create fires no signals: the units' running months are marked here (server/services/stale.py).
        await mark_stale(set().union(*(running_months(row.unit) for row in rows)))
