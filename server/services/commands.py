"""Commands to a gateway: recorded, then published on its command topic through the running consumer."""

from __future__ import annotations

import uuid
from typing import Any

from server.consumer import PunchConsumer
from server.errors import Invalid, NotFound, Unavailable
from server.i18n import N_
from server.models import Device, Gateway, GatewayCommand
from wire.contract import Command, CommandAction

MAX_COMMAND_BYTES = 16 * 1024
# Actions that change a device for good or take it offline: sent to one named device of the gateway only.
ONE_DEVICE_ACTIONS = frozenset({CommandAction.REBOOT_DEVICE, CommandAction.CLEAR_LOG})


async def check_one_device(gateway: Gateway, action: CommandAction, args: dict[str, Any]) -> None:
    """A reboot or a clear of the log names one device the centre knows on this gateway: never every device
    by omission, never a name the gateway would have to guess at."""
    if action not in ONE_DEVICE_ACTIONS:
        return
    device = args.get("device")
    if not isinstance(device, str) or not device:  # a 404 as for a wrong name: the schema cannot say "required here"
        raise NotFound(N_("args.device: a restart or a clear of the log is sent to one device; name it"))
    if not await Device.exists(gateway_id=gateway.gateway_id, name=device):
        raise NotFound(
            N_("args.device: gateway {gateway} has no device {device}").format(
                gateway=gateway.gateway_id, device=device
            )
        )


async def send_command(
    consumer: PunchConsumer | None,
    gateway: Gateway,
    action: CommandAction,
    args: dict[str, Any],
    *,
    numbered_config: bool = False,
) -> GatewayCommand:
    """The command's row (status "failed" if the broker did not take it, and Unavailable raised). A configuration
    goes only as a numbered revision (services/gateway_config.py), never as a bare command."""
    if action is CommandAction.APPLY_CONFIG and not numbered_config:
        raise Invalid(
            "action: konfigurasi dikirim lewat PUT /api/v1/gateways/{gateway_id}/config"
            " (a configuration is sent as a numbered revision)"
        )
    await check_one_device(gateway, action, args)
    if consumer is None:
        raise Unavailable("this server does not talk to the broker")
    command = Command(command_id=uuid.uuid4().hex, action=action, args=args)
    if len(command.to_json()) > MAX_COMMAND_BYTES:
        raise Invalid("args: the command is larger than 16 KiB")
    row = await GatewayCommand.create(
        command_id=command.command_id, gateway_id=gateway.gateway_id, unit_code=gateway.unit_code,
        action=action.value, args=args,
    )  # fmt: skip
    try:
        await consumer.send_command(gateway.unit_code, gateway.gateway_id, command)
    except (TimeoutError, ConnectionError):
        row.status = "failed"
        row.detail = "the broker did not take the command"
        await row.save()
        raise Unavailable(row.detail) from None
    return row
