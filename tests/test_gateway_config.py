"""A bad gateway config fails at start with a message naming the file, the key and what was expected."""

from __future__ import annotations

import pytest

from gateway.config import ConfigError, load_gateway_config

GOOD = """
gateway_id = "gw-jkt"
unit = "kemensos-pusat"
timezone = "WIB"
state_dir = "/var/lib/kinerja-gateway"

[mqtt]
url = "mqtt://gw-jkt:secret@127.0.0.1:1883?protocol=5"

[[devices]]
name = "lobby"
profile = "zkteco-generic-tcp"
host = "192.168.1.201"
"""


def write(tmp_path, text: str):
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    return path


def test_a_good_config_loads_with_defaults_filled_in(tmp_path):
    config = load_gateway_config(write(tmp_path, GOOD))
    assert config.gateway_id == "gw-jkt"
    assert config.zone.utcoffset(None).total_seconds() == 7 * 3600
    assert config.mqtt.username == "gw-jkt" and config.mqtt.password == "secret"
    assert config.devices[0].port == 4370 and config.devices[0].transport == "tcp"
    assert config.devices[0].profile.name == "zkteco-generic-tcp"


def test_the_profile_supplies_transport_and_port_unless_the_config_says_otherwise(tmp_path):
    legacy = GOOD.replace("zkteco-generic-tcp", "zkteco-legacy-udp")
    config = load_gateway_config(write(tmp_path, legacy))
    assert (config.devices[0].transport, config.devices[0].timeout_s) == ("udp", 15.0)
    overridden = load_gateway_config(write(tmp_path, legacy.replace('host = "192', 'transport = "tcp"\nhost = "192')))
    assert overridden.devices[0].transport == "tcp"
    assert config.relay.batch_size == 500


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.replace('timezone = "WIB"', 'timezone = "CET"'), "timezone: unknown office time zone 'CET'"),
        (lambda t: t.replace('gateway_id = "gw-jkt"\n', ""), "gateway_id: missing"),
        (lambda t: t.replace('gateway_id = "gw-jkt"', 'gateway_id = "GW JKT"'), "gateway_id: must be"),
        (lambda t: t.replace("mqtt://", "http://"), "mqtt.url"),
        (lambda t: t.replace('host = "192', 'port = 70000\nhost = "192'), "devices[0].port: expected at most"),
        (lambda t: t.replace('host = "192', 'transport = "ipx"\nhost = "192'), "devices[0].transport"),
        (lambda t: t.replace("zkteco-generic-tcp", "fax-9000"), "devices[0].profile: device profile 'fax-9000'"),
        (lambda t: t + '\n[relay]\nbatch_size = "many"\n', "relay.batch_size: expected int"),
        (lambda t: t + "[[", "not valid TOML"),
        (lambda t: t + "\n[relay]\nmax_backoff_s = 0\n", "relay.max_backoff_s: expected at least 0.1"),
        (lambda t: t + '\n[telemetry]\ninterval_s = "often"\n', "telemetry.interval_s: expected float"),
        (
            lambda t: t.replace("[mqtt]\n", '[mqtt]\npassword_file = "/nonexistent/pw"\n'),
            "mqtt.password_file: cannot read",
        ),
        (
            lambda t: t.replace("[mqtt]\n", '[mqtt]\npassword = "a"\npassword_file = "/etc/hostname"\n'),
            "mqtt.password_file: give password or password_file, not both",
        ),
        (
            lambda t: t.replace("[mqtt]\n", '[mqtt]\nca_file = "/etc/hostname"\n'),
            "mqtt.ca_file: given, but url is mqtt://",
        ),
        (
            lambda t: t.replace("mqtt://", "mqtts://").replace("[mqtt]\n", '[mqtt]\nca_file = "/nonexistent/ca.pem"\n'),
            "mqtt.ca_file: expected a PEM file of CA certificates, /nonexistent/ca.pem does not exist",
        ),
    ],
)
def test_a_bad_config_names_the_file_and_the_key(tmp_path, change, message):
    path = write(tmp_path, change(GOOD))
    with pytest.raises(ConfigError) as caught:
        load_gateway_config(path)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


def test_a_missing_config_file_says_so(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_gateway_config(tmp_path / "absent.toml")


def test_the_gateway_account_and_ca_may_be_their_own_keys_with_the_password_in_a_file(tmp_path):
    (tmp_path / "pw").write_text("s3cret\n")
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    text = GOOD.replace("mqtt://gw-jkt:secret@", "mqtts://").replace(
        "[mqtt]\n",
        f'[mqtt]\nusername = "gw-jkt-2"\npassword_file = "{tmp_path / "pw"}"\nca_file = "{tmp_path / "ca.pem"}"\n',
    )
    config = load_gateway_config(write(tmp_path, text))
    assert (config.mqtt.username, config.mqtt.password) == ("gw-jkt-2", "s3cret")
    assert config.mqtt.tls and config.mqtt.ca_file == str(tmp_path / "ca.pem")
    assert "s3cret" not in config.mqtt.redacted()
    assert (config.relay.max_backoff_s, config.relay.fresh_every, config.telemetry.interval_s) == (60, 4, 60)


def test_the_deployment_guide_example_is_a_valid_config(tmp_path):
    import re
    from pathlib import Path

    guide = (Path(__file__).resolve().parent.parent / "docs" / "deploy-gateway.md").read_text()
    example = next(block for block in re.findall(r"```toml\n(.*?)```", guide, re.S) if "gateway_id" in block)
    for name in ("gateway.mqtt-password", "ca.pem"):
        (tmp_path / name).write_text("x\n")
    config = load_gateway_config(write(tmp_path, example.replace("/etc/kinerja/", f"{tmp_path}/")))
    assert config.gateway_id == "gw-kemensos-jkt-pusat" and config.mqtt.tls and config.mqtt.password == "x"
    assert [d.name for d in config.devices] == ["lobby", "east-wing"]
