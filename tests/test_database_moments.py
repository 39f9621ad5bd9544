"""Moments in the database: a query bounded in an office's zone finds what is stored, on both deployments.

SQLite keeps a moment as text and compares text, so every moment is written in UTC (server/db.py's adapter);
before that, a WIB day's bounds ("00:00+07:00") missed the punches of its first seven hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from server.db import close_database, open_database
from server.models import Punch

WIB = timezone(timedelta(hours=7))
WIT = timezone(timedelta(hours=9))


async def test_a_day_bounded_in_the_offices_zone_holds_its_small_hours_whatever_zone_they_were_stored_in(db_url):
    context = await open_database(db_url)
    try:
        day = datetime(2026, 12, 5, tzinfo=WIB)
        inside = [day + timedelta(minutes=1), day + timedelta(hours=6, minutes=59), day + timedelta(hours=23)]
        outside = [day - timedelta(minutes=1), day + timedelta(days=1, hours=3)]
        for index, at in enumerate(inside + outside):
            stored_as = (at.astimezone(UTC), at, at.astimezone(WIT))[index % 3]  # as callers hand them in
            await Punch.create(
                device_serial="D", pin=str(index), punched_at=stored_as, utc_offset_minutes=420, state=0, verify=1,
                unit_code="u", gateway_id="g", batch_id="b",
            )  # fmt: skip
        found = await Punch.filter(punched_at__gte=day, punched_at__lt=day + timedelta(days=1)).values_list(
            "pin", flat=True
        )
        assert sorted(found) == ["0", "1", "2"]
        in_utc = day.astimezone(UTC)
        assert await Punch.filter(punched_at__gte=in_utc, punched_at__lt=in_utc + timedelta(days=1)).count() == 3
        first = await Punch.filter(pin="1").first()
        assert first is not None and first.punched_at == inside[1]
    finally:
        await close_database(context)
