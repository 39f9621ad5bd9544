"""The employee's yearly SKP document as PDF (issue 17): the plan as agreed (version, who agreed and when),
each RHK with the superior's RHK or the organisation target it serves, its indicators and targets, and
the realisation of the year to the end of a period. In Indonesian, as the document is filed; laid out as
the payroll's PDF is (server/services/payroll_exports.py: fpdf's core fonts, Latin-1)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timezone

from babel.dates import format_date

from scoring import format_bp
from server.models import Employee
from server.services.payroll_exports import _latin
from server.services.skp import Period, Realisation

ASPECTS = {"kuantitas": "Kuantitas", "kualitas": "Kualitas", "waktu": "Waktu", "biaya": "Biaya"}
STATES = {"draft": "Konsep (belum disepakati)", "agreed": "Disepakati"}
HEADER = (
    "No", "Rencana Hasil Kerja (RHK)", "Diintervensi oleh", "Indikator", "Aspek", "Target", "Realisasi", "Capaian",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class SkpDocument:
    employee: Employee
    unit_name: str
    superior: Employee | None
    realisation: Realisation
    parents: dict[str, str]
    """Parent code -> its text as the superior's plan (or the unit's targets) says it now."""
    zone: timezone


def period_words(period: Period) -> str:
    key = period.key
    if "-Q" in key:
        return f"Triwulan {['I', 'II', 'III', 'IV'][int(key[-1]) - 1]} {period.year}"
    if "-" in key:
        return format_date(period.first, "LLLL y", locale="id_ID")
    return f"Tahun {period.year}"


def skp_pdf(doc: SkpDocument) -> bytes:
    from fpdf import FPDF

    row, measured = doc.realisation.row, doc.realisation.measurement
    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(0, 7, "SASARAN KINERJA PEGAWAI (SKP)", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    pdf.cell(0, 6, _latin(f"Periode penilaian: 1 Januari - 31 Desember {row.year}"), align="C",
             new_x="LMARGIN", new_y="NEXT")  # fmt: skip
    pdf.ln(2)
    agreed = "-"
    if row.agreed_at is not None:
        day = row.agreed_at.astimezone(doc.zone).date()
        agreed = f"{row.agreed_by}, {format_date(day, 'd MMMM y', locale='id_ID')}"
    facts = [
        ("Pegawai yang dinilai", f"{doc.employee.name} - NIP {doc.employee.nip}"),
        ("Jabatan", doc.employee.position or "-"),
        ("Unit kerja", doc.unit_name),
        ("Atasan langsung", f"{doc.superior.name} - NIP {doc.superior.nip}" if doc.superior else "-"),
        ("Versi rencana", f"{row.version} ({STATES.get(row.state, row.state)})"),
        ("Disepakati oleh", agreed),
        ("Realisasi", f"s.d. akhir {period_words(doc.realisation.period)}"),
    ]
    for label, value in facts:
        pdf.cell(50, 5, _latin(label))
        pdf.cell(0, 5, _latin(f": {value}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("Helvetica", "", 8)
    widths = (9, 62, 52, 58, 18, 22, 20, 20)
    align = ("RIGHT", "LEFT", "LEFT", "LEFT", "LEFT", "RIGHT", "RIGHT", "RIGHT")
    with pdf.table(col_widths=widths, text_align=align, repeat_headings=1, first_row_as_headings=True,
                   line_height=5) as table:  # fmt: skip
        table.row([_latin(h) for h in HEADER])
        for number, rhk in enumerate(measured.results, start=1):
            parent = rhk.rhk.parent or ""
            above = f"{parent} {doc.parents.get(parent, '')}".strip()
            for k, ind in enumerate(rhk.indicators):
                table.row(
                    [
                        str(number) if k == 0 else "",
                        _latin(f"{rhk.rhk.code} {rhk.rhk.text}") if k == 0 else "",
                        _latin(above) if k == 0 else "",
                        _latin(ind.indicator.text),
                        ASPECTS.get(ind.indicator.aspect.value, ind.indicator.aspect.value),
                        _latin(f"{ind.indicator.target} {ind.indicator.unit}".strip()),
                        str(ind.realised),
                        format_bp(_bp(ind.achievement)).replace(".", ","),
                    ]
                )
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 9)
    achieved = format_bp(measured.achievement_bp).replace(".", ",")
    pdf.cell(0, 5, _latin(f"Capaian rencana (rata-rata RHK): {achieved}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 8)
    pdf.multi_cell(0, 4, _latin(
        "Capaian indikator = realisasi / target (target / realisasi untuk waktu dan biaya), paling tinggi "
        f"{format_bp(measured.policy.work_result.indicator_cap_bp).replace('.', ',')}; realisasi dari klaim kegiatan "
        "yang disetujui atasan dan terhubung ke indikator."
    ), new_x="LMARGIN", new_y="NEXT")  # fmt: skip
    pdf.ln(8)
    pdf.set_font("Helvetica", "", 9)
    pdf.cell(140, 5, "Pegawai yang dinilai,", align="C")
    pdf.cell(0, 5, "Atasan langsung,", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(16)
    pdf.cell(140, 5, _latin(doc.employee.name), align="C")
    pdf.cell(0, 5, _latin(doc.superior.name if doc.superior else ""), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(140, 5, f"NIP {doc.employee.nip}", align="C")
    pdf.cell(0, 5, f"NIP {doc.superior.nip}" if doc.superior else "", align="C", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _bp(share: object) -> int:
    from fractions import Fraction

    assert isinstance(share, Fraction)
    scaled = share * 10000 + Fraction(1, 2)
    return scaled.numerator // scaled.denominator
