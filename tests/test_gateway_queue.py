"""The gateway's durable queue: committed first, deduplicated forever, forgotten only on ack."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from gateway.queue import PunchQueue

WITA = timezone(timedelta(hours=8))


def punches(n: int, start: datetime | None = None) -> list[tuple[str, datetime, int, int]]:
    start = start or datetime(2026, 11, 23, 7, 0, tzinfo=WITA)
    return [(str(i % 7 + 1), start + timedelta(minutes=i), i % 2, 1) for i in range(n)]


def test_a_device_returning_its_whole_log_again_queues_nothing_twice(tmp_path):
    queue = PunchQueue(tmp_path / "q.sqlite3")
    assert queue.enqueue("DEV1", punches(10)) == 10
    assert queue.enqueue("DEV1", punches(12)) == 2
    assert queue.stats().queued == 12


def test_dedup_survives_a_restart_even_after_the_punches_were_acked(tmp_path):
    path = tmp_path / "q.sqlite3"
    queue = PunchQueue(path)
    queue.enqueue("DEV1", punches(5))
    batch = queue.claim_batch("b" * 32, 100)
    assert batch is not None
    queue.acknowledge(batch.batch_id)
    queue.close()
    reopened = PunchQueue(path)
    assert reopened.enqueue("DEV1", punches(5)) == 0
    assert reopened.stats().queued == 0


def test_the_same_pin_and_time_on_another_device_is_another_punch(tmp_path):
    queue = PunchQueue(tmp_path / "q.sqlite3")
    queue.enqueue("DEV1", punches(3))
    assert queue.enqueue("DEV2", punches(3)) == 3


def test_batches_keep_device_order_and_stay_until_acknowledged(tmp_path):
    queue = PunchQueue(tmp_path / "q.sqlite3")
    queue.enqueue("DEV1", punches(25))
    first = queue.claim_batch("1" * 32, 10)
    second = queue.claim_batch("2" * 32, 10)
    assert first is not None and second is not None
    assert [p.seq for p in first.punches] == sorted(p.seq for p in first.punches)
    assert max(p.seq for p in first.punches) < min(p.seq for p in second.punches)
    assert queue.stats().queued == 25
    assert queue.acknowledge(first.batch_id) == 10
    assert queue.stats().queued == 15
    assert queue.acknowledge(first.batch_id) == 0  # a duplicate ack changes nothing


def test_unacked_batches_come_back_for_resending_after_a_restart(tmp_path):
    path = tmp_path / "q.sqlite3"
    queue = PunchQueue(path)
    queue.enqueue("DEV1", punches(4))
    batch = queue.claim_batch("c" * 32, 100)
    assert batch is not None
    queue.mark_sent(batch.batch_id)
    queue.close()
    reopened = PunchQueue(path)
    due = reopened.batches_due(resend_after_s=0, limit=10)
    assert [b.batch_id for b in due] == [batch.batch_id]
    assert due[0].punches == batch.punches


def test_a_rejected_batch_is_set_aside_not_resent(tmp_path):
    queue = PunchQueue(tmp_path / "q.sqlite3")
    queue.enqueue("DEV1", punches(3))
    batch = queue.claim_batch("d" * 32, 100)
    assert batch is not None
    assert queue.reject(batch.batch_id, "schema: bad") == 3
    assert queue.stats().queued == 0
    assert queue.rejected_count() == 3
    assert queue.batches_due(0, 10) == []


def test_oldest_waiting_device_goes_first(tmp_path):
    queue = PunchQueue(tmp_path / "q.sqlite3")
    queue.enqueue("OLD", punches(2))
    queue.enqueue("NEW", punches(2, datetime(2026, 11, 23, 9, 0, tzinfo=WITA)))
    batch = queue.claim_batch("e" * 32, 100)
    assert batch is not None and batch.device == "OLD"


def test_unacked_batches_wait_twice_as_long_each_attempt_up_to_the_ceiling(tmp_path, monkeypatch):
    clock = [1_000_000.0]
    monkeypatch.setattr("gateway.queue.time.time", lambda: clock[0])
    queue = PunchQueue(tmp_path / "q.sqlite3")
    queue.enqueue("DEV1", punches(3))
    batch = queue.claim_batch("f" * 32, 100)
    assert batch is not None
    waits = []
    for _attempt in range(6):
        assert [b.batch_id for b in queue.batches_due(10, 8, max_backoff_s=60)] == [batch.batch_id]
        queue.mark_sent(batch.batch_id)
        sent_at = clock[0]
        while not queue.batches_due(10, 8, max_backoff_s=60):
            clock[0] += 1
        waits.append(clock[0] - sent_at)
    assert waits == [10, 20, 40, 60, 60, 60]


def test_after_a_restart_every_unacked_batch_is_due_at_once_and_keeps_its_attempts(tmp_path):
    path = tmp_path / "q.sqlite3"
    queue = PunchQueue(path)
    queue.enqueue("DEV1", punches(4))
    batch = queue.claim_batch("a1" * 16, 100)
    assert batch is not None
    queue.mark_sent(batch.batch_id)
    queue.mark_sent(batch.batch_id)
    assert queue.batches_due(30, 8) == []
    queue.close()
    reopened = PunchQueue(path)
    assert reopened.resend_all_now() == 1
    due = reopened.batches_due(30, 8)
    assert [b.batch_id for b in due] == [batch.batch_id] and due[0].attempts == 2


def test_the_fresh_lane_takes_only_punches_queued_after_the_backlog_in_device_order(tmp_path):
    queue = PunchQueue(tmp_path / "q.sqlite3")
    queue.enqueue("OLD", punches(50))
    boundary = queue.last_seq()
    queue.enqueue("LIVE", punches(3, datetime(2026, 11, 30, 7, 0, tzinfo=WITA)))
    queue.enqueue("OLD", punches(2, datetime(2026, 11, 30, 7, 0, tzinfo=WITA)))
    fresh = queue.claim_batch("0" * 32, 10, after_seq=boundary)
    assert fresh is not None and fresh.device == "LIVE" and len(fresh.punches) == 3
    fresh_old = queue.claim_batch("1" * 32, 10, after_seq=boundary)
    assert fresh_old is not None and fresh_old.device == "OLD"
    assert [p.time.day for p in fresh_old.punches] == [30, 30]  # the new ones, not the backlog's head
    assert queue.claim_batch("2" * 32, 10, after_seq=boundary) is None
    backlog = queue.claim_batch("3" * 32, 10)
    assert backlog is not None and [p.seq for p in backlog.punches] == list(range(1, 11))


def test_stats_name_the_oldest_queued_punch(tmp_path, monkeypatch):
    clock = [500.0]
    monkeypatch.setattr("gateway.queue.time.time", lambda: clock[0])
    queue = PunchQueue(tmp_path / "q.sqlite3")
    assert queue.stats().oldest_queued_at is None
    queue.enqueue("DEV1", punches(2))
    clock[0] = 900.0
    queue.enqueue("DEV2", punches(2))
    stats = queue.stats()
    assert (stats.queued, stats.in_flight_batches, stats.oldest_queued_at) == (4, 0, 500.0)
