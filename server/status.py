"""Gateway and device status from what gateways publish: birth and last will (retained), telemetry,
and the results of commands. A gateway nobody registered still gets a row, marked unregistered.

Telemetry speaks only for the devices registered to the reporting gateway: it updates their figures
and never creates, moves or touches any other. A serial the centre has never seen becomes a pending
device of the reporting gateway (or, under the "accept" policy, that gateway's device)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from tortoise.transactions import in_transaction

from server.gateway_config_models import GatewayConfigRevision, GatewayConfigRunning
from server.i18n import N_
from server.models import Device, Gateway, GatewayCommand, PendingDevice
from server.telemetry_models import HISTORY_DAYS, GatewayTelemetrySample
from wire.contract import (
    CommandAction,
    CommandResult,
    ConfigOutcome,
    ContractError,
    DeviceTelemetry,
    GatewayStatus,
    Telemetry,
    TopicAddress,
    answers_unsupported,
)

log = logging.getLogger(__name__)


async def _gateway_row(address: TopicAddress) -> Gateway:
    gateway, _ = await Gateway.get_or_create(gateway_id=address.gateway, defaults={"unit_code": address.unit})
    return gateway


async def record_status(address: TopicAddress, status: GatewayStatus) -> None:
    gateway = await _gateway_row(address)
    # Replicas and retained copies can deliver an older status after a newer one: the gateway's own
    # time decides which is current.
    if gateway.status_at is not None and gateway.status_at > status.at:
        return
    gateway.online = status.state == "online"
    gateway.version = status.version[:64]
    gateway.status_at = status.at
    gateway.last_seen_at = datetime.now(UTC)
    # Only these columns: a telemetry report handled meanwhile must not be overwritten with stale values.
    await gateway.save(update_fields=["online", "version", "status_at", "last_seen_at"])


async def record_telemetry(address: TopicAddress, telemetry: Telemetry, new_devices: str = "pending") -> int:
    """One telemetry report, written whole: a reader never sees a device row without its figures.
    Returns how many device reports were ignored (devices registered to another gateway)."""
    async with in_transaction():
        gateway = await _gateway_row(address)
        now = datetime.now(UTC)
        if gateway.telemetry_at is not None and gateway.telemetry_at > telemetry.at:
            return 0
        gateway.version = telemetry.version[:64]
        gateway.last_seen_at = now
        gateway.queued_punches = telemetry.queued_punches
        gateway.in_flight_batches = telemetry.in_flight_batches
        gateway.oldest_queued_age_s = telemetry.oldest_queued_age_s
        gateway.rejected_punches = telemetry.rejected_punches
        gateway.telemetry_at = telemetry.at
        # A gateway that reports is online, whatever an old retained will said.
        gateway.online = True
        await gateway.save(
            update_fields=[
                "version", "last_seen_at", "queued_punches", "in_flight_batches", "oldest_queued_age_s",
                "rejected_punches", "telemetry_at", "online",
            ]
        )  # fmt: skip
        await record_running(address, telemetry)
        await _keep_sample(address.gateway, telemetry, now)
        ignored = 0
        for report in telemetry.devices:
            if not report.serial:
                continue  # never reached yet: the serial is how devices are known here
            device = await Device.get_or_none(serial=report.serial)
            if device is not None and device.gateway_id not in (None, address.gateway):
                ignored += 1
                log.warning("%s reported on device %s, registered to another gateway: ignored", address.gateway,
                            report.serial)  # fmt: skip
                continue
            if device is None or device.gateway_id is None:
                if new_devices != "accept":
                    await _pending(address, report, now)
                    continue
                if device is None:
                    device = Device(serial=report.serial, name=report.name[:100])
                device.gateway_id = address.gateway
            _apply(device, report, telemetry)
            await device.save()
        return ignored


async def _keep_sample(gateway_id: str, telemetry: Telemetry, now: datetime) -> None:
    """The report in the gateway's bounded history; reports older than HISTORY_DAYS go as new ones come."""
    await GatewayTelemetrySample.create(
        gateway_id=gateway_id, received_at=now, version=telemetry.version[:64], uptime_s=telemetry.uptime_s,
        queued_punches=telemetry.queued_punches, relayed_punches=telemetry.relayed_punches,
        clock_offset_s=(telemetry.at - now).total_seconds(), tls=telemetry.tls, tls_expires_at=telemetry.tls_expires_at,
    )  # fmt: skip
    await GatewayTelemetrySample.filter(
        gateway_id=gateway_id, received_at__lt=now - timedelta(days=HISTORY_DAYS)
    ).delete()


async def _pending(address: TopicAddress, report: DeviceTelemetry, now: datetime) -> None:
    assert report.serial is not None
    claim, created = await PendingDevice.get_or_create(
        gateway_id=address.gateway, serial=report.serial,
        defaults={"unit_code": address.unit, "name": report.name[:100], "first_seen_at": now, "last_seen_at": now},
    )  # fmt: skip
    if not created:
        claim.name = report.name[:100]
        claim.last_seen_at = now
        await claim.save(update_fields=["name", "last_seen_at"])


def _apply(device: Device, report: DeviceTelemetry, telemetry: Telemetry) -> None:
    device.reachable = report.reachable
    device.last_poll_ok_at = report.last_poll_ok_at
    device.last_punch_at = report.last_punch_at
    device.clock_drift_s = report.clock_drift_s
    device.record_count = report.record_count
    device.record_capacity = report.record_capacity
    device.last_error = report.last_error[:2000] if report.last_error else None
    device.telemetry_at = telemetry.at
    device.held_punches = report.held_punches
    device.quarantined = report.quarantined


# Kept as the command's detail when the gateway does not know the action (translated on the pages).
UNSUPPORTED_BY_GATEWAY = N_("this gateway does not support this command yet: upgrade the gateway")


async def record_command_result(address: TopicAddress, result: CommandResult) -> bool:
    """Store the answer to a command this gateway was sent; False when no such command exists."""
    command = await GatewayCommand.get_or_none(command_id=result.command_id, gateway_id=address.gateway)
    if command is None:
        return False
    command.status = "ok" if result.ok else "failed"
    command.detail = result.detail[:4000]
    if not result.ok and answers_unsupported(result.detail):  # a gateway older than the action
        command.detail = UNSUPPORTED_BY_GATEWAY
    command.results = result.results
    command.answered_at = datetime.now(UTC)
    await command.save()
    if command.action == CommandAction.APPLY_CONFIG.value:
        await record_config_answer(command, result)
    return True


async def record_config_answer(command: GatewayCommand, result: CommandResult) -> None:
    """The gateway's answer to an apply_config command, on the revision it carried."""
    row = await GatewayConfigRevision.get_or_none(command_id=command.command_id)
    if row is None:
        return
    try:
        outcome = ConfigOutcome.from_results(result.results)
    except ContractError:
        outcome = None
    if outcome is None:  # a gateway that does not know the action (older than it), or an unreadable answer
        gateway = await Gateway.get_or_none(gateway_id=command.gateway_id)
        version = gateway.version if gateway and gateway.version else "?"
        row.status = "rejected"
        row.reason = f"gateway versi {version} tidak menerima konfigurasi dari pusat: {result.detail}"[:4000]
    else:
        row.status = outcome.status.value
        row.reason = outcome.reason[:4000] if outcome.reason else None
    row.answered_at = datetime.now(UTC)
    await row.save(update_fields=["status", "reason", "answered_at"])


async def record_running(address: TopicAddress, telemetry: Telemetry) -> None:
    """The revision the gateway says it runs; only the newest report counts."""
    row = await GatewayConfigRunning.get_or_none(gateway_id=address.gateway)
    if row is None:
        await GatewayConfigRunning.create(
            gateway_id=address.gateway, revision=telemetry.config_revision, reported_at=telemetry.at
        )
    elif row.reported_at <= telemetry.at:
        row.revision, row.reported_at = telemetry.config_revision, telemetry.at
        await row.save(update_fields=["revision", "reported_at"])
