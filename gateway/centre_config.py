"""Configuration from the centre (issue 20): the devices to poll and how, relay and telemetry settings, sent
as an `apply_config` command (wire/contract.py GatewayConfigDocument), judged here before anything changes.

A document is checked by the gateway's own config parser, exactly as the same tables in gateway.toml would
be, and then for what a file written by the technician may do but a message from the network may not: a
serial port outside /dev, a host that is not a host name or address. Its identity, broker and state
directory are not the centre's to change (enrolment wrote them; they stay the file's).

An accepted document is kept in the state directory (`centre-config.json`, written to a temporary name,
synced and renamed: a power cut leaves the old one or the new one), before it is put in force, so that a
restart comes back on it rather than on the file's devices. A kept document that can no longer be read is
logged and the file's configuration used: a broken state file must not keep a gateway from polling.

Before a document is accepted the doctor (gateway/doctor.py) examines each device it adds or changes, as
`kinerja gateway doctor` would. What the doctor finds splits in two (`doctor_verdict`): a device that
answered and said the configuration is wrong (it refused the comm key; what answers at that address is not
a ZK device; the gateway may not open the serial port) refuses the document, with the doctor's words and
hint, and the gateway stays on the configuration it runs. A device that is merely not there now (no answer,
nothing listening, a serial adapter unplugged) does not: a device switched off for the night, rebooting or
on a flaky link must not block a change the centre made on purpose, and it shows as unreachable in the
telemetry like any device. The document is applied and the answer names the silent devices.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from gateway.config import ConfigError, DeviceConfig, GatewayConfig, parse_gateway_config
from gateway.doctor import DeviceReport, DriverFactory, run_doctor
from wire.contract import ContractError, GatewayConfigDocument

log = logging.getLogger(__name__)

CENTRE_CONFIG = "centre-config.json"
_HOST = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$|^[0-9A-Fa-f:]{2,39}$")
_SERIAL_PATH = re.compile(r"^/dev/[A-Za-z0-9_.:+/-]{1,200}$")


class ConfigRefused(ValueError):
    """A document the gateway will not run; the text says why, in Indonesian first."""


def parse_document(args: Any) -> GatewayConfigDocument:
    try:
        return GatewayConfigDocument.from_args(args)
    except ContractError as exc:
        raise ConfigRefused(f"dokumen konfigurasi tidak sah (malformed configuration): {exc}") from None


def merged(base: GatewayConfig, document: GatewayConfigDocument) -> GatewayConfig:
    """`base` with the document's devices, relay and telemetry, checked as gateway.toml is; ConfigRefused if not."""
    source = f"konfigurasi pusat revisi {document.revision}"
    raw: dict[str, Any] = {
        # The fixed parts only let the parser run; the result keeps base's own.
        "gateway_id": base.gateway_id,
        "unit": base.unit,
        "timezone": "WIB",
        "state_dir": str(base.state_dir),
        "mqtt": {"url": "mqtt://127.0.0.1"},
        "devices": [dict(device) for device in document.devices],
        "relay": dict(document.relay or {}),
        "telemetry": dict(document.telemetry or {}),
    }
    try:
        parsed = parse_gateway_config(raw, source)
    except ConfigError as exc:
        raise ConfigRefused(str(exc)) from None
    for index, device in enumerate(parsed.devices):
        where = f"{source}: devices[{index}]"
        if device.protocol == "serial" and (not _SERIAL_PATH.match(device.serial_path) or ".." in device.serial_path):
            raise ConfigRefused(
                f"{where}.serial_path: dari pusat hanya port di bawah /dev/ (only ports under /dev/ from the centre),"
                f" got {device.serial_path!r}"
            )
        if device.protocol == "zk" and not _HOST.match(device.host):
            raise ConfigRefused(
                f"{where}.host: bukan nama host atau alamat IP (not a host name or IP address): {device.host!r}"
            )
    return replace(
        base,
        devices=parsed.devices,
        # A section the document leaves out keeps what runs now (the centre's first revision from a page
        # names the devices only: it must not reset a relay tuned in gateway.toml).
        relay=base.relay if document.relay is None else parsed.relay,
        telemetry=base.telemetry if document.telemetry is None else parsed.telemetry,
        config_revision=document.revision,
    )


# Doctor's findings that mean "this configuration is wrong", not "the device is not there just now".
REFUSING_PROBLEMS = ("Unauth", "not a ZK device", "Permission denied")
# How long the check may hold an answer up: a device silent for longer counts as not there now.
PRECHECK_DEADLINE_S = 8.0


def devices_to_check(running: GatewayConfig, fresh: GatewayConfig) -> tuple[DeviceConfig, ...]:
    """The devices `fresh` adds or changes; those the gateway polls already, unchanged, are proven."""
    before = {device.name: device for device in running.devices}
    return tuple(device for device in fresh.devices if before.get(device.name) != device)


def doctor_verdict(reports: list[DeviceReport]) -> tuple[list[str], list[str]]:
    """(refusals, notes): the problems that refuse the document, and those of devices merely silent now."""
    refusals, notes = [], []
    for report in reports:
        if report.ok:
            continue
        text = f"{report.name}: {report.problem}" + (f" (hint: {report.hint})" if report.hint else "")
        if any(needle in report.problem for needle in REFUSING_PROBLEMS):
            refusals.append(text)
        else:
            notes.append(text)
    return refusals, notes


def precheck(running: GatewayConfig, fresh: GatewayConfig, driver_factory: DriverFactory | None = None) -> list[str]:
    """Run the doctor on what `fresh` adds or changes (blocking: call it in a thread). ConfigRefused when a
    device says the configuration is wrong; else the notes on devices that did not answer."""
    checked = devices_to_check(running, fresh)
    if not checked:
        return []
    reports = run_doctor(replace(fresh, devices=checked), driver_factory, deadline_s=PRECHECK_DEADLINE_S)
    refusals, notes = doctor_verdict(reports)
    if refusals:
        raise ConfigRefused(f"pemeriksaan doctor gagal (the doctor's check failed): {'; '.join(refusals)}")
    return notes


def save(state_dir: Path, document: GatewayConfigDocument) -> None:
    """Keep the document for the next start: temporary name, fsync, rename, fsync of the directory."""
    path = state_dir / CENTRE_CONFIG
    temporary = path.with_name(f".{CENTRE_CONFIG}.{os.getpid()}")
    body = json.dumps(document.to_args(), separators=(",", ":")).encode()
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as out:
            out.write(body)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise
    directory = os.open(state_dir, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def saved(state_dir: Path) -> GatewayConfigDocument | None:
    path = state_dir / CENTRE_CONFIG
    try:
        return GatewayConfigDocument.from_args(json.loads(path.read_bytes()))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:  # ContractError is a ValueError, as is bad JSON
        log.error("%s cannot be read (%s); running the config file's devices", path, exc)
        return None


def with_saved(config: GatewayConfig) -> GatewayConfig:
    """`config` with the centre's kept document in force, when there is one that still passes."""
    document = saved(config.state_dir)
    if document is None:
        return config
    try:
        return merged(config, document)
    except ConfigRefused as exc:
        log.error("the kept centre configuration no longer passes (%s); running the config file's devices", exc)
        return config
