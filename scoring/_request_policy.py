"""The request policy: what an employee may ask for (leave, official travel, work from home, a correction
of attendance), who approves each kind and by when it must be filed.

Data, not code: ``presets/requests/*.toml`` (or an agency's own file, same shape). For each request type:

- ``excuse``: the attendance policy's excuse kind an approved request becomes (``annual_leave`` ...), or
  ``correction = true`` for a correction of attendance (a forgotten punch, a broken device), which becomes
  a corrected punch instead;
- ``evidence``: ``"required"`` (sick leave's doctor's letter), ``"optional"`` or ``"none"``;
- ``approval``: tiers by the number of calendar days asked for, as BioTime does: each tier ``by`` a list
  of steps decided in order (``["supervisor"]``, ``["unit_admin"]``, ``["supervisor", "unit_admin"]`` for
  both), the last tier without ``up_to_days``;
- ``deadline``: ``{ day_of_next_month = 22 }`` (filed at the latest on the 22nd of the month after the
  request's last day) or ``{ days_after = 7 }`` (at the latest 7 days after it);
- ``max_days``: the longest request of this type (a correction is one day).

And ``[objections.<subject>]``: an employee's objection (keberatan) to a day's category (``day``), a
rejected request (``request``), a rejected activity claim (``claim``) or a month's result (``month``):
``decided_by`` ``"second_supervisor"`` (the superior's superior: the employee's supervisor's own
supervisor, the bureau when there is none) or ``"bureau"``, and a ``deadline`` as above, counted from the
day, the rejection or the month's last day. A policy without the table takes no objections.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from ._errors import PolicyError
from ._policy_parse import Reader

REQUEST_PRESET_DIR = Path(__file__).with_name("presets") / "requests"


class Approver(StrEnum):
    """Who decides one step of a request."""

    SUPERVISOR = "supervisor"
    """The employee's supervisor (atasan langsung), or one above them in the chain."""
    UNIT_ADMIN = "unit_admin"
    """An administrator of the employee's unit (or the personnel bureau)."""


class ObjectionDecider(StrEnum):
    """Who decides an objection: never the supervisor whose decision or record is objected to."""

    SECOND_SUPERVISOR = "second_supervisor"
    """The employee's supervisor's own supervisor (atasan dari atasan langsung)."""
    BUREAU = "bureau"
    """The personnel bureau."""


class ObjectionSubject(StrEnum):
    DAY = "day"
    REQUEST = "request"
    CLAIM = "claim"
    MONTH = "month"


class Evidence(StrEnum):
    REQUIRED = "required"
    OPTIONAL = "optional"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class ApprovalTier:
    """Requests of at most ``up_to_days`` days (None: any length) are decided by ``steps``, in order."""

    up_to_days: int | None
    steps: tuple[Approver, ...]


@dataclass(frozen=True, slots=True)
class Deadline:
    """The last day to file: the ``day_of_next_month``-th of the month after the request's last day, or
    ``days_after`` days after the last day. Exactly one of the two is set."""

    day_of_next_month: int | None = None
    days_after: int | None = None

    def last_filing_day(self, last_day: date) -> date:
        if self.days_after is not None:
            return last_day + timedelta(days=self.days_after)
        year, month = (last_day.year + 1, 1) if last_day.month == 12 else (last_day.year, last_day.month + 1)
        return date(year, month, self.day_of_next_month or 1)


@dataclass(frozen=True, slots=True)
class RequestType:
    kind: str
    label: str
    excuse: str | None  # the excuse kind an approved request becomes; None for a correction
    evidence: Evidence
    approval: tuple[ApprovalTier, ...]
    deadline: Deadline
    max_days: int

    @property
    def correction(self) -> bool:
        return self.excuse is None

    def steps_for(self, days: int) -> tuple[Approver, ...]:
        """Who decides a request of ``days`` calendar days, in order."""
        for tier in self.approval:
            if tier.up_to_days is None or days <= tier.up_to_days:
                return tier.steps
        return self.approval[-1].steps

    def filed_in_time(self, last_day: date, filed_on: date) -> bool:
        return filed_on <= self.deadline.last_filing_day(last_day)


@dataclass(frozen=True, slots=True)
class ObjectionRule:
    """Who decides an objection to ``subject`` and by when it must be filed (counted from the day, the
    rejection, or the month's last day)."""

    subject: ObjectionSubject
    label: str
    decided_by: ObjectionDecider
    deadline: Deadline


@dataclass(frozen=True, slots=True)
class RequestPolicy:
    name: str
    title: str
    effective_from: date
    types: tuple[RequestType, ...]
    source: str = "<code>"
    fingerprint: str = ""
    objections: tuple[ObjectionRule, ...] = ()

    def type(self, kind: str) -> RequestType | None:
        return next((t for t in self.types if t.kind == kind), None)

    def objection(self, subject: str) -> ObjectionRule | None:
        return next((o for o in self.objections if o.subject.value == subject), None)


def request_preset_names() -> list[str]:
    """The request policies shipped with the library (``national-common``, ...)."""
    return sorted(p.stem for p in REQUEST_PRESET_DIR.glob("*.toml"))


def load_request_policy(source: str | Path = "national-common") -> RequestPolicy:
    """One file, or a preset by name (without ``.toml``)."""
    text = str(source)
    path = Path(text) if isinstance(source, Path) or text.endswith(".toml") or "/" in text else None
    path = path or REQUEST_PRESET_DIR / f"{text}.toml"
    if not path.is_file():
        names = ", ".join(request_preset_names())
        raise PolicyError(".", "source", text, f"an existing .toml file or a request preset ({names})")
    shown = f"preset:requests/{path.stem}" if path.parent.resolve() == REQUEST_PRESET_DIR.resolve() else str(path)
    return parse_request_text(path.read_text(encoding="utf-8"), source=shown)


def parse_request_text(text: str, *, source: str = "<text>") -> RequestPolicy:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(source, "(syntax)", str(exc), "valid TOML") from None
    return request_policy_from_dict(data, source=source)


def request_policy_from_dict(data: dict[str, Any], *, source: str) -> RequestPolicy:
    r = Reader(data, source=source)
    meta = r.table("requests", required=True)
    name = meta.text("name")
    policy = RequestPolicy(
        name=name,
        title=meta.text("title", name),
        effective_from=meta.day("effective_from", meta.raw("effective_from")),
        types=_types(r.table("types", required=True)),
        objections=_objections(r.table("objections")),
        source=source,
        fingerprint=hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16],
    )
    meta.finish()
    r.finish()
    return policy


def _types(t: Reader) -> tuple[RequestType, ...]:
    if not t.data:
        raise t.fail("", t.data, "at least one request type")
    return tuple(_type(t.table(kind), kind) for kind in t.data)


def _objections(t: Reader) -> tuple[ObjectionRule, ...]:
    found = []
    for subject in t.data:
        if subject not in set(ObjectionSubject):
            raise t.fail(subject, t.data[subject], "an objection subject among day, request, claim, month")
        o = t.table(subject)
        found.append(
            ObjectionRule(
                subject=ObjectionSubject(subject),
                label=o.text("label", subject),
                decided_by=o.choice("decided_by", ObjectionDecider, ObjectionDecider.SECOND_SUPERVISOR),
                deadline=_deadline(o.table("deadline", required=True)),
            )
        )
        o.finish()
    return tuple(found)


def _type(t: Reader, kind: str) -> RequestType:
    correction = t.boolean("correction", False)
    excuse = None if correction else t.text("excuse")
    if correction and t.has("excuse"):
        raise t.fail("excuse", t.data["excuse"], "no excuse kind on a correction (it becomes a corrected punch)")
    found = RequestType(
        kind=kind,
        label=t.text("label", kind),
        excuse=excuse,
        evidence=t.choice("evidence", Evidence, Evidence.OPTIONAL),
        approval=_approval(t),
        deadline=_deadline(t.table("deadline", required=True)),
        max_days=1 if correction else t.integer("max_days", 366, minimum=1),
    )
    t.finish()
    return found


def _approval(t: Reader) -> tuple[ApprovalTier, ...]:
    tiers = t.raw("approval")
    if not isinstance(tiers, list) or not tiers:
        raise t.fail("approval", tiers, 'a list of tiers such as [{ by = ["supervisor"] }]')
    found = []
    for i, value in enumerate(tiers):
        if not isinstance(value, dict):
            raise t.fail(f"approval[{i}]", value, 'a tier such as { up_to_days = 3, by = ["supervisor"] }')
        tier = Reader(value, source=t.source, path=t.key(f"approval[{i}]"))
        last = i == len(tiers) - 1
        up_to = tier.integer("up_to_days", minimum=1) if tier.has("up_to_days") else None
        if (up_to is None) != last:
            raise tier.fail("up_to_days", up_to, "a limit on every tier but the last, none on the last")
        if found and up_to is not None and found[-1].up_to_days is not None and up_to <= found[-1].up_to_days:
            raise tier.fail("up_to_days", up_to, f"more than the tier before ({found[-1].up_to_days})")
        steps = tier.raw("by")
        if not isinstance(steps, list) or not steps or len(set(steps)) != len(steps):
            raise tier.fail("by", steps, 'a list of different approvers: "supervisor", "unit_admin"')
        try:
            approvers = tuple(Approver(s) for s in steps)
        except ValueError:
            raise tier.fail("by", steps, 'approvers among "supervisor", "unit_admin"') from None
        tier.finish()
        found.append(ApprovalTier(up_to, approvers))
    return tuple(found)


def _deadline(t: Reader) -> Deadline:
    if t.has("day_of_next_month") == t.has("days_after"):
        raise t.fail("", t.data, "exactly one of day_of_next_month, days_after")
    if t.has("day_of_next_month"):
        day = t.integer("day_of_next_month", minimum=1)
        if day > 28:
            raise t.fail("day_of_next_month", day, "a day from 1 to 28 (every month has it)")
        deadline = Deadline(day_of_next_month=day)
    else:
        deadline = Deadline(days_after=t.integer("days_after", minimum=0))
    t.finish()
    return deadline
