"""The registry through the JSON API on both stacks: the unit tree, employees by NIP, PIN mapping that
names earlier punches, the all-or-nothing CSV import, gateway status and commands."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from server.models import Employee, Punch
from tests.conftest import Stack, unique_slug
from tests.helpers import HandGateway, running_server
from wire.contract import (
    Command,
    CommandAction,
    CommandResult,
    DeviceTelemetry,
    GatewayStatus,
    Telemetry,
    TopicKind,
    topic_for,
)
from wire.mqtt import IncomingMessage

BUDI = "198503122010011001"
SITI = "199001052015032002"
AGUS = "198711232012121003"


async def post(api, path, body, status):
    response = await api.post(path, json=body)
    payload = await response.json()
    assert response.status == status, (path, body, payload)
    return payload


async def make_tree(api, ministry: str) -> dict[str, str]:
    codes = {
        "ministry": ministry,
        "dg": f"{ministry}-dg",
        "directorate": f"{ministry}-dir",
        "upt": f"{ministry}-upt",
    }
    await post(api, "/api/v1/units", {"code": ministry, "name": "Kementerian", "kind": "ministry"}, 201)
    await post(api, "/api/v1/units", {"code": codes["dg"], "name": "Ditjen", "kind": "directorate_general",
                                      "parent": ministry}, 201)  # fmt: skip
    await post(api, "/api/v1/units", {"code": codes["directorate"], "name": "Direktorat", "kind": "directorate",
                                      "parent": codes["dg"]}, 201)  # fmt: skip
    await post(api, "/api/v1/units", {"code": codes["upt"], "name": "Balai", "kind": "upt",
                                      "parent": codes["directorate"]}, 201)  # fmt: skip
    return codes


async def test_unit_tree_and_offices_refuse_what_does_not_fit(stack: Stack):
    async with running_server(stack.db_url, stack.mqtt, units=(unique_slug("unit"),), session_expiry_s=60) as api:
        codes = await make_tree(api, unique_slug("kem"))
        under = await (await api.get("/api/v1/units", params={"under": codes["dg"]})).json()
        assert [u["code"] for u in under["items"]] == sorted([codes["dg"], codes["directorate"], codes["upt"]])
        refused = [
            ({"code": "x-1", "name": "A", "kind": "ministry", "parent": codes["ministry"]}, 409, "no parent"),
            ({"code": "x-2", "name": "A", "kind": "directorate_general", "parent": codes["upt"]}, 409, "cannot sit"),
            ({"code": "x-3", "name": "A", "kind": "upt"}, 409, "needs a parent"),
            ({"code": "x-4", "name": "A", "kind": "upt", "parent": "nowhere"}, 404, "no unit"),
            ({"code": "X Y", "name": "A", "kind": "upt", "parent": codes["dg"]}, 400, "lower-case"),
            ({"code": "x-5", "name": "A", "kind": "bureau", "parent": codes["dg"]}, 400, "kind"),
            ({"code": codes["dg"], "name": "A", "kind": "upt", "parent": codes["dg"]}, 409, "exists"),
            # A field the model does not name is refused by name, before anything else wrong with the body.
            ({"code": "x-6", "name": "A", "kind": "upt", "parent": codes["dg"], "colour": "red"}, 400, "body.colour"),
            ({"code": "X Y", "name": "A", "kind": "upt", "colour": "red"}, 400, "body.colour: bidang tidak dikenal"),
        ]
        for body, status, reason in refused:
            payload = await post(api, "/api/v1/units", body, status)
            assert reason in payload["reason"], (body, payload)
        office = {"code": unique_slug("off"), "name": "Balai Makassar", "unit": codes["upt"], "zone": "WITA"}
        await post(api, "/api/v1/offices", office, 201)
        assert "zone" in (await post(api, "/api/v1/offices", {**office, "code": "o-2", "zone": "CET"}, 400))["reason"]
        for raw in (b"not json", b"[1, 2]", b"{" * 100_000):
            response = await api.post("/api/v1/offices", data=raw, headers={"Content-Type": "application/json"})
            assert response.status == 400 and (await response.json())["reason"]
        unit = await (await api.get(f"/api/v1/units/{codes['upt']}")).json()
        assert unit["offices"] == [office["code"]] and unit["parent"] == codes["directorate"]
        assert (await api.get("/api/v1/units/nowhere")).status == 404


async def test_a_pin_mapped_later_names_the_punches_that_came_before(stack: Stack):
    gateway = HandGateway(stack.mqtt, unique_slug("unit"), unique_slug("gw"))
    async with running_server(stack.db_url, stack.mqtt, units=(gateway.unit,), session_expiry_s=60) as api:
        await gateway.start()
        try:
            await gateway.publish_raw(gateway.batch([("7", 0), ("7", 500), ("8", 3)]).to_json())
            await gateway.wait_acks(1)
            await wait_stored(gateway.unit, 3)
        finally:
            await gateway.close()
        assert await Punch.filter(unit_code=gateway.unit, employee_nip__isnull=True).count() == 3
        await post(api, "/api/v1/units", {"code": gateway.unit, "name": "Kementerian", "kind": "ministry"}, 201)
        bad_nip = {"nip": "198502302010011001", "name": "B", "unit": gateway.unit}
        bad = await post(api, "/api/v1/employees", bad_nip, 400)
        assert "birth date" in bad["reason"]
        created = await post(api, "/api/v1/employees", {"nip": BUDI, "name": "Budi", "unit": gateway.unit}, 201)
        assert (created["birth_date"], created["appointment_month"], created["sex"]) == ("1985-03-12", "2010-01", 1)
        mapped = await post(api, f"/api/v1/units/{gateway.unit}/pins", {"pin": "7", "nip": BUDI}, 201)
        assert mapped["punches_resolved"] == 2
        assert set(await Punch.filter(unit_code=gateway.unit).values_list("pin", "employee_nip")) == {
            ("7", BUDI), ("8", None),
        }  # fmt: skip
        await post(api, "/api/v1/employees", {"nip": SITI, "name": "Siti", "unit": gateway.unit}, 201)
        taken = await post(api, f"/api/v1/units/{gateway.unit}/pins", {"pin": "7", "nip": SITI}, 409)
        assert "belongs to" in taken["reason"]


async def test_csv_import_reports_every_bad_row_and_imports_nothing_until_all_are_good(stack: Stack):
    async with running_server(stack.db_url, stack.mqtt, units=(unique_slug("unit"),), session_expiry_s=60) as api:
        codes = await make_tree(api, unique_slug("kem"))
        upt = codes["upt"]
        bad = (
            "nip,name,unit,position,supervisor_nip,pin\n"
            f"{BUDI},Budi Santoso,{upt},Kepala Balai,,1\n"
            f"{SITI},Siti,{upt},Analis,{AGUS},2\n"  # supervisor on a later line: fine
            f"19850312201001100,Short Nip,{upt},,,3\n"
            f"{AGUS},Agus,nowhere,,,4\n"
            f"{BUDI},Budi again,{upt},,,1\n"
            f"199204182019022001,Dewi,{upt},,999999999999999999,5\n"
        )
        response = await api.post("/api/v1/employees/import", data=bad.encode(), headers={"Content-Type": "text/csv"})
        report = await response.json()
        assert response.status == 409 and report["reason"] == "nothing was imported"
        by_row = {error["row"]: " ".join(error["errors"]) for error in report["errors"]}
        assert set(by_row) == {4, 5, 6, 7}
        assert "18 digits" in by_row[4] and "no unit" in by_row[5]
        assert "also on line 2" in by_row[6] and "supervisor_nip" in by_row[7]
        assert await Employee.filter(unit_id=upt).count() == 0
        good = (
            "nip,name,unit,position,supervisor_nip,pin\n"
            f"{BUDI},Budi Santoso,{upt},Kepala Balai,,1\n"
            f"{SITI},Siti,{upt},Analis,{AGUS},2\n"
            f"{AGUS},Agus,{upt},Kepala Seksi,{BUDI},3\n"
        )
        response = await api.post("/api/v1/employees/import", data=good.encode())
        report = await response.json()
        assert response.status == 200, report
        assert (report["created"], report["updated"], report["pins_mapped"]) == (3, 0, 3)
        siti = await (await api.get(f"/api/v1/employees/{SITI}")).json()
        assert siti["supervisor"] == AGUS and siti["pins"] == [{"unit": upt, "pin": "2"}] and siti["sex"] == 2
        again = await (await api.post("/api/v1/employees/import", data=good.encode())).json()
        assert (again["created"], again["updated"], again["pins_mapped"]) == (0, 3, 0)
        header_only = await api.post("/api/v1/employees/import", data=b"name,unit\n")
        assert header_only.status == 400 and "missing" in (await header_only.json())["reason"]


async def test_gateway_status_from_birth_will_and_telemetry_and_commands_from_the_api(stack: Stack):
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
            status_topic = topic_for(gateway.unit, gateway.gateway_id, TopicKind.STATUS)
            await gateway.client.publish_confirmed(
                status_topic, GatewayStatus(gateway.gateway_id, "online", "1.2.3").to_json(), retain=True
            )
            device = DeviceTelemetry(
                "lobby",
                "SER-1",
                True,
                datetime.now(UTC),
                None,
                -42.5,
                1200,
                100_000,
                None,
                held_punches=3,
                quarantined=2,
            )
            telemetry = Telemetry(gateway.gateway_id, "1.2.3", 60.0, 17, 1, 4.0, 0, (device,))
            await gateway.client.publish_confirmed(
                topic_for(gateway.unit, gateway.gateway_id, TopicKind.TELEMETRY), telemetry.to_json()
            )
            body = await wait_for(api, f"/api/v1/gateways/{gateway.gateway_id}", lambda b: b.get("devices"))
            assert body["online"] is True and body["registered"] is False
            assert body["backlog"]["queued_punches"] == 17
            (seen,) = body["devices"]
            assert seen["clock_drift_s"] == -42.5 and seen["capacity"] == {"records": 1200, "max_records": 100_000}
            assert (seen["held_punches"], seen["quarantined"]) == (3, 2)  # what the gateway keeps back is visible

            await post(api, "/api/v1/units", {"code": gateway.unit, "name": "K", "kind": "ministry"}, 201)
            registration = {"gateway_id": gateway.gateway_id, "unit": gateway.unit}
            registered = await post(api, "/api/v1/gateways", registration, 201)
            assert registered["registered"] is True
            sent = await post(api, f"/api/v1/gateways/{gateway.gateway_id}/commands", {"action": "sync_clock"}, 202)
            await post(api, f"/api/v1/gateways/{gateway.gateway_id}/commands", {"action": "format_disk"}, 400)
            await post(api, "/api/v1/employees", {"nip": BUDI, "name": "Budi Santoso", "unit": gateway.unit}, 201)
            await post(api, f"/api/v1/units/{gateway.unit}/enrol", {"nip": BUDI}, 404)  # no PIN yet
            await post(api, f"/api/v1/units/{gateway.unit}/pins", {"pin": "41", "nip": BUDI}, 201)
            await post(api, f"/api/v1/units/{gateway.unit}/enrol", {"nip": BUDI}, 202)
            for _ in range(100):
                if len(commands) == 2:
                    break
                await asyncio.sleep(0.05)
            assert [c.action for c in commands] == [CommandAction.SYNC_CLOCK, CommandAction.WRITE_USER]
            assert commands[0].command_id == sent["command_id"]
            assert commands[1].args == {"pin": "41", "name": "Budi Santoso"}
            result = CommandResult(sent["command_id"], True, "clock set", {"lobby": "ok"})
            await gateway.client.publish_confirmed(
                topic_for(gateway.unit, gateway.gateway_id, TopicKind.COMMAND_RESULTS), result.to_json()
            )
            listing = await wait_for(
                api, f"/api/v1/gateways/{gateway.gateway_id}/commands",
                lambda b: any(c["status"] == "ok" for c in b["items"]),
            )  # fmt: skip
            done = next(c for c in listing["items"] if c["command_id"] == sent["command_id"])
            assert done["detail"] == "clock set" and done["results"] == {"lobby": "ok"}

            await gateway.client.publish_confirmed(
                status_topic, GatewayStatus(gateway.gateway_id, "offline", "1.2.3").to_json(), retain=True
            )
            await wait_for(api, f"/api/v1/gateways/{gateway.gateway_id}", lambda b: b["online"] is False)
            await gateway.client.publish_confirmed(status_topic, b"", retain=True)  # clear the retained status
        finally:
            await gateway.close()


async def wait_for(api, path, ready, timeout_s: float = 10):
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        response = await api.get(path)
        body = await response.json() if response.status == 200 else {}
        if body and ready(body):
            return body
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{path} did not become ready: {body}")
        await asyncio.sleep(0.1)


async def wait_stored(unit: str, count: int, timeout_s: float = 10) -> None:
    """An ack may come from another test's server on the shared broker; the database is the proof."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while await Punch.filter(unit_code=unit).count() < count:
        assert asyncio.get_running_loop().time() < deadline, f"fewer than {count} punches of {unit} stored"
        await asyncio.sleep(0.05)
