"""What the push endpoint keeps in the gateway's state dir, beside the punch queue (`push.sqlite3`).

- `stamps`: per device and table, the last upload Stamp stored, handed back at registration so a
  rebooted device resumes where it was. Written only after the punches of that upload are committed
  to the punch queue: a crash in between makes the device send again, which the queue's dedup absorbs.
- `quarantine`: request bodies (or lines of them) that could not be read, with the raw bytes, for a person.
- `refused`: requests from serials not in the gateway config, counted per serial for telemetry.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from gateway.durable import open_durable

SCHEMA = """
CREATE TABLE IF NOT EXISTS stamps (
    serial TEXT NOT NULL, log TEXT NOT NULL, stamp INTEGER NOT NULL, updated_at REAL NOT NULL,
    PRIMARY KEY (serial, log)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at REAL NOT NULL,
    serial TEXT NOT NULL,
    remote TEXT NOT NULL,
    request TEXT NOT NULL,        -- method, path and query as received
    reason TEXT NOT NULL,
    raw BLOB NOT NULL             -- the body exactly as received
);
CREATE TABLE IF NOT EXISTS refused (
    serial TEXT PRIMARY KEY, requests INTEGER NOT NULL, last_remote TEXT NOT NULL, last_at REAL NOT NULL
) WITHOUT ROWID;
"""


MAX_REFUSED_SERIALS = 1000


@dataclass(frozen=True, slots=True)
class QuarantinedBody:
    id: int
    serial: str
    request: str
    reason: str
    raw: bytes


class PushStore:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._db = open_durable(self.path, SCHEMA)

    def close(self) -> None:
        self._db.close()

    def stamp(self, serial: str, log: str) -> int | None:
        row = self._db.execute("SELECT stamp FROM stamps WHERE serial = ? AND log = ?", (serial, log)).fetchone()
        return None if row is None else row[0]

    def save_stamp(self, serial: str, log: str, stamp: int) -> None:
        self._db.execute(
            "INSERT INTO stamps (serial, log, stamp, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (serial, log) DO UPDATE SET stamp = excluded.stamp, updated_at = excluded.updated_at",
            (serial, log, stamp, time.time()),
        )

    def quarantine(self, serial: str, remote: str, request: str, reason: str, raw: bytes) -> int:
        cursor = self._db.execute(
            "INSERT INTO quarantine (received_at, serial, remote, request, reason, raw) VALUES (?, ?, ?, ?, ?, ?)",
            (time.time(), serial, remote, request, reason[:2000], raw),
        )
        return int(cursor.lastrowid or 0)

    def quarantined(self, limit: int = 100) -> list[QuarantinedBody]:
        rows = self._db.execute(
            "SELECT id, serial, request, reason, raw FROM quarantine ORDER BY id LIMIT ?", (limit,)
        ).fetchall()
        return [QuarantinedBody(i, s, q, r, bytes(raw)) for i, s, q, r, raw in rows]

    def quarantine_count(self) -> int:
        return self._db.execute("SELECT count(*) FROM quarantine").fetchone()[0]

    def count_refused(self, serial: str, remote: str) -> None:
        """Counted per serial, up to MAX_REFUSED_SERIALS of them: a flood of made-up serials cannot grow the file."""
        known = self._db.execute("SELECT 1 FROM refused WHERE serial = ?", (serial[:64],)).fetchone()
        if known is None and self._db.execute("SELECT count(*) FROM refused").fetchone()[0] >= MAX_REFUSED_SERIALS:
            serial = "(others)"
        self._db.execute(
            "INSERT INTO refused (serial, requests, last_remote, last_at) VALUES (?, 1, ?, ?) "
            "ON CONFLICT (serial) DO UPDATE SET requests = requests + 1, last_remote = excluded.last_remote, "
            "last_at = excluded.last_at",
            (serial[:64], remote, time.time()),
        )

    def refused(self) -> dict[str, int]:
        return dict(self._db.execute("SELECT serial, requests FROM refused ORDER BY serial").fetchall())

    def recently_refused(self, within_s: float, limit: int) -> list[tuple[str, int, str, float]]:
        """(serial, requests, last remote address, last time) of the serials refused most, lately."""
        return self._db.execute(
            "SELECT serial, requests, last_remote, last_at FROM refused WHERE last_at > ? AND serial != '(others)' "
            "ORDER BY requests DESC, serial LIMIT ?",
            (time.time() - within_s, limit),
        ).fetchall()
