"""The server's ingestion on both stacks: idempotent storage, acks after commit, quarantine of bad input."""

from __future__ import annotations

import asyncio
import json

from server.models import Punch, QuarantinedMessage
from tests.conftest import Stack, unique_slug
from tests.helpers import HandGateway, running_server
from wire.contract import AckStatus, TopicKind, topic_for


async def counted(query, expected: int, timeout_s: float = 10) -> int:
    """The count once it reaches `expected` (or the timeout): an ack on the shared broker may come from
    another test run's server before this test's server has committed."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while (count := await query.count()) < expected and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    return count


def new_gateway(stack: Stack) -> HandGateway:
    return HandGateway(stack.mqtt, unique_slug("unit"), unique_slug("gw"))


async def started(gateway: HandGateway) -> HandGateway:
    await gateway.start()
    return gateway


async def test_batch_replayed_twice_stores_each_punch_once(stack: Stack):
    gateway = new_gateway(stack)
    async with running_server(stack.db_url, stack.mqtt, units=(gateway.unit,), session_expiry_s=60) as api:
        await started(gateway)
        try:
            batch = gateway.batch([("1", 0), ("2", 3), ("3", 9)])
            await gateway.publish_raw(batch.to_json())
            await gateway.publish_raw(batch.to_json())
            first, second = await gateway.wait_acks(2)
        finally:
            await gateway.close()
        assert (first.status, first.stored, first.duplicates) == (AckStatus.STORED, 3, 0)
        assert (second.status, second.stored, second.duplicates) == (AckStatus.STORED, 0, 3)
        assert await counted(Punch.filter(unit_code=gateway.unit), 3) == 3
        response = await api.get("/api/v1/punches", params={"unit": gateway.unit})
        body = await response.json()
        assert body["total"] == 3
        day = gateway.day_start.date().isoformat()
        assert {item["time"] for item in body["items"]} == {
            f"{day}T07:00:00+07:00",
            f"{day}T07:03:00+07:00",
            f"{day}T07:09:00+07:00",
        }


async def test_malformed_batch_is_quarantined_counted_and_nacked(stack: Stack):
    gateway = new_gateway(stack)
    async with running_server(stack.db_url, stack.mqtt, units=(gateway.unit,), session_expiry_s=60) as api:
        await started(gateway)
        try:
            body = json.loads(gateway.batch([("1", 0)]).to_json())
            body["punches"][0]["time"] = "not a time"
            await gateway.publish_raw(json.dumps(body).encode())
            (ack,) = await gateway.wait_acks(1)
        finally:
            await gateway.close()
        assert ack.status is AckStatus.REJECTED
        assert ack.batch_id == body["batch_id"]
        assert "ISO 8601" in (ack.reason or "")
        assert await counted(QuarantinedMessage.filter(gateway_id=gateway.gateway_id), 1) == 1
        kept = await QuarantinedMessage.get(gateway_id=gateway.gateway_id)
        assert json.loads(kept.payload) == body  # the raw bytes are kept whole
        assert await Punch.filter(unit_code=gateway.unit).count() == 0
        listing = await (await api.get("/api/v1/quarantine")).json()
        assert listing["total"] >= 1


async def test_a_batch_claiming_another_gateway_is_refused_as_forged(stack: Stack):
    gateway = new_gateway(stack)
    async with running_server(stack.db_url, stack.mqtt, units=(gateway.unit,), session_expiry_s=60):
        await started(gateway)
        try:
            forged = gateway.batch([("9", 1)], gateway_id="gw-someone-else")
            await gateway.publish_raw(forged.to_json())
            (ack,) = await gateway.wait_acks(1)
        finally:
            await gateway.close()
        assert ack.status is AckStatus.REJECTED
        assert "not the topic's gateway" in (ack.reason or "")
        assert await Punch.filter(gateway_id="gw-someone-else").count() == 0
        assert await counted(QuarantinedMessage.filter(gateway_id=gateway.gateway_id), 1) == 1


async def test_punches_from_a_reset_or_future_clock_are_stored_but_flagged(stack: Stack):
    from datetime import UTC, datetime, timedelta

    from wire.contract import PunchRecord

    gateway = new_gateway(stack)
    async with running_server(stack.db_url, stack.mqtt, units=(gateway.unit,), session_expiry_s=60):
        await started(gateway)
        try:
            good = gateway.batch([("1", 0)]).punches[0]
            reset = PunchRecord("2", datetime(2000, 1, 1, 0, 5, tzinfo=good.time.tzinfo), 0, 1, 2)
            future = PunchRecord("3", datetime.now(UTC) + timedelta(days=30), 0, 1, 3)
            await gateway.publish_raw(gateway.batch([], punches=(good, reset, future)).to_json())
            await gateway.wait_acks(1)
            await counted(Punch.filter(unit_code=gateway.unit), 3)
        finally:
            await gateway.close()
        flags = dict(await Punch.filter(unit_code=gateway.unit).values_list("pin", "flag"))
        assert flags == {"1": None, "2": "clock_reset", "3": "future"}


async def test_a_message_on_a_foreign_topic_under_our_root_is_quarantined(stack: Stack):
    gateway = new_gateway(stack)
    async with running_server(stack.db_url, stack.mqtt, units=(gateway.unit,), session_expiry_s=60):
        await started(gateway)
        try:
            topic = topic_for(gateway.unit, gateway.gateway_id, TopicKind.PUNCHES)
            await gateway.publish_raw(b"\xff\xfe not json", topic=topic)
            (ack,) = await gateway.wait_acks(1)
        finally:
            await gateway.close()
        assert ack.status is AckStatus.REJECTED and ack.batch_id == ""
        assert await counted(QuarantinedMessage.filter(gateway_id=gateway.gateway_id), 1) == 1


async def test_bad_api_requests_get_a_4xx_with_a_reason(stack: Stack):
    async with running_server(stack.db_url, stack.mqtt, units=(unique_slug("unit"),), session_expiry_s=60) as api:
        for path, params in [
            ("/api/v1/punches", {"limit": "lots"}),
            ("/api/v1/punches", {"limit": "100000"}),
            ("/api/v1/punches", {"date": "23/11/2026"}),
            ("/api/v1/attendance/daily", {"tz": "Mars/Olympus"}),
        ]:
            response = await api.get(path, params=params)
            assert response.status == 400, (path, params)
            body = await response.json()
            assert body["error"] == "bad_request" and body["reason"]
        missing = await api.get("/api/v1/nothing-here")
        assert missing.status == 404
        assert (await missing.json())["error"] == "not_found"
