"""Employees from the spreadsheets bureaus already have: an XLSX or CSV in the column layout of a
SIASN/SIMPEG export (NIP, Nama, Jabatan, Kelas Jabatan, Unit Kerja, NIP Atasan, ...), planned first
(what will be created, updated, refused and why, row by row) and applied only when confirmed.

Headers are matched case- and space-insensitively against known aliases; a bureau whose export names a
column otherwise passes a mapping (field -> its header). Every refusal is a message marked for the
catalogue with its values kept apart, so the page shows it in the reader's language (Indonesian first).
A re-import updates the employees it names (by NIP) rather than adding them twice; a changed grade closes
the held one the day before the import's effective date and opens the new one from it, so history stays.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from tortoise.transactions import in_transaction

from server.i18n import N_, TranslatedError, translate
from server.models import DevicePin, Employee, Unit
from server.nip import InvalidNip, parse_nip
from server.payroll_models import EmployeeGrade
from server.services.history import follow_import
from server.services.registry import CONTROL, MAX_IMPORT_ROWS, MAX_NAME

FIELDS = ("nip", "name", "position", "grade", "unit", "supervisor_nip", "pin")
REQUIRED = ("nip", "name", "unit")
# Known headers per field, normalised (lower case, no spaces, dots, underscores or dashes): SIASN and
# SIMPEG exports, plus the API's CSV columns so one reader serves both.
ALIASES: dict[str, tuple[str, ...]] = {
    "nip": ("nip", "nipbaru", "nip18"),
    "name": ("nama", "name", "namalengkap", "namapegawai"),
    "position": ("jabatan", "position", "namajabatan"),
    "grade": ("kelasjabatan", "kelas", "grade"),
    "unit": ("unitkerja", "unit", "kodeunit", "unor", "namaunor"),
    "supervisor_nip": ("nipatasan", "supervisornip", "atasan", "nipatasanlangsung"),
    "pin": ("pin", "pinmesin", "idmesin"),
}
MAX_FILE_BYTES = 10 * 1024 * 1024


def normalise(header: str) -> str:
    return re.sub(r"[\s._\-]+", "", header).casefold()


class ImportFileError(TranslatedError):
    """The file as a whole cannot be read: `message` is marked for the catalogue, `values` fill it in."""


@dataclass(frozen=True, slots=True)
class Problem:
    message: str
    values: dict[str, object]

    def text(self, language: str) -> str:
        return translate(language, self.message, **self.values)


def _problem(message: str, **values: object) -> Problem:
    return Problem(message, values)


@dataclass
class PlannedRow:
    line: int
    values: dict[str, str]
    action: str = "create"  # create, update, unchanged, refused
    problems: list[Problem] = field(default_factory=list)
    unit_code: str = ""
    grade: int | None = None


@dataclass
class ImportPlan:
    rows: list[PlannedRow]
    columns: dict[str, str]  # field -> the header it was read from

    def count(self, action: str) -> int:
        return sum(1 for row in self.rows if row.action == action)

    @property
    def refused(self) -> list[PlannedRow]:
        return [row for row in self.rows if row.action == "refused"]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a grade typed as 9 reads back from XLSX as 9.0
    return str(value).strip()


def read_table(data: bytes) -> list[list[str]]:
    """The file's rows as text cells: XLSX (by its zip signature) or CSV (UTF-8, comma or semicolon)."""
    if len(data) > MAX_FILE_BYTES:
        raise ImportFileError(N_("The file is larger than {limit} MB."), limit=MAX_FILE_BYTES // 1024 // 1024)
    if data[:4] == b"PK\x03\x04":
        return _read_xlsx(data)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFileError(N_("The file is neither an XLSX workbook nor UTF-8 CSV text.")) from None
    first = text.split("\n", 1)[0]
    # Excel set to Indonesian writes CSV with semicolons (the comma is the decimal sign there).
    delimiter = ";" if first.count(";") > first.count(",") else ","
    try:
        return [
            [cell.strip() for cell in row] for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        ]
    except csv.Error as exc:
        raise ImportFileError(N_("The file is not valid CSV: {reason}"), reason=str(exc)) from None


def _read_xlsx(data: bytes) -> list[list[str]]:
    from openpyxl import load_workbook  # openpyxl is heavy; only an XLSX upload needs it

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError):
        raise ImportFileError(N_("The file is neither an XLSX workbook nor UTF-8 CSV text.")) from None
    try:
        sheet = workbook.worksheets[0]
        rows = []
        for row in sheet.iter_rows(values_only=True):
            if len(rows) > MAX_IMPORT_ROWS:
                raise ImportFileError(N_("More than {limit} rows: split the file."), limit=MAX_IMPORT_ROWS)
            rows.append([_cell(value) for value in row])
        return rows
    finally:
        workbook.close()


def match_columns(header: list[str], mapping: dict[str, str] | None = None) -> dict[str, int]:
    """field -> column index. `mapping` names the header of a field where the aliases do not know it."""
    normalised = [normalise(cell) for cell in header]
    found: dict[str, int] = {}
    for name in FIELDS:
        wanted = (normalise(mapping[name]),) if mapping and mapping.get(name, "").strip() else ALIASES[name]
        for alias in wanted:
            if alias in normalised:
                found[name] = normalised.index(alias)
                break
    missing = [name for name in REQUIRED if name not in found]
    if missing:
        raise ImportFileError(
            N_("The header row lacks the columns {columns} (looked for NIP, Nama and Unit Kerja)."),
            columns=", ".join(missing),
        )
    return found


async def plan_import(
    data: bytes, mapping: dict[str, str] | None = None, allowed_units: frozenset[str] | None = None
) -> ImportPlan:
    """What importing `data` would do, row by row, writing nothing. `allowed_units` None: any unit."""
    table = [row for row in read_table(data)]
    while table and not any(table[0]):
        table.pop(0)
    if not table:
        raise ImportFileError(N_("The file is empty."))
    header, body = table[0], table[1:]
    if len(body) > MAX_IMPORT_ROWS:
        raise ImportFileError(N_("More than {limit} rows: split the file."), limit=MAX_IMPORT_ROWS)
    columns = match_columns(header, mapping)
    units = {code: code for code in await Unit.all().values_list("code", flat=True)}
    for code, name in await Unit.all().values_list("code", "name"):
        units.setdefault(normalise(name), code)  # a SIASN export names the unit, not our code
        units.setdefault(normalise(code), code)
    rows: list[PlannedRow] = []
    seen: dict[str, int] = {}
    seen_pins: dict[tuple[str, str], int] = {}
    for offset, cells in enumerate(body):
        if not any(cells):
            continue
        values = {name: (cells[index] if index < len(cells) else "") for name, index in columns.items()}
        row = PlannedRow(offset + 2, {name: values.get(name, "") for name in FIELDS})
        _check_row(row, units, allowed_units, seen, seen_pins)
        rows.append(row)
    await _check_against_registry(rows)
    return ImportPlan(rows, {name: header[index] for name, index in columns.items()})


def _check_row(
    row: PlannedRow,
    units: dict[str, str],
    allowed_units: frozenset[str] | None,
    seen: dict[str, int],
    seen_pins: dict[tuple[str, str], int],
) -> None:
    """Every check one row needs without the database, its problems in the order a reader fixes them."""
    nip = _check_nip(row, seen)
    _check_texts(row)
    _check_unit(row, units, allowed_units)
    _check_grade(row)
    supervisor = row.values["supervisor_nip"].replace(" ", "")
    row.values["supervisor_nip"] = supervisor
    if supervisor and supervisor == nip:
        row.problems.append(_problem(N_("An employee cannot be their own supervisor.")))
    _check_pin(row, seen_pins)


def _check_nip(row: PlannedRow, seen: dict[str, int]) -> str:
    nip = row.values["nip"].replace(" ", "")
    row.values["nip"] = nip
    problems = row.problems
    if not (len(nip) == 18 and nip.isdigit()):
        problems.append(_problem(N_("NIP {nip} is not 18 digits."), nip=nip or "-"))
    else:
        try:
            parse_nip(nip)
        except InvalidNip:
            problems.append(
                _problem(N_("NIP {nip} does not hold a valid birth date, appointment month and sex."), nip=nip)
            )
    if nip and nip in seen:
        problems.append(_problem(N_("NIP {nip} is also on row {row} of the file."), nip=nip, row=seen[nip]))
    elif nip:
        seen[nip] = row.line
    return nip


def _check_texts(row: PlannedRow) -> None:
    name, position = row.values["name"], row.values["position"]
    if not name or len(name) > MAX_NAME or CONTROL.search(name):
        row.problems.append(_problem(N_("The name must be 1 to {limit} characters of text."), limit=MAX_NAME))
    if len(position) > MAX_NAME or CONTROL.search(position):
        row.problems.append(_problem(N_("The position must be at most {limit} characters of text."), limit=MAX_NAME))


def _check_unit(row: PlannedRow, units: dict[str, str], allowed_units: frozenset[str] | None) -> None:
    unit = row.values["unit"]
    code = units.get(unit) or units.get(normalise(unit))
    if code is None:
        row.problems.append(_problem(N_("Unknown unit {unit}."), unit=unit or "-"))
    elif allowed_units is not None and code not in allowed_units:
        row.problems.append(_problem(N_("Unit {unit} is outside your units."), unit=unit))
    else:
        row.unit_code = code


def _check_grade(row: PlannedRow) -> None:
    text = row.values["grade"]
    if not text:
        return
    grade = int(text) if text.isdigit() else 0
    if not 1 <= grade <= 17:
        row.problems.append(_problem(N_("Grade {grade} is not a kelas jabatan from 1 to 17."), grade=text))
    else:
        row.grade = grade


def _check_pin(row: PlannedRow, seen_pins: dict[tuple[str, str], int]) -> None:
    pin = row.values["pin"]
    if not pin:
        return
    if not (pin.isascii() and pin.isalnum() and len(pin) <= 24):
        row.problems.append(_problem(N_("PIN {pin} must be 1 to 24 letters or digits."), pin=pin))
    key = (row.unit_code, pin)
    if key in seen_pins:
        row.problems.append(_problem(N_("PIN {pin} is also on row {row} of the file."), pin=pin, row=seen_pins[key]))
    else:
        seen_pins[key] = row.line


async def _check_against_registry(rows: list[PlannedRow]) -> None:
    nips = [row.values["nip"] for row in rows]
    existing = {e.nip: e for e in await Employee.filter(nip__in=nips)}
    supervisors = {row.values["supervisor_nip"] for row in rows if row.values["supervisor_nip"]}
    known = set(await Employee.filter(nip__in=sorted(supervisors)).values_list("nip", flat=True))
    pins = {row.unit_code for row in rows if row.values["pin"]}
    taken = {
        (unit, pin): nip
        for unit, pin, nip in await DevicePin.filter(unit_id__in=sorted(pins)).values_list(
            "unit_id", "pin", "employee_id"
        )
    }
    held = {g.nip: g.grade for g in await EmployeeGrade.filter(nip__in=nips, last_day__isnull=True)}
    for row in rows:
        value = row.values
        owner = taken.get((row.unit_code, value["pin"])) if value["pin"] else None
        if owner is not None and owner != value["nip"]:
            row.problems.append(
                _problem(N_("PIN {pin} of this unit belongs to {owner} already."), pin=value["pin"], owner=owner)
            )
        if row.problems:
            row.action = "refused"
        elif value["nip"] in existing:
            employee = existing[value["nip"]]
            same = (
                employee.name == value["name"]
                and employee.position == value["position"]
                and employee.unit_id == row.unit_code  # type: ignore[attr-defined]
                and (employee.supervisor_id or "") == value["supervisor_nip"]  # type: ignore[attr-defined]
                and (row.grade is None or held.get(value["nip"]) == row.grade)
                and (not value["pin"] or owner == value["nip"])
            )
            row.action = "unchanged" if same else "update"
    # A supervisor must exist, or come in with this file on a row that is not refused: refusing one row
    # may orphan another, so repeat until nothing changes.
    changed = True
    while changed:
        changed = False
        arriving = {row.values["nip"] for row in rows if row.action != "refused"}
        for row in rows:
            supervisor = row.values["supervisor_nip"]
            if row.action != "refused" and supervisor and supervisor not in known and supervisor not in arriving:
                row.problems.append(_problem(N_("Supervisor {nip} not found, here or in the file."), nip=supervisor))
                row.action = "refused"
                changed = True


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    refused: int = 0
    pins_mapped: int = 0


async def apply_plan(plan: ImportPlan, effective: date, recorded_by: str) -> ImportResult:
    """Write the plan's rows that are not refused, in one transaction. Grades change from `effective`."""
    result = ImportResult(refused=len(plan.refused), unchanged=plan.count("unchanged"))
    rows = [row for row in plan.rows if row.action in ("create", "update")]
    async with in_transaction():
        existing = {e.nip: e for e in await Employee.filter(nip__in=[r.values["nip"] for r in rows])}
        for row in rows:
            value = row.values
            nip = parse_nip(value["nip"])
            fields = {
                "name": value["name"], "position": value["position"], "unit_id": row.unit_code,
                "birth_date": nip.birth_date, "appointment_month": nip.appointment, "sex": nip.sex,
            }  # fmt: skip
            if value["nip"] in existing:
                employee = existing[value["nip"]]
                employee.update_from_dict(fields)
                await employee.save()
                result.updated += 1
            else:
                await Employee.create(nip=value["nip"], **fields)
                result.created += 1
        # Supervisors after everyone exists: a file may name a supervisor on a later row.
        for row in rows:
            if row.values["supervisor_nip"]:
                await Employee.filter(nip=row.values["nip"]).update(supervisor_id=row.values["supervisor_nip"])
            if row.values["pin"] and not await DevicePin.exists(unit_id=row.unit_code, pin=row.values["pin"]):
                await DevicePin.create(unit_id=row.unit_code, pin=row.values["pin"], employee_id=row.values["nip"])
                result.pins_mapped += 1
            if row.grade is not None:
                await _hold_grade(row.values["nip"], row.grade, effective, recorded_by)
            if row.values["nip"] in existing:  # an employee with a dated history gets the file's state as a row
                await follow_import(row.values["nip"], row.grade, effective, recorded_by)
    return result


async def _hold_grade(nip: str, grade: int, effective: date, recorded_by: str) -> None:
    held = await EmployeeGrade.filter(nip=nip, last_day__isnull=True).order_by("-first_day").first()
    if held is not None and held.grade == grade:
        return
    if held is not None:
        if held.first_day >= effective:  # held from the same day: a correction, not a promotion
            held.grade, held.recorded_by = grade, recorded_by
            await held.save()
            return
        held.last_day = effective - timedelta(days=1)
        await held.save()
    await EmployeeGrade.create(nip=nip, grade=grade, first_day=effective, recorded_by=recorded_by)
