"""Indonesia's three time zones.

Offices sit in WIB (Western Indonesia Time, UTC+7), WITA (Central, UTC+8) or WIT (Eastern, UTC+9).
None of them observes daylight saving, so a fixed offset is exact and the library needs no tz database.
The IANA names of the zones' main cities are accepted as aliases.
"""

from __future__ import annotations

from datetime import timedelta, timezone

ZONE_OFFSETS_MINUTES: dict[str, int] = {"WIB": 7 * 60, "WITA": 8 * 60, "WIT": 9 * 60}
ZONE_ALIASES: dict[str, str] = {
    "Asia/Jakarta": "WIB",
    "Asia/Pontianak": "WIB",
    "Asia/Makassar": "WITA",
    "Asia/Jayapura": "WIT",
}

_TZINFO: dict[int, timezone] = {}


def zone_name(name: str) -> str:
    """``"wita"`` or ``"Asia/Makassar"`` -> ``"WITA"``; ``KeyError`` for anything else."""
    upper = name.strip().upper()
    if upper in ZONE_OFFSETS_MINUTES:
        return upper
    return ZONE_ALIASES[name.strip()]


def zone_tzinfo(offset_minutes: int) -> timezone:
    """One shared ``timezone`` object per offset (identity lets datetime arithmetic take its fast path)."""
    tz = _TZINFO.get(offset_minutes)
    if tz is None:
        name = next((k for k, v in ZONE_OFFSETS_MINUTES.items() if v == offset_minutes), None)
        delta = timedelta(minutes=offset_minutes)
        tz = timezone(delta, name) if name else timezone(delta)
        _TZINFO[offset_minutes] = tz
    return tz
