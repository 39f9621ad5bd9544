"""Picking a month in the reader's language, without JavaScript.

A native `<input type=month>` is drawn by the browser in the browser's language ("December 2026" on an
Indonesian page) and is a bare text field in some browsers; instead the pages offer a `<select>` of months
named by Babel ("Desember 2026"), the value still `YYYY-MM` so the servers' parsing is unchanged, and
links to the months before and after, named the same way (templates/_months.html).
"""

from __future__ import annotations

import re
from datetime import date

from server.i18n import Formats
from server.services.month import next_month, previous_month

BEFORE, AFTER = 24, 12  # two years back (a recap, a correction) and one ahead (planning)


def months_around(month: date, before: int = BEFORE, after: int = AFTER) -> list[date]:
    """The first days of the months from `before` months before `month` to `after` after it, newest first."""
    found = [month.replace(day=1)]
    for _ in range(after):
        found.insert(0, next_month(found[0]))
    for _ in range(before):
        found.append(previous_month(found[-1]))
    return found


def month_links(month: date) -> tuple[date, date]:
    """The months a "previous" and a "next" link lead to."""
    return previous_month(month), next_month(month)


_MONTH_CODE = re.compile(r"(?<!['\d-])(\d{4})-(0[1-9]|1[0-2])(?![\d'-])")


def months_named(text: str, fmt: Formats) -> str:
    """A reason that names a month as `2026-12` (the scoring's words) with the month named the reader's
    way, `Desember 2026`; a value echoed back in quotes is left as it was typed."""
    return _MONTH_CODE.sub(lambda m: fmt.month(date(int(m[1]), int(m[2]), 1)), text)
