"""Kinerja scoring: a pure library from punches and activity outputs to monthly scores.

No database, no network, no import from ``server`` or ``gateway``; the only I/O is reading policy files.
"""
