"""Activity outputs (e-Kinerja): the catalogue, claims and the superior's decisions.

Every activity in the catalogue has a standard duration in minutes and is tied to an output code of
the unit's budget work plan (RKAKL). An employee claims an activity (when, how many, for which
output, with an evidence note); the superior approves it, rejects it with a reason, or asks for a
correction, after which the employee submits it again. Only approved minutes are effective.

Claims are immutable: a decision returns a new claim. Times are UTC epoch seconds (see
:mod:`scoring._plan`); :meth:`Catalogue.claim` takes an aware datetime and converts it once.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from ._errors import ClaimTransitionError, InputError, PolicyError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ClaimState(StrEnum):
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"
    CORRECTION_REQUESTED = "correction_requested"


@dataclass(frozen=True, slots=True)
class Activity:
    """One catalogue entry: ``standard_minutes`` per unit of ``quantity``; ``output`` is an RKAKL output code."""

    code: str
    name: str
    standard_minutes: int
    output: str = ""

    def __post_init__(self) -> None:
        if self.standard_minutes < 1:
            raise InputError(f"activity {self.code}: standard minutes must be 1 or more, not {self.standard_minutes}")


@dataclass(frozen=True, slots=True)
class Claim:
    """An activity an employee says they did. ``start`` is UTC epoch seconds; ``minutes`` is the
    catalogue's standard minutes times ``quantity`` (fixed when the claim is made)."""

    claim_id: str
    activity: str
    start: int
    quantity: int
    minutes: int
    output: str = ""
    evidence: str = ""
    state: ClaimState = ClaimState.SUBMITTED
    reason: str = ""

    @property
    def end(self) -> int:
        return self.start + self.minutes * 60

    @property
    def is_approved(self) -> bool:
        return self.state is ClaimState.APPROVED

    def approve(self) -> Claim:
        self._expect(ClaimState.SUBMITTED, "approve")
        return replace(self, state=ClaimState.APPROVED, reason="")

    def reject(self, reason: str) -> Claim:
        self._expect(ClaimState.SUBMITTED, "reject")
        if not reason.strip():
            raise ClaimTransitionError(f"claim {self.claim_id}: a rejection needs a reason the employee can read")
        return replace(self, state=ClaimState.REJECTED, reason=reason.strip())

    def request_correction(self, note: str) -> Claim:
        self._expect(ClaimState.SUBMITTED, "ask for a correction of")
        if not note.strip():
            raise ClaimTransitionError(f"claim {self.claim_id}: a correction request needs a note saying what to fix")
        return replace(self, state=ClaimState.CORRECTION_REQUESTED, reason=note.strip())

    def resubmit(self, *, quantity: int | None = None, evidence: str | None = None, catalogue: Catalogue) -> Claim:
        """The employee's corrected claim, back to the superior."""
        self._expect(ClaimState.CORRECTION_REQUESTED, "resubmit")
        qty = self.quantity if quantity is None else quantity
        if qty < 1:
            raise InputError(f"claim {self.claim_id}: quantity must be 1 or more")
        minutes = catalogue.activity(self.activity).standard_minutes * qty
        return replace(
            self,
            quantity=qty,
            minutes=minutes,
            evidence=self.evidence if evidence is None else evidence,
            state=ClaimState.SUBMITTED,
            reason="",
        )

    def _expect(self, state: ClaimState, action: str) -> None:
        if self.state is not state:
            raise ClaimTransitionError(f"claim {self.claim_id} is {self.state}: cannot {action} it (must be {state})")


@dataclass(frozen=True, slots=True)
class Catalogue:
    activities: tuple[Activity, ...]

    def __post_init__(self) -> None:
        codes = [a.code for a in self.activities]
        if len(set(codes)) != len(codes):
            raise InputError(f"catalogue: activity codes must be unique, found {sorted(codes)}")

    def activity(self, code: str) -> Activity:
        for act in self.activities:
            if act.code == code:
                return act
        raise InputError(f"activity '{code}' is not in the catalogue")

    def claim(
        self,
        claim_id: str,
        activity: str,
        start: datetime,
        quantity: int = 1,
        *,
        evidence: str = "",
        output: str | None = None,
    ) -> Claim:
        """A new submitted claim. ``start`` must be aware; ``output`` defaults to the activity's RKAKL output."""
        if start.tzinfo is None or start.utcoffset() is None:
            raise InputError(f"claim {claim_id}: start {start.isoformat()} has no time zone")
        if quantity < 1:
            raise InputError(f"claim {claim_id}: quantity must be 1 or more, not {quantity}")
        act = self.activity(activity)
        seconds = int((start - _EPOCH).total_seconds())
        return Claim(
            claim_id,
            act.code,
            seconds,
            quantity,
            act.standard_minutes * quantity,
            act.output if output is None else output,
            evidence,
        )


def load_catalogue(path: str | Path) -> Catalogue:
    """A catalogue file: ``[activities.<code>]`` tables with ``name``, ``minutes`` and ``output``."""
    source = str(path)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(source, "(syntax)", str(exc), "valid TOML") from None
    table = data.get("activities")
    if not isinstance(table, dict):
        raise PolicyError(source, "activities", table, "[activities.<code>] tables")
    return Catalogue(tuple(_activity(source, code, row) for code, row in table.items()))


def _activity(source: str, code: str, row: object) -> Activity:
    key = f"activities.{code}"
    if not isinstance(row, dict):
        raise PolicyError(source, key, row, '{ name = "...", minutes = 30, output = "3360.001" }')
    unknown = set(row) - {"name", "minutes", "output"}
    if unknown:
        raise PolicyError(source, f"{key}.{sorted(unknown)[0]}", row[sorted(unknown)[0]], "name, minutes or output")
    minutes = row.get("minutes")
    if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes < 1:
        raise PolicyError(source, f"{key}.minutes", minutes, "whole standard minutes, 1 or more")
    name = row.get("name", code)
    output = row.get("output", "")
    if not isinstance(name, str) or not isinstance(output, str):
        raise PolicyError(source, key, row, "name and output as strings")
    return Activity(code, name, minutes, output)
