"""`kinerja gateway doctor`: connect to every configured device and say what was found, or exactly why not.

For IT staff on the day of installation: each device is examined on its own thread, all at once, with
a deadline, so one dead device neither hides nor delays the others. Nothing is written to a device
and nothing is queued.
"""

from __future__ import annotations

import concurrent.futures
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timezone

from gateway.config import DeviceConfig, GatewayConfig
from gateway.device_interface import device_zone
from gateway.devices.base import ANOMALIES, DeviceDriver, DeviceError, DriverHooks

DriverFactory = Callable[[DeviceConfig, DriverHooks], DeviceDriver]

# Failures whose cause is usually the same, with the thing to check first.
_HINTS = (
    ("Unauth", "the device refused the comm key: set comm_key to the device's Comm Key (menu Comm > Security)"),
    ("not present", "the serial port is missing: is the cable (USB adapter) plugged in, is serial_path right?"),
    ("Permission denied", "the gateway user may not open the port: add it to the 'dialout' group"),
    ("exclusively lock", "another program holds the port (the running gateway?): stop it for the check"),
    ("Connection refused", "nothing listens there: check host and port, and that the device is on"),
    # pyzk's TCP connect ignores a refusal and fails on its first send instead.
    ("Broken pipe", "nothing listens there: check host and port, and that the device is on"),
    ("Connection reset", "the device closed the connection: is another program connected to it?"),
    ("not a ZK device", "check host and port: 4370 is the ZK port; a push device's web port answers HTTP instead"),
    ("timed out", "no answer: check host, the network, and transport (old firmware answers only on UDP)"),
    ("can't reach device", "no answer: check host, the network, and transport (old firmware answers only on UDP)"),
)


@dataclass(frozen=True, slots=True)
class DeviceReport:
    name: str
    profile: str
    address: str
    ok: bool
    serial: str = ""
    platform: str = ""
    firmware: str = ""
    users: int | None = None
    records: int | None = None
    capacity: int | None = None
    clock_drift_s: float | None = None
    clock_note: str = ""
    problem: str = ""
    hint: str = ""
    firmware_notes: tuple[str, ...] = ()  # faults of this firmware the gateway works around


def device_address(config: DeviceConfig) -> str:
    if config.protocol == "serial":
        return config.serial_path
    if config.protocol == "push":
        return f"calls the gateway as {config.serial_number}"
    return f"{config.host}:{config.port}/{transport_of(config)}"


def examine(config: DeviceConfig, office: timezone, driver_factory: DriverFactory) -> DeviceReport:
    """Connect, read identity, counts and clock, disconnect. Blocking; never raises DeviceError."""
    base = {"name": config.name, "profile": config.profile.name, "address": device_address(config)}
    if config.protocol == "push":
        return DeviceReport(**base, ok=True, problem="", clock_note="push device: it calls the gateway, not probed")
    met: dict[str, str] = {}
    driver = driver_factory(config, DriverHooks(report_anomaly=lambda kind, detail: met.setdefault(kind, detail)))
    try:
        driver.connect()
        try:
            info = driver.read_info()
            gateway_now = datetime.now(UTC)
            records = info.record_count
            if config.protocol == "zk" and (info.record_count == 0 or not info.counts_reliable):
                # "0 records" or none at all: read the log to tell an empty device from a firmware fault.
                held = records = len(driver.read_punches())
                if held and info.counts_reliable:
                    met.setdefault("count_mismatch", f"it reports 0 records and holds {held}")
        finally:
            driver.close()
    except DeviceError as exc:
        problem = str(exc)
        if config.protocol == "zk" and transport_of(config) == "tcp" and _answers_but_not_zk(config):
            problem = f"device {config.name}: something answers on {device_address(config)}, but it is not a ZK device"
        return DeviceReport(**base, ok=False, problem=problem, hint=_hint(problem))
    notes = tuple(f"{ANOMALIES.get(kind, kind)} ({detail})" for kind, detail in met.items())
    if config.protocol == "serial":
        # A line terminal reports nothing about itself; its clock cannot be read over the line.
        return DeviceReport(
            **base, ok=True, serial=info.serial, platform="serial line", clock_note="not readable over a serial line"
        )
    zone = device_zone(config, office)
    drift = (info.device_time.replace(tzinfo=zone) - gateway_now).total_seconds()
    profile = config.profile
    hours = round(drift / 3600)
    if abs(drift) <= profile.max_drift_s:
        note = "within the profile's limit"
    elif hours and abs(drift - hours * 3600) <= 120:
        note = (
            f"off by {hours:+d} hours almost to the minute: a time-zone mismatch, not a drifting clock. "
            f"The device keeps UTC{_utc_offset(zone, hours)}, the profile expects {profile.clock_zone} "
            f"({_utc_offset(zone, 0)}): set the device's time zone, or the profile's clock.zone"
        )
    elif profile.clock_may_set:
        note = f"more than {profile.max_drift_s:.0f} s off: the gateway will set it"
    else:
        note = f"more than {profile.max_drift_s:.0f} s off, and the profile forbids setting it: set it by hand"
    return DeviceReport(
        **base,
        ok=True,
        serial=info.serial,
        platform=info.platform,
        firmware=info.firmware,
        users=info.user_count,
        records=records,
        capacity=info.record_capacity or profile.capacity,
        clock_drift_s=drift,
        clock_note=note,
        firmware_notes=notes,
    )


def transport_of(config: DeviceConfig) -> str:
    return "udp" if config.profile.force_udp else config.transport


def _answers_but_not_zk(config: DeviceConfig) -> bool:
    """Whether the port answers, but not as a ZK device: bytes that are not a ZK answer to CMD_CONNECT,
    or, when that gets no answer, an HTTP reply to a plain GET (a web server, a push device's port)."""
    request = struct.pack("<4H", 1000, 0, 0, 0)
    probes = (struct.pack("<HHI", 0x5050, 0x7D82, len(request)) + request, b"GET / HTTP/1.0\r\n\r\n")
    for probe in probes:
        try:
            with socket.create_connection((config.host, config.port), timeout=min(config.timeout_s, 2.0)) as sock:
                sock.sendall(probe)
                answer = sock.recv(16)
        except OSError:
            continue
        if answer and answer[:4] != b"\x50\x50\x82\x7d":
            return True
    return False


def _utc_offset(zone: timezone, plus_hours: int) -> str:
    offset = zone.utcoffset(None)
    hours = (offset.total_seconds() / 3600 if offset is not None else 0) + plus_hours
    return f"{hours:+.0f}".replace("+-", "-")


def run_doctor(
    config: GatewayConfig, driver_factory: DriverFactory | None = None, deadline_s: float | None = None
) -> list[DeviceReport]:
    """Examine every device at once; a device silent past its deadline is reported as such."""
    factory = driver_factory or _profile_driver(config.zone)
    results: dict[str, DeviceReport] = {}
    futures: dict[str, concurrent.futures.Future[DeviceReport]] = {}
    for device in config.devices:
        future: concurrent.futures.Future[DeviceReport] = concurrent.futures.Future()
        futures[device.name] = future

        def work(device: DeviceConfig = device, future: concurrent.futures.Future[DeviceReport] = future) -> None:
            try:
                future.set_result(examine(device, config.zone, factory))
            except Exception as exc:  # a driver bug must still end in a line of the report
                future.set_exception(exc)

        # Daemon threads: a hung device must not keep the command from exiting.
        threading.Thread(target=work, name=f"doctor-{device.name}", daemon=True).start()
    for device in config.devices:
        limit = deadline_s or device.timeout_s * 3 + 2
        base = {"name": device.name, "profile": device.profile.name, "address": device_address(device)}
        try:
            results[device.name] = futures[device.name].result(timeout=limit)
        except concurrent.futures.TimeoutError:
            problem = f"device {device.name}: no answer within {limit:.0f} s (hung mid-conversation?)"
            results[device.name] = DeviceReport(**base, ok=False, problem=problem, hint=_hint("timed out"))
        except Exception as exc:
            results[device.name] = DeviceReport(**base, ok=False, problem=f"{type(exc).__name__}: {exc}")
    return [results[device.name] for device in config.devices]


def format_reports(reports: list[DeviceReport]) -> str:
    lines = []
    for report in reports:
        head = f"{report.name} ({report.profile}, {report.address})"
        if not report.ok:
            lines.append(f"FAIL {head}\n     {report.problem}")
            if report.hint:
                lines.append(f"     hint: {report.hint}")
            continue
        lines.append(f"OK   {head}")
        if report.serial:
            firmware = f", firmware {report.firmware}" if report.firmware else ""
            lines.append(f"     serial {report.serial}, {report.platform}{firmware}")
        if report.records is not None:
            fill = f" ({report.records / report.capacity:.0%} full)" if report.capacity else ""
            lines.append(f"     users {report.users}, records {report.records} of {report.capacity}{fill}")
        if report.clock_drift_s is not None:
            lines.append(f"     clock drift {report.clock_drift_s:+.0f} s: {report.clock_note}")
        elif report.clock_note:
            lines.append(f"     clock: {report.clock_note}")
        for note in report.firmware_notes:
            lines.append(f"     firmware: {note}")
    failed = sum(1 for report in reports if not report.ok)
    lines.append(f"{len(reports) - failed} of {len(reports)} devices answered")
    return "\n".join(lines)


def _hint(problem: str) -> str:
    return next((hint for needle, hint in _HINTS if needle in problem), "")


def _profile_driver(office: timezone) -> DriverFactory:
    from gateway.devices.factory import driver_for

    return lambda config, hooks: driver_for(config, office, hooks)


def doctor_command(config_path: str) -> int:
    """Print the report for every device in the gateway config; exit status 1 when any failed."""
    from gateway.config import load_gateway_config

    reports = run_doctor(load_gateway_config(config_path))
    print(format_reports(reports), flush=True)
    return 0 if all(report.ok for report in reports) else 1
