"""The gateway's one TOML config file, validated at start with messages that name the key.

gateway_id = "gw-jkt-pusat"             # this gateway's id (lower-case slug), also its MQTT client id
unit = "kemensos-pusat"                 # the unit whose topics it publishes under
timezone = "WIB"                        # office zone of the device clocks: WIB, WITA, WIT
state_dir = "/var/lib/kinerja-gateway"  # the durable queue lives here

[mqtt]
url = "mqtts://broker.example:8883?protocol=5"    # mqtt:// for plain TCP on a trusted network
username = "gw-jkt-pusat"                         # this gateway's own broker account
password_file = "/etc/kinerja/gateway.mqtt-password"   # or password = "..." (file keeps it out of the config)
ca_file = "/etc/kinerja/ca.pem"                   # the CA that signed the broker's certificate (mqtts only)

[relay]            # optional
batch_size = 500
max_in_flight = 8
resend_after_s = 30    # first resend of an unacked batch; doubles per attempt ...
max_backoff_s = 60     # ... up to this
fresh_every = 4        # while a backlog drains, every 4th batch carries punches queued since it began

[telemetry]        # optional
interval_s = 60

[[devices]]
name = "lobby"
protocol = "zk"    # ZK family over TCP or UDP
host = "192.168.1.201"
port = 4370
transport = "tcp"
comm_key = 0
poll_interval_s = 60

[push]             # optional: the push (ADMS) endpoint, served only when a push device is configured
port = 8081        # devices are set to call http://<gateway>:8081/iclock/...
host = "0.0.0.0"
max_body_bytes = 1048576
command_timeout_s = 120   # how long a command waits for the device to poll and report

[[devices]]
name = "hall"
profile = "zkteco-speedface-push"   # a push model: it calls the gateway, see docs/push-devices.md
serial_number = "CQZ7232160123"     # only configured serials are served
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, replace
from datetime import timezone
from pathlib import Path
from typing import Any

from gateway.profiles import DeviceProfile, ProfileError, load_profile
from gateway.tomltable import TomlTable
from wire.contract import ContractError, validate_slug
from wire.mqtt import MqttSettings
from wire.zones import office_zone


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file and the key."""


def _default_profile() -> DeviceProfile:
    return load_profile("zkteco-generic-tcp")


@dataclass(frozen=True, slots=True)
class DeviceConfig:
    """One device as configured; what the model can do comes from its profile."""

    name: str
    host: str = ""
    port: int = 4370
    profile: DeviceProfile = field(default_factory=_default_profile)
    transport: str = "tcp"
    comm_key: int = 0
    timeout_s: float = 10.0
    poll_interval_s: float = 60.0
    serial_path: str = ""  # serial terminals: the port, best a stable /dev/serial/by-id/... link
    serial_number: str = ""  # serial terminals cannot be asked theirs: the config gives it

    @property
    def protocol(self) -> str:
        return self.profile.protocol


@dataclass(frozen=True, slots=True)
class RelayConfig:
    batch_size: int = 500
    max_in_flight: int = 8
    resend_after_s: float = 30.0
    max_backoff_s: float = 60.0
    fresh_every: int = 4


@dataclass(frozen=True, slots=True)
class TelemetryConfig:
    interval_s: float = 60.0


@dataclass(frozen=True, slots=True)
class PushConfig:
    """The push (ADMS) endpoint for devices that call the gateway; see gateway/push/."""

    host: str = "0.0.0.0"
    port: int = 8081
    max_body_bytes: int = 1024 * 1024
    command_timeout_s: float = 120.0


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    gateway_id: str
    unit: str
    zone: timezone
    state_dir: Path
    mqtt: MqttSettings
    devices: tuple[DeviceConfig, ...]
    relay: RelayConfig = field(default_factory=RelayConfig)
    telemetry: TelemetryConfig = field(default_factory=TelemetryConfig)
    push: PushConfig = field(default_factory=PushConfig)
    source: Path | None = None  # the file it came from: `reload_config` reads it again
    # The centre's configuration revision in force over the file's devices, relay and telemetry
    # (gateway/centre_config.py); None while the file's own are.
    config_revision: int | None = None

    @property
    def queue_path(self) -> Path:
        return self.state_dir / "queue.sqlite3"


def load_gateway_config(path: Path | str) -> GatewayConfig:
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return replace(parse_gateway_config(raw, str(path)), source=path)


_TOP_KEYS = ("gateway_id", "unit", "timezone", "state_dir", "mqtt", "relay", "telemetry", "push", "devices")
_MQTT_KEYS = ("url", "username", "password", "password_file", "ca_file")
_RELAY_KEYS = ("batch_size", "max_in_flight", "resend_after_s", "max_backoff_s", "fresh_every")
_PUSH_KEYS = ("host", "port", "max_body_bytes", "command_timeout_s")
_DEVICE_KEYS = {
    "zk": ("name", "profile", "host", "port", "transport", "comm_key", "timeout_s", "poll_interval_s"),
    "serial": ("name", "profile", "serial_path", "serial_number", "timeout_s", "poll_interval_s"),
    "push": ("name", "profile", "serial_number"),
}


def parse_gateway_config(raw: dict[str, Any], source: str = "<config>") -> GatewayConfig:
    reader = TomlTable(raw, source, ConfigError)
    reader.refuse_unknown(_TOP_KEYS)
    mqtt_table = reader.sub("mqtt", required=True)
    mqtt_table.refuse_unknown(_MQTT_KEYS)
    mqtt_settings = _mqtt(mqtt_table)
    relay = reader.sub("relay")
    relay.refuse_unknown(_RELAY_KEYS)
    telemetry = reader.sub("telemetry")
    telemetry.refuse_unknown(("interval_s",))
    devices_raw = reader.get("devices", list)
    if not devices_raw:
        raise ConfigError(f"{source}: devices: expected at least one [[devices]] table")
    devices = tuple(_device(entry, source, i) for i, entry in enumerate(devices_raw))
    names = [d.name for d in devices]
    if len(set(names)) != len(names):
        raise ConfigError(f"{source}: devices: names must be unique, got {names}")
    push_serials = [d.serial_number for d in devices if d.protocol == "push"]
    if len(set(push_serials)) != len(push_serials):
        raise ConfigError(f"{source}: devices: push device serial numbers must be unique, got {push_serials}")
    push = reader.sub("push")
    push.refuse_unknown(_PUSH_KEYS)
    return GatewayConfig(
        gateway_id=_slug(reader, "gateway_id"),
        unit=_slug(reader, "unit"),
        zone=_zone(reader, "timezone"),
        state_dir=Path(reader.get("state_dir", str)),
        mqtt=mqtt_settings,
        devices=devices,
        relay=RelayConfig(
            batch_size=relay.get("batch_size", int, 500, minimum=1, maximum=1000),
            max_in_flight=relay.get("max_in_flight", int, 8, minimum=1, maximum=1000),
            resend_after_s=relay.get("resend_after_s", float, 30.0, minimum=0.1),
            max_backoff_s=relay.get("max_backoff_s", float, 60.0, minimum=0.1),
            fresh_every=relay.get("fresh_every", int, 4, minimum=2, maximum=100),
        ),
        telemetry=TelemetryConfig(interval_s=telemetry.get("interval_s", float, 60.0, minimum=0.1, maximum=3600)),
        push=PushConfig(
            host=push.get("host", str, "0.0.0.0"),
            port=push.get("port", int, 8081, minimum=0, maximum=65535),
            max_body_bytes=push.get("max_body_bytes", int, 1024 * 1024, minimum=1024, maximum=64 * 1024 * 1024),
            command_timeout_s=push.get("command_timeout_s", float, 120.0, minimum=0.1),
        ),
    )


def _mqtt(mqtt: TomlTable) -> MqttSettings:
    """The broker URL, with this gateway's own account and CA as separate keys overriding it."""
    try:
        settings = MqttSettings.from_url(mqtt.get("url", str))
    except ValueError as exc:
        raise mqtt.fail("url", str(exc)) from None
    username = mqtt.get("username", str, settings.username)
    password = mqtt.get("password", str, settings.password)
    if "password_file" in mqtt.table:
        if "password" in mqtt.table:
            raise mqtt.fail("password_file", "give password or password_file, not both")
        password_path = Path(mqtt.get("password_file", str))
        try:
            password = password_path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise mqtt.fail("password_file", f"cannot read {password_path}: {exc.strerror or exc}") from None
        if not password:
            raise mqtt.fail("password_file", f"{password_path} is empty")
    if password and not username:
        raise mqtt.fail("username", "missing (expected str): a password was given without a username")
    ca_file = mqtt.get("ca_file", str, settings.ca_file)
    if ca_file is not None:
        if not settings.tls:
            raise mqtt.fail("ca_file", "given, but url is mqtt:// (plain TCP); use mqtts:// for TLS")
        if not Path(ca_file).is_file():
            raise mqtt.fail("ca_file", f"expected a PEM file of CA certificates, {ca_file} does not exist")
    return replace(settings, username=username, password=password, ca_file=ca_file)


def _device(entry: Any, source: str, index: int) -> DeviceConfig:
    prefix = f"devices[{index}]."
    if not isinstance(entry, dict):
        raise ConfigError(f"{source}: devices[{index}]: expected a table, got {type(entry).__name__}")
    reader = TomlTable(entry, source, ConfigError, prefix)
    try:
        profile = load_profile(reader.get("profile", str, "zkteco-generic-tcp"))
    except ProfileError as exc:
        raise reader.fail("profile", str(exc)) from None
    reader.refuse_unknown(_DEVICE_KEYS[profile.protocol])
    name = reader.get("name", str)
    if profile.protocol == "serial":
        return DeviceConfig(
            name=name,
            profile=profile,
            serial_path=reader.get("serial_path", str),
            serial_number=reader.get("serial_number", str),
            timeout_s=reader.get("timeout_s", float, 1.0, minimum=0.1),
            poll_interval_s=reader.get("poll_interval_s", float, 5.0, minimum=0.1),
        )
    if profile.protocol == "push":
        serial = reader.get("serial_number", str)
        if not re.fullmatch(r"[0-9A-Za-z_.:-]{1,64}", serial):
            raise reader.fail("serial_number", f"expected 1-64 letters, digits or '_.:-', got {serial!r}")
        return DeviceConfig(name=name, profile=profile, serial_number=serial)
    comm_key = reader.get("comm_key", int, 0, minimum=0, maximum=999_999)
    if profile.comm_key == "required" and "comm_key" not in entry:
        raise reader.fail("comm_key", f"profile {profile.name} needs the device's comm key (a number)")
    if profile.comm_key == "none" and comm_key:
        raise reader.fail("comm_key", f"profile {profile.name} has no comm key; remove it")
    return DeviceConfig(
        name=name,
        profile=profile,
        host=reader.get("host", str),
        port=reader.get("port", int, profile.port, minimum=1, maximum=65535),
        transport=reader.choice("transport", ("tcp", "udp"), profile.transport),
        comm_key=comm_key,
        timeout_s=reader.get("timeout_s", float, profile.timeout_s, minimum=0.1),
        poll_interval_s=reader.get("poll_interval_s", float, 60.0, minimum=0.1),
    )


def _slug(reader: TomlTable, key: str) -> str:
    try:
        return validate_slug(reader.get(key, str), key)
    except ContractError as exc:
        raise reader.fail(key, str(exc).removeprefix(f"{key} ")) from None


def _zone(reader: TomlTable, key: str) -> timezone:
    try:
        return office_zone(reader.get(key, str))
    except ConfigError:
        raise
    except ValueError as exc:
        raise reader.fail(key, str(exc)) from None
