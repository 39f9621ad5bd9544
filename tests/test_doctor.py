"""`kinerja gateway doctor` against simulators: what it found on each device, or exactly why not."""

from __future__ import annotations

import re
import socket
import time
from datetime import timedelta

import serial

from gateway.devices.serial_line import SerialLineFormat
from gateway.profiles import load_profile
from gateway.simulators.serial_terminal import SerialTerminalSimulator
from gateway.simulators.zk import ZKSimulator
from kinerja.cli import main
from wire.zones import office_zone

WIB = office_zone("WIB")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def report_blocks(out: str) -> dict[str, str]:
    """Each device's lines, by device name: a block starts with OK or FAIL and the name."""
    blocks: dict[str, list[str]] = {}
    for line in out.splitlines():
        if line.startswith(("OK ", "FAIL ")):
            current = blocks.setdefault(line.split()[1], [])
        if line.startswith((" ", "OK ", "FAIL ")):
            current.append(line)
    return {name: "\n".join(lines) for name, lines in blocks.items()}


def test_doctor_reports_every_device_found_and_why_the_others_were_not(tmp_path, capsys):
    good = ZKSimulator(serial="GOOD-0001", firmware="Ver 6.60", comm_key=1234, zone=WIB)
    good.clock_offset = timedelta(seconds=90)
    legacy = ZKSimulator(serial="OLD-0002", tcp=False, zone=WIB, record_capacity=50)
    slow = ZKSimulator(serial="SLOW-0003", zone=WIB)
    tr320 = load_profile("giga-tms-tr320")
    tr320_format = SerialLineFormat.from_table(tr320.serial, tr320.source)
    terminal = SerialTerminalSimulator(tr320_format, tmp_path / "tty-lobby")
    busy = SerialTerminalSimulator(tr320_format, tmp_path / "tty-busy")
    with good, legacy, slow, terminal, busy:
        holder = serial.Serial(str(busy.path), exclusive=True)  # a running gateway holds this port
        good.add_user("1", "Budi")
        good.add_user("2", "Siti")
        for minute in range(3):
            good.add_punch("1", good.device_time() - timedelta(minutes=minute + 1))
        for minute in range(45):
            legacy.add_punch("7", legacy.device_time() - timedelta(minutes=minute + 1))
        slow.response_delay_s = 3
        config = tmp_path / "gateway.toml"
        config.write_text(
            f"""
gateway_id = "gw-doctor"
unit = "unit-doctor"
timezone = "WIB"
state_dir = "{tmp_path / "state"}"
[mqtt]
url = "mqtt://127.0.0.1:1883"
[[devices]]
name = "lobby"
host = "127.0.0.1"
port = {good.port}
comm_key = 1234
timeout_s = 1
[[devices]]
name = "wrong-key"
host = "127.0.0.1"
port = {good.port}
comm_key = 4321
timeout_s = 1
[[devices]]
name = "old-hall"
profile = "zkteco-legacy-udp"
host = "127.0.0.1"
port = {legacy.port}
timeout_s = 1
[[devices]]
name = "switched-off"
host = "127.0.0.1"
port = {closed_port()}
timeout_s = 1
[[devices]]
name = "sluggish"
host = "127.0.0.1"
port = {slow.port}
timeout_s = 0.5
[[devices]]
name = "gate-serial"
profile = "giga-tms-tr320"
serial_path = "{terminal.path}"
serial_number = "TR320-77"
[[devices]]
name = "busy-serial"
profile = "giga-tms-tr320"
serial_path = "{busy.path}"
serial_number = "TR320-79"
[[devices]]
name = "unplugged-serial"
profile = "giga-tms-tr320"
serial_path = "{tmp_path / "no-such-tty"}"
serial_number = "TR320-78"
"""
        )
        started = time.monotonic()
        status = main(["gateway", "doctor", "--config", str(config)])
        elapsed = time.monotonic() - started
        holder.close()
    out = capsys.readouterr().out
    assert status == 1
    assert elapsed < 6, "devices are examined at once, not one after another"
    blocks = report_blocks(out)
    lobby = blocks["lobby"]
    assert lobby.startswith("OK ") and blocks["wrong-key"].startswith("FAIL")
    assert f"127.0.0.1:{good.port}/tcp" in lobby
    assert "serial GOOD-0001, ZMM220_TFT, firmware Ver 6.60" in lobby
    assert "users 2, records 3 of 100000 (0% full)" in lobby
    assert re.search(r"clock drift \+(89|90|91) s: more than 60 s off: the gateway will set it", lobby)
    old = blocks["old-hall"]
    assert f"127.0.0.1:{legacy.port}/udp" in old and "records 45 of 50 (90% full)" in old
    assert "Unauth" in blocks["wrong-key"] and "hint: the device refused the comm key" in blocks["wrong-key"]
    assert "connect failed" in blocks["switched-off"] and "hint:" in blocks["switched-off"]
    assert "timed out" in blocks["sluggish"]
    assert "serial TR320-77, serial line" in blocks["gate-serial"]
    assert "not readable over a serial line" in blocks["gate-serial"]
    assert "not present" in blocks["unplugged-serial"] and "is the cable" in blocks["unplugged-serial"]
    assert "another program holds the port" in blocks["busy-serial"]
    assert out.rstrip().endswith("3 of 8 devices answered")


def test_doctor_on_a_bad_config_names_the_file_and_the_key(tmp_path, capsys):
    config = tmp_path / "gateway.toml"
    config.write_text(
        'gateway_id = "gw"\nunit = "u"\ntimezone = "WIB"\nstate_dir = "/tmp/x"\n[mqtt]\nurl = "mqtt://h"\n'
        '[[devices]]\nname = "d"\nprofile = "no-such-model"\nhost = "h"\n'
    )
    assert main(["gateway", "doctor", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert str(config) in err and "devices[0].profile" in err and "known profiles" in err


def test_doctor_names_a_port_that_is_not_zk_a_zone_mismatch_and_the_firmware_faults(tmp_path, capsys):
    from http.server import BaseHTTPRequestHandler, HTTPServer
    from threading import Thread

    from gateway.simulators.zk import SimRecord
    from gateway.simulators.zk_families import FAMILIES

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    web = HTTPServer(("127.0.0.1", 0), Page)  # a web server where a ZK device was expected
    Thread(target=web.serve_forever, daemon=True).start()
    utc_clock = ZKSimulator(serial="UTC-0001", zone=office_zone("WIB"))
    utc_clock.clock_offset = timedelta(hours=-7, seconds=20)  # kept in UTC by someone's setting
    wl20 = FAMILIES["wl20"].make(zone=WIB)
    speedface = FAMILIES["speedface-v5l"].make(zone=WIB)
    with utc_clock, wl20, speedface:
        for device in (wl20, speedface):
            device.load_records(SimRecord("1001", device.device_time() - timedelta(minutes=m)) for m in range(1, 6))
        devices = "".join(
            f'[[devices]]\nname = "{name}"\nhost = "127.0.0.1"\nport = {port}\ntimeout_s = 1\n'
            for name, port in (
                ("web", web.server_port),
                ("utc", utc_clock.port),
                ("wl20", wl20.port),
                ("face", speedface.port),
            )
        )
        config = tmp_path / "gateway.toml"
        config.write_text(
            f'gateway_id = "gw"\nunit = "u"\ntimezone = "WIB"\nstate_dir = "{tmp_path}"\n[mqtt]\n'
            f'url = "mqtt://127.0.0.1:1883"\n{devices}'
        )
        main(["gateway", "doctor", "--config", str(config)])
    web.shutdown()
    blocks = report_blocks(capsys.readouterr().out)
    assert "it is not a ZK device" in blocks["web"] and "4370 is the ZK port" in blocks["web"]
    assert "off by -7 hours" in blocks["utc"] and "time-zone mismatch" in blocks["utc"]
    assert "records 5 of" in blocks["wl20"] and "does not report its record count" in blocks["wl20"]
    assert "records 5 of" in blocks["face"] and "reported 0 records and its log holds 5" in blocks["face"]


def test_a_misspelt_config_key_is_an_error_that_names_the_key_it_meant(tmp_path, capsys):
    config = tmp_path / "gateway.toml"
    config.write_text(
        'gateway_id = "gw"\nunit = "u"\ntimezone = "WIB"\nstate_dir = "/tmp/x"\n[mqtt]\nurl = "mqtt://h"\n'
        '[[devices]]\nname = "d"\nhost = "h"\npoll_interval = 5\n'
    )
    assert main(["gateway", "doctor", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "devices[0].poll_interval: unknown key; did you mean 'poll_interval_s'?" in err
