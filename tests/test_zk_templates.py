"""Users and fingerprint templates on the ZK simulator, written and read by the unmodified pyzk over
real sockets: what pyzk (written against real terminals) can store and read back, the simulator holds
as firmware does."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator

import pytest
from zk import ZK
from zk.finger import Finger

from gateway.simulators.zk import ZKSimulator
from gateway.simulators.zk_templates import MAX_UPLOAD_BYTES, unpack_template_upload

LAYOUTS = [pytest.param({}, id="72-byte-users"), pytest.param({"user_size": 28, "record_size": 16}, id="28-byte-users")]
TRANSPORTS = ["tcp", "udp"]


@pytest.fixture
def device(make_simulator: Callable[..., ZKSimulator]) -> Callable[..., ZKSimulator]:
    return make_simulator


@pytest.fixture
def pyzk() -> Iterator[Callable[[ZKSimulator, str], ZK]]:
    clients: list[ZK] = []

    def connect(simulator: ZKSimulator, transport: str = "tcp") -> ZK:
        client = ZK("127.0.0.1", port=simulator.port, timeout=3, ommit_ping=True, force_udp=transport == "udp")
        client._ZK__sock.close()  # pyzk opens a socket here and replaces it in connect() without closing it
        clients.append(client)
        return client.connect()

    yield connect
    for client in clients:
        client._ZK__sock.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_finger_enrolled_at_the_terminal_is_read_by_pyzk_byte_for_byte(
    device: Callable[..., ZKSimulator], pyzk: Callable[[ZKSimulator, str], ZK], transport: str, layout: dict
) -> None:
    simulator = device(**layout)
    simulator.add_user("1001", "Ani")
    enrolled = simulator.enrol_finger("1001", 3)
    client = pyzk(simulator, transport)

    read = client.get_templates()
    one = client.get_user_template(enrolled.uid, 3)

    assert [(f.uid, f.fid, f.valid) for f in read] == [(enrolled.uid, 3, 1)]
    assert read[0].template == enrolled.data and 1024 <= len(enrolled.data) < 1600
    assert one.template == enrolled.data  # over UDP it is larger than one datagram
    assert client.get_user_template(enrolled.uid, 4) is None  # a finger not enrolled


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_pyzk_writes_a_user_with_templates_and_deleting_the_user_deletes_them(
    device: Callable[..., ZKSimulator], pyzk: Callable[[ZKSimulator, str], ZK], transport: str, layout: dict
) -> None:
    simulator = device(**layout)
    simulator.add_user("1001", "Ani")
    simulator.enrol_finger("1001", 0)
    client = pyzk(simulator, transport)
    client.set_user(uid=2, name="Budi", user_id="1002", card=4242)
    budi = next(user for user in client.get_users() if user.user_id == "1002")

    client.save_user_template(budi, [Finger(2, 0, 1, b"\x01" * 1500), Finger(2, 6, 1, b"\x02" * 1200)])

    assert simulator.fingerprints_of("1002") == {0: b"\x01" * 1500, 6: b"\x02" * 1200}
    assert client.read_sizes() and client.fingers == 3
    assert sorted((f.uid, f.fid) for f in client.get_templates()) == [(1, 0), (2, 0), (2, 6)]

    client.delete_user(uid=1)

    assert [user.pin for user in simulator.users] == ["1002"]
    assert simulator.fingerprints_of("1001") == {}
    assert sorted((f.uid, f.fid) for f in client.get_templates()) == [(2, 0), (2, 6)]
    assert client.delete_user_template(uid=2, temp_id=6) is True
    assert simulator.fingerprints_of("1002") == {0: b"\x01" * 1500}


def test_an_upload_that_does_not_add_up_is_refused_and_stores_nothing(
    device: Callable[..., ZKSimulator], pyzk: Callable[[ZKSimulator, str], ZK]
) -> None:
    simulator = device()
    client = pyzk(simulator)
    send = client._ZK__send_command

    client._send_with_buffer(struct.pack("<III", 73, 8, 5000) + b"\x02" + b"\x00" * 80)  # lengths lie
    assert send(110, struct.pack("<IHH", 12, 0, 8))["status"] is False
    assert send(1500, struct.pack("<I", MAX_UPLOAD_BYTES + 1))["status"] is False  # no room kept for it
    assert send(110, struct.pack("<IHH", 12, 0, 8))["status"] is False  # nothing was uploaded

    assert simulator.users == [] and simulator.fingerprints == []
    assert client.get_users() == []  # and the session still answers


def test_the_upload_reader_refuses_templates_of_another_user_or_out_of_bounds() -> None:
    from zk.user import User

    user = User(5, "Ani", 0, "", "", "1005", 0).repack73()
    template = struct.pack("<H", 4) + b"abcd"
    for uid, finger_code, offset in ((6, 0x10, 0), (5, 0x1A, 0), (5, 0x10, 7)):
        table = struct.pack("<bHbI", 2, uid, finger_code, offset)
        buffer = struct.pack("<III", len(user), len(table), len(template)) + user + table + template
        with pytest.raises(ValueError):
            unpack_template_upload(buffer)
    table = struct.pack("<bHbI", 2, 5, 0x12, 0)
    good = unpack_template_upload(struct.pack("<III", len(user), len(table), len(template)) + user + table + template)
    assert good.user.pin == "1005" and good.templates == [(2, b"abcd")]


def test_template_bytes_never_show_in_a_repr(device: Callable[..., ZKSimulator]) -> None:
    simulator = device()
    simulator.add_user("1001", "Ani")
    template = simulator.enrol_finger("1001")
    assert template.data.hex()[:16] not in repr(template) and "size=" in repr(template)
