"""Attendance as the bureau reads it: per employee and local day, first in and last out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone

from server.models import DevicePin, Punch


@dataclass(frozen=True, slots=True)
class DayAttendance:
    unit: str
    pin: str
    nip: str | None
    name: str | None
    first_in: datetime
    last_out: datetime | None
    punches: int


async def attendance_for_day(day: date, zone: timezone, unit: str | None = None) -> list[DayAttendance]:
    """Punches of `day` in the office zone `zone`, one row per unit and PIN, employees named where mapped.
    Punches flagged as suspect (a device clock in the future or reset) are left out."""
    start = datetime.combine(day, time.min, zone).astimezone(UTC)
    query = Punch.filter(punched_at__gte=start, punched_at__lt=start + timedelta(days=1), flag__isnull=True)
    if unit:
        query = query.filter(unit_code=unit)
    by_person: dict[tuple[str, str], list[datetime]] = {}
    for unit_code, pin, at in await query.order_by("punched_at").values_list("unit_code", "pin", "punched_at"):
        by_person.setdefault((unit_code, pin), []).append(at.astimezone(zone))
    names = {
        (unit_code, pin): (nip, name)
        for unit_code, pin, nip, name in await DevicePin.filter(
            unit_id__in=sorted({u for u, _ in by_person})
        ).values_list("unit_id", "pin", "employee__nip", "employee__name")
    }
    rows = []
    for (unit_code, pin), moments in sorted(by_person.items()):
        nip, name = names.get((unit_code, pin), (None, None))
        rows.append(
            DayAttendance(
                unit=unit_code,
                pin=pin,
                nip=nip,
                name=name,
                first_in=moments[0],
                last_out=moments[-1] if len(moments) > 1 else None,
                punches=len(moments),
            )
        )
    return rows


def format_table(rows: list[DayAttendance]) -> str:
    header = ("NIP", "Name", "PIN", "In", "Out", "Punches")
    body = [
        (
            r.nip or "(unmapped)",
            r.name or "",
            r.pin,
            r.first_in.strftime("%H:%M:%S"),
            r.last_out.strftime("%H:%M:%S") if r.last_out else "-",
            str(r.punches),
        )
        for r in rows
    ]
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *body, strict=False)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in [header, *body]]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
