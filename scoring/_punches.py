"""Punches as the scoring sees them, and what it needs of one employee for one month.

A :class:`Punch` is an employee's punch after the server has mapped the device PIN to a NIP: an aware
datetime (any zone; the office's zone decides the local day) and the device's state key, which users
press unreliably, so the policy decides whether to trust it.

Internally the scoring works in UTC epoch seconds: :class:`EmployeeMonth` holds punch times as sorted
integers, so no per-punch objects are needed at all (the server builds it from database rows directly).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import islice
from operator import le
from typing import Any

from ._activities import Claim
from ._errors import InputError

_EPOCH_UTC = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_SECOND = timedelta(seconds=1)


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

    @property
    def epoch(self) -> int:
        """UTC epoch seconds."""
        return (self.at - _EPOCH_UTC) // _ONE_SECOND


@dataclass(frozen=True, slots=True)
class EmployeeMonth:
    """What the scoring needs of one employee for one month.

    ``times``: punches as UTC epoch seconds (the days around the month included, for night shifts);
    ``states`` and ``devices`` run parallel to it (``states`` only matters when the policy trusts them).
    ``excuses``: excuse kind per day (``annual_leave``, ``official_travel`` ...; the policy's kinds).
    ``roster``: shift code per start date, for shift workers; ``None`` means office hours.
    ``employed``: the spans of days (first, last; last ``None``: open) the employee belonged to the unit
    being scored, active; ``None`` means the whole month. A day outside every span is never scored: no
    TK, not a planned day, no part of the activity target (started mid-month, ended, transferred away).
    """

    nip: str
    times: Sequence[int] = ()
    states: Sequence[int] | None = None
    devices: Sequence[str] | None = None
    excuses: Mapping[date, str] = field(default_factory=dict)
    roster: Mapping[date, str] | None = None
    claims: Sequence[Claim] = ()
    employed: Sequence[tuple[date, date | None]] | None = None

    def __post_init__(self) -> None:
        for first, last in self.employed or ():
            if last is not None and last < first:
                raise InputError(f"{self.nip}: employment span {first} to {last} ends before it starts")

    def employed_on(self, day: date) -> bool:
        """Whether ``day`` is inside one of the employment spans (always, without spans)."""
        if self.employed is None:
            return True
        return any(first <= day and (last is None or day <= last) for first, last in self.employed)

    @classmethod
    def from_punches(cls, nip: str, punches: Iterable[Punch], **rest: Any) -> EmployeeMonth:
        """From :class:`Punch` objects in any zone and any order."""
        rows = sorted((p.epoch, p.state, p.device) for p in punches)
        return cls(
            nip,
            [r[0] for r in rows],
            states=[r[1] for r in rows],
            devices=[r[2] for r in rows],
            **rest,
        )

    def in_time_order(self) -> EmployeeMonth:
        """The same input with punches sorted by time (input from a database usually is already)."""
        times = self.times
        if all(map(le, times, islice(times, 1, None))):
            return self
        order = sorted(range(len(times)), key=times.__getitem__)
        states, devices = self.states, self.devices
        return EmployeeMonth(
            self.nip,
            [times[i] for i in order],
            None if states is None else [states[i] for i in order],
            None if devices is None else [devices[i] for i in order],
            self.excuses,
            self.roster,
            self.claims,
            self.employed,
        )
