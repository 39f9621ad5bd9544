"""User sync: the plan that makes a device hold the centre's list, and the `sync_users` command carried
out by the real gateway on ZK simulators through the unmodified pyzk, asked and answered over Mosquitto."""

from __future__ import annotations

import base64

import pytest

from gateway.devices.base import DeviceTemplate, DeviceUser
from gateway.profiles import load_profile
from gateway.simulators.zk import ZKSimulator
from gateway.user_sync import DesiredUser, SyncError, parse_sync_args, plan_sync
from tests.gateway_centre import office_clock_offset, running_gateway, write_config
from wire.contract import CommandAction
from wire.mqtt import MqttSettings

GENERIC = load_profile("zkteco-generic-tcp").biometrics
FINGER_10 = GENERIC.fingerprint.key  # type: ignore[union-attr]
FACE = load_profile("zkteco-speedface-push").biometrics.face.key  # type: ignore[union-attr]


def template(pin: str, index: int, data: bytes, key: str = FINGER_10, modality: str = "fingerprint"):
    return DeviceTemplate(pin, modality, index, data, key)


def test_the_plan_adds_updates_and_deletes_users_to_match_the_list() -> None:
    on_device = [DeviceUser("1", "Ani"), DeviceUser("2", "Budi"), DeviceUser("3", "Cici")]
    desired = [DesiredUser("1", "Ani"), DesiredUser("2", "Budi Santoso"), DesiredUser("4", "Dedi", card=9)]

    plan = plan_sync(desired, on_device, [], GENERIC)

    assert plan.add_users == (DeviceUser("4", "Dedi", 9),)
    assert plan.update_users == (DeviceUser("2", "Budi Santoso"),)
    assert plan.delete_users == ("3",)
    assert plan_sync(desired, on_device, [], GENERIC, complete=False).delete_users == ()  # a page deletes nothing
    assert plan_sync(desired[:1], [DeviceUser("1", "Ani")], [], GENERIC).in_sync


def test_templates_the_centre_does_not_mention_are_left_and_an_empty_list_deletes_them() -> None:
    held = [template("1", 0, b"a" * 40), template("1", 1, b"b" * 40)]
    users = [DeviceUser("1", "Ani")]

    untouched = plan_sync([DesiredUser("1", "Ani")], users, held, GENERIC)
    erased = plan_sync([DesiredUser("1", "Ani", templates=())], users, held, GENERIC)
    changed = plan_sync(
        [DesiredUser("1", "Ani", templates=(template("1", 0, b"a" * 40), template("1", 2, b"c" * 40)))],
        users,
        held,
        GENERIC,
    )

    assert untouched.in_sync
    assert erased.delete_templates == (("1", "fingerprint", 0), ("1", "fingerprint", 1))
    assert [(u.pin, [t.index for t in ts]) for u, ts in changed.write_templates] == [("1", [2])]  # 0 is there already
    assert changed.delete_templates == (("1", "fingerprint", 1),)


def test_templates_of_another_format_or_sensor_are_listed_for_enrolment_on_site_not_written() -> None:
    legacy = load_profile("zkteco-legacy-udp").biometrics  # ZKFinger 9.0, no face
    wanted = (template("1", 0, b"a" * 40), template("1", 0, b"f" * 40, FACE, "face"))

    plan = plan_sync([DesiredUser("1", "Ani", templates=wanted)], [], [], legacy)

    assert plan.write_templates == ()
    assert plan.incompatible == (("1", "fingerprint", 0), ("1", "face", 0))
    assert plan.summary()["enrol_on_site"] == [
        {"pin": "1", "modality": "fingerprint", "index": 0},
        {"pin": "1", "modality": "face", "index": 0},
    ]
    assert b"a" * 40 not in repr(plan.summary()).encode()


def test_a_list_larger_than_the_device_holds_is_refused_in_indonesian_first() -> None:
    wl20 = load_profile("zkteco-wl20").biometrics
    with pytest.raises(SyncError, match=r"^1001 pengguna tidak muat: perangkat ini menampung paling banyak 1000"):
        plan_sync([DesiredUser(str(n), "") for n in range(1001)], [], [], wl20)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({}, "args.users"),
        ({"users": [{"pin": "12a"}]}, "args.users[0].pin: PIN harus angka"),
        ({"users": [{"pin": "1"}, {"pin": "1"}]}, "args.users[1].pin: PIN 1 muncul dua kali"),
        ({"users": [{"pin": "1", "templates": [{"modality": "iris"}]}]}, "templates[0].modality"),
        (
            {"users": [{"pin": "1", "templates": [{"modality": "face", "index": 0, "format": "x", "data": "!!"}]}]},
            "templates[0].data: templat base64",
        ),
        ({"users": [], "complete": "yes"}, "args.complete"),
    ],
)
def test_bad_sync_args_name_the_item(args: dict, message: str) -> None:
    with pytest.raises(SyncError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_sync_args(args)


def _wire(templates: dict[int, bytes], key: str = FINGER_10) -> list[dict[str, object]]:
    return [
        {"modality": "fingerprint", "index": finger, "format": key, "data": base64.b64encode(data).decode()}
        for finger, data in templates.items()
    ]


async def test_sync_users_through_the_gateway_makes_each_device_hold_the_area(tmp_path, mosquitto: MqttSettings):
    with (
        ZKSimulator(serial="SYNC-A", clock_offset=office_clock_offset()) as enrolled_on,
        ZKSimulator(serial="SYNC-B", clock_offset=office_clock_offset(), user_size=28, record_size=16) as other,
        ZKSimulator(serial="SYNC-C", clock_offset=office_clock_offset(), fp_version=9) as old,
    ):
        enrolled_on.add_user("1001", "Ani")
        fingers = {finger: enrolled_on.enrol_finger("1001", finger).data for finger in (0, 6)}
        other.add_user("999", "Mantan Pegawai")  # transferred out: must go
        other.enrol_finger("999", 0)
        config = write_config(
            tmp_path / "gateway.toml", mosquitto, [("a", enrolled_on.port), ("b", other.port), ("c", old.port)],
            poll_interval_s=30,
        )  # fmt: skip
        config.write_text(config.read_text().replace('name = "c"\n', 'name = "c"\nprofile = "zkteco-legacy-udp"\n'))
        # A name longer than a 28-byte user record keeps (8 bytes): stored cut, and not an update every time.
        long_name = "Budi Santoso Wibowo"
        users = [{"pin": "1001", "name": "Ani", "templates": _wire(fingers)}, {"pin": "1002", "name": long_name}]
        async with running_gateway(config) as (_gateway, centre):
            planned = await centre.command(CommandAction.SYNC_USERS, users=users, dry_run=True)
            assert planned.ok and planned.results["b"]["users_deleted"] == 1 and other.fingerprints_of("999")

            synced = await centre.command(CommandAction.SYNC_USERS, users=users)
            again = await centre.command(CommandAction.SYNC_USERS, users=users)
            erased = await centre.command(
                CommandAction.SYNC_USERS, device="b", users=[{"pin": "1001", "templates": []}]
            )

    assert synced.ok, synced
    assert synced.results["b"] | {"ok": True} == {
        "ok": True, "in_sync": False, "dry_run": False, "users_added": 2, "users_updated": 0, "users_deleted": 1,
        "templates_written": 2, "templates_deleted": 0, "enrol_on_site": [], "enrol_on_site_count": 0,
    }  # fmt: skip
    assert synced.results["a"]["users_added"] == 1 and synced.results["a"]["templates_written"] == 0
    assert synced.results["c"]["enrol_on_site"] == [
        {"pin": "1001", "modality": "fingerprint", "index": 0},
        {"pin": "1001", "modality": "fingerprint", "index": 6},
    ]
    assert {name: r["in_sync"] for name, r in again.results.items()} == dict.fromkeys("abc", True)  # nothing to do
    assert erased.ok and erased.results["b"]["templates_deleted"] == 2 and erased.results["b"]["users_deleted"] == 1
    assert old.fingerprints == [] and sorted(u.pin for u in old.users) == ["1001", "1002"]
    assert [u.pin for u in other.users] == ["1001"] and other.fingerprints_of("1001") == {}
    assert {u.pin: u.name for u in old.users}["1002"] == long_name  # 72-byte users: 24 bytes of name
    assert b"".join(fingers.values())[:64].hex() not in repr(synced)
