"""A property over what a broken or hostile gateway may publish on its punches topic, fed through the
real broker to the live consumer on PostgreSQL: every message ends stored, held or rejected (and then
quarantined, once), and every one is answered and acknowledged, so the next gateway is never kept waiting.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.models import Punch, QuarantinedMessage
from tests.conftest import unique_slug
from tests.helpers import HandGateway, running_server
from wire.contract import AckStatus
from wire.mqtt import MqttSettings

EXAMPLES = 120
JUNK = st.one_of(
    st.none(), st.booleans(), st.floats(allow_nan=False), st.integers(), st.text(max_size=20),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)  # fmt: skip
FIELDS = ("schema", "batch_id", "gateway_id", "unit", "device_serial", "sent_at", "punches")
PUNCH_FIELDS = ("pin", "time", "state", "verify", "seq")


def payload_strategy(template: dict[str, Any]) -> st.SearchStrategy[bytes]:
    def encoded(body: Any) -> bytes:
        return json.dumps(body).encode()

    def with_field(name: str, value: Any) -> dict[str, Any]:
        return {**template, name: value}

    def with_punch_field(name: str, value: Any) -> dict[str, Any]:
        return {**template, "punches": [{**template["punches"][0], name: value}]}

    valid = st.builds(lambda pin, minute: with_punch_field("pin", pin) | {"batch_id": f"{minute:032x}"},
                      st.from_regex(r"[0-9]{1,6}", fullmatch=True), st.integers(0, 2**64)).map(encoded)  # fmt: skip
    truncated = st.integers(1, len(encoded(template)) - 1).map(lambda n: encoded(template)[:n])
    huge_number = st.sampled_from(PUNCH_FIELDS[2:]).map(
        lambda name: encoded(with_punch_field(name, 0)).replace(b'"%s": 0' % name.encode(), b'"%s": %s' % (
            name.encode(), b"9" * 5000))
    )  # fmt: skip
    big_int = st.tuples(st.sampled_from(PUNCH_FIELDS[2:]), st.integers(min_value=2**31)).map(
        lambda pair: encoded(with_punch_field(*pair))
    )
    wrong_type = st.one_of(
        st.tuples(st.sampled_from(FIELDS), JUNK).map(lambda pair: encoded(with_field(*pair))),
        st.tuples(st.sampled_from(PUNCH_FIELDS), JUNK).map(lambda pair: encoded(with_punch_field(*pair))),
    )
    depth = st.integers(10, 5000)
    nested = st.one_of(
        depth.map(lambda n: b"[" * n + b"]" * n),
        depth.map(lambda n: encoded(template)[:-1] + b', "x": ' + b"[" * n + b"]" * n + b"}"),
    )
    nul = st.tuples(st.sampled_from(["pin", "time"]), st.text(max_size=4)).map(
        lambda pair: encoded(with_punch_field(pair[0], pair[1] + "\u0000"))
    )
    nul_top = st.sampled_from(["batch_id", "device_serial", "sent_at"]).map(
        lambda name: encoded(with_field(name, str(template[name]) + "\u0000"))
    )
    times = st.sampled_from(
        ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "1899-12-31T00:00:00+00:00", "2000-13-01T00:00"]
    ).map(lambda moment: encoded(with_punch_field("time", moment)))
    binary = st.binary(max_size=64)
    return st.one_of(valid, truncated, huge_number, big_int, wrong_type, nested, nul, nul_top, times, binary)


def generated(template: dict[str, Any]) -> list[bytes]:
    found: list[bytes] = []

    @settings(max_examples=EXAMPLES, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(payload_strategy(template))
    def collect(payload: bytes) -> None:
        found.append(payload)

    collect()
    return found


@pytest.mark.timeout(180)
async def test_every_generated_payload_is_stored_held_or_rejected_and_acked(mosquitto: MqttSettings, postgres_url):
    gateway = HandGateway(mosquitto, unique_slug("unit"), unique_slug("gw"))
    template = json.loads(gateway.batch([("1", 0)], device="DEV-P").to_json())
    payloads = generated(template)
    assert len(payloads) >= EXAMPLES // 2
    async with running_server(postgres_url, mosquitto, units=(gateway.unit,), new_devices="accept"):
        await gateway.start()
        try:
            for payload in payloads:
                await gateway.publish_raw(payload)
            last = gateway.batch([("2", 1)], device="DEV-P")
            await gateway.publish_raw(last.to_json())
            acks = await gateway.wait_acks(len(payloads) + 1, timeout_s=90)
        finally:
            await gateway.close()
        assert len(acks) == len(payloads) + 1, "every message answered, once"
        assert acks[-1].batch_id == last.batch_id and acks[-1].status is AckStatus.STORED
        assert {ack.status for ack in acks} <= {AckStatus.STORED, AckStatus.REJECTED, AckStatus.HELD}
        rejected = [payload for payload, ack in zip(payloads, acks, strict=False) if ack.status is AckStatus.REJECTED]
        assert all(ack.reason for ack in acks if ack.status is AckStatus.REJECTED)
        # Each rejected message is in quarantine, byte for byte, once however often it came.
        kept = [bytes(q.payload) for q in await QuarantinedMessage.filter(gateway_id=gateway.gateway_id)]
        assert sorted(kept) == sorted(set(rejected))
        stored_ids = {ack.batch_id for ack in acks if ack.status is AckStatus.STORED and ack.stored}
        in_db = set(await Punch.filter(unit_code=gateway.unit).values_list("batch_id", flat=True))
        assert stored_ids <= in_db
