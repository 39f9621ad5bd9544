"""NIP validation: what a typing error looks like, and that every valid NIP decodes to its parts."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.nip import InvalidNip, parse_nip

TODAY = date(2026, 11, 25)


def test_a_valid_nip_decodes_birth_appointment_sex_and_sequence():
    nip = parse_nip("198503122010011001", today=TODAY)
    assert (nip.birth_date, nip.appointment, nip.sex, nip.sequence) == (date(1985, 3, 12), "2010-01", 1, 1)


@pytest.mark.parametrize(
    ("text", "part"),
    [
        ("19850312201001100", "18 digits"),
        ("1985031220100110011", "18 digits"),
        ("19850312201001100a", "18 digits"),
        ("198502302010011001", "birth date"),
        ("183003122010011001", "birth year"),
        ("198503122010131001", "appointment month"),
        ("198503121995011001", "does not fit"),
        ("198503122030011001", "does not fit"),
        ("198503122010013001", "sex"),
        ("198503122010011000", "sequence"),
    ],
)
def test_invalid_nips_say_which_part_is_wrong(text, part):
    with pytest.raises(InvalidNip, match=part):
        parse_nip(text, today=TODAY)


@given(
    birth=st.dates(date(1950, 1, 1), date(2000, 12, 31)),
    offset_months=st.integers(18 * 12, 25 * 12),
    sex=st.sampled_from([1, 2]),
    sequence=st.integers(1, 999),
)
def test_every_well_formed_nip_round_trips(birth, offset_months, sex, sequence):
    months = birth.year * 12 + birth.month - 1 + offset_months
    year, month = divmod(months, 12)
    text = f"{birth:%Y%m%d}{year:04d}{month + 1:02d}{sex}{sequence:03d}"
    nip = parse_nip(text, today=TODAY)
    assert (nip.birth_date, nip.appointment_year, nip.appointment_month, nip.sex, nip.sequence) == (
        birth, year, month + 1, sex, sequence,
    )  # fmt: skip
