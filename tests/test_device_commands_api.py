"""The command API takes reboot_device and clear_log for one named device of the gateway (and refuses them
without one, or for a device the centre does not know); a gateway's answer is stored, an older gateway's
"unknown action" read as "not supported yet"."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from server.models import GatewayCommand
from tests.conftest import Stack, unique_slug
from tests.helpers import HandGateway, running_server
from tests.test_registry import post, wait_for
from wire.contract import (
    Command,
    CommandAction,
    CommandResult,
    DeviceTelemetry,
    Telemetry,
    TopicKind,
    topic_for,
)
from wire.mqtt import IncomingMessage


async def test_reboot_and_clear_go_to_one_named_device_and_their_answers_are_stored(stack: Stack):
    gateway = HandGateway(stack.mqtt, unique_slug("unit"), unique_slug("gw"))
    async with running_server(stack.db_url, stack.mqtt, units=(gateway.unit,), session_expiry_s=60) as api:
        commands: list[Command] = []
        await gateway.start()
        assert gateway.client is not None

        async def on_command(message: IncomingMessage) -> None:
            commands.append(Command.from_json(message.payload))
            gateway.client.ack(message)

        gateway.client.subscribe(topic_for(gateway.unit, gateway.gateway_id, TopicKind.COMMANDS), on_command)
        try:
            lobby = DeviceTelemetry("lobby", "SER-RC1", True, datetime.now(UTC), None, 0.0, 10, 100_000, None)
            telemetry = Telemetry(gateway.gateway_id, "1.2.3", 60.0, 0, 0, 4.0, 0, (lobby,))
            await gateway.client.publish_confirmed(
                topic_for(gateway.unit, gateway.gateway_id, TopicKind.TELEMETRY), telemetry.to_json()
            )
            await wait_for(api, f"/api/v1/gateways/{gateway.gateway_id}", lambda b: b.get("devices"))
            await post(api, "/api/v1/units", {"code": gateway.unit, "name": "K", "kind": "ministry"}, 201)
            await post(api, "/api/v1/gateways", {"gateway_id": gateway.gateway_id, "unit": gateway.unit}, 201)
            path = f"/api/v1/gateways/{gateway.gateway_id}/commands"

            nameless = await post(api, path, {"action": "clear_log"}, 404)
            assert nameless["reason"].startswith("args.device: a restart or a clear of the log is sent to one")
            unknown = await post(api, path, {"action": "reboot_device", "args": {"device": "basement"}}, 404)
            assert unknown["reason"] == f"args.device: gateway {gateway.gateway_id} has no device basement"
            await post(api, path, {"action": "reboot_device", "args": {"device": "lobby", "colour": 1}}, 400)
            assert not await GatewayCommand.exists(gateway_id=gateway.gateway_id)

            reboot = await post(api, path, {"action": "reboot_device", "args": {"device": "lobby"}}, 202)
            clear = await post(api, path, {"action": "clear_log", "args": {"device": "lobby"}}, 202)
            for _ in range(100):
                if len(commands) == 2:
                    break
                await asyncio.sleep(0.05)
            assert [(c.action, c.args) for c in commands] == [
                (CommandAction.REBOOT_DEVICE, {"device": "lobby"}),
                (CommandAction.CLEAR_LOG, {"device": "lobby"}),
            ]
            assert [c.command_id for c in commands] == [reboot["command_id"], clear["command_id"]]

            results_topic = topic_for(gateway.unit, gateway.gateway_id, TopicKind.COMMAND_RESULTS)
            # An older gateway does not know the action; the refused clear of a newer one keeps its reason.
            old = CommandResult(reboot["command_id"], False, "malformed command: action: expected one of [...]")
            detail = "clear refused: device lobby: 3 punches read from the log are not yet acknowledged by the server"
            refused = CommandResult(
                clear["command_id"], False, detail, {"lobby": {"ok": False, "refused": True, "error": "..."}}
            )
            for result in (old, refused):
                await gateway.client.publish_confirmed(results_topic, result.to_json())
            listing = await wait_for(api, path, lambda b: all(c["status"] == "failed" for c in b["items"]))
            shown = {c["action"]: c for c in listing["items"]}
            assert shown["reboot_device"]["detail"] == (
                "this gateway does not support this command yet: upgrade the gateway"
            )
            assert shown["clear_log"]["detail"] == detail
            assert shown["clear_log"]["results"]["lobby"]["refused"] is True
        finally:
            await gateway.close()
