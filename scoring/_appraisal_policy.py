"""The appraisal policy (PermenPANRB 6/2022): the predicate matrix, the distribution rules bounded by
the organisation's rating, how behaviour feedback is weighed, and how measured output suggests a
work-result rating. All of it data, read from TOML (``presets/appraisal/``) like the other policies.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from fractions import Fraction
from pathlib import Path
from typing import Any, TypeVar

from ._errors import PolicyError
from ._percent import FULL_BP, format_bp
from ._policy_parse import Reader

E = TypeVar("E", bound=StrEnum)

APPRAISAL_PRESET_DIR = Path(__file__).with_name("presets") / "appraisal"


class Rating(StrEnum):
    """A rating of work results or of behaviour against the expectation agreed with the superior."""

    ABOVE = "di_atas_ekspektasi"
    AS_EXPECTED = "sesuai_ekspektasi"
    BELOW = "di_bawah_ekspektasi"

    @property
    def label(self) -> str:
        return {"di_atas_ekspektasi": "Di Atas Ekspektasi", "sesuai_ekspektasi": "Sesuai Ekspektasi",
                "di_bawah_ekspektasi": "Di Bawah Ekspektasi"}[self.value]  # fmt: skip


class Predicate(StrEnum):
    """The performance predicate of an employee for a period."""

    SANGAT_BAIK = "sangat_baik"
    BAIK = "baik"
    BUTUH_PERBAIKAN = "butuh_perbaikan"
    KURANG = "kurang"
    SANGAT_KURANG = "sangat_kurang"

    @property
    def label(self) -> str:
        return {"sangat_baik": "Sangat Baik", "baik": "Baik", "butuh_perbaikan": "Butuh Perbaikan",
                "kurang": "Kurang/Misconduct", "sangat_kurang": "Sangat Kurang"}[self.value]  # fmt: skip


class OrganisationRating(StrEnum):
    """The organisation's (unit's) own performance rating, which bounds its employees' predicates."""

    ISTIMEWA = "istimewa"
    BAIK = "baik"
    BUTUH_PERBAIKAN = "butuh_perbaikan"
    KURANG = "kurang"
    SANGAT_KURANG = "sangat_kurang"


class CoreValue(StrEnum):
    """The seven BerAKHLAK core values of the civil service."""

    BERORIENTASI_PELAYANAN = "berorientasi_pelayanan"
    AKUNTABEL = "akuntabel"
    KOMPETEN = "kompeten"
    HARMONIS = "harmonis"
    LOYAL = "loyal"
    ADAPTIF = "adaptif"
    KOLABORATIF = "kolaboratif"


@dataclass(frozen=True, slots=True)
class DistributionRule:
    """A bound on the share (or number) of a unit's employees whose predicate is one of ``predicates``."""

    predicates: frozenset[Predicate]
    at_most_bp: int | None = None
    at_least_bp: int | None = None
    at_least_count: int = 0

    def describe(self) -> str:
        names = " and/or ".join(p.label for p in Predicate if p in self.predicates)
        parts = []
        if self.at_most_bp is not None:
            parts.append("none" if self.at_most_bp == 0 else f"at most {format_bp(self.at_most_bp)}")
        if self.at_least_bp is not None:
            parts.append(f"at least {format_bp(self.at_least_bp)}")
        if self.at_least_count:
            parts.append(f"at least {self.at_least_count} employee(s)")
        return f"{' and '.join(parts)} {names}"


@dataclass(frozen=True, slots=True)
class BehaviourRules:
    rater_weights_bp: tuple[tuple[str, int], ...] = (("superior", FULL_BP),)
    """Weight of each rater role; roles without input for a value share their weight among the others."""
    points: tuple[tuple[Rating, int], ...] = ((Rating.BELOW, 1), (Rating.AS_EXPECTED, 2), (Rating.ABOVE, 3))
    above_from: Fraction = Fraction(5, 2)
    """A mean of the seven values' points at or above this is above expectation."""
    below_under: Fraction = Fraction(3, 2)
    """A mean under this is below expectation."""
    require_superior: bool = True

    def point(self, rating: Rating) -> int:
        return dict(self.points)[rating]


@dataclass(frozen=True, slots=True)
class WorkResultRules:
    """Measured achievement only *suggests* the work-result rating: the superior decides."""

    above_from_bp: int = 11_000
    as_from_bp: int = 8_000
    indicator_cap_bp: int = 12_000
    """An indicator's achievement counts at most this much (over-achievement on one cannot hide another)."""

    def propose(self, achievement: Fraction) -> Rating:
        """The work-result rating a plan achievement (a share: 1 is 100 %) proposes: from ``above_from``
        above expectation, from ``as_from`` as expected, below that below expectation. Only a proposal:
        the superior rates, and may choose otherwise with a reason."""
        if achievement * FULL_BP >= self.above_from_bp:
            return Rating.ABOVE
        if achievement * FULL_BP >= self.as_from_bp:
            return Rating.AS_EXPECTED
        return Rating.BELOW


@dataclass(frozen=True, slots=True)
class AppraisalPolicy:
    name: str
    matrix: tuple[tuple[Rating, Rating, Predicate], ...]
    """(work-result rating, behaviour rating, predicate), every one of the nine pairs."""
    distribution: tuple[tuple[OrganisationRating, tuple[DistributionRule, ...]], ...]
    behaviour: BehaviourRules = BehaviourRules()
    work_result: WorkResultRules = WorkResultRules()
    title: str = ""
    legal_basis: str = ""
    source: str = "<code>"
    fingerprint: str = ""

    def __post_init__(self) -> None:
        pairs = {(w, b) for w, b, _ in self.matrix}
        if len(pairs) != len(self.matrix) or len(pairs) != len(Rating) ** 2:
            raise PolicyError(self.source, "matrix", sorted(pairs), "each of the nine rating pairs exactly once")

    def rules_for(self, rating: OrganisationRating) -> tuple[DistributionRule, ...]:
        for org, rules in self.distribution:
            if org is rating:
                return rules
        return ()


def appraisal_preset_names() -> list[str]:
    """The appraisal policies shipped with the library (``permenpanrb-6-2022``)."""
    return sorted(p.stem for p in APPRAISAL_PRESET_DIR.glob("*.toml"))


def load_appraisal_policy(source: str | Path) -> AppraisalPolicy:
    """One file, or a preset by name (without ``.toml``)."""
    text = str(source)
    in_presets = not (isinstance(source, Path) or text.endswith(".toml") or "/" in text)
    path = APPRAISAL_PRESET_DIR / f"{text}.toml" if in_presets else Path(text)
    if not path.is_file():
        names = ", ".join(appraisal_preset_names())
        raise PolicyError(".", "source", text, f"an existing .toml file or an appraisal preset ({names})")
    shown = f"preset:appraisal/{path.stem}" if in_presets else str(path)
    return parse_appraisal_text(path.read_text(encoding="utf-8"), source=shown)


def parse_appraisal_text(text: str, *, source: str = "<text>") -> AppraisalPolicy:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(source, "(syntax)", str(exc), "valid TOML") from None
    r = Reader(data, source=source)
    meta = r.table("appraisal", required=True)
    name = meta.text("name")
    title = meta.text("title", name)
    legal_basis = meta.text("legal_basis") if meta.has("legal_basis") else ""
    meta.raw("description", "")
    meta.finish()
    policy = AppraisalPolicy(
        name=name,
        matrix=_matrix(r.table("matrix", required=True)),
        distribution=_distribution(r.table("distribution", required=True)),
        behaviour=_behaviour(r.table("behaviour")),
        work_result=_work_result(r.table("work_result")),
        title=title,
        legal_basis=legal_basis,
        source=source,
        fingerprint=hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16],
    )
    r.finish()
    return policy


def _enum(reader: Reader, key: str, value: object, enum: type[E]) -> E:
    try:
        return enum(value)
    except ValueError:
        raise reader.fail(key, value, "one of " + ", ".join(repr(m.value) for m in enum)) from None


def _matrix(t: Reader) -> tuple[tuple[Rating, Rating, Predicate], ...]:
    cells = []
    for work_key in t.data:
        work = _enum(t, work_key, work_key, Rating)
        row = t.table(work_key)
        for behaviour_key in row.data:
            behaviour = _enum(row, behaviour_key, behaviour_key, Rating)
            cells.append((work, behaviour, _enum(row, behaviour_key, row.raw(behaviour_key), Predicate)))
        row.finish()
    t.finish()
    return tuple(cells)


def _distribution(t: Reader) -> tuple[tuple[OrganisationRating, tuple[DistributionRule, ...]], ...]:
    out = []
    for key in t.data:
        org = _enum(t, key, key, OrganisationRating)
        items = t.raw(key)
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise t.fail(key, items, 'a list of rules such as { predicates = ["sangat_baik"], at_most = 70 }')
        out.append((org, tuple(_rule(Reader(item, source=t.source, path=f"{t.key(key)}[{n}]"))
                               for n, item in enumerate(items))))  # fmt: skip
    t.finish()
    return tuple(out)


def _rule(t: Reader) -> DistributionRule:
    names = t.raw("predicates")
    if not isinstance(names, list) or not names:
        raise t.fail("predicates", names, 'a list of predicates such as ["butuh_perbaikan", "kurang"]')
    rule = DistributionRule(
        predicates=frozenset(_enum(t, "predicates", n, Predicate) for n in names),
        at_most_bp=t.percent("at_most") if t.has("at_most") else None,
        at_least_bp=t.percent("at_least") if t.has("at_least") else None,
        at_least_count=t.integer("at_least_count", 0),
    )
    t.finish()
    if rule.at_most_bp is None and rule.at_least_bp is None and not rule.at_least_count:
        raise t.fail("at_most", None, "at least one of at_most, at_least, at_least_count")
    return rule


def _exact(t: Reader, key: str, default: Fraction) -> Fraction:
    if not t.has(key):
        return default
    value = t.raw(key)
    text = repr(value) if isinstance(value, float) else str(value)
    try:
        if isinstance(value, bool):
            raise InvalidOperation
        return Fraction(Decimal(text))
    except (InvalidOperation, ValueError):
        raise t.fail(key, value, 'a number of points such as 2.5 or "2.5"') from None


def _behaviour(t: Reader) -> BehaviourRules:
    raters = t.table("raters")
    weights = tuple((role, raters.percent(role)) for role in raters.data) or (("superior", FULL_BP),)
    raters.finish()
    if sum(w for _, w in weights) != FULL_BP:
        raise t.fail("raters", dict(weights), "weights adding up to 100%")
    points_t = t.table("points")
    points = tuple((_enum(points_t, k, k, Rating), points_t.integer(k)) for k in points_t.data)
    points_t.finish()
    rules = BehaviourRules(
        rater_weights_bp=weights,
        points=points or BehaviourRules().points,
        above_from=_exact(t, "above_from", Fraction(5, 2)),
        below_under=_exact(t, "below_under", Fraction(3, 2)),
        require_superior=t.boolean("require_superior", True),
    )
    if len(dict(rules.points)) != len(Rating):
        raise t.fail("points", dict(points), "points for each of the three ratings")
    t.finish()
    return rules


def _work_result(t: Reader) -> WorkResultRules:
    rules = WorkResultRules(
        above_from_bp=t.percent("above_from", 11_000),
        as_from_bp=t.percent("as_from", 8_000),
        indicator_cap_bp=t.percent("indicator_cap", 12_000),
    )
    t.finish()
    if rules.as_from_bp > rules.above_from_bp:
        raise t.fail("as_from", format_bp(rules.as_from_bp), "at most above_from")
    return rules


def policy_summary(policy: AppraisalPolicy) -> dict[str, Any]:
    return {"name": policy.name, "title": policy.title, "legal_basis": policy.legal_basis,
            "source": policy.source, "fingerprint": policy.fingerprint}  # fmt: skip
