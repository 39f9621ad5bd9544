"""The office zones: one table (wire/zones.py) that the gateway, the registry and the pages all use, and an
unknown zone is an error wherever it turns up, never a quiet WIB."""

from __future__ import annotations

from datetime import timedelta

import pytest

from scoring import ZONE_OFFSETS_MINUTES, zone_name
from server.db import close_database, open_database
from server.models import Office, Unit
from server.services import registry
from server.services.attendance import unit_zones
from wire.zones import OFFICE_ZONES, WIB, ZONE_NAMES, office_zone


def test_one_table_and_scoring_keeps_the_same_offsets():
    assert ZONE_NAMES == ("WIB", "WITA", "WIT") == registry.ZONES
    offsets = {name: int(zone.utcoffset(None) / timedelta(minutes=1)) for name, zone in OFFICE_ZONES.items()}
    assert offsets == ZONE_OFFSETS_MINUTES  # scoring imports nothing of ours: a copy, held equal
    for alias in ("Asia/Jakarta", "Asia/Pontianak", "Asia/Makassar", "Asia/Jayapura", "wita"):
        assert office_zone(alias) is OFFICE_ZONES[zone_name(alias)]
    assert WIB is office_zone("wib")


def test_an_unknown_zone_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown office time zone 'CET'"):
        office_zone("CET")
    with pytest.raises(registry.RegistryError, match="zone"):
        registry.check_zone("CET")


async def test_an_office_with_a_zone_the_table_does_not_know_is_an_error_not_wib(db_url):
    context = await open_database(db_url)
    try:
        await Unit.create(code="unit-wita", name="Makassar")
        await Unit.create(code="unit-bad", name="Somewhere")
        await Office.create(code="mks", name="Makassar", unit_id="unit-wita", zone="WITA")
        assert await unit_zones() == {"unit-wita": OFFICE_ZONES["WITA"]}
        # Written past the registry's check (an old row, a hand-edited database): the zone is not guessed.
        await Office.create(code="bad", name="Somewhere", unit_id="unit-bad", zone="CET")
        with pytest.raises(ValueError, match="unit unit-bad: unknown office time zone 'CET'"):
            await unit_zones()
    finally:
        await close_database(context)
