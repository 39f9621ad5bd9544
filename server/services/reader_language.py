"""The language an API reader asked for (Accept-Language), for the words the JSON carries for a person:
the explanation of a score. Machine fields (codes, numbers, dates) stay as they are in every language.

Indonesian unless the header prefers English: `Accept-Language: en-GB,en;q=0.9` -> "en"; none, `*`, or a
language we do not speak -> "id"."""

from __future__ import annotations

from scoring import Policy
from server.i18n import DEFAULT_LANGUAGE, LANGUAGES
from server.services.attendance import WIB, unit_zones
from server.services.month import MonthView, localise, plain_words, policy_for


def language_from_header(header: str | None) -> str:
    """The best of our languages by the header's q-values (ties: the header's order); Indonesian else."""
    best: tuple[float, int, str] | None = None
    for position, item in enumerate((header or "").split(",")):
        tag, _, params = item.strip().partition(";")
        language = tag.strip().lower().split("-")[0]
        if language not in LANGUAGES:
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality <= 0:
            continue
        if best is None or (-quality, position) < (-best[0], best[1]):
            best = (quality, position, language)
    return best[2] if best else DEFAULT_LANGUAGE


async def explanation_in(view: MonthView, accept_language: str | None) -> list[str]:
    """The month's explanation in the reader's language, under the policy of the employee's office zone
    (as the month page words it); each day's `rule` put in the same words as well (its codes, kind and
    numbers, what a program reads, stay as they are)."""
    zone = (await unit_zones()).get(view.unit_code, WIB)
    language, policy = language_from_header(accept_language), policy_for(zone)
    rules_in(view, policy, language)
    return plain_words(view.explained, language, policy)


def rules_in(view: MonthView, policy: Policy, language: str) -> None:
    """Each day's `rule` in `language`: the words the month page shows for it ("Jam kerja 07:30–16:00;
    TL2: terlambat 31 sampai 60 menit, 1,00% per kejadian"); the day's kind is left as the scoring gave it."""
    kinds = [day.kind for day in view.days]
    localise(view, policy, language)
    for day, kind in zip(view.days, kinds, strict=True):
        day.rule, day.kind = day.words, kind
