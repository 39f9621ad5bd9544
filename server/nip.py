"""The NIP, the 18-digit civil-servant number: birth date (YYYYMMDD), appointment month (YYYYMM),
sex (1 male, 2 female) and a 3-digit sequence. A NIP that does not decode is a typing error."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

_NIP = re.compile(r"^[0-9]{18}$")

# Nobody in service was born before this, and nobody is appointed younger than this.
OLDEST_BIRTH_YEAR = 1940
YOUNGEST_APPOINTMENT_AGE = 15


class InvalidNip(ValueError):
    """The text says which part of the NIP is wrong."""


@dataclass(frozen=True, slots=True)
class Nip:
    text: str
    birth_date: date
    appointment_year: int
    appointment_month: int
    sex: int
    sequence: int

    @property
    def appointment(self) -> str:
        return f"{self.appointment_year:04d}-{self.appointment_month:02d}"


def parse_nip(text: str, *, today: date | None = None) -> Nip:
    today = today or date.today()
    if not isinstance(text, str) or not _NIP.match(text):
        raise InvalidNip(f"NIP must be exactly 18 digits, got {text!r}")
    try:
        birth = date(int(text[0:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        raise InvalidNip(f"NIP {text}: digits 1-8 are not a birth date (YYYYMMDD)") from None
    if not OLDEST_BIRTH_YEAR <= birth.year <= today.year - YOUNGEST_APPOINTMENT_AGE:
        raise InvalidNip(f"NIP {text}: birth year {birth.year} is not plausible for a civil servant")
    year, month = int(text[8:12]), int(text[12:14])
    if not 1 <= month <= 12:
        raise InvalidNip(f"NIP {text}: digits 9-14 are not an appointment month (YYYYMM)")
    if year < birth.year + YOUNGEST_APPOINTMENT_AGE or (year, month) > (today.year, today.month):
        raise InvalidNip(f"NIP {text}: appointment {year:04d}-{month:02d} does not fit birth date {birth}")
    sex = int(text[14])
    if sex not in (1, 2):
        raise InvalidNip(f"NIP {text}: digit 15 is the sex, 1 or 2, got {sex}")
    sequence = int(text[15:18])
    if sequence == 0:
        raise InvalidNip(f"NIP {text}: the sequence (digits 16-18) starts at 001")
    return Nip(text, birth, year, month, sex, sequence)
