"""Commands from the centre on a real Mosquitto, each answered on the command_results topic; unknown or
malformed commands get an error result and the gateway carries on."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from gateway.commands import HANDLERS
from gateway.simulators.zk import ZKSimulator
from tests.gateway_centre import WITA, office_clock_offset, running_gateway, write_config
from wire.contract import CommandAction, TopicKind
from wire.mqtt import MqttSettings


async def test_commands_are_carried_out_and_answered(tmp_path, mosquitto: MqttSettings):
    with (
        ZKSimulator(serial="CMD-0001", clock_offset=office_clock_offset(timedelta(seconds=40))) as door,
        ZKSimulator(serial="CMD-0002", clock_offset=office_clock_offset()) as annex,
    ):
        config = write_config(tmp_path / "gateway.toml", mosquitto, [("door", door.port)], poll_interval_s=30)
        async with running_gateway(config) as (gateway, centre):
            written = await centre.command(CommandAction.WRITE_USER, pin="77", name="Ani Lestari", card=12345)
            assert written.ok, written
            assert written.results == {"door": {"ok": True}}
            assert [(u.pin, u.name, u.card) for u in door.users if u.pin == "77"] == [("77", "Ani Lestari", 12345)]

            synced = await centre.command(CommandAction.SYNC_CLOCK)
            assert synced.ok and synced.results["door"]["ok"]
            assert abs(synced.results["door"]["corrected_s"] - 40) <= 3  # it was 40 s ahead
            office_now = datetime.now(WITA).replace(tzinfo=None)
            assert abs((door.device_time() - office_now).total_seconds()) <= 2  # the device clock is right now

            door.add_punch("77", door.device_time() + timedelta(seconds=2), state=0)  # stamped after the clock set
            reread = await centre.command(CommandAction.REREAD_DEVICE, device="door")
            assert reread.ok and reread.results["door"]["ok"], reread
            assert gateway.queue.stats().queued >= 1

            # A second device appears in the config file: reload picks it up without a restart.
            write_config(
                config, mosquitto, [("door", door.port), ("annex", annex.port)],
                unit=gateway.config.unit, gateway_id=gateway.config.gateway_id, poll_interval_s=30,
            )  # fmt: skip
            reloaded = await centre.command(CommandAction.RELOAD_CONFIG)
            assert reloaded.ok, reloaded
            assert "added ['annex']" in reloaded.detail
            assert [c.config.name for c in gateway.coordinators] == ["door", "annex"]
            both = await centre.command(CommandAction.WRITE_USER, pin="78", name="Budi")
            assert set(both.results) == {"door", "annex"} and both.ok
            assert any(u.pin == "78" for u in annex.users)


async def test_bad_commands_get_error_results_and_the_gateway_carries_on(tmp_path, mosquitto: MqttSettings):
    with ZKSimulator(serial="CMD-0003", clock_offset=office_clock_offset()) as door:
        config = write_config(tmp_path / "gateway.toml", mosquitto, [("door", door.port)], poll_interval_s=30)
        async with running_gateway(config) as (gateway, centre):
            unknown = await centre.command("format_disk")
            assert not unknown.ok and unknown.detail == "unsupported action 'format_disk'"

            nowhere = await centre.command(CommandAction.REREAD_DEVICE, device="basement")
            assert not nowhere.ok and "no device named 'basement'" in nowhere.detail and "door" in nowhere.detail

            bad_pin = await centre.command(CommandAction.WRITE_USER, pin="12a", name="X")
            assert not bad_pin.ok and bad_pin.detail.startswith("args.pin")

            for garbage in (b"{not json", b"[1, 2]", b'{"schema": 99, "command_id": "old", "action": "sync_clock"}'):
                before = len(centre.results)
                await centre.send_raw(garbage)
                await centre.wait_for(lambda before=before: len(centre.results) > before, 10, repr(garbage))
                answer = centre.results[-1]
                assert not answer.ok and answer.detail.startswith("malformed command")
            assert centre.results[-1].command_id == "old"  # readable id: the sender can match the rejection

            # A broken config file is refused with the key named; the running config stays.
            good = config.read_text()
            config.write_text(good.replace('timezone = "WITA"', 'timezone = "CET"'))
            refused = await centre.command(CommandAction.RELOAD_CONFIG)
            assert not refused.ok and "timezone: unknown office time zone 'CET'" in refused.detail
            config.write_text(good.replace(gateway.config.gateway_id, "gw-someone-else"))
            identity = await centre.command(CommandAction.RELOAD_CONFIG)
            assert not identity.ok and "gateway_id changed: restart" in identity.detail
            assert gateway.config.zone.utcoffset(None) == timedelta(hours=8)

            # Redelivered (same id): answered again, not carried out again.
            assert centre.client is not None
            first = await centre.command(CommandAction.SYNC_CLOCK)
            before = len(centre.results)
            payload = b'{"schema":1,"command_id":"%s","action":"sync_clock","args":{}}' % first.command_id.encode()
            await centre.client.publish_confirmed(centre.topic(TopicKind.COMMANDS), payload)
            await centre.wait_for(lambda: len(centre.results) > before, 10, "the repeated answer")
            assert centre.results[-1] == first

            still = await centre.command(CommandAction.SYNC_CLOCK)
            assert still.ok  # alive and well
            await asyncio.sleep(0)


def test_every_action_of_the_contract_has_a_handler():
    assert set(HANDLERS) == set(CommandAction)
    assert all(callable(handler) for handler in HANDLERS.values())
