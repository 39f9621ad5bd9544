"""Commands to a gateway: recorded, then published on its command topic through the running consumer."""

from __future__ import annotations

import uuid
from typing import Any

from server.consumer import PunchConsumer
from server.errors import Invalid, Unavailable
from server.models import Gateway, GatewayCommand
from wire.contract import Command, CommandAction

MAX_COMMAND_BYTES = 16 * 1024


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
