"""The pages' language: gettext catalogues (Indonesian first, English complete) and Indonesian formats.

Messages are written in English in the templates and the code (`_("Monthly recap")` in a template,
`translate(language, "...")` or `N_("...")` in Python) and translated through the catalogues in
`locale/<language>/LC_MESSAGES/messages.po`, maintained with Babel:

    pybabel extract -F babel.cfg -o server/pages/locale/messages.pot .
    pybabel update -i server/pages/locale/messages.pot -d server/pages/locale

The .po files ship in the package and are compiled in memory the first time a language is used, so a
fresh clone works after `pip install -e .` with no compile step (a `pybabel compile`d .mo, when newer than
its .po, is used instead). A message the Indonesian catalogue lacks is shown in English and recorded in
`MISSING` (and logged): the tests fail on it.

Dates, months, percentages and money are Babel's, in the reader's locale: `2 Desember 2026`,
`Desember 2026`, `6,90%`, `Rp 4.595.150`.
"""

from __future__ import annotations

import io
import logging
import re
from datetime import date, datetime, timezone
from functools import lru_cache
from pathlib import Path

from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal, format_percent
from babel.support import Translations

log = logging.getLogger(__name__)

LANGUAGES = ("id", "en")
DEFAULT_LANGUAGE = "id"
LOCALE_DIR = Path(__file__).parent / "pages" / "locale"  # shipped beside the templates
DOMAIN = "messages"
# Babel locale per page language: English readers get day-month-year dates, like the Indonesian ones.
BABEL_LOCALE = {"id": "id_ID", "en": "en_GB"}

# (language, message) pairs a page asked for that the catalogue lacks; the tests assert it stays empty.
MISSING: set[tuple[str, str]] = set()


def N_(message: str) -> str:  # the gettext convention Babel extracts
    """Marks a message for extraction where it is defined; it is translated where it is shown."""
    return message


class TranslatedError(ValueError):
    """A refusal whose ``message`` is marked for the catalogue and ``values`` fill in: English in ``str()``,
    the reader's language through ``text(language)``."""

    def __init__(self, message: str, **values: object) -> None:
        super().__init__(message.format(**values))
        self.message, self.values = message, values

    def text(self, language: str) -> str:
        return translate(language, self.message, **self.values)


@lru_cache(maxsize=len(LANGUAGES))
def translations(language: str) -> Translations:
    folder = LOCALE_DIR / language / "LC_MESSAGES"
    po, mo = folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"
    if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as compiled:
            return Translations(compiled, domain=DOMAIN)
    with po.open("rb") as source:
        catalog = read_po(source, locale=language, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def _known(language: str) -> dict[str, str]:
    # The compiled catalogue's own table: gettext() cannot tell "untranslated" from "translated alike".
    return translations(language)._catalog  # type: ignore[attr-defined]


def translate(language: str, message: str, **values: object) -> str:
    """`message` (English, with `{name}` placeholders) in `language`, filled in with `values`."""
    language = language if language in LANGUAGES else DEFAULT_LANGUAGE
    text = _known(language).get(message)
    if not text:
        if (language, message) not in MISSING:
            log.warning("no %s translation for %r", language, message)
        MISSING.add((language, message))
        text = message
    return text.format(**values) if values else text


@lru_cache(maxsize=len(LANGUAGES))
def _patterns(language: str) -> list[tuple[re.Pattern[str], str]]:
    """Catalogue messages with placeholders, as patterns that recognise the English text they make."""
    found = []
    for message, text in _known(language).items():
        if not isinstance(message, str) or "{" not in message or not text:
            continue
        parts = re.split(r"\{(\w+)\}", message)
        regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(parts))
        try:
            found.append((re.compile(regex + r"\Z", re.DOTALL), text))
        except re.error:  # the same placeholder twice: left to exact matches
            continue
    return found


def translate_text(language: str, text: str, record: bool = True) -> str:
    """An English message already filled in (an error's reason carried to a page) in `language`: the
    catalogue's translation of it, its placeholders' values kept; else the text as it is (recorded)."""
    text = text.strip()
    if not text:
        return text
    known = _known(language)
    if known.get(text):
        return known[text]
    for pattern, translation in _patterns(language):
        if match := pattern.match(text):
            return translation.format(**match.groupdict())
    if record and language != "en":
        MISSING.add((language, text))
    return text


def pick_language(query_value: str | None, cookie_value: str | None, account_value: str | None) -> str:
    for candidate in (query_value, cookie_value, account_value):
        if candidate in LANGUAGES:
            return candidate  # type: ignore[return-value]
    return DEFAULT_LANGUAGE


class Formats:
    """Numbers, dates and times as a reader of `language` writes them (Babel's CLDR data)."""

    def __init__(self, language: str) -> None:
        self.language = language
        self.locale = BABEL_LOCALE.get(language, BABEL_LOCALE[DEFAULT_LANGUAGE])

    def percent(self, basis_points: int | float, digits: int = 2) -> str:
        """Basis points (690) as a percentage: `6,90%` in Indonesian."""
        pattern = "#,##0." + "0" * digits + "%" if digits else "#,##0%"
        return format_percent(basis_points / 10000, pattern, locale=self.locale)

    def number(self, value: int | float) -> str:
        return format_decimal(value, locale=self.locale)

    def rupiah(self, amount: int | float) -> str:
        return format_currency(amount, "IDR", format="¤ #,##0", currency_digits=False, locale=self.locale)

    def date(self, day: date) -> str:
        """`2 Desember 2026`."""
        return format_date(day, "d MMMM y", locale=self.locale)

    def short_date(self, day: date) -> str:
        """`2 Des 2026`."""
        return format_date(day, "d MMM y", locale=self.locale)

    def weekday_date(self, day: date) -> str:
        """`Rabu, 2 Desember 2026`."""
        return format_date(day, "EEEE, d MMMM y", locale=self.locale)

    def month(self, day: date) -> str:
        """`Desember 2026`."""
        return format_date(day, "LLLL y", locale=self.locale)

    def weekday(self, index: int, width: str = "abbreviated") -> str:
        """Monday is 0: `Sen`, or `Senin` with width="wide"."""
        from babel import Locale

        return Locale.parse(self.locale).days["format"][width][index]

    def clock(self, moment: datetime | None, zone: timezone) -> str:
        """`12:16 WIB`: the moment on the office's clock, with the zone named."""
        if moment is None:
            return "–"
        local = moment.astimezone(zone)
        return f"{local:%H:%M} {local.tzname()}"

    def moment(self, moment: datetime | None, zone: timezone, seconds: bool = False) -> str:
        """`2 Des 2026 12:16 WIB`."""
        if moment is None:
            return "–"
        local = moment.astimezone(zone)
        clock = f"{local:%H:%M:%S}" if seconds else f"{local:%H:%M}"
        return f"{self.short_date(local.date())} {clock} {local.tzname()}"


# Names of the things the pages show by their code: translated where shown (`_(names.role[code])`).
NAMES: dict[str, dict[str, str]] = {
    "role": {
        "bureau_admin": N_("Personnel bureau administrator"),
        "unit_admin": N_("Unit administrator"),
        "supervisor": N_("Supervisor"),
        "employee": N_("Employee"),
        "operations": N_("Operations"),
    },
    "today": {
        "present": N_("Present on time"),
        "late": N_("Late"),
        "absent": N_("Absent"),
        "on_leave": N_("On leave / travel"),
        "not_yet_in": N_("Not yet in"),
        "day_off": N_("Day off"),
    },
    "claim": {
        "submitted": N_("Submitted"),
        "approved": N_("Approved"),
        "rejected": N_("Rejected"),
        "correction_requested": N_("Correction requested"),
    },
    "flag": {
        "outside_presence": N_("outside presence"),
        "over_presence_span": N_("over the presence span"),
        "over_quantity_limit": N_("over the activity's quantity limit"),
    },
    "excuse": {
        "annual_leave": N_("Annual leave"),
        "sick_leave": N_("Sick leave"),
        "big_leave": N_("Long leave"),
        "maternity_leave": N_("Maternity leave"),
        "important_reasons_leave": N_("Leave for important reasons"),
        "official_travel": N_("Official travel"),
        "work_from_home": N_("Work from home"),
    },
    "request": {
        "annual_leave": N_("Annual leave"),
        "sick_leave": N_("Sick leave"),
        "maternity_leave": N_("Maternity leave"),
        "important_reasons_leave": N_("Leave for important reasons"),
        "official_travel": N_("Official travel"),
        "work_from_home": N_("Work from home"),
        "attendance_correction": N_("Correction of attendance"),
    },
    "request_status": {
        "pending": N_("Waiting for a decision"),
        "approved": N_("Approved"),
        "rejected": N_("Rejected"),
        "cancelled": N_("Cancelled"),
    },
    "request_decision": {
        "approve": N_("Approved"),
        "reject": N_("Rejected"),
    },
    "command": {
        "sync_clock": N_("Sync clocks"),
        "write_user": N_("Write user to devices"),
        "reread_device": N_("Read the log again"),
        "sync_users": N_("Sync users and templates"),
        "reload_config": N_("Reload the configuration"),
        "upgrade": N_("Upgrade the gateway"),
        "reboot_device": N_("Restart the device"),
        "clear_log": N_("Clear the attendance log"),
    },
    "command_status": {
        "pending": N_("Waiting"),
        "sent": N_("Sent"),
        "ok": N_("Done"),
        "failed": N_("Failed"),
        "expired": N_("Expired"),
    },
    "day": {
        "ok": N_("On time"),
        "TL": N_("Late (TL)"),
        "PSW": N_("Left early (PSW)"),
        "TK": N_("Absent without reason (TK)"),
        "excused": N_("Leave / official travel"),
        "weekend": N_("Weekend"),
        "holiday": N_("Public holiday"),
        "joint_leave": N_("Joint leave"),
        "day_off": N_("Day off"),
        "future": N_("Not yet"),
        "off_roster": N_("Not on the roster"),
        "not_employed": N_("Not in this unit"),
        "not_live": N_("Before the unit's go-live date"),
        "working": N_("Working day"),
        "shift": N_("Shift"),
    },
}
