"""Dates and times typed into the pages' forms, the Indonesian way whatever the browser's own language.

A browser's date and time fields (`<input type="date">`, `type="time"`) draw themselves in the browser's
locale, not the page's: Chromium set to English (United States) shows `12/03/2026` and `09:00 AM` on an
Indonesian page, and `lang="id"` does not change it. So the forms use text fields with the Indonesian
pattern shown as a hint — day/month/year (`03/12/2026`) and the 24-hour clock (`09:00` or `09.00`) — and
read them here, with an Indonesian error (through the catalogue) when a value is not one. An ISO date
(`2026-12-03`), what a script or an older form posts, is read as well.
"""

from __future__ import annotations

import re
from datetime import date

from server.errors import Invalid
from server.i18n import N_

_DAY = re.compile(r"(?P<d>\d{1,2})[/.\-](?P<m>\d{1,2})[/.\-](?P<y>\d{4})")
_ISO_DAY = re.compile(r"(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})")
_CLOCK = re.compile(r"(?P<h>\d{1,2})[:.](?P<m>\d{2})")

BAD_DAY = N_("{value} is not a date: write it as day/month/year, for example 03/12/2026")
BAD_CLOCK = N_("{value} is not a time of day: write it on the 24-hour clock, for example 09:00")


def show_day(day: date) -> str:
    """A date as the form shows it: `03/12/2026`."""
    return f"{day:%d/%m/%Y}"


def parse_day(text: object) -> date:
    """`03/12/2026` (also `3/12/2026`, `03-12-2026`, `03.12.2026`) or `2026-12-03`; Invalid otherwise."""
    value = str(text or "").strip()
    found = _DAY.fullmatch(value) or _ISO_DAY.fullmatch(value)
    try:
        if found is None:
            raise ValueError(value)
        return date(int(found["y"]), int(found["m"]), int(found["d"]))
    except ValueError:
        raise Invalid(BAD_DAY.format(value=repr(value))) from None


def form_day(text: object) -> str:
    """The typed date as the services take it (ISO)."""
    return parse_day(text).isoformat()


def form_clock(text: object) -> str:
    """`09:00`, `9.00` or `9:00` as `09:00`; Invalid when it is not a time of day."""
    value = str(text or "").strip()
    found = _CLOCK.fullmatch(value)
    if found is None or int(found["h"]) > 23 or int(found["m"]) > 59:
        raise Invalid(BAD_CLOCK.format(value=repr(value)))
    return f"{int(found['h']):02d}:{found['m']}"
