"""The payroll report of a unit-month as CSV, XLSX and PDF, in Indonesian.

Columns: No, NIP, Nama, Jabatan, Kelas, Status, Tunjangan Bruto, Potongan (%), Potongan (Rp), Tunjangan
Bersih; a totals row; the office heading and the period in words (Babel, Indonesian) above; the signature
block (unit head and treasurer) below; the corrections made after the close, if any. An open month's report
says SEMENTARA (provisional) on every page: only a closed month is final.

CSV for Excel set to Indonesian: ';' separates fields (the list separator there, since ',' is the decimal
mark), percentages have a decimal comma, Rupiah are whole numbers. A bare 18-digit NIP would open as
1,98E+17 and lose its tail, so it is written ="<digits>", Excel's text form; only for a NIP of 18 digits
(what the registry stores), so no cell a user typed ever becomes a formula. Every other text goes
through server.services.exports.csv_text (formula injection, OWASP).
"""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import TYPE_CHECKING

from babel.dates import format_date, format_datetime

from server.payroll_models import UnitSignatory
from server.services.exports import csv_text
from server.services.payroll import PayrollSheet

if TYPE_CHECKING:  # openpyxl is imported only when a workbook is asked for
    from openpyxl.worksheet.worksheet import Worksheet

HEADER = (
    "No",
    "NIP",
    "Nama",
    "Jabatan",
    "Kelas",
    "Status",
    "Tunjangan Bruto (Rp)",
    "Potongan (%)",
    "Potongan (Rp)",
    "Tunjangan Bersih (Rp)",
)
PROVISIONAL = "SEMENTARA"
PROVISIONAL_NOTE = "SEMENTARA - bulan belum ditutup, angka dapat berubah"


def period_words(year: int, month: int) -> str:
    """2025-05 -> 'Mei 2025' (Babel's Indonesian month names)."""
    return format_date(date(year, month, 1), "MMMM y", locale="id")


def title_lines(sheet: PayrollSheet, signatory: UnitSignatory, unit_name: str) -> list[str]:
    heading = signatory.office_heading or unit_name
    lines = [
        heading.upper(),
        "DAFTAR PEMBAYARAN TUNJANGAN KINERJA",
        f"Unit kerja: {unit_name} ({sheet.unit_code})",
        f"Bulan {period_words(sheet.year, sheet.month)}",
    ]
    if not sheet.final:
        lines.insert(0, PROVISIONAL_NOTE)
    return lines


def percent_id(deduction_bp: int) -> str:
    """1234 -> '12,34' (decimal comma)."""
    return f"{deduction_bp // 100},{deduction_bp % 100:02d}"


def rupiah_id(amount: int) -> str:
    return f"{amount:,}".replace(",", ".")


def _rows(sheet: PayrollSheet) -> list[list[object]]:
    return [
        [
            n,
            line.nip,
            line.name,
            line.position,
            line.grade,
            line.status.upper(),
            line.gross,
            line.deduction_bp,
            line.cut,
            line.net,
        ]
        for n, line in enumerate(sheet.lines, 1)
    ]


def corrections_text(sheet: PayrollSheet) -> list[str]:
    return [
        f"Koreksi {c.nip}: bersih {rupiah_id(c.net_before)} -> {rupiah_id(c.net_after)}; "
        f"oleh {c.corrected_by}, {format_datetime(c.corrected_at, 'd MMM y HH:mm', tzinfo=None, locale='id')} UTC; "
        f"alasan: {c.reason}"
        for c in sheet.corrections
    ]


def signature_lines(sheet: PayrollSheet, signatory: UnitSignatory) -> list[tuple[str, str]]:
    """(left, right) pairs: the treasurer on the left, the unit head on the right."""
    return [
        ("Bendahara Pengeluaran", signatory.head_title or "Kepala Unit Kerja"),
        ("", ""),
        ("", ""),
        (
            signatory.treasurer_name or "(.............................)",
            signatory.head_name or "(.............................)",
        ),
        (
            f"NIP {signatory.treasurer_nip}" if signatory.treasurer_nip else "NIP",
            f"NIP {signatory.head_nip}" if signatory.head_nip else "NIP",
        ),
    ]


def payroll_csv(sheet: PayrollSheet, signatory: UnitSignatory, unit_name: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    for line in title_lines(sheet, signatory, unit_name):
        writer.writerow([csv_text(line)])
    writer.writerow(HEADER)
    for row in _rows(sheet):
        number, nip, name, position, grade, status, gross, bp, cut, net = row
        writer.writerow(
            [
                number,
                _csv_nip(str(nip)),
                csv_text(str(name)),
                csv_text(str(position)),
                grade,
                status,
                gross,
                percent_id(int(bp)),
                cut,
                net,
            ]  # type: ignore[arg-type]
        )
    writer.writerow(["", "", "JUMLAH", "", "", "", sheet.total_gross, "", sheet.total_cut, sheet.total_net])
    for line in corrections_text(sheet):
        writer.writerow([csv_text(line)])
    if not sheet.final:
        writer.writerow([PROVISIONAL_NOTE])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _csv_nip(nip: str) -> str:
    return f'="{nip}"' if len(nip) == 18 and nip.isascii() and nip.isdigit() else csv_text(nip)


XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def payroll_xlsx(sheet: PayrollSheet, signatory: UnitSignatory, unit_name: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    ws = book.active
    assert ws is not None
    ws.title = f"Tukin {sheet.year}-{sheet.month:02d}"
    titles = title_lines(sheet, signatory, unit_name)
    for text in titles:
        ws.append([text])
        ws.cell(ws.max_row, 1).font = Font(bold=True, size=12)
    ws.append([])
    header_row = _xlsx_header(ws)
    _xlsx_rows(ws, sheet)
    ws.append(["", "", "JUMLAH", "", "", "", sheet.total_gross, None, sheet.total_cut, sheet.total_net])
    for col in (7, 9, 10):
        ws.cell(ws.max_row, col).number_format = "#,##0"
    for cell in ws[ws.max_row]:
        cell.font = Font(bold=True)
    for text in corrections_text(sheet):
        ws.append([text])
        ws.cell(ws.max_row, 1).data_type = "s"
    ws.append([])
    for left, right in signature_lines(sheet, signatory):
        ws.append(["", left, "", "", "", "", "", right])
    _xlsx_page_setup(ws, header_row, final=sheet.final)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _xlsx_header(ws: Worksheet) -> int:
    """The column headings, bold and boxed; their row number."""
    from openpyxl.styles import Alignment, Border, Font, Side

    ws.append(list(HEADER))
    header_row = ws.max_row
    thin = Side(style="thin")
    for cell in ws[header_row]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        cell.border = Border(top=thin, bottom=thin, left=thin, right=thin)
    return header_row


def _xlsx_rows(ws: Worksheet, sheet: PayrollSheet) -> None:
    """One boxed row per employee, each column in its number format."""
    from openpyxl.styles import Border, Side

    thin = Side(style="thin")
    for row in _rows(sheet):
        row[7] = int(row[7]) / 10_000  # type: ignore[call-overload]  # a fraction shown as a percentage
        ws.append(row)
        current = ws.max_row
        for col, cell in enumerate(ws[current], 1):
            cell.border = Border(top=thin, bottom=thin, left=thin, right=thin)
            if isinstance(cell.value, str):
                cell.data_type = "s"
                cell.quotePrefix = True  # text stays text, never a formula (server/services/exports.py)
            if col == 2:
                cell.number_format = "@"
            elif col in (7, 9, 10):
                cell.number_format = "#,##0"
            elif col == 8:
                cell.number_format = "0.00%"


def _xlsx_page_setup(ws: Worksheet, header_row: int, *, final: bool) -> None:
    """Column widths, frozen headings, A4 landscape one page wide; SEMENTARA on top of an open month's pages."""
    from openpyxl.worksheet.page import PageMargins

    for letter, width in zip("ABCDEFGHIJ", (5, 21, 28, 26, 7, 8, 16, 11, 15, 17), strict=True):
        ws.column_dimensions[letter].width = width
    ws.freeze_panes = ws.cell(header_row + 1, 3)
    ws.print_title_rows = f"{header_row}:{header_row}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_margins = PageMargins(left=0.4, right=0.4, top=0.6, bottom=0.6)
    ws.print_options.horizontalCentered = True
    if not final:
        ws.oddHeader.center.text = PROVISIONAL
        ws.oddHeader.center.size = 14
        ws.oddHeader.center.font = "Arial,Bold"
    ws.oddFooter.right.text = "Halaman &P dari &N"


def payroll_pdf(sheet: PayrollSheet, signatory: UnitSignatory, unit_name: str) -> bytes:
    from fpdf import FPDF

    final = sheet.final

    class Report(FPDF):
        def header(self) -> None:
            if not final:
                self.set_font("Helvetica", "B", 14)
                self.set_text_color(200, 0, 0)
                self.cell(0, 8, PROVISIONAL, align="C", new_x="LMARGIN", new_y="NEXT")
                self.set_text_color(0, 0, 0)

        def footer(self) -> None:
            self.set_y(-12)
            self.set_font("Helvetica", "", 8)
            self.cell(0, 6, f"Halaman {self.page_no()}/{{nb}}", align="R")

    pdf = Report(orientation="L", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 11)
    for text in title_lines(sheet, signatory, unit_name):
        pdf.cell(0, 6, _latin(text), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("Helvetica", "", 8)
    widths = (9, 36, 52, 50, 12, 14, 28, 18, 26, 28)
    align = ("RIGHT", "LEFT", "LEFT", "LEFT", "CENTER", "CENTER", "RIGHT", "RIGHT", "RIGHT", "RIGHT")
    with pdf.table(
        col_widths=widths, text_align=align, repeat_headings=1, first_row_as_headings=True, line_height=5
    ) as table:
        table.row([_latin(h) for h in HEADER])
        for row in _rows(sheet):
            number, nip, name, position, grade, status, gross, bp, cut, net = row
            table.row([str(number), str(nip), _latin(str(name)), _latin(str(position)), str(grade), str(status),
                       rupiah_id(int(gross)), percent_id(int(bp)), rupiah_id(int(cut)), rupiah_id(int(net))])  # type: ignore[arg-type]  # fmt: skip
        table.row(
            [
                "",
                "",
                "JUMLAH",
                "",
                "",
                "",
                rupiah_id(sheet.total_gross),
                "",
                rupiah_id(sheet.total_cut),
                rupiah_id(sheet.total_net),
            ]
        )
    pdf.ln(3)
    for text in corrections_text(sheet):
        pdf.multi_cell(0, 5, _latin(text), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("Helvetica", "", 9)
    for left, right in signature_lines(sheet, signatory):
        pdf.cell(140, 5, _latin(left), align="C")
        pdf.cell(0, 5, _latin(right), align="C", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _latin(text: str) -> str:
    """The core PDF fonts hold Latin-1 only; a name with another letter keeps its shape as '?'."""
    return text.encode("latin-1", "replace").decode("latin-1")
