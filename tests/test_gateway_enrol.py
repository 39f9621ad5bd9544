"""Enrol once with a code, end to end with real parts: a unit administrator registers a gateway on the real
server (SQLite and PostgreSQL) and gets a one-time code; the real `kinerja gateway enrol` writes the
gateway's config and secret into a directory; a gateway started from that config logs in to a private
Mosquitto with the dynamic-security plugin under the login the centre created for it, and a punch from its
device is stored. The same code is refused a second time and after expiry, two concurrent uses give one
identity, wrong codes are audited and then rate-limited, and an existing enrolment is not overwritten."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import io
import os
import pwd
import shutil
import socket
import stat
import subprocess
import time
import tomllib
from collections.abc import AsyncIterator
from contextlib import redirect_stderr, redirect_stdout
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as paho
import pytest
from aiohttp.test_utils import TestClient, TestServer
from paho.mqtt.enums import CallbackAPIVersion

from gateway.config import load_gateway_config
from gateway.service import Gateway
from gateway.simulators.zk import ZKSimulator
from kinerja.cli import main as kinerja
from server.app import CONSUMER, configure_enrolment, create_app
from server.broker_identity import BrokerIdentities, DynsecBroker
from server.gateway_enrolment_models import GatewayEnrolment
from server.models import Gateway as GatewayRecord
from server.models import Office, Punch, Unit
from server.payroll_models import AuditEntry
from server.services.gateway_enrolment import EnrolmentSettings, mosquitto_passwd_line
from server.settings import ServerSettings
from tests.conftest import unique_slug
from tests.helpers import admin_token
from tests.test_broker_identity import dynsec  # noqa: F401  (the fixture: a private Mosquitto with dynsec)
from wire.embedded import free_port
from wire.mqtt import MqttSettings
from wire.zones import office_zone


@contextlib.asynccontextmanager
async def centre(
    db_url: str, mqtt: MqttSettings, enrolment: EnrolmentSettings, **settings: object
) -> AsyncIterator[TestClient]:
    """The real app on a real port, acting as a bureau administrator, with the enrolment settings given."""
    server_settings = ServerSettings(
        db_url=db_url,
        mqtt=mqtt,
        session_expiry_s=60,
        new_devices="accept",
        **settings,  # type: ignore[arg-type]
    )
    consume = "units" in settings
    client = TestClient(
        TestServer(create_app(server_settings, consume=consume, setup_hooks=[configure_enrolment(enrolment)]))
    )
    await client.start_server()
    try:
        client.session.headers["Authorization"] = f"Bearer {await admin_token()}"
        if consume:
            await client.app[CONSUMER].mqtt.wait_connected(10)
            await asyncio.sleep(0.3)
        yield client
    finally:
        await client.close()


async def make_unit(zone: str = "WITA") -> str:
    unit = unique_slug("unit")
    await Unit.create(code=unit, name="Kantor uji", kind="ministry")
    await Office.create(code=unique_slug("office"), name="Kantor", unit_id=unit, zone=zone)
    return unit


async def issue(client: TestClient, unit: str, gateway_id: str, port: int = 4370) -> dict:
    devices = [
        {
            "name": "entrance",
            "profile": "zkteco-generic-tcp",
            "host": "127.0.0.1",
            "port": port,
            "timeout_s": 5,
            "poll_interval_s": 0.5,
        }
    ]
    response = await client.post(
        "/api/v1/gateway-enrolments", json={"gateway_id": gateway_id, "unit": unit, "devices": devices}
    )
    assert response.status == 201, await response.text()
    return await response.json()


async def run_cli(*argv: str) -> tuple[int, str, str]:
    """The real command, in a thread: it speaks HTTP to the server running on this loop."""
    out, err = io.StringIO(), io.StringIO()

    def call() -> int:
        with redirect_stdout(out), redirect_stderr(err):
            return kinerja(list(argv))

    code = await asyncio.to_thread(call)
    return code, out.getvalue(), err.getvalue()


def base_url(client: TestClient) -> str:
    return str(client.make_url("")).rstrip("/")


async def test_enrol_with_a_code_then_the_gateway_stores_a_punch_through_dynsec(db_url, dynsec: DynsecBroker, tmp_path):  # noqa: F811
    async with BrokerIdentities(dynsec.admin) as broker:
        replica_login = await broker.create_replica_identity(unique_slug("replica"))
    gateway_id = unique_slug("gw")
    enrolment = EnrolmentSettings(
        broker_admin=dynsec.admin, gateway_broker_url=f"mqtt://127.0.0.1:{dynsec.port}?protocol=5"
    )
    # The unit is created before the server consumes it: the server needs its name only for its topics.
    unit = unique_slug("unit")
    yesterday = datetime.now(office_zone("WITA")).date() - timedelta(days=1)
    with ZKSimulator(serial=unique_slug("ENROL").upper()) as device:
        device.add_punch("7", datetime(yesterday.year, yesterday.month, yesterday.day, 7, 31), state=0, verify=1)
        async with centre(
            db_url,
            dynsec.settings(replica_login),
            enrolment,
            replica_id=replica_login.username,
            share_group="kinerja-server",
            units=(unit,),
        ) as client:
            await Unit.create(code=unit, name="Kantor uji", kind="ministry")
            await Office.create(code=unique_slug("office"), name="Kantor", unit_id=unit, zone="WITA")
            issued = await issue(client, unit, gateway_id, device.port)
            assert len(issued["code"]) == 24 and issued["qr_svg"].lstrip().startswith("<svg")
            assert issued["command"].endswith(issued["code"])
            assert await GatewayEnrolment.filter(code_hash__contains=issued["code"]).count() == 0  # digest only

            config_path = tmp_path / "etc" / "gateway.toml"
            rc, out, err = await run_cli(
                "gateway", "enrol", base_url(client), issued["code"].lower(),  # as typed: case does not matter
                "--config", str(config_path), "--state-dir", str(tmp_path / "state"), "--no-start",
            )  # fmt: skip
            assert rc == 0, err
            assert f"Gateway {gateway_id}" in out and "Langkah berikutnya" in out
            secret = config_path.with_name("gateway.mqtt-password")
            assert stat.S_IMODE(secret.stat().st_mode) == 0o600
            assert stat.S_IMODE(config_path.stat().st_mode) == 0o644
            assert secret.read_text().strip() not in config_path.read_text()  # the secret stays in its file
            written = tomllib.loads(config_path.read_text())
            assert (written["gateway_id"], written["unit"], written["timezone"]) == (gateway_id, unit, "WITA")

            # The code is spent: the same again is refused, audited, and the enrolment is not overwritten.
            response = await client.post("/api/v1/enrol", json={"code": issued["code"]})
            assert response.status == 403 and "sudah dipakai" in (await response.json())["reason"]
            rc, _, err = await run_cli(
                "gateway", "enrol", base_url(client), issued["code"], "--config", str(config_path)
            )
            assert rc == 1 and "--force" in err

            record = await (await client.get(f"/api/v1/gateways/{gateway_id}/enrolment")).json()
            assert (record["state"], record["broker_login"], record["passwd_line"]) == ("enrolled", "dynsec", None)
            actions = [a.action for a in await AuditEntry.filter(target=gateway_id).order_by("id")]
            assert actions == ["gateway.enrolment_code", "gateway.enrolled", "gateway.enrol_refused"]

            # The broker knows the login the centre made: bound to its client id, with its own role.
            async with BrokerIdentities(dynsec.admin) as broker:
                login = await broker.client(gateway_id)
            assert login is not None and login["clientid"] == gateway_id

            gateway = Gateway(load_gateway_config(config_path))
            await gateway.start()
            try:
                deadline = time.monotonic() + 20
                while await Punch.filter(unit_code=unit).count() < 1 and time.monotonic() < deadline:
                    await asyncio.sleep(0.1)
                assert await Punch.filter(unit_code=unit).count() == 1
                while gateway.queue.stats().queued and time.monotonic() < deadline:  # and its ack came back
                    await asyncio.sleep(0.1)
                assert gateway.queue.stats().queued == 0
                status = await GatewayRecord.get(gateway_id=gateway_id)
                assert status.online and status.registered
            finally:
                await gateway.stop()
    assert f"Denied PUBLISH from {gateway_id}" not in dynsec.log_path.read_text()


async def test_two_concurrent_uses_of_one_code_give_one_identity(db_url, mosquitto, tmp_path):
    async with centre(db_url, mosquitto, EnrolmentSettings()) as client:
        unit = await make_unit()
        issued = await issue(client, unit, unique_slug("gw"))
        responses = await asyncio.gather(
            *(client.post("/api/v1/enrol", json={"code": issued["code"]}) for _ in range(6))
        )
        statuses = sorted(r.status for r in responses)
        assert statuses == [200, 403, 403, 403, 403, 403]
        (winner,) = [r for r in responses if r.status == 200]
        identity = await winner.json()
        # No dynsec plugin configured: the static fallback, with the broker's password-file line kept.
        assert (
            identity["mqtt"]["login"] == "static"
            and identity["mqtt"]["url"] == f"mqtt://{mosquitto.host}:{mosquitto.port}?protocol=5"
        )
        record = await (await client.get(f"/api/v1/gateways/{identity['gateway_id']}/enrolment")).json()
        assert record["passwd_line"].startswith(f"{identity['gateway_id']}:$7$101$")
        assert identity["mqtt"]["password"] not in record["passwd_line"]


async def test_an_expired_code_is_refused_and_audited(db_url, mosquitto, tmp_path):
    async with centre(db_url, mosquitto, EnrolmentSettings(ttl=timedelta(hours=1))) as client:
        unit = await make_unit()
        gateway_id = unique_slug("gw")
        issued = await issue(client, unit, gateway_id)
        assert datetime.fromisoformat(issued["expires_at"]) - datetime.now(UTC) <= timedelta(hours=1)
        await GatewayEnrolment.filter(gateway_id=gateway_id).update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        rc, _, err = await run_cli(
            "gateway",
            "enrol",
            base_url(client),
            issued["code"],
            "--config",
            str(tmp_path / "gateway.toml"),
            "--no-start",
        )
        assert rc == 1 and "kedaluwarsa" in err
        assert not (tmp_path / "gateway.toml").exists() and not (tmp_path / "gateway.mqtt-password").exists()
        refused = await AuditEntry.get(target=gateway_id, action="gateway.enrol_refused")
        assert refused.detail["why"] == "expired"
        # A new code for the gateway replaces the old one, which stays refused.
        again = await issue(client, unit, gateway_id)
        assert (await client.post("/api/v1/enrol", json={"code": again["code"]})).status == 200


async def test_wrong_codes_are_audited_then_rate_limited(db_url, mosquitto):
    enrolment = EnrolmentSettings(failures_allowed=5, failure_window_s=60)
    async with centre(db_url, mosquitto, enrolment) as client:
        unit = await make_unit()
        issued = await issue(client, unit, unique_slug("gw"))
        before = await AuditEntry.filter(action="gateway.enrol_refused").count()
        for attempt in range(5):
            response = await client.post("/api/v1/enrol", json={"code": "AAAA-BBBB-CCCC-DDDD-EEE" + str(attempt)})
            assert response.status == 403, await response.text()
        limited = await client.post("/api/v1/enrol", json={"code": issued["code"]})  # even the right one, for now
        assert limited.status == 429 and int(limited.headers["Retry-After"]) > 0
        assert "terlalu banyak" in (await limited.json())["reason"]
        await client.post("/api/v1/enrol", json={"code": "x"})
        assert await AuditEntry.filter(action="gateway.enrol_refused").count() == before + 5
        assert await AuditEntry.filter(action="gateway.enrol_rate_limited").count() == 1  # once, not per request
        malformed = await client.post("/api/v1/enrol", json={"cod": "x"})
        assert malformed.status in (400, 429)


async def test_registration_is_refused_with_reasons(db_url, mosquitto):
    async with centre(db_url, mosquitto, EnrolmentSettings()) as client:
        unit = await make_unit()
        cases = [
            ({"gateway_id": "gw-x", "unit": unit, "devices": []}, 400),
            ({"gateway_id": "gw-x", "unit": unit, "devices": [{"name": "a", "colour": "red"}]}, 400),
            ({"gateway_id": "GW X", "unit": unit, "devices": [{"name": "a"}]}, 400),
            ({"gateway_id": "gw-x", "unit": "no-such-unit", "devices": [{"name": "a"}]}, 404),
        ]
        for body, status in cases:
            response = await client.post("/api/v1/gateway-enrolments", json=body)
            assert response.status == status, (body, await response.text())
            assert (await response.json())["reason"]
        other = await make_unit()
        await issue(client, unit, "gw-taken-" + unit[-8:])
        response = await client.post(
            "/api/v1/gateway-enrolments",
            json={"gateway_id": "gw-taken-" + unit[-8:], "unit": other, "devices": [{"name": "a"}]},
        )
        assert response.status == 409


def test_the_static_fallback_line_is_mosquittos_own_format():
    line = mosquitto_passwd_line("gw-a", "secret")
    user, _, hashed = line.partition(":")
    assert user == "gw-a" and hashed.startswith("$7$101$") and len(hashed.split("$")) == 5


async def test_the_page_issues_a_code_with_its_qr(db_url, mosquitto, tmp_path):
    async with centre(db_url, mosquitto, EnrolmentSettings(public_url="https://kinerja.example.go.id")) as client:
        unit = await make_unit()
        page = await client.get("/gateways/enrol")
        assert page.status == 200 and "Daftarkan gateway" in await page.text()
        # Through the API token here (the page's CSRF check applies to browser sessions).
        response = await client.post(
            "/gateways/enrol",
            data={
                "gateway_id": unique_slug("gw"),
                "unit": unit,
                "devices": "lobby zkteco-generic-tcp 192.168.1.201 4370",
            },
        )
        text = await response.text()
        assert response.status == 201, text
        assert "<svg" in text and "sudo kinerja gateway enrol https://kinerja.example.go.id " in text
        wrong = await client.post(
            "/gateways/enrol", data={"gateway_id": "gw-x", "unit": "no-such-unit", "devices": "a"}
        )
        assert wrong.status == 404 and "tidak ada unit" in await wrong.text()
        assert 'value="gw-x"' in await wrong.text()  # what was typed stays in the form


async def test_a_broker_that_does_not_answer_is_a_503_and_the_code_still_works(db_url, mosquitto, tmp_path):
    dead = MqttSettings(port=free_port(), username="kinerja-broker-admin", password="x" * 20)
    enrolment = EnrolmentSettings(broker_admin=dead, broker_timeout_s=1)
    async with centre(db_url, mosquitto, enrolment) as client:
        unit = await make_unit()
        issued = await issue(client, unit, unique_slug("gw"))
        response = await client.post("/api/v1/enrol", json={"code": issued["code"]})
        assert response.status == 503 and "kode masih berlaku" in (await response.json())["reason"]
        assert response.headers["Retry-After"] == "30"
        assert await GatewayEnrolment.filter(used_at__isnull=False).count() == 0  # the claim was undone
    async with centre(db_url, mosquitto, EnrolmentSettings()) as client:  # a broker that answers (static here)
        assert (await client.post("/api/v1/enrol", json={"code": issued["code"]})).status == 200


async def test_as_root_the_secret_belongs_to_the_service_user(db_url, mosquitto, tmp_path, monkeypatch):
    if os.geteuid() != 0:
        pytest.skip("only root can give a file away")
    monkeypatch.setattr("gateway.enrol.SERVICE_USER", "nobody")  # the package's user does not exist here
    async with centre(db_url, mosquitto, EnrolmentSettings()) as client:
        unit = await make_unit()
        issued = await issue(client, unit, unique_slug("gw"))
        config_path = tmp_path / "etc" / "gateway.toml"
        state = tmp_path / "state"
        rc, out, err = await run_cli(
            "gateway", "enrol", base_url(client), issued["code"], "--config", str(config_path),
            "--state-dir", str(state), "--no-start",
        )  # fmt: skip
        assert rc == 0, err
        assert "berkas sandi broker" in out  # the static fallback says what the centre still has to do
    secret = config_path.with_name("gateway.mqtt-password").stat()
    nobody = pwd.getpwnam("nobody")
    assert (secret.st_uid, stat.S_IMODE(secret.st_mode)) == (nobody.pw_uid, 0o600)
    assert (state.stat().st_uid, stat.S_IMODE(state.stat().st_mode)) == (nobody.pw_uid, 0o700)
    assert config_path.stat().st_uid == 0  # the config carries no secret and stays root's


def test_the_static_fallback_line_logs_in_on_a_real_mosquitto(tmp_path):
    """The line the centre keeps for a broker without the plugin is one Mosquitto's password_file takes."""
    if shutil.which("mosquitto") is None:
        pytest.skip("mosquitto is not installed")
    password = "the-gateways-own-password"
    (tmp_path / "passwd").write_text(mosquitto_passwd_line("gw-static", password) + "\n")
    port = free_port()
    (tmp_path / "mosquitto.conf").write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {tmp_path / 'passwd'}\n"
        f"persistence false\nuser {getpass.getuser()}\n"
    )
    process = subprocess.Popen(["mosquitto", "-c", str(tmp_path / "mosquitto.conf")], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            assert time.monotonic() < deadline, "mosquitto did not start"
            time.sleep(0.05)

        def connack(secret: str) -> bool:
            client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="gw-static")
            client.username_pw_set("gw-static", secret)
            try:
                client.connect("127.0.0.1", port)
                result: list[bool] = []
                client.on_connect = lambda c, u, f, reason, p: result.append(not reason.is_failure)
                deadline = time.monotonic() + 5
                while not result and time.monotonic() < deadline:
                    client.loop(0.1)
                return result == [True]
            finally:
                client.disconnect()

        assert connack(password)
        assert not connack("wrong")
    finally:
        process.terminate()
        process.wait(5)


async def test_a_unit_administrator_issues_codes_for_their_own_units_only(db_url, mosquitto):
    from server.services.accounts import create_user, issue_api_token

    async with centre(db_url, mosquitto, EnrolmentSettings()) as client:
        own, other = await make_unit(), await make_unit()
        user = await create_user(unique_slug("admin"), "a-long-password", "unit_admin", unit_code=own)
        headers = {"Authorization": f"Bearer {await issue_api_token(user, 'tests')}"}
        devices = [{"name": "lobby", "host": "192.168.1.201"}]
        mine = await client.post(
            "/api/v1/gateway-enrolments",
            json={"gateway_id": unique_slug("gw"), "unit": own, "devices": devices},
            headers=headers,
        )
        assert mine.status == 201, await mine.text()
        theirs = await client.post(
            "/api/v1/gateway-enrolments",
            json={"gateway_id": unique_slug("gw"), "unit": other, "devices": devices},
            headers=headers,
        )
        assert theirs.status == 404 and "cakupan" in (await theirs.json())["reason"]
        entry = await AuditEntry.get(action="gateway.enrolment_code", unit_code=own)
        assert (entry.username, entry.role) == (user.username, "unit_admin")
