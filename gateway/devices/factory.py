"""A driver for a configured device, as its profile describes the model.

The coordinator hands in its hooks (quarantine, firmware faults), which the driver reports to.
"""

from __future__ import annotations

from datetime import tzinfo

from gateway.config import DeviceConfig
from gateway.devices.base import DeviceDriver, DriverHooks


def driver_for(config: DeviceConfig, zone: tzinfo | None = None, hooks: DriverHooks | None = None) -> DeviceDriver:
    profile = config.profile
    hooks = hooks or DriverHooks()
    if profile.protocol == "serial":
        from gateway.devices.serial_line import SerialLineDriver, SerialLineFormat

        line_format = SerialLineFormat.from_table(profile.serial, profile.source)
        return SerialLineDriver(
            config.serial_path,
            line_format,
            serial_number=config.serial_number or config.name,
            timeout_s=config.timeout_s,
            quarantine=hooks.quarantine,
            zone=zone,
        )
    from gateway.devices.zk import ZKDriver  # pyzk is imported only where a ZK device is configured

    return ZKDriver(
        config.host,
        config.port,
        transport="udp" if profile.force_udp else config.transport,
        comm_key=config.comm_key,
        timeout_s=config.timeout_s,
        encoding=profile.name_encoding,
        omit_ping=profile.omit_ping,
        buffered_read=profile.buffered_read,
        quarantine=hooks.quarantine,
        report_anomaly=hooks.report_anomaly,
        fingerprint_format=profile.biometrics.fingerprint.key if profile.biometrics.fingerprint else "",
    )
