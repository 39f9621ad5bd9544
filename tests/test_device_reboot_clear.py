"""Reboot and clear-log commands end to end: the real gateway on a real Mosquitto, the unmodified pyzk
against the ZK simulator over real sockets (a reboot drops the connection, the device comes back after
its boot time; a clear empties the log only once the centre acknowledged every punch read from it), and
the push coordinator's REBOOT / CLEAR LOG on the push simulator."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from gateway.simulators.zk import ZKSimulator
from tests.gateway_centre import Centre, office_clock_offset, running_gateway, write_config
from wire.contract import AckStatus, BatchAck, CommandAction, PunchBatch, TopicKind, answers_unsupported
from wire.mqtt import IncomingMessage, MqttSettings


class Acker:
    """The centre's side of the punch topic: batches are held unacknowledged until `release()`."""

    def __init__(self, centre: Centre) -> None:
        self.centre = centre
        self.unacked: list[str] = []
        self.published: list[tuple[str, object]] = []  # every punch the gateway sent: (pin, instant)
        self.acking = False
        assert centre.client is not None
        centre.client.subscribe(centre.topic(TopicKind.PUNCHES), self._on_batch)

    async def _on_batch(self, message: IncomingMessage) -> None:
        batch = PunchBatch.from_json(message.payload)
        self.centre.client.ack(message)
        self.unacked.append(batch.batch_id)
        self.published.extend((punch.pin, punch.time) for punch in batch.punches)
        if self.acking:
            await self.release()

    async def release(self) -> None:
        self.acking = True
        while self.unacked:
            ack = BatchAck(self.unacked.pop(), AckStatus.STORED, stored=1)
            await self.centre.client.publish_confirmed(self.centre.topic(TopicKind.ACKS), ack.to_json())


async def test_clear_is_refused_until_every_punch_is_acknowledged_then_empties_the_log(
    tmp_path, mosquitto: MqttSettings
):
    with ZKSimulator(serial="RC-0001", clock_offset=office_clock_offset()) as door:
        for minute in range(3):
            door.add_punch("7", door.device_time() - timedelta(minutes=10 - minute))
        config = write_config(tmp_path / "gateway.toml", mosquitto, [("door", door.port)], poll_interval_s=30)
        async with running_gateway(config) as (gateway, centre):
            acker = Acker(centre)
            await centre.client.wait_connected(10)
            await asyncio.sleep(0.3)

            nameless = await centre.command(CommandAction.CLEAR_LOG)
            assert not nameless.ok and nameless.detail.startswith("args.device")

            refused = await centre.command(CommandAction.CLEAR_LOG, device="door")
            assert not refused.ok, refused
            assert refused.detail.startswith("clear refused") and "not yet acknowledged" in refused.detail
            assert refused.results["door"]["refused"] is True
            assert len(door.records) == 3  # nothing lost

            await acker.release()
            await centre.wait_for(lambda: gateway.queue.stats().queued == 0, 20, "the punches acknowledged")
            cleared = await centre.command(CommandAction.CLEAR_LOG, device="door")
            assert cleared.ok, cleared
            assert cleared.results == {"door": {"ok": True, "cleared": 3}}
            assert door.records == []

            # A punch after the clear is read and sent as usual: by the reread, or by a poll of the gateway
            # that came first (then the reread finds nothing new).
            door.add_punch("7", door.device_time())
            again = await centre.command(CommandAction.REREAD_DEVICE, device="door")
            assert again.ok and again.results["door"]["new_punches"] in (0, 1), again
            await centre.wait_for(lambda: len(set(acker.published)) == 4, 20, "the punch after the clear sent")
            await asyncio.sleep(0.5)
            assert len(set(acker.published)) == 4, acker.published  # the three before the clear and the new one


async def test_reboot_drops_the_connection_and_the_device_comes_back(tmp_path, mosquitto: MqttSettings):
    with ZKSimulator(serial="RC-0002", clock_offset=office_clock_offset()) as door:
        door.boot_s = 3.0
        config = write_config(tmp_path / "gateway.toml", mosquitto, [("door", door.port)], poll_interval_s=1)
        async with running_gateway(config) as (gateway, centre):
            coordinator = gateway.coordinators[0]
            await centre.wait_for(lambda: coordinator.health.reachable, 10, "the first poll")
            rebooted = await centre.command(CommandAction.REBOOT_DEVICE, device="door")
            assert rebooted.ok, rebooted
            assert rebooted.results == {"door": {"ok": True}}
            assert door.restarts == 1
            assert not door.booted.is_set()  # booting: nothing listens
            started = time.monotonic()
            await centre.wait_for(lambda: not coordinator.health.reachable, 10, "the poller to notice the reboot")
            await centre.wait_for(lambda: door.booted.is_set(), 10, "the boot")
            assert time.monotonic() - started >= 1.5
            await centre.wait_for(lambda: coordinator.health.reachable, 30, "the poller to reconnect")
            door.add_punch("8", door.device_time())  # live or polled, the punch after the boot is read
            await centre.command(CommandAction.REREAD_DEVICE, device="door")
            await centre.wait_for(lambda: gateway.queue.stats().queued == 1, 10, "the punch after the boot")

            nowhere = await centre.command(CommandAction.REBOOT_DEVICE, device="basement")
            assert not nowhere.ok and "no device named 'basement'" in nowhere.detail


async def test_an_unknown_action_is_answered_unsupported(tmp_path, mosquitto: MqttSettings):
    with ZKSimulator(serial="RC-0003", clock_offset=office_clock_offset()) as door:
        config = write_config(tmp_path / "gateway.toml", mosquitto, [("door", door.port)], poll_interval_s=30)
        async with running_gateway(config) as (_gateway, centre):
            unknown = await centre.command("factory_reset", device="door")
            assert not unknown.ok and unknown.detail == "unsupported action 'factory_reset'"
            assert answers_unsupported(unknown.detail)
            still = await centre.command(CommandAction.SYNC_CLOCK)
            assert still.ok


def test_an_older_gateways_answer_reads_as_unsupported():
    # What gateways before the reboot/clear actions answer (gateway/commands.py, a ContractError).
    old = "malformed command: action: expected one of ['sync_clock', 'reread_device'], got 'clear_log'"
    assert answers_unsupported(old)
    assert not answers_unsupported("malformed command: schema: this side speaks version 1")


async def test_a_push_device_is_cleared_only_once_its_log_is_acknowledged_and_reboots_on_request(tmp_path):
    from gateway.commands import CommandHandler
    from gateway.simulators.push import PushDeviceSimulator
    from tests.test_push_gateway import FAST, _no_reload, command, push_config, push_gateway, running, yesterday

    config = push_config(tmp_path)
    async with push_gateway(config) as (frontend, queue, url):
        handler = CommandHandler(lambda: frontend.devices, _no_reload)  # type: ignore[arg-type,return-value]
        hall = PushDeviceSimulator(url, "SPD-0001", **FAST)
        for minute in range(4):
            hall.add_punch("21", yesterday(7, minute))
        async with running(hall):
            while hall.position < 4:
                await asyncio.sleep(0.02)
            refused = await command(handler, CommandAction.CLEAR_LOG, device="hall")
            assert not refused.ok and "4 punches read from the log are not yet acknowledged" in refused.detail
            assert refused.results["hall"]["refused"] is True
            assert len(hall.records) == 4
            assert "CLEAR LOG" not in [text for _id, text, _code in hall.stats.commands]

            batch = queue.claim_batch("b-1", 100)  # what the relay does; then the server's ack
            assert batch is not None
            queue.acknowledge("b-1")
            cleared = await command(handler, CommandAction.CLEAR_LOG, device="hall")
            assert cleared.ok, cleared
            assert hall.records == []
            sent = [text for _id, text, _code in hall.stats.commands]
            assert sent[-1] == "CLEAR LOG" and sent[-2].startswith("DATA QUERY ATTLOG")  # re-read, then cleared

            hall.add_punch("21", yesterday(8, 0))  # a punch after the clear is uploaded as any other
            while hall.position < 5:
                await asyncio.sleep(0.02)
            assert queue.queued_for("SPD-0001") == 1

            registrations = hall.stats.registrations
            rebooted = await command(handler, CommandAction.REBOOT_DEVICE, device="hall")
            assert rebooted.ok and hall.stats.commands[-1][1] == "REBOOT"
            while hall.stats.registrations == registrations:  # it comes back and registers again
                await asyncio.sleep(0.02)
