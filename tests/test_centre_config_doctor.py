"""The doctor's checks before a configuration from the centre is accepted (issue 20), with real parts: the real
server (its consumer on a private Mosquitto) sends revisions through PUT /api/v1/gateways/{id}/config to a
real `kinerja gateway run` process polling a ZK simulator while people punch.

A device that answers and says the configuration is wrong refuses the revision with the doctor's own words and
hint (a comm key the device refuses; an address where something answers that is no ZK device), and the
gateway goes on polling with what it had. A device that is merely not there just now (nothing listening)
does not block: the revision is applied and its answer names the silent device."""

from __future__ import annotations

import socket
from pathlib import Path

from kinerja.processes import GatewayProcess, gateway_toml
from server.models import Gateway as GatewayRecord
from server.models import Office, Punch, Unit
from server.services.gateway_enrolment import EnrolmentSettings
from server.telemetry_models import GatewayTelemetrySample
from tests.conftest import unique_slug
from tests.edge_broker import private_mosquitto
from tests.gateway_centre import office_clock_offset
from tests.test_gateway_centre_config import Feeder, _running_is, device, revision_answered, wait_for
from tests.test_gateway_enrol import centre


def closed_port() -> int:
    """A port nothing listens on (bound, then let go)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_the_doctor_refuses_a_wrong_config_and_lets_a_silent_device_through(db_url, tmp_path: Path):
    from gateway.simulators.zk import ZKSimulator

    unit, gateway_id = unique_slug("unit"), unique_slug("gw")
    offset = office_clock_offset()
    with (
        private_mosquitto(tmp_path / "broker") as broker,
        ZKSimulator(serial=unique_slug("DOOR").upper(), clock_offset=offset) as door,
        ZKSimulator(serial=unique_slug("SAFE").upper(), clock_offset=offset, comm_key=4321) as keyed,
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
            feeder: Feeder | None = None
            try:
                await wait_for(
                    lambda: GatewayRecord.exists(gateway_id=gateway_id, online=True), 20, "the gateway online", gateway
                )
                feeder = Feeder(door, "1", every_s=0.1)
                the_door = device("door", door.port)

                async def send(*devices: dict) -> int:
                    body = {"devices": list(devices), "telemetry": {"interval_s": 0.5}}
                    sent = await client.put(f"/api/v1/gateways/{gateway_id}/config", json=body)
                    assert sent.status == 202, await sent.text()
                    revision = (await sent.json())["revision"]
                    await wait_for(
                        lambda: revision_answered(client, gateway_id, revision), 30, f"revision {revision}", gateway
                    )
                    return revision

                # The safe's comm key is not 1234: the device itself refuses it. Refused with the doctor's hint.
                wrong_key = await send(the_door, device("safe", keyed.port, comm_key=1234))
                answer = await revision_answered(client, gateway_id, wrong_key)
                assert answer is not None and answer["status"] == "rejected", answer
                assert "doctor" in answer["reason"] and "comm key" in answer["reason"], answer["reason"]

                # Something answers at the address, but it is the centre's web server, not a ZK device.
                web_port = client.server.port
                not_zk = await send(the_door, device("safe", web_port))
                answer = await revision_answered(client, gateway_id, not_zk)
                assert answer is not None and answer["status"] == "rejected", answer
                assert "not a ZK device" in answer["reason"], answer["reason"]
                # Still on the file's own configuration, still polling the door.
                assert await _running_is(client, gateway_id, None)
                before = await Punch.filter(unit_code=unit).count()
                await wait_for(lambda: _more(unit, before), 20, "punches after the refusals", gateway)

                # The right key, and a spare device switched off (nothing listens): applied, the spare named.
                silent_port = closed_port()
                good = await send(the_door, device("safe", keyed.port, comm_key=4321), device("spare", silent_port))
                answer = await revision_answered(client, gateway_id, good)
                assert answer is not None and answer["status"] == "applied", answer
                assert "spare" in (answer["reason"] or "") and "safe" not in (answer["reason"] or ""), answer
                await wait_for(lambda: _running_is(client, gateway_id, good), 20, "the good revision running", gateway)
                keyed.add_punch("777")
                await wait_for(lambda: Punch.exists(unit_code=unit, pin="777"), 20, "the safe's punch", gateway)
            finally:
                added = feeder.stop() if feeder else 0
            try:
                await wait_for(lambda: _at_least(unit, added + 1), 60, f"{added + 1} punches stored", gateway)
                await wait_for(lambda: _relayed(gateway_id, added + 1), 20, "the acks counted in telemetry", gateway)
            finally:
                gateway.stop()
            assert "Traceback" not in gateway.log()
            # Every report kept for the fleet: the punches the centre acknowledged counted, no TLS on this uplink.
            samples = await GatewayTelemetrySample.filter(gateway_id=gateway_id).order_by("received_at", "id")
            # Kept, not overwritten: one row per report (how many depends on the run's speed), the counter rising.
            relayed = [sample.relayed_punches for sample in samples]
            assert len(samples) >= 2 and relayed == sorted(relayed), relayed
            assert relayed[-1] == added + 1, (relayed, added)
            assert samples[-1].tls is False and samples[-1].tls_expires_at is None
            assert abs(samples[-1].clock_offset_s) < 5  # the same machine's clock, the network in between


async def _more(unit: str, before: int) -> bool:
    return await Punch.filter(unit_code=unit).count() > before


async def _at_least(unit: str, count: int) -> bool:
    return await Punch.filter(unit_code=unit).count() >= count


async def _relayed(gateway_id: str, count: int) -> bool:
    last = await GatewayTelemetrySample.filter(gateway_id=gateway_id).order_by("-received_at", "-id").first()
    return last is not None and last.relayed_punches >= count
