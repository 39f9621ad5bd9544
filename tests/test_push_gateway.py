"""Push devices against the gateway's push endpoint, over real HTTP: registration, uploads into the durable
queue with its dedup, refusal of unknown serials, quarantine, limits, and commands through the command channel."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from pathlib import Path

import aiohttp

from gateway.commands import CommandHandler
from gateway.config import GatewayConfig, load_gateway_config, parse_gateway_config
from gateway.push import protocol
from gateway.push.frontend import PushFrontend
from gateway.queue import PunchQueue
from gateway.service import Gateway
from gateway.simulators.push import PushDeviceSimulator
from wire.contract import Command, CommandAction, CommandResult, Telemetry
from wire.zones import office_zone

WITA = office_zone("WITA")
FAST = {"delay_s": 0.05, "error_delay_s": 0.1}


def push_config(tmp_path, *, command_timeout_s: float = 5, max_body_bytes: int = 64 * 1024) -> GatewayConfig:
    return parse_gateway_config(
        {
            "gateway_id": "gw-push",
            "unit": "unit-push",
            "timezone": "WITA",
            "state_dir": str(tmp_path / "state"),
            "mqtt": {"url": "mqtt://127.0.0.1:1"},
            "push": {
                "host": "127.0.0.1",
                "port": 0,
                "command_timeout_s": command_timeout_s,
                "max_body_bytes": max_body_bytes,
            },
            "devices": [
                {"name": "hall", "profile": "zkteco-speedface-push", "serial_number": "SPD-0001"},
                {"name": "annex", "profile": "zk-oem-push-legacy", "serial_number": "OLD-0001"},
            ],
        }
    )


@contextlib.asynccontextmanager
async def push_gateway(config: GatewayConfig) -> AsyncIterator[tuple[PushFrontend, PunchQueue, str]]:
    queue = PunchQueue(config.queue_path)
    frontend = PushFrontend(config, queue, lambda: None)
    frontend.coordinators_for(config)
    await frontend.start()
    try:
        yield frontend, queue, f"http://127.0.0.1:{frontend.server.port}"
    finally:
        await frontend.stop()
        queue.close()


@contextlib.asynccontextmanager
async def running(*devices: PushDeviceSimulator) -> AsyncIterator[None]:
    """Simulators run on their own threads; they are stopped off the event loop, which serves their
    last requests while they finish."""
    for device in devices:
        device.start()
    try:
        yield
    finally:
        await asyncio.gather(*(asyncio.to_thread(device.stop) for device in devices))


async def eventually(condition: Callable[[], bool], what: str, timeout_s: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s} s")
        await asyncio.sleep(0.02)


def queued(queue: PunchQueue) -> list[tuple[str, str, str, int]]:
    with sqlite3.connect(queue.path) as db:
        return db.execute("SELECT device, pin, time, state FROM punches ORDER BY seq").fetchall()


def yesterday(hour: int, minute: int, second: int = 0) -> datetime:
    day = datetime.now(WITA).date() - timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, minute, second)


async def command(handler: CommandHandler, action: CommandAction, **args: object) -> CommandResult:
    return await handler.handle(Command(f"cmd-{action.value}", action, args).to_json())


async def test_a_push_device_registers_uploads_in_batches_and_each_punch_is_queued_once(tmp_path):
    config = push_config(tmp_path)
    async with push_gateway(config) as (frontend, queue, url):
        device = PushDeviceSimulator(url, "SPD-0001", batch_size=100, **FAST)
        for i in range(250):
            device.add_punch(str(i % 7 + 1), yesterday(7, 0) + timedelta(seconds=i), status=i % 2, verify=15)
        async with running(device):
            await eventually(lambda: device.position == 250 and device.stats.polls > 0, "log acknowledged, polled")
        assert device.stats.registrations == 1 and device.stats.uploads_ok == 3
        rows = queued(queue)
        assert len(rows) == 250 and {r[0] for r in rows} == {"SPD-0001"}
        assert rows[0][1:] == ("1", f"{yesterday(7, 0).isoformat()}+08:00", 0)  # device wall time in the office zone
        assert frontend.store.stamp("SPD-0001", "ATTLOG") == 250
        hall = frontend.devices[0]
        assert hall.health.reachable and hall.health.serial == "SPD-0001" and hall.health.record_count == 250

        # The device reboots: registration hands back its position, so only the punch since then travels.
        rebooted = PushDeviceSimulator(url, "SPD-0001", batch_size=100, **FAST)
        for record in device.records:
            rebooted.add_punch(record.pin, record.local_time, record.status, record.verify)
        rebooted.add_punch("3", yesterday(16, 30), status=1)
        async with running(rebooted):
            await eventually(lambda: rebooted.position == 251, "the new punch acknowledged")
        assert rebooted.stats.records_acknowledged == 1
        assert len(queued(queue)) == 251

        # A device that sends its whole log again (firmware does, after a reset) adds nothing twice.
        async with aiohttp.ClientSession() as http:
            body = protocol.format_attlog(device.records)
            params = {"SN": "SPD-0001", "table": "ATTLOG"}
            async with http.post(f"{url}/iclock/cdata", params=params, data=body) as reply:
                assert (reply.status, await reply.text()) == (200, "OK: 250")
            # PUSH 2.x firmware was documented with a bare OK, and gets one.
            params = {"SN": "OLD-0001", "table": "ATTLOG", "Stamp": "1"}
            async with http.post(f"{url}/iclock/cdata", params=params, data=body.splitlines()[0]) as reply:
                assert (reply.status, await reply.text()) == (200, "OK")
        assert len(queued(queue)) == 252


async def test_an_unknown_serial_is_refused_and_counted(tmp_path):
    async with push_gateway(push_config(tmp_path)) as (frontend, queue, url):
        stranger = PushDeviceSimulator(url, "NOT-OURS-9", **FAST)
        stranger.add_punch("1", yesterday(8, 0))
        async with running(stranger):
            await eventually(lambda: stranger.stats.refused >= 2, "refused twice")
        assert stranger.position == 0 and stranger.stats.registrations == 0
        assert "HTTP 403" in (stranger.stats.last_error or "")
        assert queued(queue) == []
        assert frontend.server.counters.refused_by_serial["NOT-OURS-9"] >= 2
        assert frontend.store.refused()["NOT-OURS-9"] >= 2  # persisted across restarts
        empty = Telemetry("gw-push", "test", 1.0, 0, 0, None, 0, ())
        report = Telemetry.from_json(frontend.with_refused(empty).to_json())
        [entry] = report.devices
        assert (entry.serial, entry.reachable) == ("NOT-OURS-9", False)
        assert "not in this gateway's config" in (entry.last_error or "")


async def test_unreadable_lines_are_quarantined_with_the_raw_bytes_and_the_good_lines_kept(tmp_path):
    async with push_gateway(push_config(tmp_path)) as (frontend, queue, url):
        body = (
            f"5\t{yesterday(7, 1):%Y-%m-%d %H:%M:%S}\t0\t1\t0\n"
            "6\t2026-02-30 07:02:00\t0\t1\t0\n"  # no such day
            "\xff\xfe garbage from a confused board\n"
            f"8\t{yesterday(7, 3):%Y-%m-%d %H:%M:%S}\t0\t1\t0\n"
            "9\t2000-01-01 00:00:05\t0\t1\t0\n"  # the clock restarted: held back, never queued
        ).encode("latin-1")
        async with aiohttp.ClientSession() as http:
            params = {"SN": "SPD-0001", "table": "ATTLOG", "Stamp": "9"}
            async with http.post(f"{url}/iclock/cdata", params=params, data=body) as reply:
                assert (reply.status, await reply.text()) == (200, "OK: 3")  # resending would never help
        assert [r[1] for r in queued(queue)] == ["5", "8"]
        quarantined = frontend.store.quarantined()
        assert quarantined[0].raw == body and quarantined[0].serial == "SPD-0001"
        assert "line 2: time" in quarantined[0].reason and "line 3: expected at least PIN" in quarantined[0].reason
        assert quarantined[1].raw.startswith(b"9\t2000-01-01") and "clock restarted" in quarantined[1].reason
        counters = frontend.server.counters
        assert (counters.quarantined_bodies, counters.malformed_lines, counters.held_punches) == (1, 2, 1)
        health = frontend.devices[0].health
        assert (health.quarantined, health.held_punches, health.mode) == (2, 1, "push")


async def test_bad_requests_get_a_4xx_with_a_reason_never_a_500(tmp_path):
    async with push_gateway(push_config(tmp_path, max_body_bytes=2048)) as (frontend, queue, url):
        async with aiohttp.ClientSession() as http:
            cases = [
                ("GET", "/iclock/cdata", {}, None, 400, "missing SN"),
                ("POST", "/iclock/cdata", {"SN": "SPD-0001", "table": "ATTLOG"}, b"1\t" * 2000, 413, "at most 2048"),
                ("POST", "/iclock/cdata", {"SN": "SPD-0001", "table": "NONSENSE"}, b"x", 200, "OK"),  # acked, counted
                ("GET", "/iclock/nowhere", {"SN": "SPD-0001"}, None, 404, ""),
            ]
            for method, path, params, data, status, reason in cases:
                async with http.request(method, url + path, params=params, data=data) as reply:
                    assert reply.status == status, (path, await reply.text())
                    assert reason in await reply.text()

            # Chunked, so no Content-Length to refuse it by: the body limit still holds while reading.
            async def chunks():
                for _ in range(10):
                    yield b"1\t2026-11-24 07:00:00\t0\t1\n" * 20

            params = {"SN": "SPD-0001", "table": "ATTLOG"}
            async with http.post(f"{url}/iclock/cdata", params=params, data=chunks()) as reply:
                assert reply.status == 413
        assert frontend.server.counters.oversized_bodies == 2
        assert queued(queue) == []


async def test_commands_reach_push_devices_through_the_command_channel(tmp_path):
    config = push_config(tmp_path)
    async with push_gateway(config) as (frontend, queue, url):
        handler = CommandHandler(lambda: frontend.devices, _no_reload)  # type: ignore[arg-type,return-value]
        # The gateway believes it already has this device's first five punches (a stale position): only a
        # re-upload of the range brings them.
        frontend.store.save_stamp("SPD-0001", "ATTLOG", 5)
        hall = PushDeviceSimulator(url, "SPD-0001", clock_offset=timedelta(hours=-1, seconds=-7), zone=WITA, **FAST)
        annex = PushDeviceSimulator(url, "OLD-0001", legacy=True, **FAST)
        for minute in range(8):
            hall.add_punch("21", yesterday(7, minute))
        async with running(hall, annex):
            await eventually(lambda: hall.position == 8 and annex.stats.polls > 0, "both devices polling")
            assert len(queued(queue)) == 3

            clock = await command(handler, CommandAction.SYNC_CLOCK, device="hall")
            assert clock.ok, clock.detail
            assert abs(hall.clock_offset.total_seconds()) <= 2  # set to the gateway's WITA wall clock

            user = await command(handler, CommandAction.WRITE_USER, pin="42", name="Siti Aminah", card=7)
            assert user.ok, user.results
            assert hall.users["42"].name == annex.users["42"].name == "Siti Aminah"
            assert [c[1].split(" PIN=")[0] for c in hall.stats.commands[-1:]] == ["DATA UPDATE USERINFO"]
            assert [c[1].split(" PIN=")[0] for c in annex.stats.commands[-1:]] == ["DATA USER"]  # its older firmware
            await eventually(lambda: frontend.devices[0].traffic.operlog.get("USER") == 1, "the user in OPERLOG")

            day = yesterday(0, 0).date().isoformat()
            reread = await command(handler, CommandAction.REREAD_DEVICE, device="hall", start=day, end=day)
            assert reread.ok, reread.results
            assert reread.results["hall"]["new_punches"] == 5
            assert len(queued(queue)) == 8
            assert hall.stats.commands[-1][1] == f"DATA QUERY ATTLOG StartTime={day} 00:00:00\tEndTime={day} 23:59:59"

            bad_range = await command(handler, CommandAction.REREAD_DEVICE, device="hall", start="yesterday")
            assert not bad_range.ok and "args.start" in bad_range.detail


async def test_a_command_the_firmware_does_not_know_or_a_silent_device_fails_clearly(tmp_path):
    config = push_config(tmp_path, command_timeout_s=0.5)
    async with push_gateway(config) as (frontend, _, url):
        handler = CommandHandler(lambda: frontend.devices, _no_reload)  # type: ignore[arg-type,return-value]
        # A legacy board set up with the current model's profile: it refuses DATA UPDATE USERINFO.
        misprofiled = PushDeviceSimulator(url, "SPD-0001", legacy=True, **FAST)
        async with running(misprofiled):
            await eventually(lambda: misprofiled.stats.polls > 0, "polling")
            result = await command(handler, CommandAction.WRITE_USER, device="hall", pin="1", name="Budi")
        assert not result.ok and "return code -1002" in result.results["hall"]["error"]
        # The annex device never calls: the command is withdrawn, not left to run late.
        silent = await command(handler, CommandAction.SYNC_CLOCK, device="annex")
        assert not silent.ok and "did not poll for command" in silent.results["annex"]["error"]
        assert frontend.devices[1].take_commands() == []


async def _no_reload() -> str:
    return "not reloaded"


async def test_the_gateway_service_serves_push_devices_and_commands_them(tmp_path):
    config = push_config(tmp_path)
    gateway = Gateway(config)
    await gateway.start()
    try:
        assert gateway.push is not None
        url = f"http://127.0.0.1:{gateway.push.server.port}"
        hall = PushDeviceSimulator(url, "SPD-0001", zone=WITA, **FAST)
        hall.add_punch("5", yesterday(7, 30))
        async with running(hall):
            await eventually(lambda: hall.position == 1 and hall.stats.polls > 0, "uploaded and polling")
            result = await command(gateway.commands, CommandAction.WRITE_USER, device="hall", pin="9", name="Rina")
            assert result.ok, result.results
            assert hall.users["9"].name == "Rina"
        assert gateway.queue.stats().queued == 1
        devices = {d.name: d for d in gateway.telemetry().devices}
        assert devices["hall"].serial == "SPD-0001" and devices["hall"].reachable
        assert devices["annex"].reachable is False  # configured, never called
    finally:
        await gateway.stop()


async def test_kinerja_simulate_push_runs_the_simulator_against_a_gateway(tmp_path):
    async with push_gateway(push_config(tmp_path)) as (frontend, queue, url):
        process = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).with_name("kinerja")),
            *("simulate", "push", "--server", url, "--serial", "SPD-0001", "--punches", "12", "--users", "3"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            await eventually(lambda: len(queued(queue)) == 12, "the simulator's log queued", timeout_s=20)
        finally:
            process.send_signal(signal.SIGINT)
            output, _ = await asyncio.wait_for(process.communicate(), 10)
        assert process.returncode == 130
        assert b"push simulator SPD-0001 calling" in output and b"12 of 12 punches acknowledged" in output
        assert frontend.devices[0].traffic.uploads == 1


async def test_reload_config_serves_a_push_device_added_to_the_config(tmp_path):
    path = tmp_path / "gateway.toml"
    base = (
        f'gateway_id = "gw-push"\nunit = "unit-push"\ntimezone = "WITA"\nstate_dir = "{tmp_path / "state"}"\n'
        '[mqtt]\nurl = "mqtt://127.0.0.1:1"\n[push]\nhost = "127.0.0.1"\nport = 0\n'
        '[[devices]]\nname = "hall"\nprofile = "zkteco-speedface-push"\nserial_number = "SPD-0001"\n'
    )
    path.write_text(base)
    gateway = Gateway(load_gateway_config(path))
    await gateway.start()
    try:
        assert gateway.push is not None
        url = f"http://127.0.0.1:{gateway.push.server.port}"
        newcomer = PushDeviceSimulator(url, "SPD-0002", zone=WITA, **FAST)
        newcomer.add_punch("4", yesterday(8, 15))
        async with running(newcomer):
            await eventually(lambda: newcomer.stats.refused > 0, "refused while unknown")
            path.write_text(
                base + '[[devices]]\nname = "side"\nprofile = "zkteco-speedface-push"\nserial_number = "SPD-0002"\n'
            )
            assert "added ['side']" in await gateway.reload_config()
            await eventually(lambda: newcomer.position == 1, "served once configured")
        assert gateway.queue.stats().queued == 1
    finally:
        await gateway.stop()


async def test_an_upload_that_cannot_be_committed_is_not_answered_ok_and_comes_again(tmp_path):
    config = push_config(tmp_path)
    async with push_gateway(config) as (frontend, queue, url):
        hall = frontend.devices[0]
        broken = PunchQueue(tmp_path / "broken.sqlite3")
        broken.close()  # every commit into it fails, as a full disk would make it
        hall.queue = broken
        device = PushDeviceSimulator(url, "SPD-0001", zone=WITA, **FAST)
        for minute in range(5):
            device.add_punch("11", yesterday(9, minute))
        async with running(device):
            await eventually(lambda: device.stats.uploads_failed >= 2, "uploads refused while the queue is broken")
            assert device.position == 0 and "HTTP 503" in (device.stats.last_error or "")
            assert frontend.store.stamp("SPD-0001", "ATTLOG") is None  # the stamp never runs ahead of the commit
            hall.queue = queue  # the disk has room again
            await eventually(lambda: device.position == 5, "the same lines sent again and stored")
        assert len(queued(queue)) == 5


async def test_the_aspx_names_and_ping_that_some_firmware_uses_are_served(tmp_path):
    async with push_gateway(push_config(tmp_path)) as (frontend, _, url):
        async with aiohttp.ClientSession() as http:
            params = {"SN": "OLD-0001", "options": "all", "pushver": "2.0.1"}
            async with http.get(f"{url}/iclock/cdata.aspx", params=params) as reply:
                text = await reply.text()
                assert reply.status == 200 and text.startswith("GET OPTION FROM: OLD-0001\r\nStamp=None\r\n")
                assert reply.headers["Content-Type"].startswith("text/plain") and "Date" in reply.headers
            async with http.get(f"{url}/iclock/getrequest.aspx", params={"SN": "OLD-0001"}) as reply:
                assert (reply.status, await reply.text()) == (200, "OK")
            async with http.get(f"{url}/iclock/ping", params={"SN": "OLD-0001"}) as reply:
                assert (reply.status, await reply.text()) == (200, "OK")
        assert frontend.devices[1].health.reachable
