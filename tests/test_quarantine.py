"""Bad batches on both stacks: each is answered `rejected` with the reason, kept byte for byte in
quarantine, counted, and none of its punches stored. Parsing is bounded: no payload makes it eat memory."""

from __future__ import annotations

import json

import pytest

from server.app import CONSUMER
from server.models import Punch, QuarantinedMessage
from tests.conftest import Stack, unique_slug
from tests.helpers import HandGateway, running_server
from tests.test_server_ingest import counted
from wire.contract import MAX_BATCH_BYTES, MAX_PUNCHES_PER_BATCH, AckStatus


def bad_payloads(gateway: HandGateway) -> list[tuple[str, bytes, str]]:
    good = json.loads(gateway.batch([("1", 0)]).to_json())
    too_big = json.loads(gateway.batch([(str(n % 9000), n % 600) for n in range(MAX_PUNCHES_PER_BATCH)]).to_json())
    too_big["padding"] = "x" * MAX_BATCH_BYTES
    return [
        ("oversize", json.dumps(too_big).encode(), "bytes, at most"),
        ("nested", b"[" * 60_000 + b"]" * 60_000, "nested too deeply"),
        ("schema", json.dumps({**good, "schema": 99}).encode(), "version"),
        ("many", _many(gateway), "at most"),
        ("unit", json.dumps({**good, "unit": "someone-else"}).encode(), "not the topic's unit"),
        ("not-object", b'"just a string"', "expected a JSON object"),
        ("negative", json.dumps({**good, "punches": [{**good["punches"][0], "state": -1}]}).encode(), "0..255"),
    ]


def _many(gateway: HandGateway) -> bytes:
    batch = gateway.batch([(str(n), n % 600) for n in range(MAX_PUNCHES_PER_BATCH + 1)])
    return batch.to_json()


@pytest.mark.timeout(60)
async def test_every_kind_of_bad_batch_is_rejected_quarantined_and_counted(stack: Stack):
    gateway = HandGateway(stack.mqtt, unique_slug("unit"), unique_slug("gw"))
    async with running_server(stack.db_url, stack.mqtt, units=(gateway.unit,), session_expiry_s=60) as api:
        await gateway.start()
        cases = bad_payloads(gateway)
        try:
            for _, payload, _ in cases:
                await gateway.publish_raw(payload)
            await gateway.publish_raw(gateway.batch([("5", 5)]).to_json())  # and a good one after them
            acks = await gateway.wait_acks(len(cases) + 1, timeout_s=30)
        finally:
            await gateway.close()
        for (name, _, reason), ack in zip(cases, acks, strict=False):
            assert ack.status is AckStatus.REJECTED, name
            assert reason in (ack.reason or ""), (name, ack.reason)
        assert acks[-1].status is AckStatus.STORED and acks[-1].stored == 1
        kept = await QuarantinedMessage.filter(gateway_id=gateway.gateway_id).order_by("id")
        assert [bytes(q.payload) for q in kept] == [payload for _, payload, _ in cases]
        assert await counted(Punch.filter(unit_code=gateway.unit), 1) == 1
        assert api.app[CONSUMER].counters.quarantined == len(cases)
        assert api.app[CONSUMER].writer.counters.quarantined == len(cases)
