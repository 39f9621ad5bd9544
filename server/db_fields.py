"""Field types of our own, for what tortoise's cannot say (each one's reason in its docstring)."""

from __future__ import annotations

from tortoise import fields


class JSONTextField(fields.JSONField):
    """JSON read and written as tortoise's ``JSONField`` (a dict to Python), but kept as plain ``text`` on
    PostgreSQL instead of ``jsonb``: for a large document written often and only ever read whole by
    Python (a monthly explanation, ~15 KB, rewritten for every employee at each month-end run).

    PostgreSQL parses every ``jsonb`` value it is sent into its binary form and prints it back as text for
    every read; on the month-end run that parsing (and the compression after it) cost about as much CPU
    as the scoring itself, on the same cores. Text is stored as sent. Nothing queries inside such a
    column, and only the server writes it (JSON it encoded itself). SQLite's column is the same as
    ``JSONField``'s (``JSON``, text underneath): no change there.
    """

    class _db_postgres:
        SQL_TYPE = "TEXT"
