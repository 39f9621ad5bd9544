"""Percentages as integer basis points.

Money hangs on these numbers, so the library never uses floats for them: every percentage is an
``int`` number of basis points (1 bp = 0.01 %, 100 % = 10 000 bp). Sums and caps are exact.
Where a ratio has to be taken (effective minutes against a target, weighted components) the result
is rounded half up to a whole basis point, in one place: :func:`ratio_bp`.

A policy file may write a percentage as a number (``1.25``) or a string (``"1.25%"``); both are read
through :class:`decimal.Decimal` from their decimal text, so ``1.25`` is exactly 125 bp.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

BP_PER_PERCENT = 100
FULL_BP = 10_000
"""100 %, in basis points."""


def parse_percent(value: object) -> int:
    """Read ``1.25``, ``"1.25%"`` or ``"1.25"`` as 125 basis points.

    Raises ``ValueError`` for anything that is not a finite, non-negative percentage with at most two
    decimals (a basis point is the finest step a policy may state).
    """
    if isinstance(value, bool):
        raise ValueError("a percentage, not a boolean")
    if isinstance(value, int | float):
        text = repr(value) if isinstance(value, float) else str(value)
    elif isinstance(value, str):
        text = value.strip().removesuffix("%").strip()
    else:
        raise ValueError('a percentage such as 1.25 or "1.25%"')
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError('a percentage such as 1.25 or "1.25%"') from None
    if not number.is_finite() or number < 0:
        raise ValueError("a finite percentage of 0 or more")
    bp = number * BP_PER_PERCENT
    if bp != bp.to_integral_value():
        raise ValueError("a percentage with at most two decimals (0.01 % is the finest step)")
    return int(bp)


def format_bp(bp: int) -> str:
    """125 -> ``"1.25%"``; 50 -> ``"0.5%"``; 10000 -> ``"100%"``."""
    sign = "-" if bp < 0 else ""
    whole, frac = divmod(abs(bp), BP_PER_PERCENT)
    if frac == 0:
        return f"{sign}{whole}%"
    return f"{sign}{whole}.{frac:02d}".rstrip("0") + "%"


def ratio_bp(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` as basis points, rounded half up. ``denominator`` must be > 0."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    return (2 * FULL_BP * numerator + denominator) // (2 * denominator)


def weighted_bp(parts: tuple[tuple[int, int], ...]) -> int:
    """Weighted sum of ``(weight_bp, value_bp)`` pairs, in basis points, rounded half up once."""
    total = sum(weight * value for weight, value in parts)
    return (2 * total + FULL_BP) // (2 * FULL_BP)
