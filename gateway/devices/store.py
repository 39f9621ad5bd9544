"""What the gateway keeps about its devices beside the punch queue, in one SQLite file.

- `held`: punches with a suspect timestamp (clock reset to 2000 by a flat battery, in the future,
  stamped before the clock was last set). They are not queued for the server, whose unique key is the
  instant: an invented time would become someone's attendance. A person reviews them.
- `quarantine`: raw bytes a device sent that are not a punch at all (a serial line that does not
  match its profile, a log record with an impossible date), with the reason.
- `clock_sets`: when the gateway last set each device's clock, and how long the log was then, so
  punches stored after the set can be checked against it across restarts.

Like the punch queue: one connection per thread (the gateway's event loop thread), WAL, synchronous.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from gateway.durable import immediate_transaction, open_durable

SCHEMA = """
CREATE TABLE IF NOT EXISTS held (
    device TEXT NOT NULL, pin TEXT NOT NULL, local_time TEXT NOT NULL, state INTEGER NOT NULL,
    verify INTEGER NOT NULL, reason TEXT NOT NULL, held_at REAL NOT NULL,
    PRIMARY KEY (device, pin, local_time, state)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device TEXT NOT NULL, raw BLOB NOT NULL, reason TEXT NOT NULL, at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS quarantine_by_raw ON quarantine (device, raw);

CREATE TABLE IF NOT EXISTS clock_sets (
    device TEXT PRIMARY KEY, set_to TEXT NOT NULL, log_length INTEGER NOT NULL, newest_before TEXT, at REAL NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class HeldPunch:
    device: str
    pin: str
    local_time: datetime
    state: int
    verify: int
    reason: str


@dataclass(frozen=True, slots=True)
class QuarantinedBytes:
    device: str
    raw: bytes
    reason: str


@dataclass(frozen=True, slots=True)
class ClockSet:
    """The gateway set the device clock to `set_to` (device wall time) when its log held `log_length`
    records, the newest stamped `newest_before` (None: the log was empty)."""

    set_to: datetime
    log_length: int
    newest_before: datetime | None = None


class DeviceStore:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._db = open_durable(self.path, SCHEMA)

    def close(self) -> None:
        self._db.close()

    def hold(self, device: str, punches: list[tuple[str, datetime, int, int, str]]) -> int:
        """Keep suspect punches (pin, device wall time, state, verify, reason); returns how many were new."""
        now = time.time()
        added = 0
        with immediate_transaction(self._db):
            for pin, local_time, state, verify, reason in punches:
                cursor = self._db.execute(
                    "INSERT OR IGNORE INTO held (device, pin, local_time, state, verify, reason, held_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (device, pin, local_time.isoformat(), state, verify, reason, now),
                )
                added += cursor.rowcount
        return added

    def held(self, device: str | None = None) -> list[HeldPunch]:
        rows = self._db.execute(
            "SELECT device, pin, local_time, state, verify, reason FROM held "
            "WHERE ?1 IS NULL OR device = ?1 ORDER BY device, local_time",
            (device,),
        ).fetchall()
        return [HeldPunch(d, p, datetime.fromisoformat(t), s, v, r) for d, p, t, s, v, r in rows]

    def held_count(self, device: str | None = None) -> int:
        return self._db.execute("SELECT count(*) FROM held WHERE ?1 IS NULL OR device = ?1", (device,)).fetchone()[0]

    def quarantine(self, device: str, raw: bytes, reason: str, *, once: bool = False) -> bool:
        """Keep bytes that are not a punch. With `once`, bytes already kept for this device are not kept
        again (a device log is read whole on every poll); a serial line arrives once, so it always is."""
        if (
            once
            and self._db.execute(
                "SELECT 1 FROM quarantine WHERE device = ? AND raw = ? LIMIT 1", (device, raw)
            ).fetchone()
        ):
            return False
        self._db.execute(
            "INSERT INTO quarantine (device, raw, reason, at) VALUES (?, ?, ?, ?)", (device, raw, reason, time.time())
        )
        return True

    def quarantined(self, device: str | None = None) -> list[QuarantinedBytes]:
        rows = self._db.execute(
            "SELECT device, raw, reason FROM quarantine WHERE ?1 IS NULL OR device = ?1 ORDER BY id", (device,)
        ).fetchall()
        return [QuarantinedBytes(d, bytes(raw), reason) for d, raw, reason in rows]

    def quarantined_count(self, device: str | None = None) -> int:
        return self._db.execute(
            "SELECT count(*) FROM quarantine WHERE ?1 IS NULL OR device = ?1", (device,)
        ).fetchone()[0]

    def record_clock_set(self, device: str, clock_set: ClockSet) -> None:
        newest = clock_set.newest_before.isoformat() if clock_set.newest_before else None
        self._db.execute(
            "INSERT OR REPLACE INTO clock_sets (device, set_to, log_length, newest_before, at) VALUES (?, ?, ?, ?, ?)",
            (device, clock_set.set_to.isoformat(), clock_set.log_length, newest, time.time()),
        )

    def last_clock_set(self, device: str) -> ClockSet | None:
        row = self._db.execute(
            "SELECT set_to, log_length, newest_before FROM clock_sets WHERE device = ?", (device,)
        ).fetchone()
        if row is None:
            return None
        return ClockSet(datetime.fromisoformat(row[0]), row[1], datetime.fromisoformat(row[2]) if row[2] else None)
