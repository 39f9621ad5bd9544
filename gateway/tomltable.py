"""Reading a TOML table with errors that teach: each names the file, the key, what was found and
what was expected. Used by the gateway config and the device profiles."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

_MISSING: Any = object()


class TomlTable:
    def __init__(self, table: dict[str, Any], source: str, error: type[ValueError], prefix: str = "") -> None:
        self.table = table
        self.source = source
        self.error = error
        self.prefix = prefix

    def fail(self, key: str, problem: str) -> ValueError:
        return self.error(f"{self.source}: {self.prefix}{key}: {problem}")

    def refuse_unknown(self, known: Iterable[str]) -> None:
        """Every key must be one of `known`: a misspelt `poll_interval = 5` must not silently mean the
        default. The error names the nearest known key."""
        names = sorted(known)
        for key in self.table:
            if key not in names:
                near = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
                guess = f"did you mean {near[0]!r}? " if near else ""
                raise self.fail(key, f"unknown key; {guess}known keys: {', '.join(names)}")

    def sub(self, key: str, *, required: bool = False) -> TomlTable:
        value = self.get(key, dict, _MISSING if required else {})
        return TomlTable(value, self.source, self.error, f"{self.prefix}{key}.")

    def get(
        self,
        key: str,
        kind: type,
        default: Any = _MISSING,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> Any:
        if key not in self.table:
            if default is _MISSING:
                raise self.fail(key, f"missing (expected {kind.__name__})")
            return default
        value = self.table[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        # TOML's true is not a number, though Python's bool is an int.
        if not isinstance(value, kind) or (kind in (int, float) and isinstance(value, bool)):
            raise self.fail(key, f"expected {kind.__name__}, got {value!r}")
        if minimum is not None and value < minimum:
            raise self.fail(key, f"expected at least {minimum}, got {value!r}")
        if maximum is not None and value > maximum:
            raise self.fail(key, f"expected at most {maximum}, got {value!r}")
        return value

    def choice(self, key: str, options: tuple[str, ...], default: Any = _MISSING) -> str:
        value = self.get(key, str, default)
        if value not in options:
            raise self.fail(key, f"expected one of {list(options)}, got {value!r}")
        return value
