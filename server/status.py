"""Gateway and device status from what gateways publish: birth and last will (retained), telemetry,
and the results of commands. A gateway nobody registered still gets a row, marked unregistered."""

from __future__ import annotations

from datetime import UTC, datetime

from tortoise.transactions import in_transaction

from server.models import Device, Gateway, GatewayCommand
from wire.contract import CommandResult, GatewayStatus, Telemetry, TopicAddress


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


async def record_telemetry(address: TopicAddress, telemetry: Telemetry) -> None:
    """One telemetry report, written whole: a reader never sees a device row without its figures."""
    async with in_transaction():
        gateway = await _gateway_row(address)
        now = datetime.now(UTC)
        if gateway.telemetry_at is not None and gateway.telemetry_at > telemetry.at:
            return
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
        for report in telemetry.devices:
            if not report.serial:
                continue  # never reached yet: the serial is how devices are known here
            device, _ = await Device.get_or_create(
                serial=report.serial[:64], defaults={"name": report.name[:100], "gateway_id": address.gateway}
            )
            device.gateway_id = address.gateway
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
            await device.save()


async def record_command_result(address: TopicAddress, result: CommandResult) -> bool:
    """Store the answer to a command this gateway was sent; False when no such command exists."""
    command = await GatewayCommand.get_or_none(command_id=result.command_id, gateway_id=address.gateway)
    if command is None:
        return False
    command.status = "ok" if result.ok else "failed"
    command.detail = result.detail[:4000]
    command.results = result.results
    command.answered_at = datetime.now(UTC)
    await command.save()
    return True
