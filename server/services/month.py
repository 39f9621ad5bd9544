"""One employee's month and the stored results the pages, API and exports show.

The numbers are the scoring library's (`scoring.score_month` through `server.services.results.compute_unit_month`,
which also stores them; recomputation is idempotent). Scoring is background work
(server/services/scoring_queue.py); only `unit_month`, for one unit-month a reader is looking at, scores
what is marked stale on the spot (read-your-writes). Many employees' results (the recap,
server/services/recap.py, the charts) are read as stored. For the month in progress, days from today on
are passed to the scoring as "not yet" days off, so the month reads "to date" instead of counting
days that have not happened as absences.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from tortoise.exceptions import IntegrityError

from scoring import DayKind, DeductionBase, EmployeeMonth, Policy, build_month_plan, plan_day, score_month
from server.i18n import N_, NAMES, Formats, translate, translate_text
from server.models import Employee
from server.results_models import MonthlyScore
from server.services.activities import claims_for_unit_month
from server.services.attendance import WIB, days_of, month_bounds, unit_zones
from server.services.excuses import excuses_for
from server.services.members import unit_members, unit_of
from server.services.results import CORRECTED, compute_unit_month
from server.services.stale import clear_stale, stale_version
from server.stale_models import StaleUnitMonth

CODES = ("TL1", "TL2", "TL3", "TL4", "PSW1", "PSW2", "PSW3", "PSW4", "TK")
NOT_YET = "not yet"  # the reason the scoring records for a day still to come (the pages say it in words)


@dataclass
class DayView:
    day: date
    kind: str  # working, weekend, holiday, joint_leave, day_off, future
    rule: str  # the hours or the reason that applied, and the rules behind each code, in words
    status: str = ""
    codes: list[str] = field(default_factory=list)
    minutes_late: int = 0
    minutes_early: int = 0
    deduction_bp: int = 0
    punches: list[str] = field(default_factory=list)  # local HH:MM:SS
    corrected: list[str] = field(default_factory=list)  # those an approved correction added, not a device
    first_in: str | None = None
    last_out: str | None = None
    activities: list[dict[str, Any]] = field(default_factory=list)
    scheduled: tuple[str, str] | None = None  # local HH:MM of the planned start and end
    ramadan: bool = False
    words: str = ""  # the day in the reader's language (`localise`)
    holiday: str = ""  # the holiday's name in the reader's language

    @property
    def activity_minutes(self) -> int:
        return sum(int(a.get("effective_minutes", 0)) for a in self.activities)

    @property
    def category(self) -> str:
        """The colour of the day on the calendar: the worst code, or the kind of day."""
        if "TK" in self.codes:
            return "TK"
        if any(c.startswith("TL") for c in self.codes):
            return "TL"
        if any(c.startswith("PSW") for c in self.codes):
            return "PSW"
        if self.codes:
            return "excused"
        if self.kind in ("working", "shift"):
            return "ok"
        return self.kind


@dataclass
class MonthView:
    nip: str
    name: str
    unit_code: str
    position: str
    month: date
    days: list[DayView]
    counts: Counter[str]
    deduction_bp: int  # of the allowance: what payroll takes
    discipline_deduction_bp: int
    activity_minutes: int  # effective (approved, within presence)
    target_minutes: int
    score_bp: int
    explanation: list[str]  # in English; `plain_words(explained, language)` for others
    claim_flags: dict[str, list[str]]
    explained: dict[str, Any]


def parse_month(text: str | None, today: date | None = None) -> date:
    """'2026-11' -> 2026-11-01; None -> this month. Raises ValueError with the expected form."""
    if not text:
        return (today or date.today()).replace(day=1)
    try:
        year, month = text.split("-")
        if len(year) != 4 or len(month) != 2:
            raise ValueError
        found = date(int(year), int(month), 1)
    except ValueError:
        raise ValueError(f"month: expected YYYY-MM, got {text!r}") from None
    if not 2000 <= found.year <= 2100:
        raise ValueError(f"month: expected a year from 2000 to 2100, got {text!r}")
    return found


def policy_for(zone: timezone) -> Policy:
    """The policy in force for an office in `zone` (the national common table until policy files are
    configured per unit)."""
    offset = int(zone.utcoffset(None).total_seconds() // 60)
    name = {420: "WIB", 480: "WITA", 540: "WIT"}.get(offset, "WIB")
    return Policy().in_zone(name)


@dataclass(frozen=True, slots=True)
class Scored:
    """One employee's scored month as stored (server.results_models.MonthlyScore): the numbers and the
    scoring's own explanation."""

    nip: str
    codes: dict[str, int]
    allowance_deduction_bp: int
    discipline_deduction_bp: int
    effective_minutes: int
    target_minutes: int
    score_bp: int
    explained: dict[str, Any]

    @property
    def claim_flags(self) -> dict[str, list[str]]:
        return {a["claim"]: list(a["flags"]) for a in self.explained["performance"]["activities"]}


async def unit_month(unit_code: str, month: date, *, explained: bool = True) -> dict[str, Scored]:
    """One unit-month's scored results, by NIP, up to date: read-your-writes, for the views of ONE unit-month
    (an employee's month, the claims' flags, the payroll sheet and its closing). When the unit-month is
    marked stale, an employee of the unit has no stored result yet or a result was scored under another
    policy, it is scored here (a supervisor who approved a leave sees it at once); otherwise the stored
    results, as the scoring workers keep them (server/services/scoring_queue.py).

    Never for many unit-months at once: the recap, the charts and the exports read the stored results only
    (`stored_results`, server/services/recap.py)."""

    zone = (await unit_zones()).get(unit_code, WIB)
    days = days_of(month)
    nips = list(await unit_members(unit_code, days[0], days[-1]))  # the dated history's members that month
    stored = MonthlyScore.filter(unit_code=unit_code, year=month.year, month=month.month, nip__in=nips)
    version = await stale_version(unit_code, month.year, month.month)
    policy = policy_for(zone)
    if (
        version is not None
        or await stored.count() < len(nips)
        or await stored.filter(policy_fingerprint__not=policy.fingerprint).exists()  # a release changed the policy
    ):
        # Read-your-writes: a month marked stale since a worker last scored it (or with an employee never
        # scored) is scored here; the workers, which score every mark within seconds, usually got there first.
        today = datetime.now(UTC).astimezone(zone).date()
        try:
            await _compute(unit_code, month, zone, policy, nips, today)
        except IntegrityError:  # a worker stored the same first rows at the same moment: theirs are as good
            version = None
        if version is not None:
            await clear_stale(unit_code, month.year, month.month, version)
    return await _read(stored, explained)


async def _read(stored: Any, explained: bool) -> dict[str, Scored]:
    if not explained:  # the numbers only: leave the explanations in the database
        columns = ("nip", "codes", "allowance_deduction_bp", "discipline_deduction_bp", "effective_minutes")
        numbers = await stored.values_list(*columns, "target_minutes", "score_bp")
        return {row[0]: Scored(*row, explained={}) for row in numbers}
    rows = await stored
    return {
        row.nip: Scored(
            row.nip,
            dict(row.codes),
            row.allowance_deduction_bp,
            row.discipline_deduction_bp,
            row.effective_minutes,
            row.target_minutes,
            row.score_bp,
            row.explain,
        )
        for row in rows
    }


async def stored_results(unit_code: str, month: date, *, explained: bool = True) -> dict[str, Scored]:
    """A unit-month's stored results, by NIP, as the workers left them: never scored here (a unit-month
    being rescored reads its last stored results; `stale_units` says which)."""
    stored = MonthlyScore.filter(unit_code=unit_code, year=month.year, month=month.month)
    return await _read(stored, explained)


async def stale_units(units: Iterable[str], month: date) -> list[str]:
    """Of ``units``, those whose ``month`` is marked stale: their stored results are being rescored."""
    query = StaleUnitMonth.filter(unit_code__in=sorted(set(units)), year=month.year, month=month.month)
    return sorted(await query.values_list("unit_code", flat=True))


async def _compute(unit_code: str, month: date, zone: timezone, policy: Policy, nips: list[str], today: date) -> None:

    first, end = month_bounds(month, zone)
    claims = await claims_for_unit_month(unit_code, first, end)
    days = days_of(month)
    not_yet = {d: NOT_YET for d in days if d >= today}
    excuses = await excuses_for(nips, days[0], days[-1])
    await compute_unit_month(
        unit_code, month.year, month.month, policy, claims=claims, days_off=not_yet, excuses=excuses,
        open_from=today if today <= days[-1] else None,
    )  # fmt: skip


async def results_for(employees: Iterable[Employee], month: date, *, explained: bool = True) -> dict[str, Scored]:
    """Each employee's stored result in their current unit that month (none: not in it that month, or not
    scored yet). Many employees' results: read as stored, never scored here (`stale_units` says which
    units are being rescored)."""
    units = sorted({e.unit_id for e in employees})  # type: ignore[attr-defined]
    wanted = {e.nip for e in employees}
    found: dict[str, Scored] = {}
    for unit in units:
        scored = await stored_results(unit, month, explained=explained)
        found.update((nip, r) for nip, r in scored.items() if nip in wanted)
    return found


async def month_view(employee: Employee, month: date) -> MonthView:
    """The employee's month in the unit they were in last that month (a transfer: the new unit's days;
    the days before it are "not in this unit"). Not employed at all that month: every day says so."""
    days = days_of(month)
    unit = await unit_of(employee.nip, days[0], days[-1], employee.unit_id)  # type: ignore[attr-defined]
    result = (await unit_month(unit, month)).get(employee.nip)
    if result is None:
        zone = (await unit_zones()).get(unit, WIB)
        empty = score_month(
            build_month_plan(policy_for(zone), month.year, month.month), EmployeeMonth(employee.nip, employed=())
        )
        result = Scored(employee.nip, dict(empty.codes), empty.allowance_deduction_bp, empty.discipline_deduction_bp,
                        empty.effective_minutes, empty.target_minutes, empty.score_bp, empty.explain())  # fmt: skip
    view = build_view(employee, month, result)
    view.unit_code = unit
    return view


def _is_corrected(punch: dict[str, Any]) -> bool:
    return str(punch.get("device", "")).partition("#")[0] == CORRECTED


def _clock(text: str | None) -> str | None:
    return text[11:16] if text else None


def build_view(employee: Employee, month: date, result: Scored) -> MonthView:
    explained = result.explained
    activities_by_day: dict[str, list[dict[str, Any]]] = {}
    flags: dict[str, list[str]] = {}
    for activity in explained["performance"]["activities"]:
        activities_by_day.setdefault(activity["date"], []).append(activity)
        flags[activity["claim"]] = list(activity["flags"])
    days = []
    for entry in explained["days"]:
        day = date.fromisoformat(entry["date"])
        future = entry.get("planned") == NOT_YET or entry.get("planned", "").startswith(NOT_YET)
        rules = entry.get("rules", [])
        days.append(
            DayView(
                day=day,
                kind="future" if future else entry.get("kind", ""),
                rule="; ".join([entry.get("planned", ""), *rules]) if rules else entry.get("planned", ""),
                status=entry.get("status", ""),
                codes=list(entry.get("codes", [])),
                minutes_late=entry.get("late_minutes") or 0,
                minutes_early=entry.get("early_minutes") or 0,
                deduction_bp=entry.get("deduction_bp", 0),
                punches=[p["at"][11:19] for p in entry.get("punches", [])],
                corrected=[p["at"][11:19] for p in entry.get("punches", []) if _is_corrected(p)],
                first_in=_clock(entry.get("arrival")),
                last_out=_clock(entry.get("departure")),
                activities=activities_by_day.get(entry["date"], []),
                scheduled=(entry["scheduled"][0][11:16], entry["scheduled"][1][11:16])
                if entry.get("scheduled")
                else None,
                ramadan="Ramadan" in entry.get("planned", ""),
            )
        )
    return MonthView(
        nip=employee.nip,
        name=employee.name,
        unit_code=employee.unit_id,  # type: ignore[attr-defined]
        position=getattr(employee, "position", "") or "",
        month=month,
        days=days,
        counts=Counter(result.codes),
        deduction_bp=result.allowance_deduction_bp,
        discipline_deduction_bp=result.discipline_deduction_bp,
        activity_minutes=result.effective_minutes,
        target_minutes=result.target_minutes,
        score_bp=result.score_bp,
        explanation=plain_words(explained, "en"),
        claim_flags=flags,
        explained=explained,
    )


def _percent_of(text: str) -> int:
    """The scoring's "93.1%" back to basis points, to be written the reader's way."""
    return round(float(str(text).rstrip("%").strip() or 0) * 100)


def band_words(policy: Policy, code: str, language: str) -> str:
    """What a code means under `policy`, in `language`: "TL1: terlambat 1 sampai 30 menit, 0,50% per kejadian"."""

    fmt = Formats(language)
    for table, bounded, open_ended in (
        (policy.lateness, N_("late {low} to {high} minutes"), N_("late {low} minutes or more")),
        (policy.early_leave, N_("left early {low} to {high} minutes"), N_("left early {low} minutes or more")),
    ):
        band = table.by_code(code)
        if band is not None:
            what = (
                translate(language, open_ended, low=band.from_minutes)
                if band.to_minutes is None
                else translate(language, bounded, low=band.from_minutes, high=band.to_minutes)
            )
            each = translate(language, N_("{deduction} per occurrence"), deduction=fmt.percent(band.deduction_bp))
            return f"{code}: {what}, {each}"
    if code == policy.absence.code:
        what = translate(language, N_("absent without a valid reason"))
        each = translate(language, N_("{deduction} per day"), deduction=fmt.percent(policy.absence.deduction_bp))
        return f"{code}: {what}, {each}"
    rule = next((r for r in policy.excuses if r.code == code), None)
    if rule is not None:
        label = NAMES["excuse"].get(str(getattr(rule, "kind", "")), "")
        what = translate(language, label) if label else rule.label
        each = translate(language, N_("{deduction} per day"), deduction=fmt.percent(rule.deduction_bp))
        return f"{code}: {what}, {each}"
    return code


@lru_cache(maxsize=16)
def _holiday_names(year: int, language: str) -> dict[date, str]:
    """Public holidays and joint leave in Indonesia, named in the reader's language by `holidays`."""
    import holidays

    names: dict[date, str] = {}
    for category in ("government", "public"):  # public last: a day that is both keeps its holiday name
        table = holidays.country_holidays(
            "ID", years=year, categories=(category,), language="id" if language == "id" else "en_US"
        )
        names.update(table.items())
    return names


def localise(view: MonthView, policy: Policy, language: str, upcoming: Mapping[date, str] | None = None) -> None:
    """Each day's words and holiday name in `language` (the scoring explains itself in English).
    `upcoming`: the excuse kind recorded for days still to come (leave planned), shown as such already."""

    for day in view.days:
        if day.kind == "future":  # still to come: a weekend, a holiday or planned leave is shown as one already
            planned = plan_day(policy, day.day).kind
            if planned is not DayKind.WORKING:
                day.kind = str(planned)
            elif (upcoming or {}).get(day.day):
                day.kind = "excused"
                label = NAMES["excuse"].get(str((upcoming or {})[day.day]), NAMES["day"]["excused"])
                day.words = translate(language, label)
                continue
        parts = []
        if day.kind in ("holiday", "joint_leave"):
            day.holiday = _holiday_names(day.day.year, language).get(day.day, "")
            parts.append(translate(language, NAMES["day"][day.kind]) + (f": {day.holiday}" if day.holiday else ""))
        elif day.kind in NAMES["day"] and not day.scheduled:
            parts.append(translate(language, NAMES["day"][day.kind]))
        if day.scheduled:
            hours = f"{day.scheduled[0]}–{day.scheduled[1]}"
            message = N_("Ramadan office hours {hours}") if day.ramadan else N_("Office hours {hours}")
            parts.append(translate(language, message, hours=hours))
        parts.extend(band_words(policy, code, language) for code in day.codes)
        day.words = "; ".join(parts)


def plain_words(explained: dict[str, Any], language: str = "en", policy: Policy | None = None) -> list[str]:
    """The scoring's explanation as sentences an employee can follow, in `language`, in its formats."""

    fmt = Formats(language)

    def t(message: str, **values: object) -> str:
        return translate(language, message, **values)

    def pct(text: str) -> str:
        return fmt.percent(_percent_of(text))

    info = explained["policy"]
    discipline = explained["discipline"]
    performance = explained["performance"]
    score = explained["score"]
    since = fmt.date(date.fromisoformat(info["effective_from"]))
    # A preset's title is in the catalogue; a ministry's own policy file's, shown as it was written.
    title = translate_text(language, info["title"], record=False)
    lines = [t(N_("Policy: {title} ({name}, in force from {since})."), title=title, name=info["name"], since=since)]
    for day in discipline["days"]:
        lines.append(
            t(
                N_("{date}: {codes}, deduction {deduction}."),
                date=fmt.date(date.fromisoformat(day["date"])),
                codes=", ".join(day["codes"]),
                deduction=pct(day["deduction"]),
            )
        )
    lines.append(
        t(
            N_(
                "Discipline: deductions add up to {sum} (at most {cap}), so the discipline deduction is "
                "{deduction} and the discipline component {component}."
            ),
            sum=pct(discipline["sum"]),
            cap=pct(discipline["cap"]),
            deduction=pct(discipline["deduction"]),
            component=pct(discipline["component"]),
        )
    )
    rule = _target_words(performance["target_rule"], language)
    lines.append(
        t(
            N_(
                "Performance: {approved} approved activity minutes, {effective} of them within presence, "
                "against a target of {target} ({rule}): performance component {component}."
            ),
            approved=fmt.number(performance["approved_minutes"]),
            effective=fmt.number(performance["effective_minutes"]),
            target=fmt.number(performance["target_minutes"]),
            rule=rule,
            component=pct(performance["component"]),
        )
    )
    weights = _weights(policy)
    if weights is not None and weights[2]:
        lines.append(
            t(
                N_(
                    "Score: {performance_weight} × performance {performance} + {discipline_weight} × "
                    "discipline {discipline} = {score}."
                ),
                performance_weight=fmt.percent(weights[0], 0),
                performance=pct(score["performance_component"]),
                discipline_weight=fmt.percent(weights[1], 0),
                discipline=pct(score["discipline_component"]),
                score=pct(score["final"]),
            )
        )
        lines.append(
            t(
                N_("Allowance deduction: 100% − score {score} = {deduction}."),
                score=pct(score["final"]),
                deduction=pct(score["allowance_deduction"]),
            )
        )
    else:
        lines.append(
            t(
                N_("Score: {score}; allowance deduction {deduction}."),
                score=pct(score["final"]),
                deduction=pct(score["allowance_deduction"]),
            )
        )
    return lines


_TARGET_RULE = re.compile(
    r"(?P<minutes>\d+) minutes x (?P<days>\d+)(?:/(?P<planned>\d+))? planned days"
    r"(?: \((?P<excluded>\d+) day\(s\) of leave excluded\))?"
)


def _target_words(rule: str, language: str) -> str:
    """The scoring's target rule ("300 minutes x 1 planned days") in `language`."""

    found = _TARGET_RULE.fullmatch(rule)
    if found is None:
        return rule
    minutes = Formats(language).number(int(found["minutes"]))
    if found["planned"]:
        words = translate(
            language,
            N_("{minutes} minutes a month × {days} of {planned} planned days"),
            minutes=minutes,
            days=found["days"],
            planned=found["planned"],
        )
    else:
        words = translate(language, N_("{minutes} minutes × {days} planned days"), minutes=minutes, days=found["days"])
    if found["excluded"]:
        words += translate(language, N_(", {excluded} day(s) of leave left out"), excluded=found["excluded"])
    return words


def _weights(policy: Policy | None) -> tuple[int, int, bool] | None:
    """The weights of the score (performance, discipline, in basis points) and whether the allowance
    deduction is simply 100% less the score (the discipline deduction taken from its component)."""
    if policy is None:
        return None

    simple = policy.discipline.applies_to is DeductionBase.DISCIPLINE_COMPONENT
    return policy.performance.weight_bp, policy.discipline.weight_bp, simple


def previous_month(month: date) -> date:
    return (month - timedelta(days=1)).replace(day=1)


def next_month(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)
