"""The push (ADMS / iclock) wire text: what firmware sends parses, what the gateway sends is what firmware reads."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.config import ConfigError, parse_gateway_config
from gateway.profiles import ProfileError, load_all_profiles, load_profile
from gateway.push import protocol
from gateway.push.device import load_push_options


def test_attlog_lines_of_current_and_older_firmware_parse():
    body = (
        "1001\t2026-11-24 07:28:03\t0\t15\t0\t0\t0\t255\t0\t0\r\n"  # SpeedFace: more trailing fields, CRLF
        "1002\t2026-11-24 07:31:10\t1\t1\t\t\n"  # older: empty workcode
        "7\t2026-11-24 16:02:00\t1\t1\n"  # the four fields every firmware sends
        "\n"
    )
    records, bad = protocol.parse_attlog(body)
    assert bad == []
    assert records == [
        protocol.AttlogRecord("1001", datetime(2026, 11, 24, 7, 28, 3), 0, 15, "0"),
        protocol.AttlogRecord("1002", datetime(2026, 11, 24, 7, 31, 10), 1, 1, "0"),
        protocol.AttlogRecord("7", datetime(2026, 11, 24, 16, 2, 0), 1, 1, "0"),
    ]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("1001 2026-11-24 07:28:03 0 1", "separated by tabs"),
        ("10-01\t2026-11-24 07:28:03\t0\t1", "PIN: expected"),
        ("1001\t2026-02-30 07:28:03\t0\t1", "time: expected YYYY-MM-DD HH:MM:SS"),
        ("1001\t24/11/2026 07:28\t0\t1", "time: expected"),
        ("1001\t2026-11-24 07:28:03\t256\t1", "status: expected 0..255"),
        ("1001\t2026-11-24 07:28:03\t0\t-1", "verify: expected 0..255"),
    ],
)
def test_a_malformed_attlog_line_is_refused_with_its_reason(line, reason):
    records, bad = protocol.parse_attlog(f"5\t2026-11-24 07:00:00\t0\t1\n{line}\n")
    assert [r.pin for r in records] == ["5"]
    assert len(bad) == 1 and bad[0].number == 2 and reason in bad[0].reason and bad[0].text == line


def test_registration_reply_speaks_the_option_names_of_the_model():
    speedface = load_push_options(load_profile("zkteco-speedface-push"))
    current = protocol.registration_reply("SPD1", 250, None, speedface, 8)
    assert current.startswith("GET OPTION FROM: SPD1\r\n")
    options = protocol.parse_options(current)
    assert options["ATTLOGStamp"] == "250" and options["OPERLOGStamp"] == "None"
    assert (options["Delay"], options["ErrorDelay"], options["TimeZone"], options["Realtime"]) == ("10", "30", "8", "1")
    assert options["TransFlag"] == "TransData AttLog\tOpLog"
    legacy = protocol.parse_options(
        protocol.registration_reply("OLD1", None, 3, load_push_options(load_profile("zk-oem-push-legacy")), 7)
    )
    assert (legacy["Stamp"], legacy["OpStamp"], legacy["TransFlag"]) == ("None", "3", "1100000000")
    assert legacy["Delay"] == "30"
    assert "ATTLOGStamp" not in legacy


def test_commands_are_encoded_as_firmware_reads_them():
    assert protocol.format_commands([(17, "INFO"), (18, "REBOOT")]) == "C:17:INFO\nC:18:REBOOT\n"
    assert protocol.parse_commands("C:17:INFO\nC:18:DATA QUERY ATTLOG StartTime=a\tEndTime=b\n") == [
        (17, "INFO"),
        (18, "DATA QUERY ATTLOG StartTime=a\tEndTime=b"),
    ]
    assert protocol.parse_commands("OK") == []
    assert (
        protocol.query_attlog_command(datetime(2026, 11, 1), datetime(2026, 11, 2, 23, 59, 59))
        == "DATA QUERY ATTLOG StartTime=2026-11-01 00:00:00\tEndTime=2026-11-02 23:59:59"
    )
    assert protocol.user_command("42", "Siti\tAminah", 123, "USERINFO") == (
        "DATA UPDATE USERINFO PIN=42\tName=Siti Aminah\tPri=0\tPasswd=\tCard=123\tGrp=1\tTZ=0000000100000000"
    )
    assert protocol.user_command("42", "Budi", 0, "USER").startswith("DATA USER PIN=42\tName=Budi\tPri=0")
    # The packed DateTime of ZK firmware: 2026-11-25 08:00:00.
    assert protocol.set_clock_command(datetime(2026, 11, 25, 8, 0, 0)) == (
        f"SET OPTIONS DateTime={((26 * 12 + 10) * 31 + 24) * 86400 + 8 * 3600}"
    )


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31, 23, 59, 59)))
def test_packed_device_time_round_trips(moment):
    moment = moment.replace(microsecond=0)
    assert protocol.decode_zk_time(protocol.encode_zk_time(moment)) == moment


def test_command_results_parse_and_garbage_is_reported():
    results, bad = protocol.parse_command_results(
        "ID=17&Return=0&CMD=DATA\nID=18&Return=-1002&CMD=SET OPTIONS\nID=x&Return=0\nTransactionCount=4\n"
    )
    assert [(r.command_id, r.return_code, r.ok) for r in results] == [(17, 0, True), (18, -1002, False)]
    assert [b.number for b in bad] == [3]


def test_operlog_lines_are_counted_by_kind():
    counts, bad = protocol.parse_operlog(
        "OPLOG 4\t0\t2026-11-24 08:00:00\t0\t0\t0\t0\nUSER PIN=1\tName=Siti\nFP PIN=1\tFID=0\tTMP=AAA\nHELLO\n"
    )
    assert counts == {"OPLOG": 1, "USER": 1, "FP": 1}
    assert [b.number for b in bad] == [4]


def test_getrequest_info_gives_counts():
    info = protocol.parse_device_info("Ver 8.0.4.2-20230101,12,30,4567,192.168.1.201,10,7,12,0,111")
    assert info == {"firmware": "Ver 8.0.4.2-20230101", "user_count": 12, "fingerprint_count": 30, "record_count": 4567}


def test_every_push_profile_has_readable_push_options_and_a_bad_one_names_the_key(tmp_path):
    push_profiles = {name: p for name, p in load_all_profiles().items() if p.protocol == "push"}
    assert {"zkteco-speedface-push", "zk-oem-push-legacy"} <= set(push_profiles)
    assert {load_push_options(p).options for p in push_profiles.values()} == {"current", "legacy"}
    broken = tmp_path / "broken-push.toml"
    broken.write_text('model = "X"\nvendor = "Y"\nprotocol = "push"\n[push]\ndelay = 10\n')
    with pytest.raises(ProfileError, match=r"broken-push.toml: push.delay: unknown key"):
        load_push_options(load_profile("broken-push", tmp_path))
    broken.write_text('model = "X"\nvendor = "Y"\nprotocol = "push"\n[push]\noptions = "newest"\n')
    with pytest.raises(ProfileError, match=r"push.options: expected one of \['current', 'legacy'\]"):
        load_push_options(load_profile("broken-push", tmp_path))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d, p: d[0].pop("serial_number"), "devices[0].serial_number: missing"),
        (lambda d, p: d[0].update(serial_number="has space"), "devices[0].serial_number: expected 1-64"),
        (lambda d, p: d[1].update(serial_number="SPD-1"), "push device serial numbers must be unique"),
        (lambda d, p: p.update(port=70000), "push.port: expected at most 65535"),
        (lambda d, p: p.update(max_body_bytes=10), "push.max_body_bytes: expected at least 1024"),
    ],
)
def test_push_devices_in_the_gateway_config_are_validated(change, message):
    devices = [
        {"name": "hall", "profile": "zkteco-speedface-push", "serial_number": "SPD-1"},
        {"name": "annex", "profile": "zk-oem-push-legacy", "serial_number": "OLD-1"},
    ]
    push: dict[str, object] = {}
    raw = {"gateway_id": "gw", "unit": "u", "timezone": "WIB", "state_dir": "/tmp/gw", "push": push,
           "mqtt": {"url": "mqtt://127.0.0.1:1883"}, "devices": devices}  # fmt: skip
    assert parse_gateway_config(raw).push.port == 8081
    change(devices, push)
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_gateway_config(raw)
