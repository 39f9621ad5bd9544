"""The gateway's ZK driver reads and writes users and fingerprint templates on the simulator, over real
sockets through the unmodified pyzk: a finger enrolled on one terminal is copied to another and found
there byte for byte; a terminal of another fingerprint algorithm is refused the copy."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import pytest

from gateway.devices.base import DeviceError, DeviceUser
from gateway.devices.zk import ZKDriver
from gateway.profiles import load_profile
from gateway.simulators.zk import ZKSimulator
from gateway.simulators.zk_families import FAMILIES

ZKFINGER_10 = load_profile("zkteco-generic-tcp").biometrics.fingerprint.key  # type: ignore[union-attr]
ZKFINGER_9 = load_profile("zkteco-legacy-udp").biometrics.fingerprint.key  # type: ignore[union-attr]


@pytest.fixture
def devices() -> Iterator[Callable[..., tuple[ZKSimulator, ZKDriver]]]:
    opened: list[tuple[ZKSimulator, ZKDriver]] = []

    def make(simulator: ZKSimulator | None = None, transport: str = "tcp", fmt: str = ZKFINGER_10):
        simulator = (simulator or ZKSimulator()).start()
        driver = ZKDriver("127.0.0.1", simulator.port, transport=transport, timeout_s=3.0, fingerprint_format=fmt)
        driver.connect()
        opened.append((simulator, driver))
        return simulator, driver

    yield make
    for simulator, driver in opened:
        driver.close()
        simulator.stop()


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_a_finger_enrolled_on_one_terminal_is_copied_to_another(devices, transport: str, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    a, driver_a = devices(transport=transport)
    b, driver_b = devices(ZKSimulator(user_size=28, record_size=16), transport)  # another user layout
    a.add_user("1001", "Ani")
    enrolled = {finger: a.enrol_finger("1001", finger).data for finger in (0, 5)}

    read = driver_a.read_templates()
    driver_b.write_templates(DeviceUser("1001", "Ani"), read)

    assert {(t.pin, t.modality, t.index, t.format_key) for t in read} == {
        ("1001", "fingerprint", 0, ZKFINGER_10),
        ("1001", "fingerprint", 5, ZKFINGER_10),
    }
    assert b.fingerprints_of("1001") == enrolled
    assert [(u.pin, u.name) for u in b.users] == [("1001", "Ani")]
    assert {(t.pin, t.index, t.data) for t in driver_b.read_templates()} == {
        ("1001", f, d) for f, d in enrolled.items()
    }
    shown = caplog.text + "".join(repr(t) for t in read)
    assert not any(data.hex()[:32] in shown or repr(data[:16])[2:-1] in shown for data in enrolled.values())


def test_deleting_a_user_or_one_finger_reaches_the_terminal(devices) -> None:
    simulator, driver = devices()
    simulator.add_user("1001", "Ani")
    simulator.add_user("1002", "Budi")
    for pin in ("1001", "1002"):
        simulator.enrol_finger(pin, 0)
        simulator.enrol_finger(pin, 1)

    assert driver.delete_template("1002", "fingerprint", 1) is True
    assert driver.delete_user("1001") is True
    assert driver.delete_user("1001") is False  # gone already

    assert [user.pin for user in simulator.users] == ["1002"]
    assert [(t.pin, t.index) for t in driver.read_templates()] == [("1002", 0)]


def test_a_terminal_of_another_fingerprint_algorithm_is_refused_the_copy(devices) -> None:
    a, driver_a = devices()
    old, driver_old = devices(ZKSimulator(fp_version=9), fmt=ZKFINGER_9)
    a.add_user("1001", "Ani")
    a.enrol_finger("1001", 0)

    with pytest.raises(DeviceError, match="cannot store fingerprint fingerprint:ZKFinger:10"):
        driver_old.write_templates(DeviceUser("1001", "Ani"), driver_a.read_templates())
    assert old.users == [] and old.fingerprints == []  # nothing half-written


def test_templates_are_read_from_firmware_that_reports_no_counts(devices) -> None:
    # WL20 answers CMD_GET_FREE_SIZES with one zero DWORD (pyzk #76): pyzk's get_templates() returns [].
    simulator, driver = devices(FAMILIES["wl20"].make())
    simulator.add_user("1001", "Ani")
    simulator.enrol_finger("1001", 2)
    assert [(t.pin, t.index) for t in driver.read_templates()] == [("1001", 2)]


def test_the_first_user_on_an_empty_terminal_is_written_in_its_own_record_size(devices) -> None:
    # pyzk learns the size from the user table; an empty one leaves its default, 28 bytes over UDP,
    # which cut this name to "Siti Ami" on a terminal of 72-byte users.
    simulator, driver = devices(transport="udp")
    driver.write_users([DeviceUser("19850312", "Siti Aminah binti Yusuf")])
    assert [(user.pin, user.name) for user in simulator.users] == [("19850312", "Siti Aminah binti Yusuf")]
