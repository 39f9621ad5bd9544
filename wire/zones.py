"""Office time zones, the one table of them. Indonesia keeps no daylight saving, so a fixed offset per
zone is exact.

Device clocks are local wall time without a zone; the office's zone turns them into instants. The
gateway reads its zone from its config, the server each office's from the registry; both through
`office_zone`, which refuses a zone it does not know rather than guess one. (scoring/ keeps its own
copy of the offsets, since it imports nothing of ours; tests/test_zones.py holds the two equal.)
"""

from __future__ import annotations

from datetime import timedelta, timezone

OFFICE_ZONES: dict[str, timezone] = {
    "WIB": timezone(timedelta(hours=7), "WIB"),  # western Indonesia: Sumatra, Java, West/Central Kalimantan
    "WITA": timezone(timedelta(hours=8), "WITA"),  # central: Bali, Nusa Tenggara, Sulawesi, East/South Kalimantan
    "WIT": timezone(timedelta(hours=9), "WIT"),  # eastern: Maluku, Papua
}
ZONE_NAMES: tuple[str, ...] = tuple(OFFICE_ZONES)  # as the registry stores them
WIB = OFFICE_ZONES["WIB"]
_IANA = {"Asia/Jakarta": "WIB", "Asia/Pontianak": "WIB", "Asia/Makassar": "WITA", "Asia/Jayapura": "WIT"}


def office_zone(name: str) -> timezone:
    """'WIB', 'WITA', 'WIT' or the matching IANA name ('Asia/Jakarta', ...)."""
    key = _IANA.get(name, name.upper())
    try:
        return OFFICE_ZONES[key]
    except KeyError:
        known = sorted(OFFICE_ZONES) + sorted(_IANA)
        raise ValueError(f"unknown office time zone {name!r}; expected one of {', '.join(known)}") from None
