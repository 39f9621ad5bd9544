"""The payroll explanation trace in Indonesian: the words a bureau officer reads in it (how the net was
rounded, the rules of the cut, the formula), through the gettext catalogues.

The scoring library explains an allowance in English (`scoring.explain_allowance`); the pay line keeps that
trace, frozen with the month at close, and the API gives it with a line. Its figures for programs are
numbers already (the `summary`: basis points and whole Rupiah, `gross`, `net`, `cut`) and its codes stay
codes (policy name, grade, status, dates, TL/PSW/TK); the sentences and the percentages written for a
person are put here in Indonesian: `paid = 60% x performance 95.5% + ...` becomes
`dibayar = 60% × kinerja 95,5% + ...`.
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache
from typing import Any

from server.i18n import N_, Formats, translate

# The scoring's sentences (scoring/_allowance.py), their values as {placeholders}; a value may be a sentence
# of this list itself (the rounding inside the net's rule).
TRACE_MESSAGES = (
    N_("rounded half up to Rp {unit}, once for the gross and once for the net"),
    N_("rounded down to Rp {unit}, once for the gross and once for the net"),
    N_("rounded up to Rp {unit}, once for the gross and once for the net"),
    N_("the day's TL/PSW deductions of the attendance policy"),
    N_("{rate} per hour late or left early, counted by the minute"),
    N_("{rate} per hour late or left early, counted by the minute, at most {minutes} minutes a day"),
    N_("late and early together at most {cap} a day"),
    N_("the day's TK deduction of the attendance policy"),
    N_("{rate} per day absent"),
    N_("days absent / working days employed x {weight}"),
    N_("paid = {wp} x performance {performance} + {wd} x (100% - cut {cut})"),
    N_("paid = {wp} x performance {performance} + {wd} - cut {cut}, at least 0"),
    N_("paid = the lower of performance {performance} and 100% - cut {cut}"),
    N_("net = gross {gross} x paid share, {rounding}"),
    N_("{table} (from {date})"),
    N_("monthly result (effective minutes against target)"),
    N_("given"),
    N_("plan realisation"),
    # the performance component from the plan (scoring/_plan_allowance.py)
    N_("plan realisation: {ww} x work {work} + {bw} x behaviour {behaviour}"),
    N_("plan realisation: work {work} (no behaviour rating for the period)"),
    N_("plan realisation: no agreed work plan for {year}, counted as 0%"),
    N_("monthly result (effective minutes against target): no agreed work plan for {year}"),
    N_(
        "work: plan realisation to the end of the month against the part of the year's targets expected by the "
        "end of the month, at most {cap}"
    ),
    N_("work: plan realisation to the end of the month against the year's targets, at most {cap}"),
)
EXACTLY = N_("(exactly {fraction})")

# Fields that hold codes, names or dates, never translated.
_CODES = {"employee", "month", "name", "title", "legal_basis", "effective_from", "fingerprint"}
_CODES |= {"pro_rata", "grade", "status", "from", "to", "date", "codes", "share", "policy", "grades", "nip"}
_CODES |= {"basis", "year", "version", "realised_to", "expected", "behaviour_period"}
_DECIMAL_PERCENT = re.compile(r"(\d)\.(\d+)%")
_EXACTLY = re.compile(r"\(exactly (\d+/\d+)\)")


@lru_cache(maxsize=1)
def _patterns() -> list[tuple[re.Pattern[str], str]]:
    found = []
    for message in TRACE_MESSAGES:
        parts = re.split(r"\{(\w+)\}", message)
        regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(parts))
        found.append((re.compile(regex + r"\Z", re.DOTALL), message))
    return found


def sentence(text: str, language: str = "id") -> str:
    """One of the trace's sentences in `language`, its values (sentences themselves, or percentages) too."""
    for pattern, message in _patterns():
        if match := pattern.match(text):
            values = {name: _value(name, value, language) for name, value in match.groupdict().items()}
            return translate(language, message, **values)
    return _figures(text, language)


def _value(name: str, value: str, language: str) -> str:
    if name == "date":
        try:
            return Formats(language).date(date.fromisoformat(value))
        except ValueError:
            return value
    return sentence(value, language)


def _figures(text: str, language: str) -> str:
    """Percentages with the reader's decimal sign, "(exactly 1/300)" in words."""
    text = _EXACTLY.sub(lambda m: translate(language, EXACTLY, fraction=m.group(1)), text)
    return _DECIMAL_PERCENT.sub(r"\1,\2%", text) if language == "id" else text


def trace_in(trace: Any, language: str = "id", key: str = "") -> Any:
    """The whole trace with its sentences and percentages in `language`; codes, names and numbers kept."""
    if isinstance(trace, dict):
        return {name: trace_in(value, language, name) for name, value in trace.items()}
    if isinstance(trace, list):
        return [trace_in(item, language, key) for item in trace]
    if isinstance(trace, str) and key not in _CODES:
        return "; ".join(sentence(part, language) for part in trace.split("; "))
    return trace
