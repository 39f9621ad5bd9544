"""The gateway's durable punch queue: every punch is committed here before anything else happens to it.

SQLite in WAL mode with synchronous=FULL: a committed punch survives kill -9 and a power cut.
A punch leaves the queue only when the server has acknowledged the batch that carried it, after the
server's own database commit. `seen` remembers every punch ever queued, so a device that returns its
whole log again (they all do) never queues a punch twice, across restarts too.

Not thread-safe by design: one PunchQueue per thread (the gateway owns one on its event loop thread).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from gateway.durable import immediate_transaction, open_durable
from gateway.faults import crash_point

SCHEMA = """
CREATE TABLE IF NOT EXISTS punches (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,  -- order of arrival, kept per device on the wire
    device       TEXT NOT NULL,
    pin          TEXT NOT NULL,
    time         TEXT NOT NULL,                      -- ISO 8601 with the office's UTC offset
    state        INTEGER NOT NULL,
    verify       INTEGER NOT NULL,
    batch_id     TEXT,                               -- set while a batch carrying it awaits its ack
    queued_at    REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS punches_unbatched ON punches (device, seq) WHERE batch_id IS NULL;
CREATE INDEX IF NOT EXISTS punches_by_batch ON punches (batch_id) WHERE batch_id IS NOT NULL;

CREATE TABLE IF NOT EXISTS batches (
    batch_id     TEXT PRIMARY KEY,
    device       TEXT NOT NULL,
    created_at   REAL NOT NULL,
    sent_at      REAL,
    attempts     INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS seen (
    device TEXT NOT NULL, pin TEXT NOT NULL, time TEXT NOT NULL, state INTEGER NOT NULL,
    PRIMARY KEY (device, pin, time, state)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS rejected (
    batch_id TEXT NOT NULL, device TEXT NOT NULL, pin TEXT NOT NULL, time TEXT NOT NULL,
    state INTEGER NOT NULL, verify INTEGER NOT NULL, reason TEXT NOT NULL, rejected_at REAL NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class QueuedPunch:
    seq: int
    device: str
    pin: str
    time: datetime
    state: int
    verify: int


@dataclass(frozen=True, slots=True)
class Batch:
    batch_id: str
    device: str
    punches: tuple[QueuedPunch, ...]
    attempts: int


@dataclass(frozen=True, slots=True)
class BacklogStats:
    queued: int
    in_flight_batches: int
    oldest_queued_at: float | None


class PunchQueue:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._db = open_durable(self.path, SCHEMA)

    def close(self) -> None:
        self._db.close()

    def enqueue(self, device: str, punches: Iterable[tuple[str, datetime, int, int]]) -> int:
        """Commit new punches (pin, aware time, state, verify); returns how many were new."""
        added = 0
        now = time.time()
        with immediate_transaction(self._db):
            for pin, moment, state, verify in punches:
                stamp = moment.isoformat()
                cursor = self._db.execute(
                    "INSERT OR IGNORE INTO seen (device, pin, time, state) VALUES (?, ?, ?, ?)",
                    (device, pin, stamp, state),
                )
                if cursor.rowcount:
                    self._db.execute(
                        "INSERT INTO punches (device, pin, time, state, verify, queued_at) VALUES (?, ?, ?, ?, ?, ?)",
                        (device, pin, stamp, state, verify, now),
                    )
                    added += 1
                    if added == 1:
                        crash_point("queue.enqueueing")
        if added:
            crash_point("queue.enqueued")
        return added

    def claim_batch(self, batch_id: str, max_punches: int, *, after_seq: int = 0) -> Batch | None:
        """Put the oldest unbatched punches of the device that has waited longest into a new batch.

        `after_seq` limits the choice to punches queued after that sequence number: the relay's lane for
        punches that arrived while an old backlog drains. Either way a batch holds one device's punches
        in queue order.
        """
        with immediate_transaction(self._db):
            row = self._db.execute(
                "SELECT device FROM punches WHERE batch_id IS NULL AND seq > ? ORDER BY seq LIMIT 1", (after_seq,)
            ).fetchone()
            if row is None:
                return None
            device = row[0]
            seqs = [
                r[0]
                for r in self._db.execute(
                    "SELECT seq FROM punches WHERE batch_id IS NULL AND device = ? AND seq > ? ORDER BY seq LIMIT ?",
                    (device, after_seq, max_punches),
                )
            ]
            self._db.execute(
                "INSERT INTO batches (batch_id, device, created_at) VALUES (?, ?, ?)",
                (batch_id, device, time.time()),
            )
            self._db.executemany("UPDATE punches SET batch_id = ? WHERE seq = ?", [(batch_id, s) for s in seqs])
        return self.batch(batch_id)

    def last_seq(self) -> int:
        """The sequence number of the newest punch ever queued (0 for a new queue)."""
        row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'punches'").fetchone()
        return row[0] if row else 0

    def batch(self, batch_id: str) -> Batch | None:
        head = self._db.execute("SELECT device, attempts FROM batches WHERE batch_id = ?", (batch_id,)).fetchone()
        if head is None:
            return None
        rows = self._db.execute(
            "SELECT seq, device, pin, time, state, verify FROM punches WHERE batch_id = ? ORDER BY seq",
            (batch_id,),
        ).fetchall()
        punches = tuple(QueuedPunch(s, d, p, datetime.fromisoformat(t), st, v) for s, d, p, t, st, v in rows)
        return Batch(batch_id, head[0], punches, head[1])

    def batches_due(self, resend_after_s: float, limit: int, max_backoff_s: float | None = None) -> list[Batch]:
        """In-flight batches never sent, or unacked past their backoff, oldest first.

        The wait before resending doubles with every attempt (resend_after_s, 2x, 4x ...) up to
        `max_backoff_s`, so a server that is down for a week is not hammered with the same batches.
        """
        ceiling = resend_after_s if max_backoff_s is None else max(max_backoff_s, resend_after_s)
        ids = [
            r[0]
            for r in self._db.execute(
                "SELECT batch_id FROM batches WHERE sent_at IS NULL "
                "OR sent_at + min(?, ? * (1 << min(max(attempts - 1, 0), 20))) <= ? ORDER BY created_at LIMIT ?",
                (ceiling, resend_after_s, time.time(), limit),
            )
        ]
        return [b for b in (self.batch(i) for i in ids) if b is not None]

    def resend_all_now(self) -> int:
        """Make every in-flight batch due at once: after a restart or a reconnect nobody knows whether
        the last copies reached the wire. Attempts are kept, so the backoff still grows."""
        return self._db.execute("UPDATE batches SET sent_at = NULL WHERE sent_at IS NOT NULL").rowcount

    def in_flight(self) -> int:
        return self._db.execute("SELECT count(*) FROM batches").fetchone()[0]

    def mark_sent(self, batch_id: str) -> None:
        self._db.execute(
            "UPDATE batches SET sent_at = ?, attempts = attempts + 1 WHERE batch_id = ?", (time.time(), batch_id)
        )

    def acknowledge(self, batch_id: str) -> int:
        """The server stored the batch: forget its punches (`seen` keeps them from coming back)."""
        with immediate_transaction(self._db):
            removed = self._db.execute("DELETE FROM punches WHERE batch_id = ?", (batch_id,)).rowcount
            crash_point("queue.acknowledging")
            self._db.execute("DELETE FROM batches WHERE batch_id = ?", (batch_id,))
        return removed

    def reject(self, batch_id: str, reason: str) -> int:
        """The server refused the batch for good: keep its punches aside for a person, never resend them."""
        now = time.time()
        with immediate_transaction(self._db):
            self._db.execute(
                "INSERT INTO rejected (batch_id, device, pin, time, state, verify, reason, rejected_at) "
                "SELECT batch_id, device, pin, time, state, verify, ?, ? FROM punches WHERE batch_id = ?",
                (reason, now, batch_id),
            )
            removed = self._db.execute("DELETE FROM punches WHERE batch_id = ?", (batch_id,)).rowcount
            self._db.execute("DELETE FROM batches WHERE batch_id = ?", (batch_id,))
        return removed

    def stats(self) -> BacklogStats:
        (queued,) = self._db.execute("SELECT count(*) FROM punches").fetchone()
        # The oldest punch is the lowest seq: one index step, not a scan of a million rows.
        oldest = self._db.execute("SELECT queued_at FROM punches ORDER BY seq LIMIT 1").fetchone()
        return BacklogStats(queued, self.in_flight(), oldest[0] if oldest else None)

    def queued_for(self, device: str) -> int:
        """Punches of one device (its serial) still waiting for the server's acknowledgement."""
        return self._db.execute("SELECT count(*) FROM punches WHERE device = ?", (device,)).fetchone()[0]

    def rejected_count(self) -> int:
        return self._db.execute("SELECT count(*) FROM rejected").fetchone()[0]
