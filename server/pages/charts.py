"""Charts of a month as server-rendered SVG (readable without JavaScript, printable): the geometry is
computed here, the markup is the template's (charts.html, autoescaped).

Three series, each with its colour class in kinerja.css: lateness (TL), early leave (PSW), absence (TK).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

SERIES = ("late", "early", "absent")


def series_of(codes: list[str]) -> set[str]:
    """The series a day's codes count in."""
    found = set()
    for code in codes:
        if code.startswith("TL"):
            found.add("late")
        elif code.startswith("PSW"):
            found.add("early")
        elif code == "TK":
            found.add("absent")
    return found


@dataclass
class MonthFigures:
    """Counts of days with each series, per unit, per weekday and per day of the month; and per unit the
    working days scored and those with no code at all (on time), for the comparison."""

    by_unit: dict[str, Counter[str]] = field(default_factory=dict)
    by_weekday: dict[int, Counter[str]] = field(default_factory=lambda: {i: Counter() for i in range(7)})
    by_day: dict[date, Counter[str]] = field(default_factory=dict)
    scored_days: Counter[str] = field(default_factory=Counter)
    clean_days: Counter[str] = field(default_factory=Counter)

    def add(self, unit: str, day: date, codes: list[str], scored: bool) -> None:
        self.by_unit.setdefault(unit, Counter())
        self.by_day.setdefault(day, Counter())
        if not scored:
            return
        self.scored_days[unit] += 1
        found = series_of(codes)
        if not codes:
            self.clean_days[unit] += 1
        for series in found:
            self.by_unit[unit][series] += 1
            self.by_weekday[day.weekday()][series] += 1
            self.by_day[day][series] += 1


def _ticks(top: int) -> list[int]:
    """Up to five round ticks from 0 to at least `top`."""
    if top <= 5:
        return list(range(max(top, 1) + 1))
    step = 1
    for candidate in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        step = candidate
        if top / candidate <= 5:
            break
    last = -(-top // step) * step
    return list(range(0, last + 1, step))


def grouped_bars(rows: list[tuple[str, str, Counter[str]]], width: int = 560) -> dict[str, Any]:
    """Horizontal bars, one group per row (label, hint, counts), one bar per series."""
    label_width, bar, gap, top_pad, axis_pad = 170, 11, 12, 8, 22
    ticks = _ticks(max((c[s] for _, _, c in rows for s in SERIES), default=0))
    room = width - label_width - 30
    scale = room / (ticks[-1] or 1)
    group = bar * len(SERIES) + 2
    height = top_pad + len(rows) * (group + gap) + axis_pad
    groups = []
    for i, (label, hint, counts) in enumerate(rows):
        y = top_pad + i * (group + gap)
        bars = [
            {"series": s, "value": counts[s], "x": label_width, "y": y + j * bar, "h": bar - 1, "w": counts[s] * scale}
            for j, s in enumerate(SERIES)
        ]
        groups.append({"label": label, "hint": hint, "y": y, "mid": y + group / 2 + 4, "bars": bars})
    axis_y = height - axis_pad + 4
    return {
        "width": width,
        "height": height,
        "label_width": label_width,
        "axis_y": axis_y,
        "ticks": [{"value": t, "x": label_width + t * scale} for t in ticks],
        "groups": groups,
    }


def month_columns(days: list[tuple[date, Counter[str], str]], width: int = 700) -> dict[str, Any]:
    """Stacked columns per day of the month (day, counts, kind: working/weekend/holiday/future)."""
    left, bottom, top_pad, height = 34, 24, 10, 220
    plot = height - bottom - top_pad
    ticks = _ticks(max((sum(c[s] for s in SERIES) for _, c, _ in days), default=0))
    scale = plot / (ticks[-1] or 1)
    step = (width - left - 6) / max(1, len(days))
    columns = []
    for i, (day, counts, kind) in enumerate(days):
        x = left + i * step
        y = height - bottom
        parts = []
        for s in SERIES:
            h = counts[s] * scale
            if h:
                y -= h
                parts.append({"series": s, "value": counts[s], "y": y, "h": h})
        columns.append(
            {
                "day": day,
                "x": x,
                "w": max(1.0, step - 3),
                "mid": x + step / 2,
                "kind": kind,
                "parts": parts,
                "total": sum(counts[s] for s in SERIES),
            }
        )
    return {
        "width": width,
        "height": height,
        "left": left,
        "base": height - bottom,
        "top": top_pad,
        "ticks": [{"value": t, "y": height - bottom - t * scale} for t in ticks],
        "columns": columns,
    }


def comparison_bars(rows: list[tuple[str, str, int, int]], width: int = 560) -> dict[str, Any]:
    """One bar per unit: the share of its scored working days with no code (on time all day)."""
    label_width, bar, gap, top_pad, axis_pad = 170, 18, 8, 8, 22
    room = width - label_width - 90  # room for "100% (20/20)" after a full bar
    height = top_pad + len(rows) * (bar + gap) + axis_pad
    bars = []
    for i, (label, hint, clean, scored) in enumerate(rows):
        share = clean / scored if scored else 0.0
        y = top_pad + i * (bar + gap)
        bars.append(
            {
                "label": label,
                "hint": hint,
                "y": y,
                "h": bar,
                "w": share * room,
                "share_bp": round(share * 10000),
                "clean": clean,
                "scored": scored,
                "x": label_width,
            }
        )
    return {
        "width": width,
        "height": height,
        "label_width": label_width,
        "axis_y": height - axis_pad + 4,
        "ticks": [{"value": p, "x": label_width + p / 100 * room} for p in (0, 25, 50, 75, 100)],
        "bars": bars,
    }


def series_columns(values: list[float | None], width: int = 700, height: int = 180) -> dict[str, Any]:
    """One column per stretch of time (a gateway's telemetry: server/pages/fleet.py); None is a stretch with
    no report, drawn as a gap. Ticks from 0 to at least the highest value."""
    left, bottom, top_pad = 44, 22, 10
    plot = height - bottom - top_pad
    highest = max((v for v in values if v is not None), default=0)
    ticks = _ticks(math.ceil(highest))
    scale = plot / (ticks[-1] or 1)
    step = (width - left - 6) / max(1, len(values))
    base = height - bottom
    columns = [
        {
            "index": i,
            "x": left + i * step,
            "w": max(1.0, step - 1.5),
            "mid": left + i * step + step / 2,
            "value": value,
            "y": base - (value or 0) * scale,
            "h": (value or 0) * scale,
        }
        for i, value in enumerate(values)
    ]
    return {
        "width": width,
        "height": height,
        "left": left,
        "base": base,
        "top": top_pad,
        "ticks": [{"value": t, "y": base - t * scale} for t in ticks],
        "columns": columns,
    }
