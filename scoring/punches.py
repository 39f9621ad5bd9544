"""Punches as the scoring sees them, and the one fast conversion to office-local seconds.

A :class:`Punch` is an employee's punch after the server has mapped the device PIN to a NIP: an aware
datetime (any zone; the office's zone decides the local day) and the device's state key, which users
press unreliably, so the policy decides whether to trust it.

Internally the scoring works in *local seconds*: seconds since 1970-01-01 00:00 in the office's zone.
Whole days are then plain integer division, and no per-punch objects are created.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from operator import le

from .errors import InputError

_EPOCH_UTC = datetime(1970, 1, 1, tzinfo=UTC)
SECONDS_PER_DAY = 86_400


@dataclass(frozen=True, slots=True)
class Punch:
    """One attendance punch of one employee.

    ``at`` must be timezone-aware. ``state`` is the device's punch state key (0 check-in,
    1 check-out, 2 break-out, 3 break-in, 4 overtime-in, 5 overtime-out). ``device`` is the device's
    serial, kept so an explanation can say where the punch came from.
    """

    at: datetime
    state: int = 0
    device: str = ""

    def __post_init__(self) -> None:
        if self.at.tzinfo is None or self.at.utcoffset() is None:
            raise InputError(f"punch time {self.at.isoformat()} has no time zone: expected an aware datetime")


def _epoch_for(tz: tzinfo | None, office_offset_s: int) -> tuple[datetime, int]:
    """An epoch in ``tz`` plus the seconds to add so that ``(at - epoch)`` becomes office-local seconds.

    For a fixed-offset ``timezone`` the epoch is 1970-01-01 00:00 *in that same tzinfo object*: Python
    then subtracts wall times without consulting offsets (its fast path), and one constant converts.
    Any other tzinfo goes through UTC, which is exact for zones with daylight saving too.
    """
    if isinstance(tz, timezone):
        offset = tz.utcoffset(None)
        return datetime(1970, 1, 1, tzinfo=tz), office_offset_s - int(offset.total_seconds())
    return _EPOCH_UTC, office_offset_s


def local_seconds(punches: Sequence[Punch], office_offset_s: int) -> list[int]:
    """Office-local seconds of each punch, in the order given."""
    out: list[int] = []
    append = out.append
    last_tz: object = _EPOCH_UTC  # never a punch's tzinfo object, so the first punch sets things up
    epoch, shift = _EPOCH_UTC, office_offset_s
    for p in punches:
        at = p.at
        tz = at.tzinfo
        if tz is not last_tz:
            epoch, shift = _epoch_for(tz, office_offset_s)
            last_tz = tz
        d = at - epoch
        append(d.days * SECONDS_PER_DAY + d.seconds + shift)
    return out


def sorted_punches(punches: Sequence[Punch], office_offset_s: int) -> tuple[list[int], list[Punch]]:
    """Local seconds and punches, both in time order (input from a database is usually sorted already)."""
    secs = local_seconds(punches, office_offset_s)
    plist = list(punches)
    if not all(map(le, secs, secs[1:])):
        order = sorted(range(len(secs)), key=secs.__getitem__)
        secs = [secs[i] for i in order]
        plist = [plist[i] for i in order]
    return secs, plist


def local_datetime(seconds: int, tz: timezone) -> datetime:
    """Office-local seconds back to an aware datetime in the office zone."""
    return datetime(1970, 1, 1, tzinfo=tz) + timedelta(seconds=seconds)
