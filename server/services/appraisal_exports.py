"""The yearly appraisal result as BKN SIASN's SKP submission takes it: CSV and XLSX with the same columns
in the same order (server/services/appraisal.yearly_results gives the rows, every employee of each unit).

Layout (one header row, then one row per employee, sorted by unit then name):
No, NIP, Nama, Unit Kerja, Tahun, Periode Awal, Periode Akhir, Rating Hasil Kerja, Rating Perilaku Kerja,
Predikat Kinerja, Status. The NIP is text (18 digits would lose their tail as a spreadsheet number); the
period's days are text dd/mm/yyyy as SIASN's forms write them; the ratings and the predicate are the
regulation's words ("Di Atas Ekspektasi", "Sangat Baik"); an employee not rated yet has them empty and
the status "Belum dinilai", one rated but not final "Belum final". Text cells are kept text (never a
formula) as in server/services/exports.py.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from server.services.appraisal import SkpResultRow
from server.services.exports import csv_text

SKP_HEADER = (
    "No",
    "NIP",
    "Nama",
    "Unit Kerja",
    "Tahun",
    "Periode Awal",
    "Periode Akhir",
    "Rating Hasil Kerja",
    "Rating Perilaku Kerja",
    "Predikat Kinerja",
    "Status",
)


def _status(row: SkpResultRow) -> str:
    if not row.predicate:
        return "Belum dinilai"
    return "Final" if row.final else "Belum final"


def skp_table(rows: Sequence[SkpResultRow]) -> list[list[object]]:
    return [
        [
            number,
            row.nip,
            row.name,
            row.unit_code,
            row.year,
            f"01/01/{row.year}",
            f"31/12/{row.year}",
            row.work_result,
            row.behaviour,
            row.predicate,
            _status(row),
        ]
        for number, row in enumerate(rows, 1)
    ]


def skp_csv(rows: Sequence[SkpResultRow]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(SKP_HEADER)
    for line in skp_table(rows):
        writer.writerow([csv_text(v) if isinstance(v, str) else v for v in line])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def skp_xlsx(rows: Sequence[SkpResultRow], year: int) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = f"SKP {year}"
    sheet.append(list(SKP_HEADER))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for line in skp_table(rows):
        sheet.append([ILLEGAL_CHARACTERS_RE.sub("\ufffd", v) if isinstance(v, str) else v for v in line])
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # text, never a formula
                cell.quotePrefix = True
    for (cell,) in sheet.iter_rows(min_row=2, min_col=2, max_col=2):
        cell.number_format = "@"  # NIP as text
    sheet.freeze_panes = "C2"
    for letter, width in (("B", 21), ("C", 30), ("D", 16), ("F", 13), ("G", 13), ("H", 20), ("I", 20), ("J", 18)):
        sheet.column_dimensions[letter].width = width
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
