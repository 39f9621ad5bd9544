"""Activity outputs (e-Kinerja) as the pages and API handle them: entry, the approval queue, decisions.

Storage belongs to the scoring results' models; this module reads and writes through them."""

from __future__ import annotations

from datetime import date


async def approved_minutes_by_day(nip: str, month: date) -> dict[date, int]:
    """Approved activity minutes of one employee per day of `month`."""
    return {}
