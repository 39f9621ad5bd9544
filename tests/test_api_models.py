"""The resources declared with pydantic models (server/api/endpoint.py) refuse what their models do not take:
a body field the model does not name, and a value of the wrong shape, are each a 400 whose reason names the
field — before the handler runs, so nothing is written."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from server.models import Device, Gateway, GatewayCommand
from server.services.accounts import Role
from tests.web_seed import World, web_world


@pytest.fixture
async def world(tmp_path) -> AsyncIterator[World]:
    async with web_world(f"sqlite://{tmp_path / 'server.sqlite3'}") as world:
        yield world


def admin(world: World) -> dict[str, str]:
    return world.auth(Role.BUREAU_ADMIN)


async def refused(world: World, method: str, path: str, body: object, reason: str) -> None:
    response = await world.client.request(method, path, json=body, headers=admin(world))
    answer = await response.json()
    assert (response.status, reason in answer.get("reason", "")) == (400, True), (method, path, body, answer)


async def test_devices_refuse_an_unknown_field_and_a_malformed_value(world: World):
    good = {"serial": "DEV-NEW", "office": "kantor-a"}
    await refused(world, "POST", "/api/v1/devices", {**good, "colour": "red"}, "body.colour: bidang tidak dikenal")
    await refused(world, "POST", "/api/v1/devices", {**good, "serial": " leading"}, "serial: expected 1-64 printable")
    await refused(world, "POST", "/api/v1/devices", {**good, "office": "Kantor A"}, "office")
    await refused(world, "POST", "/api/v1/devices", {**good, "name": "a\x01b"}, "name: control characters")
    await refused(world, "POST", "/api/v1/devices", {**good, "profile": 7}, "profile: expected text of at most 100")
    await refused(world, "GET", "/api/v1/devices?office=" + "x" * 64, None, "office")
    assert not await Device.exists(serial="DEV-NEW")
    # What fits is registered as before: text stripped, left-out text empty.
    office = {"code": "kantor-a", "name": "Kantor A", "unit": "dir-1", "zone": "WIB"}
    assert (await world.client.post("/api/v1/offices", json=office, headers=admin(world))).status == 201
    response = await world.client.post(
        "/api/v1/devices", json={**good, "name": " lobi ", "gateway": None}, headers=admin(world)
    )
    shown = await response.json()
    assert response.status == 201, shown
    assert (shown["serial"], shown["name"], shown["profile"], shown["office"]) == ("DEV-NEW", "lobi", "", "kantor-a")


async def test_pending_device_assignment_refuses_an_unknown_field_and_a_malformed_value(world: World):
    path = "/api/v1/units/dir-1/pending-devices/DEV-NEW/assign"
    await refused(world, "POST", path, {"gateway": "gw-dir1", "colour": "red"}, "body.colour: bidang tidak dikenal")
    await refused(world, "POST", path, {"gateway": "GW 1"}, "gateway")
    await refused(world, "POST", path, {"office": 5}, "office")
    await refused(world, "POST", "/api/v1/units/dir-1/pending-devices/%20DEV/assign", {}, "serial: expected 1-64")
    # Well formed, nothing pending: as before, a 404.
    response = await world.client.post(path, json={"gateway": None}, headers=admin(world))
    assert response.status == 404, await response.text()


async def test_gateways_refuse_an_unknown_field_and_a_malformed_value(world: World):
    good = {"gateway_id": "gw-new", "unit": "dir-1"}
    await refused(world, "POST", "/api/v1/gateways", {**good, "colour": "red"}, "body.colour: bidang tidak dikenal")
    await refused(world, "POST", "/api/v1/gateways", {**good, "gateway_id": "GW New"}, "gateway_id")
    await refused(world, "POST", "/api/v1/gateways", {**good, "unit": None}, "unit")
    assert not await Gateway.exists(gateway_id="gw-new")
    response = await world.client.post("/api/v1/gateways", json={**good, "office": None}, headers=admin(world))
    assert response.status == 201 and (await response.json())["registered"] is True


async def test_commands_refuse_an_unknown_argument_and_a_malformed_one(world: World):
    path = "/api/v1/gateways/gw-dir1/commands"
    await refused(world, "POST", path, {"action": "sync_clock", "colour": 1}, "body.colour: bidang tidak dikenal")
    await refused(world, "POST", path, {"action": "format_disk"}, "action")
    await refused(world, "POST", path, {"action": "write_user", "args": {"users": []}}, "body.args.users: bidang")
    await refused(world, "POST", path, {"action": "write_user", "args": {"pin": "4 1"}}, "args.pin")
    await refused(world, "POST", path, {"action": "write_user", "args": {"card": True}}, "args.card")
    await refused(world, "POST", path, {"action": "write_user", "args": {"name": "x" * 25}}, "args.name")
    await refused(world, "POST", path, {"action": "sync_clock", "args": []}, "args")
    assert not await GatewayCommand.exists(gateway_id="gw-dir1")


async def test_gateway_enrolments_refuse_an_unknown_field_and_a_malformed_value_in_the_services_words(world: World):
    path, good = "/api/v1/gateway-enrolments", {"gateway_id": "gw-new", "unit": "dir-1", "devices": [{"name": "a"}]}
    await refused(world, "POST", path, {**good, "colour": "red"}, "body.colour: bidang tidak dikenal")
    await refused(world, "POST", path, {**good, "gateway_id": "GW X"}, "gateway_id: kode tidak sah")
    await refused(world, "POST", path, {**good, "devices": [{"name": "a", "colour": 1}]}, "devices[0].colour: bidang")
    await refused(world, "POST", path, {**good, "devices": [{"name": "a", "port": 0}]}, "devices[0].port: bilangan")
    await refused(world, "POST", path, {**good, "devices": []}, "devices: daftar 1-64 perangkat")
    await refused(world, "POST", path, {**good, "office": None}, "office: tidak boleh null")
    await refused(world, "POST", path, {**good, "timezone": "UTC"}, "timezone: WIB, WITA atau WIT")
    assert not await Gateway.exists(gateway_id="gw-new")
    # Two devices of one name is the service's 409, as before (the document cannot say "unique by name").
    twice = {**good, "devices": [{"name": "a"}, {"name": "a"}]}
    response = await world.client.post(path, json=twice, headers=admin(world))
    assert response.status == 409, await response.text()


async def test_the_gateways_enrol_call_refuses_an_unknown_field_and_a_malformed_code(world: World):
    await refused(world, "POST", "/api/v1/enrol", {"code": "x", "colour": 1}, "body.colour: bidang tidak dikenal")
    await refused(world, "POST", "/api/v1/enrol", {"code": 12345}, "code: kode pendaftaran wajib diisi")
    await refused(world, "POST", "/api/v1/enrol", {"code": "x" * 65}, "code: kode pendaftaran wajib diisi")
    # Well formed but no code: the service's 403, without a login.
    response = await world.client.post("/api/v1/enrol", json={"code": "ABCD-EFGH-JKMN-PQRS-TVWX"})
    assert response.status == 403, await response.text()


async def test_areas_refuse_an_unknown_field_and_a_malformed_value(world: World):
    await refused(world, "POST", "/api/v1/units/dir-1/areas", {"code": "lobi", "name": "Lobi", "lantai": 1},
                  "body.lantai: bidang tidak dikenal")  # fmt: skip
    await refused(world, "POST", "/api/v1/units/dir-1/areas", {"code": "Lobi Utama", "name": "Lobi"}, "code")
    await refused(world, "POST", "/api/v1/units/dir-1/areas", {"code": "lobi", "name": " "}, "name")
    response = await world.client.post(
        "/api/v1/units/dir-1/areas", json={"code": "lobi", "name": " Lobi "}, headers=admin(world)
    )
    assert (response.status, await response.json()) == (201, {"code": "lobi", "name": "Lobi", "unit": "dir-1"})
    area = "/api/v1/units/dir-1/areas/lobi"
    await refused(world, "POST", f"{area}/devices", {"serial": "DEV-DIR1", "x": 1}, "body.x: bidang tidak dikenal")
    await refused(world, "POST", f"{area}/devices", {"serial": 42}, "serial: expected 1-64 printable")
    await refused(world, "POST", f"{area}/members", {"nip": "1", "pin": "7"}, "body.pin: bidang tidak dikenal")
    await refused(world, "POST", f"{area}/members", {"nip": 198503122010012001}, "nip: expected the employee's NIP")
    await refused(world, "DELETE", f"{area}/members/{'1' * 19}", None, "nip")
    # Well formed and unknown: a 404, as before.
    response = await world.client.post(f"{area}/members", json={"nip": "1" * 18}, headers=admin(world))
    assert response.status == 404, await response.text()
    # A device that fits joins; without the broker (this app does not consume) the sync is a 503 that says so.
    response = await world.client.post(f"{area}/devices", json={"serial": "DEV-DIR1"}, headers=admin(world))
    assert (response.status, (await response.json())["reason"]) == (503, "this server does not talk to the broker")
