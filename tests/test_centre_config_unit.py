"""Configuration from the centre, piece by piece (issue 20): the contract's document and outcome, what the gateway
refuses before anything changes, and the kept copy in the state directory (torn or hostile ones ignored)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway import centre_config
from gateway.config import parse_gateway_config
from wire.contract import (
    ConfigOutcome,
    ConfigStatus,
    ContractError,
    GatewayConfigDocument,
    Telemetry,
)


def base(tmp_path: Path):
    return parse_gateway_config(
        {
            "gateway_id": "gw-a", "unit": "unit-a", "timezone": "WITA", "state_dir": str(tmp_path),
            "mqtt": {"url": "mqtt://127.0.0.1:1883"},
            "devices": [{"name": "door", "host": "192.168.1.201"}],
        }
    )  # fmt: skip


def document(revision: int = 3, **device: object) -> GatewayConfigDocument:
    return GatewayConfigDocument.from_args(
        {"version": 1, "revision": revision, "devices": [{"name": "door", "host": "10.0.0.5", **device}]}
    )


def test_the_document_travels_and_refuses_what_is_not_flat_and_short():
    doc = GatewayConfigDocument(2, ({"name": "a", "port": 4370, "timeout_s": 2.5, "x": True},), {"batch_size": 5})
    assert GatewayConfigDocument.from_args(doc.to_args()) == doc
    assert GatewayConfigDocument.from_args({**doc.to_args(), "schedules": [1]}) == doc  # a newer centre's key
    refused = {
        "another version": {**doc.to_args(), "version": 2},
        "no revision": {"version": 1, "devices": [{"name": "a"}]},
        "revision 0": {**doc.to_args(), "revision": 0},
        "no devices": {**doc.to_args(), "devices": []},
        "too many": {**doc.to_args(), "devices": [{"name": f"d{i}"} for i in range(257)]},
        "nested": {**doc.to_args(), "devices": [{"name": {"x": 1}}]},
        "a list": {**doc.to_args(), "devices": [{"name": ["a"]}]},
        "a bad key": {**doc.to_args(), "devices": [{"Name; rm": "a"}]},
        "long text": {**doc.to_args(), "devices": [{"name": "a" * 257}]},
        "a NUL": {**doc.to_args(), "devices": [{"name": "a\x00"}]},
        "a huge number": {**doc.to_args(), "relay": {"batch_size": 10**40}},
        "not an object": [1, 2],
    }
    for why, args in refused.items():
        with pytest.raises(ContractError):
            GatewayConfigDocument.from_args(args)
        assert why


def test_the_outcome_and_the_running_revision_in_telemetry_are_read_by_old_and_new_alike():
    outcome = ConfigOutcome(4, ConfigStatus.REJECTED, "no profile 'x'", running=3)
    assert ConfigOutcome.from_results(outcome.to_results()) == outcome
    assert ConfigOutcome.from_results({}) is None  # an old gateway's answer carries none
    report = Telemetry("gw-a", "0.1.0", 1.0, 0, 0, None, 0, (), config_revision=7)
    assert Telemetry.from_json(report.to_json()).config_revision == 7
    old = json.loads(report.to_json())
    del old["config_revision"]  # a gateway from before configuration from the centre
    assert Telemetry.from_json(json.dumps(old).encode()).config_revision is None


def test_the_gateway_refuses_what_a_message_from_the_network_may_not_do(tmp_path):
    config = base(tmp_path)
    applied = centre_config.merged(config, document(port=4371, poll_interval_s=5))
    assert (applied.config_revision, applied.devices[0].port, applied.devices[0].poll_interval_s) == (3, 4371, 5.0)
    assert (applied.gateway_id, applied.mqtt, applied.state_dir) == (config.gateway_id, config.mqtt, config.state_dir)
    hostile = {
        "a file as a serial port": {"profile": "giga-tms-tr320", "serial_path": "/etc/shadow", "serial_number": "X"},
        "out of /dev by ..": {"profile": "giga-tms-tr320", "serial_path": "/dev/../etc/shadow", "serial_number": "X"},
        "a shell in the host": {"host": "10.0.0.5; reboot"},
        "an unknown profile": {"profile": "zkteco-x9"},
        "an unknown key": {"exec": "rm -rf /"},
        "a port out of range": {"port": 70000},
    }
    for why, device in hostile.items():
        with pytest.raises(centre_config.ConfigRefused):
            centre_config.merged(config, document(**device))
        assert why


def test_the_kept_copy_survives_a_restart_and_a_broken_one_is_ignored(tmp_path):
    config = base(tmp_path)
    assert centre_config.with_saved(config) is config  # nothing kept yet
    centre_config.save(tmp_path, document(port=4372))
    assert [p.name for p in tmp_path.iterdir()] == [centre_config.CENTRE_CONFIG]  # no temporary left
    assert (tmp_path / centre_config.CENTRE_CONFIG).stat().st_mode & 0o777 == 0o600
    restarted = centre_config.with_saved(config)
    assert (restarted.config_revision, restarted.devices[0].port) == (3, 4372)
    (tmp_path / centre_config.CENTRE_CONFIG).write_text('{"version": 1, "revis')  # torn
    assert centre_config.with_saved(config) is config
    (tmp_path / centre_config.CENTRE_CONFIG).write_text(json.dumps(document(host="x;y").to_args()))
    assert centre_config.with_saved(config) is config  # kept, but no longer passing: the file's devices run


def test_a_section_the_document_leaves_out_keeps_what_the_gateway_runs(tmp_path):
    """The page's first revision names the devices only: a relay tuned in gateway.toml must survive it;
    an empty section sets the defaults, a given one its values."""
    tuned = parse_gateway_config(
        {
            "gateway_id": "gw-a", "unit": "unit-a", "timezone": "WITA", "state_dir": str(tmp_path),
            "mqtt": {"url": "mqtt://127.0.0.1:1883"}, "relay": {"batch_size": 50}, "telemetry": {"interval_s": 5},
            "devices": [{"name": "door", "host": "192.168.1.201"}],
        }
    )  # fmt: skip
    defaults = base(tmp_path)
    devices_only = document()
    assert "relay" not in devices_only.to_args() and devices_only.relay is None
    kept = centre_config.merged(tuned, devices_only)
    assert (kept.relay, kept.telemetry) == (tuned.relay, tuned.telemetry)
    assert kept.devices[0].host == "10.0.0.5"
    reset = centre_config.merged(tuned, GatewayConfigDocument.from_args({**devices_only.to_args(), "relay": {}}))
    assert reset.relay == defaults.relay and reset.telemetry == tuned.telemetry
    given = {**devices_only.to_args(), "relay": {"batch_size": 7}, "telemetry": {"interval_s": 9}}
    changed = centre_config.merged(tuned, GatewayConfigDocument.from_args(given))
    assert (changed.relay.batch_size, changed.telemetry.interval_s) == (7, 9.0)
    centre_config.save(tmp_path, devices_only)  # after a restart the kept document still leaves them be
    assert centre_config.with_saved(tuned).relay == tuned.relay
