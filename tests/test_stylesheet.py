"""The stylesheet's colour pairs are readable: text on its background at WCAG AA (4.5:1) or better."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS = (Path(__file__).resolve().parents[1] / "server" / "pages" / "static" / "kinerja.css").read_text()
VARIABLES = dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})", CSS))


def luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def colour(name: str) -> str:
    return name if name.startswith("#") else VARIABLES[name]


# (text, background) as the stylesheet pairs them: body text, hints, status pills and tiles, the header.
PAIRS = [
    ("ink", "paper"),
    ("ink", "canvas"),
    ("muted", "paper"),
    ("muted", "canvas"),
    ("brand", "paper"),
    ("#ffffff", "brand"),
    ("brand", "brand-soft"),
    ("good", "good-soft"),
    ("warn", "warn-soft"),
    ("bad", "bad-soft"),
    ("info", "info-soft"),
    ("#4a525c", "off-soft"),
    ("#69727d", "paper"),  # zero counts in the recap
    ("#3c4654", "#eef2f6"),  # table headings
    ("#ffffff", "bad"),  # the confirming button
]


@pytest.mark.parametrize(("text", "background"), PAIRS)
def test_text_on_its_background_meets_aa(text: str, background: str):
    assert contrast(colour(text), colour(background)) >= 4.5, (text, background)
