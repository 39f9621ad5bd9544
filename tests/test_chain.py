"""The whole chain on both stacks: simulated ZK device -> pyzk -> gateway queue -> MQTT -> server -> API."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from gateway.config import DeviceConfig, GatewayConfig, RelayConfig
from gateway.service import Gateway
from gateway.simulators.zk import ZKSimulator
from server.models import Punch
from tests.conftest import Stack, unique_slug
from tests.helpers import running_server
from wire.zones import office_zone

WITA = office_zone("WITA")


def gateway_config(stack: Stack, state_dir, device_port: int, **relay: float) -> GatewayConfig:
    return GatewayConfig(
        gateway_id=unique_slug("gw"),
        unit=unique_slug("unit"),
        zone=WITA,
        state_dir=state_dir,
        mqtt=stack.mqtt,
        devices=(DeviceConfig("entrance", "127.0.0.1", device_port, timeout_s=5, poll_interval_s=0.5),),
        relay=RelayConfig(batch_size=relay.get("batch_size", 500), resend_after_s=relay.get("resend_after_s", 5)),
    )


async def wait_for_count(unit: str, expected: int, timeout_s: float = 20) -> int:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        count = await Punch.filter(unit_code=unit).count()
        if count >= expected or asyncio.get_running_loop().time() > deadline:
            return count
        await asyncio.sleep(0.1)


def yesterday_at(hour: int, minute: int) -> datetime:
    day = datetime.now(WITA).date() - timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, minute)


async def test_punches_on_a_device_reach_the_api_with_the_office_offset(stack: Stack, tmp_path):
    with ZKSimulator(serial="CHAIN-0001") as device:
        device.add_user(pin="7", name="Siti")
        device.add_user(pin="8", name="Budi")
        device.add_punch("7", yesterday_at(7, 28), state=0, verify=1)
        device.add_punch("8", yesterday_at(7, 45), state=0, verify=1)
        device.add_punch("7", yesterday_at(16, 3), state=1, verify=1)
        config = gateway_config(stack, tmp_path / "gw", device.port)
        async with running_server(stack.db_url, stack.mqtt, units=(config.unit,)) as api:
            gateway = Gateway(config)
            await gateway.start()
            try:
                assert await wait_for_count(config.unit, 3) == 3
                # Polling again (the device returns its whole log) and a late punch: only the new one is added.
                device.add_punch("8", yesterday_at(16, 30), state=1, verify=1)
                assert await wait_for_count(config.unit, 4) == 4
                await asyncio.sleep(1.5)  # several more polls of the same log
            finally:
                await gateway.stop()
            assert await Punch.filter(unit_code=config.unit).count() == 4
            body = await (await api.get("/api/v1/punches", params={"unit": config.unit, "pin": "7"})).json()
            times = sorted(item["time"] for item in body["items"])
            day = yesterday_at(0, 0).date().isoformat()
            assert times == [f"{day}T07:28:00+08:00", f"{day}T16:03:00+08:00"]
            assert {item["device_serial"] for item in body["items"]} == {"CHAIN-0001"}


async def test_punches_queued_while_the_server_is_down_arrive_when_it_returns(stack: Stack, tmp_path):
    with ZKSimulator(serial="CHAIN-0002") as device:
        for minute in range(12):
            device.add_punch(str(minute % 4 + 1), yesterday_at(7, minute), state=0, verify=1)
        config = gateway_config(stack, tmp_path / "gw", device.port, batch_size=5, resend_after_s=1)
        gateway = Gateway(config)
        await gateway.start()
        try:
            # No server yet: the gateway reads the device and holds everything in its queue.
            deadline = asyncio.get_running_loop().time() + 10
            while gateway.queue.stats().queued < 12 and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.1)
            assert gateway.queue.stats().queued == 12
            async with running_server(stack.db_url, stack.mqtt, units=(config.unit,)):
                assert await wait_for_count(config.unit, 12) == 12
                deadline = asyncio.get_running_loop().time() + 10
                while gateway.queue.stats().queued and asyncio.get_running_loop().time() < deadline:
                    await asyncio.sleep(0.1)
                assert gateway.queue.stats().queued == 0  # deleted only because the server acked
                assert await Punch.filter(unit_code=config.unit).count() == 12
        finally:
            await gateway.stop()


async def test_a_restarted_gateway_sends_nothing_twice(stack: Stack, tmp_path):
    with ZKSimulator(serial="CHAIN-0003") as device:
        for minute in range(6):
            device.add_punch("1", yesterday_at(8, minute), state=0, verify=1)
        config = gateway_config(stack, tmp_path / "gw", device.port)
        async with running_server(stack.db_url, stack.mqtt, units=(config.unit,)):
            first = Gateway(config)
            await first.start()
            try:
                assert await wait_for_count(config.unit, 6) == 6
                # Stored is not yet acked: stopping before the ack arrives would rightly resend the batch.
                for _ in range(500):
                    if first.queue.stats().in_flight_batches == 0:
                        break
                    await asyncio.sleep(0.01)
                assert first.queue.stats().in_flight_batches == 0
            finally:
                await first.stop()
            device.add_punch("1", yesterday_at(9, 0), state=1, verify=1)
            second = Gateway(config)  # same state dir: same queue, same memory of what was seen
            await second.start()
            try:
                assert await wait_for_count(config.unit, 7) == 7
                await asyncio.sleep(1.5)
                assert second.queue.stats().queued == 0
            finally:
                await second.stop()
            assert await Punch.filter(unit_code=config.unit).count() == 7
            assert second.relay.acked_batches == 1  # only the new punch travelled
