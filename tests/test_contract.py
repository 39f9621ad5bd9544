"""The gateway-server contract: what goes over the wire, and what a receiver refuses."""

from __future__ import annotations

import ast
import contextlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.test_layering import ROOT
from wire.contract import (
    DELIVERY,
    MAX_BATCH_BYTES,
    MAX_PUNCHES_PER_BATCH,
    SCHEMA_VERSION,
    AckStatus,
    BatchAck,
    BiometricAck,
    BiometricAckStatus,
    BiometricUpload,
    Command,
    CommandAction,
    CommandResult,
    ContractError,
    DeviceTelemetry,
    GatewayStatus,
    PunchBatch,
    PunchRecord,
    Telemetry,
    TopicKind,
    parse_topic,
    subscription_for,
    topic_for,
)

WIB = timezone(timedelta(hours=7))


def a_batch(**overrides) -> PunchBatch:
    fields = {
        "batch_id": PunchBatch.new_id(),
        "gateway_id": "gw-jkt",
        "unit": "kemensos-pusat",
        "device_serial": "CKJ1234567",
        "punches": (PunchRecord("17", datetime(2026, 11, 23, 7, 29, 5, tzinfo=WIB), 0, 1, 1),),
        "sent_at": datetime(2026, 11, 23, 0, 30, tzinfo=UTC),
    }
    fields.update(overrides)
    return PunchBatch(**fields)


def test_batch_survives_the_wire_unchanged():
    batch = a_batch()
    assert PunchBatch.from_json(batch.to_json()) == batch


def test_batch_carries_schema_version_and_offset_of_the_office():
    body = json.loads(a_batch().to_json())
    assert body["schema"] == SCHEMA_VERSION
    assert body["punches"][0]["time"] == "2026-11-23T07:29:05+07:00"


def test_topics_are_per_unit_and_gateway_and_parse_back():
    topic = topic_for("kemensos-pusat", "gw-jkt", TopicKind.PUNCHES)
    assert topic == "kinerja/v1/kemensos-pusat/gw-jkt/punches"
    address = parse_topic(topic)
    assert (address.unit, address.gateway, address.kind) == ("kemensos-pusat", "gw-jkt", TopicKind.PUNCHES)


def test_server_subscription_is_shared_across_replicas_when_grouped():
    assert subscription_for(TopicKind.PUNCHES, shared_group="srv") == "$share/srv/kinerja/v1/+/+/punches"
    assert subscription_for(TopicKind.PUNCHES) == "kinerja/v1/+/+/punches"


@pytest.mark.parametrize(
    "topic",
    ["other/v1/u/g/punches", "kinerja/v1/u/g", "kinerja/v1/u/g/bogus", "kinerja/v1/U!/g/punches"],
)
def test_foreign_topics_are_refused(topic):
    with pytest.raises(ContractError):
        parse_topic(topic)


def _mutated(mutate) -> bytes:
    body = json.loads(a_batch().to_json())
    mutate(body)
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda b: b.update(schema=2), "schema"),
        (lambda b: b.pop("batch_id"), "batch_id: missing"),
        (lambda b: b.update(batch_id="x"), "batch_id"),
        (lambda b: b.update(punches=[]), "at least one"),
        (lambda b: b["punches"][0].update(time="2026-11-23T07:29:05"), "no UTC offset"),
        (lambda b: b["punches"][0].update(time="yesterday"), "ISO 8601"),
        (lambda b: b["punches"][0].update(pin="12 34"), "pin"),
        (lambda b: b["punches"][0].update(state=True), "state: expected int"),
        (lambda b: b["punches"][0].update(state=256), "0..255"),
        (lambda b: b.update(gateway_id="GW JKT"), "gateway_id"),
        (lambda b: b.update(device_serial="a/b"), "device_serial"),
    ],
)
def test_malformed_batches_are_refused_with_the_reason(mutate, reason):
    with pytest.raises(ContractError, match=reason):
        PunchBatch.from_json(_mutated(mutate))


def test_oversized_batch_is_refused_before_parsing():
    with pytest.raises(ContractError, match="bytes, at most"):
        PunchBatch.from_json(b" " * (MAX_BATCH_BYTES + 1))


def test_too_many_punches_are_refused():
    punch = a_batch().punches[0]
    batch = a_batch(punches=tuple(PunchRecord(str(i), punch.time, 0, 1, i) for i in range(MAX_PUNCHES_PER_BATCH + 1)))
    with pytest.raises(ContractError, match="at most"):
        PunchBatch.from_json(batch.to_json())


def test_deeply_nested_json_is_refused_not_crashing():
    with pytest.raises(ContractError):
        PunchBatch.from_json(b"[" * 100_000 + b"]" * 100_000)


@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_escape_as_anything_but_contract_error(payload):
    with contextlib.suppress(ContractError):
        PunchBatch.from_json(payload)


def test_ack_and_status_round_trip():
    ack = BatchAck("a" * 32, AckStatus.STORED, stored=3, duplicates=1)
    assert BatchAck.from_json(ack.to_json()) == ack
    status = GatewayStatus("gw-jkt", "online", "0.1.0", at=datetime(2026, 1, 1, tzinfo=UTC))
    assert GatewayStatus.from_json(status.to_json()) == status


def test_telemetry_carries_held_and_quarantined_counts_and_reads_older_gateways_as_zero():
    device = DeviceTelemetry("lobby", "SER-1", True, None, None, 2.0, 10, 100, None, held_punches=4, quarantined=1)
    report = Telemetry("gw-1", "0.1.0", 1.0, 0, 0, None, 0, (device,))
    (back,) = Telemetry.from_json(report.to_json()).devices
    assert (back.held_punches, back.quarantined) == (4, 1)
    older = json.loads(report.to_json())
    for entry in older["devices"]:
        del entry["held_punches"], entry["quarantined"]
    (old_device,) = Telemetry.from_json(json.dumps(older).encode()).devices
    assert (old_device.held_punches, old_device.quarantined) == (0, 0)


def test_telemetry_carries_relayed_punches_and_tls_and_reads_older_gateways_as_not_said():
    expiry = datetime(2027, 6, 30, 12, 0, tzinfo=UTC)
    report = Telemetry("gw-1", "0.3.0", 5.0, 0, 0, None, 0, (), relayed_punches=42, tls=True, tls_expires_at=expiry)
    back = Telemetry.from_json(report.to_json())
    assert (back.relayed_punches, back.tls, back.tls_expires_at) == (42, True, expiry)
    older = json.loads(report.to_json())
    del older["relayed_punches"], older["tls"], older["tls_expires_at"]
    old = Telemetry.from_json(json.dumps(older).encode())
    assert (old.relayed_punches, old.tls, old.tls_expires_at) == (0, None, None)
    for field, bad in (("tls", "yes"), ("relayed_punches", -1), ("tls_expires_at", "tomorrow")):
        with pytest.raises(ContractError, match=field):
            Telemetry.from_json(json.dumps({**older, field: bad}).encode())


# --- a tolerant wire: a message from the next version, with a field this one does not know --------------


def _next_version(message: object, nested: Callable[[dict], list[dict]] = lambda body: []) -> bytes:
    """The message as a newer sender writes it: the same schema (adding a field is not a breaking change),
    an extra key at the top and in every nested object."""
    body = json.loads(message.to_json())  # type: ignore[attr-defined]
    for part in [body, *nested(body)]:
        part["added_in_the_next_version"] = {"any": ["json", 1, None]}
    assert body["schema"] == SCHEMA_VERSION
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("message", "nested"),
    [
        (a_batch(), lambda body: body["punches"]),
        (BatchAck("a" * 32, AckStatus.REJECTED, reason="pin"), lambda body: []),
        (GatewayStatus("gw-jkt", "offline", "0.2.0", at=datetime(2026, 1, 1, tzinfo=UTC)), lambda body: []),
        (Command("c-1", CommandAction.WRITE_USER, {"pin": "7", "name": "Ani"}), lambda body: []),
        (CommandResult("c-1", True, "user 7 written", {"door": {"ok": True}}), lambda body: []),
        (
            Telemetry(
                "gw-1", "0.2.0", 1.0, 0, 0, None, 0,
                (DeviceTelemetry("lobby", "SER-1", True, None, None, 2.0, 10, 100, None, anomalies={"x": 1}),),
                at=datetime(2026, 1, 1, tzinfo=UTC),
            ),
            lambda body: body["devices"],
        ),
        (
            Telemetry(
                "gw-1", "0.3.0", 60.0, 3, 1, 12.5, 0, (), at=datetime(2026, 1, 1, tzinfo=UTC), config_revision=2,
                relayed_punches=17, tls=True, tls_expires_at=datetime(2027, 1, 1, tzinfo=UTC),
            ),
            lambda body: [],
        ),
        (
            BiometricUpload(
                upload_id="b" * 32, gateway_id="gw-1", unit="jkt", device_serial="SER-1", pin="7",
                modality="fingerprint", index=3, template_format="fingerprint:zk:10", template=b"\x01\x02",
                detected_at=datetime(2026, 1, 1, tzinfo=UTC),
            ),
            lambda body: [],
        ),
        (BiometricAck("b" * 32, BiometricAckStatus.DEFERRED, reason="later", retry_after_s=60), lambda body: []),
    ],
    ids=lambda value: type(value).__name__ if not callable(value) else "",
)  # fmt: skip
def test_a_message_from_the_next_version_with_an_extra_field_is_accepted(message, nested):
    assert type(message).from_json(_next_version(message, nested)) == message


def test_a_breaking_change_raises_the_schema_and_is_refused():
    body = json.loads(a_batch().to_json())
    body["schema"] = SCHEMA_VERSION + 1
    with pytest.raises(ContractError, match="schema"):
        PunchBatch.from_json(json.dumps(body).encode())


# --- delivery declared once ------------------------------------------------------------------------------


def test_every_topic_kind_declares_how_it_travels():
    assert set(DELIVERY) == set(TopicKind)
    assert parse_topic(topic_for("u", "g", TopicKind.STATUS)).delivery == DELIVERY[TopicKind.STATUS]
    assert DELIVERY[TopicKind.STATUS].retain and DELIVERY[TopicKind.TELEMETRY].qos == 0


# Mosquitto's own $CONTROL topic (dynamic security) is not ours: the server talks to it with a raw client.
NOT_CONTRACT_TOPICS = {"server/broker_identity.py"}
PUBLISH = {"publish", "publish_confirmed", "will_set"}  # paho's and AsyncMqttClient's (a subscription is not one)


def test_no_publish_site_chooses_qos_or_retain_by_hand():
    """Every publish in the gateway, the server and the application takes QoS and retain from DELIVERY
    (AsyncMqttClient.send / send_confirmed, LastWill); a literal qos= or retain= at a call is a site choosing."""
    chosen = []
    for folder in ("gateway", "server", "kinerja", "wire"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            where = str(path.relative_to(ROOT))
            if where in NOT_CONTRACT_TOPICS:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in PUBLISH:
                    for keyword in node.keywords:
                        if keyword.arg in ("qos", "retain") and isinstance(keyword.value, ast.Constant):
                            chosen.append(f"{where}:{node.lineno} {node.func.attr}({keyword.arg}=...)")
    assert chosen == []
