"""Configuration from the centre (issue 20), with real parts: the real server (its consumer on a private
Mosquitto) sends a revision through PUT /api/v1/gateways/{id}/config to a real `kinerja gateway run` process
polling ZK simulators while people punch. The gateway applies it without losing a punch (a device added,
one changed, relay and telemetry settings), says so, and keeps it across a restart; a broken revision sent
by the centre and hostile ones published straight on its command topic are refused with their reasons,
and the gateway goes on with the revision it had. An old gateway's answer is recorded as a rejection."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from aiohttp.test_utils import TestClient

from kinerja.processes import GatewayProcess, gateway_toml
from server.gateway_config_models import GatewayConfigRevision
from server.models import Gateway as GatewayRecord
from server.models import GatewayCommand, Office, Punch, Unit
from server.services.gateway_enrolment import EnrolmentSettings
from server.status import record_command_result
from tests.conftest import unique_slug
from tests.edge_broker import private_mosquitto
from tests.gateway_centre import Centre, office_clock_offset
from tests.test_gateway_enrol import centre
from wire.contract import CommandAction, CommandResult, ConfigOutcome, ConfigStatus, TopicKind, address_for


class Feeder:
    """People punching on a simulator, one every `every_s`, each with a PIN of their own."""

    def __init__(self, device: object, prefix: str, every_s: float = 0.05) -> None:
        self.device, self.prefix, self.every_s = device, prefix, every_s
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.device.add_punch(f"{self.prefix}{self.count}")  # type: ignore[attr-defined]
            self.count += 1
            time.sleep(self.every_s)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(5)
        return self.count


async def wait_for(condition, timeout_s: float, what: str, gateway: GatewayProcess) -> None:
    deadline = time.monotonic() + timeout_s
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not within {timeout_s} s\n{gateway.log()[-4000:]}")
        await asyncio.sleep(0.2)


async def config_state(client: TestClient, gateway_id: str) -> dict:
    response = await client.get(f"/api/v1/gateways/{gateway_id}/config")
    assert response.status == 200, await response.text()
    return await response.json()


async def revision_answered(client: TestClient, gateway_id: str, revision: int) -> dict | None:
    state = await config_state(client, gateway_id)
    row = next(r for r in state["revisions"] if r["revision"] == revision)
    return row if row["status"] != "sent" else None


def device(name: str, port: int, **extra: object) -> dict:
    return {"name": name, "host": "127.0.0.1", "port": port, "timeout_s": 3, "poll_interval_s": 0.3, **extra}


async def test_a_config_from_the_centre_is_applied_kept_and_a_broken_or_hostile_one_refused(db_url, tmp_path: Path):
    from gateway.simulators.zk import ZKSimulator

    unit, gateway_id = unique_slug("unit"), unique_slug("gw")
    offset = office_clock_offset()
    with (
        private_mosquitto(tmp_path / "broker") as broker,
        ZKSimulator(serial=unique_slug("DOOR").upper(), clock_offset=offset) as door,
        ZKSimulator(serial=unique_slug("ANNEX").upper(), clock_offset=offset) as annex,
    ):
        async with centre(db_url, broker.settings, EnrolmentSettings(), units=(unit,)) as client:
            await Unit.create(code=unit, name="Kantor uji", kind="ministry")
            await Office.create(code=unique_slug("office"), name="Kantor", unit_id=unit, zone="WITA")
            config = tmp_path / "gateway.toml"
            config.write_text(
                gateway_toml(
                    gateway_id=gateway_id, unit=unit, state_dir=tmp_path / "state", mqtt=broker.settings,
                    devices=[("door", door.port)], telemetry_interval_s=0.5,
                )
            )  # fmt: skip
            gateway = GatewayProcess(config, tmp_path / "gateway.log")
            gateway.start()
            hostile = Centre(broker.settings, unit, gateway_id)  # a compromised or broken centre, on the topic
            await hostile.start()
            feeders: list[Feeder] = []
            try:
                await wait_for(
                    lambda: GatewayRecord.exists(gateway_id=gateway_id, online=True), 20, "the gateway online", gateway
                )
                feeders.append(Feeder(door, "1"))

                # Revision 1: the door polled faster, an annex device added, relay and telemetry settings.
                sent = await client.put(
                    f"/api/v1/gateways/{gateway_id}/config",
                    json={
                        "devices": [device("door", door.port, poll_interval_s=0.2), device("annex", annex.port)],
                        "relay": {"batch_size": 20, "max_in_flight": 2, "resend_after_s": 1, "max_backoff_s": 2},
                        "telemetry": {"interval_s": 0.5},
                    },
                )
                assert sent.status == 202, await sent.text()
                assert (await sent.json())["revision"] == 1
                feeders.append(Feeder(annex, "2"))
                await wait_for(lambda: revision_answered(client, gateway_id, 1), 20, "revision 1 answered", gateway)
                first = await revision_answered(client, gateway_id, 1)
                assert first is not None and first["status"] == "applied", first
                await wait_for(
                    lambda: _running_is(client, gateway_id, 1), 20, "telemetry saying revision 1 runs", gateway
                )

                # Revision 2, from the centre's API: a model the gateway has no profile for. Refused, named.
                broken = await client.put(
                    f"/api/v1/gateways/{gateway_id}/config",
                    json={"devices": [device("door", door.port), device("annex", annex.port, profile="zkteco-x9")]},
                )
                assert broken.status == 202, await broken.text()
                await wait_for(lambda: revision_answered(client, gateway_id, 2), 20, "revision 2 answered", gateway)
                second = await revision_answered(client, gateway_id, 2)
                assert second is not None and second["status"] == "rejected", second
                assert "zkteco-x9" in second["reason"]

                # Hostile ones on the command topic itself: each refused with its reason, nothing changed.
                hostile_configs = {
                    "a file for a serial port": [
                        {
                            "name": "door",
                            "profile": "giga-tms-tr320",
                            "serial_path": "/etc/shadow",
                            "serial_number": "X1",
                        },
                    ],
                    "a host that is no host": [device("door", door.port, host="127.0.0.1; reboot")],
                    "nested tables": [{"name": "door", "host": {"nested": ["x"]}}],
                    "unknown keys": [device("door", door.port, exec_after="rm -rf /")],
                    "no devices": [],
                }
                for why, devices in hostile_configs.items():
                    answer = await hostile.command(
                        CommandAction.APPLY_CONFIG, version=1, revision=50, devices=devices, relay={}
                    )
                    outcome = ConfigOutcome.from_results(answer.results)
                    assert not answer.ok and outcome is not None, (why, answer)
                    assert outcome.status is ConfigStatus.REJECTED and outcome.running == 1, (why, outcome)
                    assert "ditolak" in answer.detail, (why, answer.detail)
                stale = await hostile.command(CommandAction.APPLY_CONFIG, version=1, revision=1, devices=[])
                assert not stale.ok  # malformed first; and an older revision is refused:
                older = await hostile.command(
                    CommandAction.APPLY_CONFIG, version=1, revision=0, devices=[device("door", door.port)]
                )
                assert not older.ok
                assert await _running_is(client, gateway_id, 1)

                # A restart comes back on revision 1 (the annex is not in the file): kept in the state directory.
                assert gateway.stop() == 0
                gateway.start()
                await wait_for(
                    lambda: _running_is_fresh(client, gateway_id, 1), 30, "revision 1 after a restart", gateway
                )
                before = await Punch.filter(unit_code=unit, device_serial=annex.serial).count()
                await wait_for(
                    lambda: _more_punches(unit, annex.serial, before), 20, "annex punches after the restart", gateway
                )
            finally:
                added = sum(feeder.stop() for feeder in feeders)
                await hostile.close()
            # Not a punch lost through every change: all of them stored, each once.
            try:
                await wait_for(lambda: _stored_is(unit, added), 60, f"{added} punches stored", gateway)
            finally:
                gateway.stop()
            rows = await Punch.filter(unit_code=unit).values_list("device_serial", "pin", "punched_at", "state")
            pins = [row[1] for row in rows]
            twice = sorted(row for row in rows if pins.count(row[1]) > 1)
            assert len(pins) == len(set(pins)) == added, twice
            assert "Traceback" not in gateway.log()


async def _running_is(client: TestClient, gateway_id: str, revision: int) -> bool:
    return (await config_state(client, gateway_id))["running_revision"] == revision


async def _running_is_fresh(client: TestClient, gateway_id: str, revision: int) -> bool:
    from server.gateway_config_models import GatewayConfigRunning

    row = await GatewayConfigRunning.get_or_none(gateway_id=gateway_id)
    recent = row is not None and (datetime.now(UTC) - row.reported_at).total_seconds() < 2
    return recent and await _running_is(client, gateway_id, revision)


async def _more_punches(unit: str, serial: str, before: int) -> bool:
    return await Punch.filter(unit_code=unit, device_serial=serial).count() > before


async def _stored_is(unit: str, count: int) -> bool:
    return await Punch.filter(unit_code=unit).count() >= count


async def test_an_old_gateways_answer_is_a_rejection_naming_its_version(db_url, mosquitto):
    """A gateway from before configuration from the centre answers "malformed command": it keeps running as it
    was, and the centre records the revision as refused, saying which version refused it."""
    async with centre(db_url, mosquitto, EnrolmentSettings()) as client:
        unit, gateway_id = unique_slug("unit"), unique_slug("gw")
        await GatewayRecord.create(gateway_id=gateway_id, unit_code=unit, version="0.0.9", registered=True)
        # Never as a bare command: a configuration is a numbered revision, or the centre loses track of it.
        bare = await client.post(
            f"/api/v1/gateways/{gateway_id}/commands",
            json={"action": "apply_config", "args": {}},
        )
        assert bare.status == 400 and "PUT /api/v1/gateways" in (await bare.json())["reason"]
        command = await GatewayCommand.create(
            command_id="c" + gateway_id[-20:].replace("-", ""), gateway_id=gateway_id, unit_code=unit,
            action=CommandAction.APPLY_CONFIG.value, args={},
        )  # fmt: skip
        await GatewayConfigRevision.create(
            gateway_id=gateway_id, unit_code=unit, revision=1, document={}, created_by="t",
            created_at=datetime.now(UTC), command_id=command.command_id,
        )  # fmt: skip
        old_answer = CommandResult(command.command_id, False, "malformed command: action: expected one of [...]")
        assert await record_command_result(address_for(unit, gateway_id, TopicKind.COMMAND_RESULTS), old_answer)
        row = await GatewayConfigRevision.get(gateway_id=gateway_id, revision=1)
        assert row.status == "rejected" and "0.0.9" in (row.reason or "") and row.answered_at is not None
