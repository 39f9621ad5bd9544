"""Errors that say what to fix."""

from __future__ import annotations


class ScoringError(Exception):
    """Base class for everything the scoring library raises on purpose."""


class PolicyError(ScoringError, ValueError):
    """A policy file (or a policy built in code) is wrong.

    The message names the file, the key, what was found and what was expected, for example::

        national.toml: key 'lateness.bands[1].to': found 'thirty' (str), expected whole minutes (int)
    """

    def __init__(self, source: str, key: str, found: object, expected: str) -> None:
        self.source = source
        self.key = key
        self.found = found
        self.expected = expected
        shown = "nothing" if found is _MISSING else f"{found!r} ({type(found).__name__})"
        super().__init__(f"{source}: key '{key}': found {shown}, expected {expected}")


class InputError(ScoringError, ValueError):
    """The data handed to the scoring (punches, excuses, rosters, claims) does not fit the policy."""


class ClaimTransitionError(ScoringError, ValueError):
    """An activity claim cannot move to the requested state from the state it is in."""


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()
MISSING: object = _MISSING
"""Marker for "the key is absent" in :class:`PolicyError`."""
