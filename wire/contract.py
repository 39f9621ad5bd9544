"""The contract between gateways and the server: MQTT topic layout and message schemas.

Both sides import this module and nothing else of each other. Every message carries `schema`, the
version of this contract; a receiver refuses a version it does not know instead of guessing.
See docs/contract.md for the same in prose.

Compatibility, because hundreds of gateways are upgraded one by one and mix versions with the server:
a reader ignores keys it does not know, and a new field gets a default its readers assume when it is
absent. So adding a field keeps SCHEMA_VERSION; it rises only for a breaking change (a field removed,
renamed or given another meaning), which an older reader then refuses.

Topic tree, per unit and gateway (unit and gateway ids are lower-case slugs); how each kind travels
(QoS, retained) is declared once, in DELIVERY:

    kinerja/v1/{unit}/{gateway}/punches          gateway -> server   PunchBatch
    kinerja/v1/{unit}/{gateway}/acks             server  -> gateway  BatchAck
    kinerja/v1/{unit}/{gateway}/status           gateway -> all      GatewayStatus (birth / will)
    kinerja/v1/{unit}/{gateway}/telemetry        gateway -> server   Telemetry
    kinerja/v1/{unit}/{gateway}/commands         server  -> gateway  Command
    kinerja/v1/{unit}/{gateway}/command_results  gateway -> server   CommandResult
    kinerja/v1/{unit}/{gateway}/biometrics       gateway -> server   BiometricUpload
    kinerja/v1/{unit}/{gateway}/biometric_acks   server  -> gateway  BiometricAck
"""

from __future__ import annotations

import base64
import json
import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final, Literal, TypeVar

SCHEMA_VERSION = 1
TOPIC_ROOT = "kinerja/v1"
SERVER_SHARE_GROUP = "kinerja-server"

# Limits a receiver enforces before and while parsing, so no payload can make it eat memory.
MAX_BATCH_BYTES = 256 * 1024
MAX_PUNCHES_PER_BATCH = 1000
MAX_PIN_LENGTH = 24
# Counters travel into 32-bit integer columns; free JSON (command results) into jsonb, nested this deep at most.
MAX_COUNT = 2**31 - 1
MAX_JSON_DEPTH = 32
# Instants a receiver accepts (UTC). A device reset to 2000 still passes, to be stored flagged.
EARLIEST_TIME = datetime(1900, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(2999, 12, 31, tzinfo=UTC)

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_PIN = re.compile(rf"^[0-9A-Za-z]{{1,{MAX_PIN_LENGTH}}}$")
_SERIAL = re.compile(r"^[0-9A-Za-z_.:-]{1,64}$")


class ContractError(ValueError):
    """A message or topic that does not follow this contract; the text says what and where."""


class TopicKind(StrEnum):
    PUNCHES = "punches"
    ACKS = "acks"
    STATUS = "status"
    TELEMETRY = "telemetry"
    COMMANDS = "commands"
    COMMAND_RESULTS = "command_results"
    BIOMETRICS = "biometrics"
    BIOMETRIC_ACKS = "biometric_acks"


@dataclass(frozen=True, slots=True)
class Delivery:
    """How the messages of one topic kind travel: MQTT QoS, and whether the broker keeps the last one."""

    qos: Literal[0, 1]
    retain: bool


# Declared once; every publish of a contract message takes its QoS and retain flag from here
# (AsyncMqttClient.send, LastWill), never from the call site.
DELIVERY: Final[Mapping[TopicKind, Delivery]] = MappingProxyType(
    {
        # At least once: the server's store is idempotent, and the gateway resends until acked anyway.
        TopicKind.PUNCHES: Delivery(qos=1, retain=False),
        TopicKind.ACKS: Delivery(qos=1, retain=False),
        # Retained: whoever subscribes later (a restarted server, a status page) learns the last state;
        # the `offline` form is also the MQTT last will.
        TopicKind.STATUS: Delivery(qos=1, retain=True),
        # At most once: the next minute's document replaces a lost one.
        TopicKind.TELEMETRY: Delivery(qos=0, retain=False),
        TopicKind.COMMANDS: Delivery(qos=1, retain=False),
        TopicKind.COMMAND_RESULTS: Delivery(qos=1, retain=False),
        # Templates go from a durable outbox until acked, as punches do.
        TopicKind.BIOMETRICS: Delivery(qos=1, retain=False),
        TopicKind.BIOMETRIC_ACKS: Delivery(qos=1, retain=False),
    }
)


@dataclass(frozen=True, slots=True)
class TopicAddress:
    unit: str
    gateway: str
    kind: TopicKind

    @property
    def topic(self) -> str:
        return f"{TOPIC_ROOT}/{self.unit}/{self.gateway}/{self.kind.value}"

    @property
    def delivery(self) -> Delivery:
        return DELIVERY[self.kind]


def validate_slug(value: str, what: str) -> str:
    if not isinstance(value, str) or not _SLUG.match(value):
        raise ContractError(
            f"{what} must be 1-63 lower-case letters, digits, '-' or '_' starting with a letter or digit; got {value!r}"
        )
    return value


def address_for(unit: str, gateway: str, kind: TopicKind) -> TopicAddress:
    return TopicAddress(validate_slug(unit, "unit"), validate_slug(gateway, "gateway"), kind)


def topic_for(unit: str, gateway: str, kind: TopicKind) -> str:
    return address_for(unit, gateway, kind).topic


def subscription_for(kind: TopicKind, *, shared_group: str | None = None, unit: str | None = None) -> str:
    """Topic filter for one kind across all units (or one `unit`) and gateways; `$share/...` splits it
    across replicas."""
    topic_filter = f"{TOPIC_ROOT}/{validate_slug(unit, 'unit') if unit else '+'}/+/{kind.value}"
    return f"$share/{shared_group}/{topic_filter}" if shared_group else topic_filter


def parse_topic(topic: str) -> TopicAddress:
    prefix = TOPIC_ROOT + "/"
    if not topic.startswith(prefix):
        raise ContractError(f"topic {topic!r} is not under {TOPIC_ROOT}/")
    parts = topic[len(prefix) :].split("/")
    if len(parts) != 3:
        raise ContractError(f"topic {topic!r} is not {TOPIC_ROOT}/<unit>/<gateway>/<kind>")
    unit, gateway, kind = parts
    try:
        topic_kind = TopicKind(kind)
    except ValueError:
        raise ContractError(f"topic {topic!r} has unknown kind {kind!r}") from None
    return TopicAddress(validate_slug(unit, "unit"), validate_slug(gateway, "gateway"), topic_kind)


@dataclass(frozen=True, slots=True)
class PunchRecord:
    """One punch as it travels: the device PIN, the instant with the office's UTC offset, and codes.

    `seq` is the gateway's per-device sequence number (ordering and diagnostics). Idempotency does not
    rest on it: the server's unique key is (device serial, PIN, instant, state), which survives a
    reinstalled gateway renumbering its queue.
    """

    pin: str
    time: datetime
    state: int
    verify: int
    seq: int

    def to_wire(self) -> dict[str, Any]:
        return {
            "pin": self.pin,
            "time": self.time.isoformat(),
            "state": self.state,
            "verify": self.verify,
            "seq": self.seq,
        }


@dataclass(frozen=True, slots=True)
class PunchBatch:
    """Punches of one device, published by one gateway; acked or nacked as a whole by `batch_id`."""

    batch_id: str
    gateway_id: str
    unit: str
    device_serial: str
    punches: tuple[PunchRecord, ...]
    sent_at: datetime
    schema: int = SCHEMA_VERSION

    @staticmethod
    def new_id() -> str:
        return uuid.uuid4().hex

    def to_json(self) -> bytes:
        body = {
            "schema": self.schema,
            "batch_id": self.batch_id,
            "gateway_id": self.gateway_id,
            "unit": self.unit,
            "device_serial": self.device_serial,
            "sent_at": self.sent_at.isoformat(),
            "punches": [p.to_wire() for p in self.punches],
        }
        return json.dumps(body, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, payload: bytes) -> PunchBatch:
        body = _load_object(payload, MAX_BATCH_BYTES, "punch batch")
        _check_schema(body)
        punches_raw = _field(body, "punches", list)
        if not punches_raw:
            raise ContractError("punches: a batch must hold at least one punch")
        if len(punches_raw) > MAX_PUNCHES_PER_BATCH:
            raise ContractError(f"punches: {len(punches_raw)} punches, at most {MAX_PUNCHES_PER_BATCH} per batch")
        batch_id = _field(body, "batch_id", str)
        if not re.fullmatch(r"[0-9a-f]{32}", batch_id):
            raise ContractError(f"batch_id: expected 32 hex digits, got {batch_id!r}")
        serial = _field(body, "device_serial", str)
        if not _SERIAL.match(serial):
            raise ContractError(f"device_serial: expected 1-64 letters, digits or '_.:-', got {serial!r}")
        return cls(
            batch_id=batch_id,
            gateway_id=validate_slug(_field(body, "gateway_id", str), "gateway_id"),
            unit=validate_slug(_field(body, "unit", str), "unit"),
            device_serial=serial,
            sent_at=_aware_time(_field(body, "sent_at", str), "sent_at"),
            punches=tuple(_punch_from_wire(raw, index) for index, raw in enumerate(punches_raw)),
        )


def _punch_from_wire(raw: Any, index: int) -> PunchRecord:
    where = f"punches[{index}]"
    if not isinstance(raw, dict):
        raise ContractError(f"{where}: expected an object, got {type(raw).__name__}")
    pin = _field(raw, "pin", str, where)
    if not _PIN.match(pin):
        raise ContractError(f"{where}.pin: expected 1-{MAX_PIN_LENGTH} letters or digits, got {pin!r}")
    state = _field(raw, "state", int, where)
    verify = _field(raw, "verify", int, where)
    seq = _field(raw, "seq", int, where)
    for name, value, top in (("state", state, 255), ("verify", verify, 255), ("seq", seq, 2**63 - 1)):
        if not 0 <= value <= top:
            raise ContractError(f"{where}.{name}: expected 0..{top}, got {value}")
    return PunchRecord(
        pin=pin, time=_aware_time(_field(raw, "time", str, where), f"{where}.time"),
        state=state, verify=verify, seq=seq,
    )  # fmt: skip


class AckStatus(StrEnum):
    STORED = "stored"  # every punch is in the database now (some may have been there already)
    REJECTED = "rejected"  # the batch was quarantined; resending the same bytes will not help
    # The device is not (yet) registered to this gateway: the centre keeps the batch whole and stores it
    # once an administrator of the unit assigns the device. Like `stored`, the gateway may forget it.
    HELD = "held"


@dataclass(frozen=True, slots=True)
class BatchAck:
    batch_id: str
    status: AckStatus
    stored: int = 0
    duplicates: int = 0
    reason: str | None = None
    schema: int = SCHEMA_VERSION

    def to_json(self) -> bytes:
        body = asdict(self)
        body["status"] = self.status.value
        return json.dumps(body, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, payload: bytes) -> BatchAck:
        body = _load_object(payload, 16 * 1024, "batch ack")
        _check_schema(body)
        status, reason = _ack_status_and_reason(body, AckStatus)
        return cls(
            batch_id=_field(body, "batch_id", str),
            status=status,
            stored=_field(body, "stored", int),
            duplicates=_field(body, "duplicates", int),
            reason=reason,
        )


@dataclass(frozen=True, slots=True)
class GatewayStatus:
    """Retained on the status topic: `online` as the birth message, `offline` as the last will."""

    gateway_id: str
    state: Literal["online", "offline"]
    version: str
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    schema: int = SCHEMA_VERSION

    def to_json(self) -> bytes:
        body = asdict(self)
        body["at"] = self.at.isoformat()
        return json.dumps(body, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, payload: bytes) -> GatewayStatus:
        body = _load_object(payload, 16 * 1024, "gateway status")
        _check_schema(body)
        state = _field(body, "state", str)
        if state not in ("online", "offline"):
            raise ContractError(f"state: expected 'online' or 'offline', got {state!r}")
        return cls(
            gateway_id=validate_slug(_field(body, "gateway_id", str), "gateway_id"),
            state=state,  # type: ignore[arg-type]
            version=_text(_field(body, "version", str), "version", MAX_VERSION_LENGTH),
            at=_aware_time(_field(body, "at", str), "at"),
        )


# -- biometric templates (issue 18): specific personal data under UU 27/2022 ---------------------------
# A template enrolled on a device travels to the centre once, over the authenticated broker link only.
# Neither side logs it, puts it in telemetry or quarantines it: a rejected or deferred upload is kept
# aside with its template withheld (`BiometricUpload.redacted`).

BIOMETRIC_UPLOAD_VERSION = 1  # the version of this message kind, within the contract's schema
MAX_BIOMETRIC_BYTES = 64 * 1024
MAX_TEMPLATE_BYTES = 16 * 1024
BIOMETRIC_MODALITIES = ("fingerprint", "face", "palm")
_FORMAT_KEY = re.compile(r"^[a-z]+:[0-9A-Za-z_.-]{1,32}:[0-9A-Za-z]{0,8}$")


@dataclass(frozen=True, slots=True)
class BiometricUpload:
    """A template a device holds that the centre may not have: enrolled there, or first seen there.
    Acked by `upload_id` with a BiometricAck; resent, same id, until then."""

    upload_id: str  # 32 hex digits
    gateway_id: str
    unit: str
    device_serial: str
    pin: str
    modality: str  # fingerprint | face | palm
    index: int  # finger 0..9, face or palm number
    template_format: str  # "<modality>:<algorithm>:<major version>", e.g. fingerprint:ZKFinger:10
    template: bytes = field(repr=False)
    detected_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    version: int = BIOMETRIC_UPLOAD_VERSION
    schema: int = SCHEMA_VERSION

    def __repr__(self) -> str:
        return (
            f"BiometricUpload(upload_id={self.upload_id!r}, device_serial={self.device_serial!r}, pin={self.pin!r}, "
            f"modality={self.modality!r}, index={self.index}, size={len(self.template)})"
        )

    def to_json(self) -> bytes:
        return json.dumps(self._body(base64.b64encode(self.template).decode("ascii")), separators=(",", ":")).encode()

    def redacted(self) -> bytes:
        """The message with the template withheld: what may be kept aside or shown."""
        return json.dumps(self._body(f"<withheld: {len(self.template)} bytes>"), separators=(",", ":")).encode()

    def _body(self, template: str) -> dict[str, Any]:
        return {
            "schema": self.schema, "version": self.version, "upload_id": self.upload_id,
            "gateway_id": self.gateway_id, "unit": self.unit, "device_serial": self.device_serial,
            "pin": self.pin, "modality": self.modality, "index": self.index,
            "template_format": self.template_format, "template": template,
            "detected_at": self.detected_at.isoformat(),
        }  # fmt: skip

    @classmethod
    def from_json(cls, payload: bytes) -> BiometricUpload:
        body = _load_object(payload, MAX_BIOMETRIC_BYTES, "biometric upload")
        _check_schema(body)
        version = _field(body, "version", int)
        if version != BIOMETRIC_UPLOAD_VERSION:
            raise ContractError(f"version: this side reads biometric uploads of version {BIOMETRIC_UPLOAD_VERSION}")
        upload_id = _field(body, "upload_id", str)
        if not re.fullmatch(r"[0-9a-f]{32}", upload_id):
            raise ContractError("upload_id: expected 32 hex digits")
        serial, pin = _field(body, "device_serial", str), _field(body, "pin", str)
        if not _SERIAL.match(serial):
            raise ContractError("device_serial: expected 1-64 letters, digits or '_.:-'")
        if not _PIN.match(pin):
            raise ContractError(f"pin: expected 1-{MAX_PIN_LENGTH} letters or digits")
        modality, index = _field(body, "modality", str), _field(body, "index", int)
        if modality not in BIOMETRIC_MODALITIES:
            raise ContractError(f"modality: expected one of {list(BIOMETRIC_MODALITIES)}")
        if not 0 <= index <= 9:
            raise ContractError("index: expected 0..9")
        template_format = _field(body, "template_format", str)
        if not _FORMAT_KEY.match(template_format) or not template_format.startswith(f"{modality}:"):
            raise ContractError("template_format: expected '<modality>:<algorithm>:<major version>'")
        try:
            template = base64.b64decode(_field(body, "template", str), validate=True)
        except ValueError:  # binascii.Error is a ValueError; the message never quotes the data
            raise ContractError("template: not base64") from None
        if not 0 < len(template) <= MAX_TEMPLATE_BYTES:
            raise ContractError(f"template: expected 1..{MAX_TEMPLATE_BYTES} bytes, got {len(template)}")
        return cls(
            upload_id=upload_id,
            gateway_id=validate_slug(_field(body, "gateway_id", str), "gateway_id"),
            unit=validate_slug(_field(body, "unit", str), "unit"),
            device_serial=serial, pin=pin, modality=modality, index=index,
            template_format=template_format, template=template,
            detected_at=_aware_time(_field(body, "detected_at", str), "detected_at"),
        )  # fmt: skip


class BiometricAckStatus(StrEnum):
    STORED = "stored"  # the centre holds the template now: the gateway forgets it
    DEFERRED = "deferred"  # valid, but the centre cannot store it yet: the gateway keeps it, offers it again
    REJECTED = "rejected"  # breaks the contract: resending the same bytes will not help; the gateway drops it


@dataclass(frozen=True, slots=True)
class BiometricAck:
    upload_id: str
    status: BiometricAckStatus
    reason: str | None = None
    retry_after_s: int = 3600  # for DEFERRED: when to offer it again
    schema: int = SCHEMA_VERSION

    def to_json(self) -> bytes:
        body = asdict(self)
        body["status"] = self.status.value
        return json.dumps(body, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, payload: bytes) -> BiometricAck:
        body = _load_object(payload, 16 * 1024, "biometric ack")
        _check_schema(body)
        status, reason = _ack_status_and_reason(body, BiometricAckStatus)
        retry = body.get("retry_after_s", 3600)
        if not isinstance(retry, int) or isinstance(retry, bool) or not 1 <= retry <= 7 * 86400:
            raise ContractError("retry_after_s: expected 1..604800 seconds")
        return cls(_field(body, "upload_id", str), status, reason, retry)


class CommandAction(StrEnum):
    SYNC_CLOCK = "sync_clock"  # args: {"device": name} or {} for every device
    REREAD_DEVICE = "reread_device"  # args: {"device": name}: read the whole log again now
    WRITE_USER = "write_user"  # args: {"pin", "name", "card"?, "device"?}: enrol on one or every device
    RELOAD_CONFIG = "reload_config"  # args: {}: re-read the config file and restart the device pollers
    UPGRADE = "upgrade"  # args: {"version", "url", "signature_url"?}: a signed release (gateway/upgrade.py)
    SYNC_USERS = "sync_users"  # args: {"users": [...], "complete"?, "dry_run"?, "device"?} (gateway/user_sync.py)
    # args: a GatewayConfigDocument (devices, relay, telemetry, revision); answered with a ConfigOutcome in the
    # result's `results`. A gateway older than this action answers "malformed command" and keeps running as it was.
    APPLY_CONFIG = "apply_config"
    # args: {"device": name} (required). A gateway older than these actions answers "malformed command:
    # action: ..." (ok false) and keeps running; a newer one answers an action it does not know with
    # UNSUPPORTED_ACTION_DETAIL. The server reads both as "not supported by this gateway".
    REBOOT_DEVICE = "reboot_device"  # restart the device; its connection drops and it comes back later
    CLEAR_LOG = "clear_log"  # empty the device's attendance log, only once the server acked all of it


# How a gateway answers a command whose action it does not know (a server newer than the gateway):
# "unsupported action '<action>'", ok false. Gateways before this rule answer MALFORMED_ACTION_PREFIX.
UNSUPPORTED_ACTION_DETAIL = "unsupported action {action!r}"
UNSUPPORTED_ACTION_PREFIX = "unsupported action "
MALFORMED_ACTION_PREFIX = "malformed command: action: expected one of "


def answers_unsupported(detail: str) -> bool:
    """Whether a failed command's detail says the gateway does not know the action (any gateway version)."""
    return detail.startswith((UNSUPPORTED_ACTION_PREFIX, MALFORMED_ACTION_PREFIX))


class UnsupportedAction(ContractError):
    """A well-formed command with an action this side does not know: a newer sender, not garbage."""

    def __init__(self, action: str) -> None:
        super().__init__(UNSUPPORTED_ACTION_DETAIL.format(action=action))
        self.action = action


# sync_users carries an area's user list (and pages of templates): as large as a batch, within the broker's
# max_packet_size (deploy/mosquitto: 270,000 bytes).
MAX_COMMAND_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class Command:
    """A request from the server on a gateway's command topic; answered by a CommandResult."""

    command_id: str
    action: CommandAction
    args: dict[str, Any] = field(default_factory=dict)
    schema: int = SCHEMA_VERSION

    def to_json(self) -> bytes:
        body = {"schema": self.schema, "command_id": self.command_id, "action": self.action.value, "args": self.args}
        return json.dumps(body, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, payload: bytes) -> Command:
        body = _load_object(payload, MAX_COMMAND_BYTES, "command")
        _check_schema(body)
        command_id = _field(body, "command_id", str)
        if not re.fullmatch(r"[0-9A-Za-z_-]{1,64}", command_id):
            raise ContractError(f"command_id: expected 1-64 letters, digits, '-' or '_', got {command_id!r}")
        action = _field(body, "action", str)
        try:
            known = CommandAction(action)
        except ValueError:
            if not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", action):
                raise ContractError(
                    f"action: expected one of {[a.value for a in CommandAction]}, got {_shown(action)}"
                ) from None
            raise UnsupportedAction(action) from None
        args = body.get("args", {})
        if not isinstance(args, dict):
            raise ContractError(f"args: expected an object, got {type(args).__name__}")
        return cls(command_id=command_id, action=known, args=args)


# -- configuration from the centre (issue 20) ---------------------------------------------------------------
# What the centre decides for a gateway (its devices and how to poll them, relay and telemetry settings)
# travels as the args of an `apply_config` command. Its identity, broker login and state directory do not:
# enrolment wrote those, and they stay fixed for the life of the process. Here only the shape is checked;
# what the values mean (profiles, ranges, names) is the gateway's own config parser's to judge.

GATEWAY_CONFIG_VERSION = 1  # the version of this document, within the contract's schema
MAX_CONFIG_DEVICES = 256
MAX_CONFIG_TEXT = 256
CONFIG_SECTIONS = ("relay", "telemetry")
_CONFIG_KEY = re.compile(r"^[a-z][a-z0-9_]{0,31}$")

ConfigScalar = str | int | float | bool


class ConfigStatus(StrEnum):
    APPLIED = "applied"  # running now, and kept across restarts
    REJECTED = "rejected"  # not applied: the gateway runs the configuration it had


@dataclass(frozen=True, slots=True)
class GatewayConfigDocument:
    """One revision of a gateway's configuration as the centre keeps it. `revision` rises with every change:
    a gateway refuses one older than what it runs (a late redelivery), and takes the same one again as done.
    A section left out (None) keeps what the gateway runs: its own gateway.toml's or an earlier revision's;
    an empty one ({}) sets that section's defaults."""

    revision: int
    devices: tuple[dict[str, ConfigScalar], ...]
    relay: dict[str, ConfigScalar] | None = None
    telemetry: dict[str, ConfigScalar] | None = None
    version: int = GATEWAY_CONFIG_VERSION

    def to_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {
            "version": self.version,
            "revision": self.revision,
            "devices": [dict(device) for device in self.devices],
        }
        for name in CONFIG_SECTIONS:
            section = getattr(self, name)
            if section is not None:
                args[name] = dict(section)
        return args

    @classmethod
    def from_args(cls, args: Any) -> GatewayConfigDocument:
        """The document in a command's args; unknown top-level keys (a newer centre's) are ignored."""
        if not isinstance(args, dict):
            raise ContractError("config: expected an object")
        version = args.get("version")
        if version != GATEWAY_CONFIG_VERSION:
            raise ContractError(
                f"config.version: this gateway reads configuration version {GATEWAY_CONFIG_VERSION},"
                f" got {_shown(version)}"
            )
        revision = _count(_field(args, "revision", int, "config"), "config.revision")
        if revision < 1:
            raise ContractError("config.revision: expected 1 or more")
        devices = _field(args, "devices", list, "config")
        if not 1 <= len(devices) <= MAX_CONFIG_DEVICES:
            raise ContractError(f"config.devices: expected 1..{MAX_CONFIG_DEVICES} devices, got {len(devices)}")
        sections = {
            name: None if args.get(name) is None else _config_table(args[name], f"config.{name}")
            for name in CONFIG_SECTIONS
        }
        return cls(
            revision=revision,
            devices=tuple(_config_table(raw, f"config.devices[{index}]") for index, raw in enumerate(devices)),
            **sections,
        )


def _config_table(raw: Any, label: str) -> dict[str, ConfigScalar]:
    """A flat table of short keys and scalar values: nothing nested, no text longer than MAX_CONFIG_TEXT."""
    if not isinstance(raw, dict):
        raise ContractError(f"{label}: expected an object, got {type(raw).__name__}")
    if len(raw) > 32:
        raise ContractError(f"{label}: {len(raw)} keys, at most 32")
    table: dict[str, ConfigScalar] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not _CONFIG_KEY.match(key):
            raise ContractError(f"{label}: key {_shown(key)} is not a lower-case name")
        where = f"{label}.{key}"
        if isinstance(value, str):
            table[key] = _text(value, where, MAX_CONFIG_TEXT)
        elif isinstance(value, bool):
            table[key] = value
        elif isinstance(value, int):
            if abs(value) > MAX_COUNT:
                raise ContractError(f"{where}: {_shown(value)} is out of range")
            table[key] = value
        elif isinstance(value, float):
            table[key] = _number(value, where)
        else:
            raise ContractError(f"{where}: expected text, a number or true/false, got {type(value).__name__}")
    return table


@dataclass(frozen=True, slots=True)
class ConfigOutcome:
    """The gateway's answer to a configuration, in its CommandResult's `results` under "config"."""

    revision: int
    status: ConfigStatus
    reason: str | None = None
    running: int | None = None  # the revision the gateway runs after this answer (None: its file's own)

    def to_results(self) -> dict[str, Any]:
        return {
            "config": {
                "revision": self.revision,
                "status": self.status.value,
                "reason": self.reason,
                "running": self.running,
            }
        }

    @classmethod
    def from_results(cls, results: Mapping[str, Any]) -> ConfigOutcome | None:
        """None when the result carries no outcome (a gateway too old to know the action)."""
        body = results.get("config")
        if not isinstance(body, dict):
            return None
        try:
            status = ConfigStatus(body.get("status"))
        except ValueError:
            raise ContractError(f"results.config.status: expected one of {[s.value for s in ConfigStatus]}") from None
        running = body.get("running")
        if running is not None:
            running = _count(running, "results.config.running")
        return cls(
            revision=_count(_field(body, "revision", int, "results.config"), "results.config.revision"),
            status=status,
            reason=_optional_text(body.get("reason"), "results.config.reason", 64 * 1024),
            running=running,
        )


@dataclass(frozen=True, slots=True)
class CommandResult:
    command_id: str
    ok: bool
    detail: str
    results: dict[str, Any] = field(default_factory=dict)
    schema: int = SCHEMA_VERSION

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":"), default=str).encode()

    @classmethod
    def from_json(cls, payload: bytes) -> CommandResult:
        body = _load_object(payload, 256 * 1024, "command result")
        _check_schema(body)
        results = body.get("results", {})
        if not isinstance(results, dict):
            raise ContractError("results: expected an object")
        _json_safe(results, "results")
        command_id = _field(body, "command_id", str)
        # Empty: the answer to a command whose id could not be read.
        if not re.fullmatch(r"[0-9A-Za-z_-]{0,64}", command_id):
            raise ContractError(f"command_id: expected 0-64 letters, digits, '-' or '_', got {_shown(command_id)}")
        return cls(
            command_id=command_id,
            ok=_field(body, "ok", bool),
            detail=_text(_field(body, "detail", str), "detail", 64 * 1024),
            results=results,
        )


@dataclass(frozen=True, slots=True)
class DeviceTelemetry:
    name: str
    serial: str | None
    reachable: bool
    last_poll_ok_at: datetime | None
    last_punch_at: datetime | None
    clock_drift_s: float | None
    record_count: int | None
    record_capacity: int | None
    last_error: str | None
    # Punches the gateway held for review (suspect timestamps) and raw records it quarantined: they never
    # reach the server as punches, so the centre learns of them here. Absent from older gateways: 0.
    held_punches: int = 0
    quarantined: int = 0
    # Firmware faults the gateway met and survived (misreported counts, no buffered read, undecodable
    # events, a device loop that failed or was restarted), counted by kind since the gateway started.
    # Absent from older gateways: none.
    anomalies: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Telemetry:
    """Published every minute on the telemetry topic: the gateway's health as the centre sees it."""

    gateway_id: str
    version: str
    uptime_s: float
    queued_punches: int
    in_flight_batches: int
    oldest_queued_age_s: float | None
    rejected_punches: int
    devices: tuple[DeviceTelemetry, ...]
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # The centre's configuration revision the gateway runs; None when it runs its file's own (and from
    # gateways older than configuration from the centre).
    config_revision: int | None = None
    # Punches the centre acknowledged since the gateway started (its rate over time is the office's
    # punches per minute). Absent from older gateways: 0.
    relayed_punches: int = 0
    # Whether the uplink runs over TLS, and when the soonest of the certificates it trusts or presents
    # (its CA file) expires. None from older gateways (not said); expiry None with TLS: not readable
    # (the system's CA store).
    tls: bool | None = None
    tls_expires_at: datetime | None = None
    schema: int = SCHEMA_VERSION

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":"), default=_iso).encode()

    @classmethod
    def from_json(cls, payload: bytes) -> Telemetry:
        body = _load_object(payload, 256 * 1024, "telemetry")
        _check_schema(body)
        devices = _field(body, "devices", list)
        if len(devices) > MAX_TELEMETRY_DEVICES:
            raise ContractError(f"devices: {len(devices)} devices, at most {MAX_TELEMETRY_DEVICES}")
        oldest = body.get("oldest_queued_age_s")
        revision = body.get("config_revision")
        return cls(
            gateway_id=validate_slug(_field(body, "gateway_id", str), "gateway_id"),
            version=_text(_field(body, "version", str), "version", MAX_VERSION_LENGTH),
            uptime_s=_number(_field(body, "uptime_s", object), "uptime_s"),
            queued_punches=_count(_field(body, "queued_punches", int), "queued_punches"),
            in_flight_batches=_count(_field(body, "in_flight_batches", int), "in_flight_batches"),
            oldest_queued_age_s=None if oldest is None else _number(oldest, "oldest_queued_age_s"),
            rejected_punches=_count(_field(body, "rejected_punches", int), "rejected_punches"),
            devices=tuple(_device_from_wire(raw, index) for index, raw in enumerate(devices)),
            at=_aware_time(_field(body, "at", str), "at"),
            config_revision=None if revision is None else _count(revision, "config_revision"),
            relayed_punches=_count(body.get("relayed_punches", 0), "relayed_punches"),
            tls=_optional_flag(body.get("tls"), "tls"),
            tls_expires_at=_optional_time(body.get("tls_expires_at"), "tls_expires_at"),
        )


MAX_TELEMETRY_DEVICES = 256
MAX_VERSION_LENGTH = 200


def _device_from_wire(raw: Any, index: int) -> DeviceTelemetry:
    """Every field checked for type and for what its column holds; unknown fields (a newer gateway's)
    are ignored."""
    where = f"devices[{index}]"
    if not isinstance(raw, dict):
        raise ContractError(f"{where}: expected an object, got {type(raw).__name__}")
    serial = raw.get("serial")
    if serial is not None and serial != "" and (not isinstance(serial, str) or not _SERIAL.match(serial)):
        raise ContractError(f"{where}.serial: expected 1-64 letters, digits or '_.:-', got {_shown(serial)}")
    reachable = _field(raw, "reachable", bool, where)
    drift = raw.get("clock_drift_s")
    optional_counts = {
        name: None if raw.get(name) is None else _count(raw[name], f"{where}.{name}")
        for name in ("record_count", "record_capacity")
    }
    return DeviceTelemetry(
        name=_text(_field(raw, "name", str, where), f"{where}.name", 200),
        serial=serial or None,
        reachable=reachable,
        last_poll_ok_at=_optional_time(raw.get("last_poll_ok_at"), f"{where}.last_poll_ok_at"),
        last_punch_at=_optional_time(raw.get("last_punch_at"), f"{where}.last_punch_at"),
        clock_drift_s=None if drift is None else _number(drift, f"{where}.clock_drift_s"),
        record_count=optional_counts["record_count"],
        record_capacity=optional_counts["record_capacity"],
        last_error=_optional_text(raw.get("last_error"), f"{where}.last_error", 64 * 1024),
        held_punches=_count(raw.get("held_punches", 0), f"{where}.held_punches"),
        quarantined=_count(raw.get("quarantined", 0), f"{where}.quarantined"),
        anomalies=_anomaly_counts(raw.get("anomalies", {})),
    )


def peek_id(payload: bytes, key: str, limit: int) -> str:
    """The id field of a message that failed validation, best effort, so the sender can match the
    rejection to what it sent; "" when it cannot be read safely."""
    if len(payload) > limit:
        return ""
    try:
        value = json.loads(payload).get(key)
    except (ValueError, AttributeError, RecursionError):
        return ""
    return value if isinstance(value, str) and len(value) <= 64 else ""


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _anomaly_counts(value: Any) -> dict[str, int]:
    valid = isinstance(value, dict) and len(value) <= 64
    if not valid or not all(
        isinstance(k, str)
        and len(k) <= 64
        and "\x00" not in k
        and isinstance(n, int)
        and not isinstance(n, bool)
        and 0 <= n <= MAX_COUNT
        for k, n in value.items()
    ):
        raise ContractError("anomalies: expected an object of at most 64 kinds, each a count")
    return dict(value)


def _optional_flag(value: Any, label: str) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise ContractError(f"{label}: expected true, false or null, got {_shown(value)}")
    return value


def _optional_time(text: Any, label: str = "time") -> datetime | None:
    return None if text is None else _aware_time(text, label)


_Status = TypeVar("_Status", bound=StrEnum)


def _ack_status_and_reason(body: dict[str, Any], statuses: type[_Status]) -> tuple[_Status, str | None]:
    """An answer's `status` (one of `statuses`) and its optional `reason`, as every ack kind carries them."""
    try:
        status = statuses(_field(body, "status", str))
    except ValueError:
        raise ContractError(f"status: expected one of {[s.value for s in statuses]}") from None
    reason = body.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise ContractError("reason: expected a string or null")
    return status, reason


def _load_object(payload: bytes, limit: int, what: str) -> dict[str, Any]:
    # The size check comes first: json.loads on a bounded input is bounded in memory.
    if len(payload) > limit:
        raise ContractError(f"{what}: {len(payload)} bytes, at most {limit} allowed")
    try:
        body = json.loads(payload)
    except ValueError as exc:
        # JSONDecodeError and UnicodeDecodeError, but also the plain ValueError of an integer longer
        # than Python converts (4,300 digits): every one is the sender's fault, none may escape.
        raise ContractError(f"{what}: not valid UTF-8 JSON ({str(exc)[:200]})") from None
    except RecursionError:
        raise ContractError(f"{what}: JSON nested too deeply") from None
    if not isinstance(body, dict):
        raise ContractError(f"{what}: expected a JSON object, got {type(body).__name__}")
    return body


def _check_schema(body: dict[str, Any]) -> None:
    schema = body.get("schema")
    if schema != SCHEMA_VERSION:
        raise ContractError(f"schema: this side speaks version {SCHEMA_VERSION}, message has {schema!r}")


def _field(body: dict[str, Any], name: str, kind: type, where: str = "") -> Any:
    label = f"{where}.{name}" if where else name
    if name not in body:
        raise ContractError(f"{label}: missing")
    value = body[name]
    # bool is an int in Python; a JSON true is never a valid number here.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ContractError(f"{label}: expected {kind.__name__}, got {type(value).__name__}")
    return value


def _aware_time(text: Any, label: str) -> datetime:
    if not isinstance(text, str) or len(text) > 64:
        raise ContractError(f"{label}: expected ISO 8601 time with UTC offset, got {_shown(text)}")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ContractError(f"{label}: expected ISO 8601 time with UTC offset, got {text!r}") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ContractError(f"{label}: {text!r} has no UTC offset")
    # Year 1 at +14:00 is before what Python (and the database) can hold in UTC; 9999 at -14:00 after.
    # Anything outside these years is a broken clock or a forgery, never a punch to store.
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST_TIME <= utc <= LATEST_TIME:
        raise ContractError(
            f"{label}: {text!r} is outside {EARLIEST_TIME.year}-{LATEST_TIME.year} (UTC), which nothing here stores"
        )
    return moment


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _text(value: Any, label: str, limit: int) -> str:
    """A string the database can store: no NUL (PostgreSQL refuses it in text), no unpaired surrogate
    (not encodable as UTF-8), at most `limit` characters."""
    if not isinstance(value, str):
        raise ContractError(f"{label}: expected a string, got {type(value).__name__}")
    if len(value) > limit:
        raise ContractError(f"{label}: {len(value)} characters, at most {limit}")
    if "\x00" in value:
        raise ContractError(f"{label}: contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ContractError(f"{label}: contains an unpaired surrogate, not UTF-8 text") from None
    return value


def _optional_text(value: Any, label: str, limit: int) -> str | None:
    return None if value is None else _text(value, label, limit)


def _count(value: Any, label: str, top: int = MAX_COUNT) -> int:
    """A whole number 0..top: counters land in 32-bit database columns."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ContractError(f"{label}: expected a whole number, got {type(value).__name__}")
    if not 0 <= value <= top:
        raise ContractError(f"{label}: expected 0..{top}, got {_shown(value)}")
    return value


def _number(value: Any, label: str, bound: float = 1e12) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ContractError(f"{label}: expected a number, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number) or abs(number) > bound:
        raise ContractError(f"{label}: expected a finite number within +-{bound:g}, got {_shown(value)}")
    return number


def _json_safe(value: Any, label: str, depth: int = 0) -> None:
    """Free JSON that goes into a JSON column: nothing PostgreSQL's jsonb refuses (NUL, NaN), bounded depth."""
    if depth > MAX_JSON_DEPTH:
        raise ContractError(f"{label}: nested more than {MAX_JSON_DEPTH} levels")
    if isinstance(value, str):
        _text(value, label, MAX_BATCH_BYTES)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ContractError(f"{label}: {value} is not a JSON number")
    elif isinstance(value, list):
        for item in value:
            _json_safe(item, label, depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            _text(key, f"{label} (a key)", 256)
            _json_safe(item, f"{label}.{key}"[:200], depth + 1)
