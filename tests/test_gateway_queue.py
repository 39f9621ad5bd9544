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
