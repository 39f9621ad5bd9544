"""Device profiles: one TOML file per device model in `device_profiles/`, so a new model needs no code.

A profile says how to talk to a model (protocol, transport, port, comm key, name encoding), how to
read what it says (clock zone, punch-state mapping) and what it can be trusted with (live events,
setting its clock, clearing its log, capacity). A bad profile fails at start with a message naming
the file, the key, what was found and what was expected.

    model = "ZKTeco K40"
    vendor = "ZKTeco"
    protocol = "zk"                     # zk | serial | push
    description = "..."

    [connection]                        # zk only
    transport = "tcp"                   # tcp | udp
    port = 4370
    comm_key = "optional"               # none | optional | required
    timeout_s = 10

    [names]
    encoding = "utf-8"                  # how the device stores user names

    [clock]
    zone = "office"                     # office | UTC | WIB | WITA | WIT: the zone the device clock keeps
    may_set = true                      # the gateway may set the clock when drift passes max_drift_s
    max_drift_s = 60
    future_tolerance_s = 300            # a punch stamped further ahead of the gateway clock is held as suspect

    [punch_states]                      # raw device state -> canonical state (0 in, 1 out, 2 break out,
    "0" = 0                             #   3 break in, 4 overtime in, 5 overtime out)
    "1" = 1
    trust = true                        # whether scoring may believe the state key at all

    [capabilities]
    live_events = true
    clear_log = false                   # the gateway may clear the log once every punch in it is acked
    capacity = 100000                   # attendance records the device holds
    clear_at_fill = 0.9                 # ... and only when it is this full

    [quirks]
    omit_ping = true                    # do not ICMP-ping before connecting (many sites block ping)
    force_udp = false                   # always UDP, whatever the gateway config says
    buffered_read = false               # the firmware has no buffered read of the log (ZMM100): read it
                                        #   with command 13; absent: the gateway finds out by asking

    [biometrics]                        # what the device stores besides users (absent: users only)
    user_capacity = 3000                # users the device holds
    fingerprint = { format = "ZKFinger", version = "10.0", capacity = 3000 }
    face = { format = "ZKFace-VL", version = "39", capacity = 6000 }   # absent: no such sensor
    palm = { format = "ZKPalm", version = "12", capacity = 6000 }
                                        # templates copy only between devices whose format and major
                                        #   version agree (ZKFinger 9 and 10 templates do not match)

    [serial]                            # serial only: line format, see gateway/devices/serial_line.py
    [push]                              # push only: options told at registration, see gateway/push/device.py

Unknown keys are refused too: a misspelt `live_event = true` must not silently mean "no".
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.tomltable import TomlTable

PROFILE_DIR = Path(__file__).resolve().parent.parent / "device_profiles"
CANONICAL_STATES = {0: "in", 1: "out", 2: "break_out", 3: "break_in", 4: "overtime_in", 5: "overtime_out"}
_ZONES = ("office", "UTC", "WIB", "WITA", "WIT")
_KNOWN_KEYS: dict[str, frozenset[str]] = {
    "": frozenset(
        {"model", "vendor", "protocol", "description", "connection", "names", "clock", "punch_states"}
        | {"capabilities", "quirks", "serial", "push", "biometrics"}
    ),
    "connection": frozenset({"transport", "port", "comm_key", "timeout_s"}),
    "names": frozenset({"encoding"}),
    "clock": frozenset({"zone", "may_set", "max_drift_s", "future_tolerance_s"}),
    "capabilities": frozenset({"live_events", "clear_log", "capacity", "clear_at_fill"}),
    "quirks": frozenset({"omit_ping", "force_udp", "buffered_read"}),
    "biometrics": frozenset({"user_capacity", *("fingerprint", "face", "palm")}),
}
MODALITIES = ("fingerprint", "face", "palm")
_TEMPLATE_FORMAT_KEYS = frozenset({"format", "version", "capacity"})


class ProfileError(ValueError):
    """A profile that cannot be used; the message names the file and the key."""


@dataclass(frozen=True, slots=True)
class TemplateFormat:
    """How one kind of biometric template is encoded on a device: the algorithm and its version."""

    modality: str  # fingerprint | face | palm
    format: str  # the vendor's algorithm name, e.g. ZKFinger
    version: str  # as the firmware reports it, e.g. 10.0 (~ZKFPVersion 10)
    capacity: int  # templates of this kind the device holds

    @property
    def key(self) -> str:
        """What must be equal for a template to be copied: the format and the major version."""
        return f"{self.modality}:{self.format}:{self.version.split('.', 1)[0]}"


@dataclass(frozen=True, slots=True)
class Biometrics:
    """The [biometrics] table: which templates a device stores and how many users it holds."""

    user_capacity: int | None = None  # None: the profile does not say
    fingerprint: TemplateFormat | None = None
    face: TemplateFormat | None = None
    palm: TemplateFormat | None = None

    @property
    def formats(self) -> dict[str, TemplateFormat]:
        return {f.modality: f for f in (self.fingerprint, self.face, self.palm) if f is not None}

    def accepts(self, modality: str, format_key: str) -> bool:
        """Whether a template of this modality and format (TemplateFormat.key) can be written here."""
        own = self.formats.get(modality)
        return own is not None and own.key == format_key


@dataclass(frozen=True, slots=True)
class DeviceProfile:
    name: str  # the file's stem, as device configs refer to it
    model: str
    vendor: str
    protocol: str
    description: str
    transport: str = "tcp"
    port: int = 4370
    comm_key: str = "optional"
    timeout_s: float = 10.0
    name_encoding: str = "utf-8"
    clock_zone: str = "office"
    clock_may_set: bool = False
    max_drift_s: float = 60.0
    future_tolerance_s: float = 300.0
    state_map: dict[int, int] = field(default_factory=lambda: {s: s for s in CANONICAL_STATES})
    trust_state: bool = True
    live_events: bool = False
    clear_log: bool = False
    capacity: int = 100_000
    clear_at_fill: float = 0.9
    omit_ping: bool = True
    force_udp: bool = False
    buffered_read: bool | None = None  # None: find out from the device
    serial: dict[str, Any] = field(default_factory=dict)
    biometrics: Biometrics = field(default_factory=Biometrics)
    source: str = ""

    def canonical_state(self, raw: int) -> int | None:
        """The canonical punch state for a raw device state; None for a state the profile does not know."""
        return self.state_map.get(raw)


def load_profile(name: str, directory: Path = PROFILE_DIR) -> DeviceProfile:
    path = directory / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in directory.glob("*.toml"))) or "none"
        raise ProfileError(f"device profile {name!r}: no file {path} (known profiles: {known})")
    return parse_profile(path)


def load_all_profiles(directory: Path = PROFILE_DIR) -> dict[str, DeviceProfile]:
    return {path.stem: parse_profile(path) for path in sorted(directory.glob("*.toml"))}


def parse_profile(path: Path) -> DeviceProfile:
    source = str(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{source}: not valid TOML: {exc}") from None
    _refuse_unknown_keys(raw, source)
    top = TomlTable(raw, source, ProfileError)
    protocol = top.choice("protocol", ("zk", "serial", "push"))
    connection = top.sub("connection")
    names = top.sub("names")
    clock = top.sub("clock")
    capabilities = top.sub("capabilities")
    states = top.sub("punch_states")
    encoding = names.get("encoding", str, "utf-8")
    try:
        "".encode(encoding)
    except LookupError:
        raise ProfileError(f"{source}: names.encoding: unknown encoding {encoding!r}") from None
    quirks = top.sub("quirks")
    serial = top.sub("serial").table
    if protocol == "serial" and not serial:
        raise top.fail("serial", "a serial profile needs a [serial] table with its line format")
    if protocol == "serial":
        from gateway.devices.serial_line import SerialLineFormat  # pyserial only where serial is used

        try:
            SerialLineFormat.from_table(serial, source)  # names the file and the serial.<key>
        except ValueError as exc:
            raise ProfileError(str(exc)) from None
    return DeviceProfile(
        name=path.stem,
        model=top.get("model", str),
        vendor=top.get("vendor", str),
        protocol=protocol,
        description=top.get("description", str, ""),
        transport=connection.choice("transport", ("tcp", "udp"), "tcp"),
        port=connection.get("port", int, 4370, minimum=1, maximum=65535),
        comm_key=connection.choice("comm_key", ("none", "optional", "required"), "optional"),
        timeout_s=connection.get("timeout_s", float, 10.0, minimum=0.1, maximum=600),
        name_encoding=encoding,
        clock_zone=clock.choice("zone", _ZONES, "office"),
        clock_may_set=clock.get("may_set", bool, False),
        max_drift_s=clock.get("max_drift_s", float, 60.0, minimum=1),
        future_tolerance_s=clock.get("future_tolerance_s", float, 300.0, minimum=1),
        state_map=_state_map(states, source),
        trust_state=states.get("trust", bool, True),
        live_events=capabilities.get("live_events", bool, False),
        clear_log=capabilities.get("clear_log", bool, False),
        capacity=capabilities.get("capacity", int, 100_000, minimum=1),
        clear_at_fill=capabilities.get("clear_at_fill", float, 0.9, minimum=0.1, maximum=1.0),
        omit_ping=quirks.get("omit_ping", bool, True),
        force_udp=quirks.get("force_udp", bool, False),
        buffered_read=quirks.get("buffered_read", bool, None),
        serial=serial,
        biometrics=_biometrics(top.sub("biometrics")),
        source=source,
    )


def _biometrics(table: TomlTable) -> Biometrics:
    formats: dict[str, TemplateFormat | None] = {}
    for modality in MODALITIES:
        if modality not in table.table:
            formats[modality] = None
            continue
        entry = table.sub(modality)
        entry.refuse_unknown(_TEMPLATE_FORMAT_KEYS)
        formats[modality] = TemplateFormat(
            modality=modality,
            format=entry.get("format", str),
            version=entry.get("version", str),
            capacity=entry.get("capacity", int, minimum=1),
        )
    user_capacity = table.get("user_capacity", int, None, minimum=1)
    return Biometrics(user_capacity=user_capacity, **formats)


def _state_map(states: TomlTable, source: str) -> dict[int, int]:
    mapping: dict[int, int] = {}
    for key, value in states.table.items():
        if key == "trust":
            continue
        if not key.isdigit() or not 0 <= int(key) <= 255:
            raise ProfileError(f"{source}: punch_states.{key}: keys are raw device states 0..255, got {key!r}")
        if not isinstance(value, int) or isinstance(value, bool) or value not in CANONICAL_STATES:
            raise ProfileError(
                f"{source}: punch_states.{key}: expected a canonical state {sorted(CANONICAL_STATES)}, got {value!r}"
            )
        mapping[int(key)] = value
    return mapping or {s: s for s in CANONICAL_STATES}


def _refuse_unknown_keys(raw: dict[str, Any], source: str) -> None:
    for table, known in _KNOWN_KEYS.items():
        values = raw if not table else raw.get(table, {})
        if not isinstance(values, dict):
            continue  # TomlTable reports the wrong type with the key's name
        TomlTable(values, source, ProfileError, f"{table}." if table else "").refuse_unknown(known)
