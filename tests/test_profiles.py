"""Device profiles are data: every shipped one loads, and a bad one names the file and the key."""

from __future__ import annotations

import re

import pytest

from gateway.profiles import PROFILE_DIR, ProfileError, load_all_profiles, load_profile

MINIMAL = """
model = "Test model"
vendor = "Test"
protocol = "zk"
"""


def test_every_shipped_profile_loads():
    profiles = load_all_profiles()
    zk = {"zkteco-generic-tcp", "zkteco-legacy-udp", "solution-x100c", "fingertec-ta100"}
    serial = {"giga-tms-tr320", "opticon-opl9724"}
    assert zk | serial <= set(profiles)
    assert {name for name in zk | serial if profiles[name].protocol == "serial"} == serial
    assert all(p.source.startswith(str(PROFILE_DIR)) for p in profiles.values())


def test_the_local_zk_brands_and_the_generic_profile_differ_where_the_devices_do():
    generic, fingertec = load_profile("zkteco-generic-tcp"), load_profile("fingertec-ta100")
    assert (generic.clock_may_set, fingertec.clock_may_set) == (True, False)
    assert load_profile("solution-x100c").capacity == 80_000
    legacy = load_profile("zkteco-legacy-udp")
    assert (legacy.force_udp, legacy.omit_ping, legacy.clear_log) == (True, True, True)


def test_the_legacy_firmware_profile_polls_over_udp_only():
    legacy = load_profile("zkteco-legacy-udp")
    assert (legacy.transport, legacy.live_events, legacy.name_encoding) == ("udp", False, "latin-1")


def test_a_new_model_needs_only_a_new_file(tmp_path):
    (tmp_path / "brand-new.toml").write_text(MINIMAL + '[connection]\ntransport = "udp"\nport = 5005\n')
    profile = load_profile("brand-new", tmp_path)
    assert (profile.model, profile.transport, profile.port) == ("Test model", "udp", 5005)
    assert profile.canonical_state(1) == 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('[connection]\ntransport = "ipx"\n', "connection.transport: expected one of ['tcp', 'udp'], got 'ipx'"),
        ("[connection]\nport = 0\n", "connection.port: expected at least 1"),
        ('[names]\nencoding = "klingon"\n', "names.encoding: unknown encoding 'klingon'"),
        ('[clock]\nzone = "CET"\n', "clock.zone: expected one of"),
        ('[clock]\nmay_set = "yes"\n', "clock.may_set: expected bool"),
        ('[punch_states]\n"0" = 9\n', "punch_states.0: expected a canonical state"),
        ("[punch_states]\nin = 0\n", "punch_states.in: keys are raw device states"),
        ("[capabilities]\nclear_at_fill = 2.0\n", "capabilities.clear_at_fill: expected at most 1.0"),
        ("[capabilities]\nlive_event = true\n", "capabilities.live_event: unknown key; did you mean 'live_events'?"),
        ("colour = 1\n", "colour: unknown key"),
        ('[quirks]\nomit_ping = "no"\n', "quirks.omit_ping: expected bool"),
        ("[clock]\nfuture_tolerance_s = 0\n", "clock.future_tolerance_s: expected at least 1"),
    ],
)
def test_a_bad_profile_names_the_file_the_key_and_what_was_expected(tmp_path, extra, message):
    path = tmp_path / "broken.toml"
    path.write_text(MINIMAL + extra)
    with pytest.raises(ProfileError) as caught:
        load_profile("broken", tmp_path)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


def test_a_serial_profile_without_its_line_format_is_refused(tmp_path):
    (tmp_path / "tty.toml").write_text(MINIMAL.replace('"zk"', '"serial"'))
    with pytest.raises(ProfileError, match="serial: a serial profile needs a"):
        load_profile("tty", tmp_path)


def test_an_unknown_profile_lists_the_known_ones():
    with pytest.raises(ProfileError, match=r"known profiles: .*zkteco-generic-tcp"):
        load_profile("no-such-model")


GOOD_SERIAL = {
    "baud": "9600",
    "pattern": "'(?P<pin>\\d+),(?P<timestamp>\\d{12})'",
    "timestamp_format": '"%y%m%d%H%M%S"',
    "default_state": "0",
    "default_verify": "1",
}


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("baud", "9601", "serial.baud: expected one of [1200"),
        ("pattern", "'(?P<pin>\\d+)'", "serial.pattern: expected named groups"),
        ("pattern", "'(?P<pin>[)'", "serial.pattern: expected a Python regex"),
        ("timestamp_format", None, "serial.timestamp_format: missing; expected a str"),
        ("parity", '"M"', "serial.parity: expected one of ['N', 'E', 'O']"),
        ("default_state", None, "serial.default_state: expected an int because the pattern has no (?P<state>"),
        ("checksum", '"crc16"', "serial.checksum: expected one of"),
        ("baud_rate", "9600", "serial.baud_rate: unknown key"),
    ],
)
def test_a_bad_serial_line_format_fails_at_load_naming_the_file_and_the_key(tmp_path, key, value, message):
    table = {**GOOD_SERIAL, key: value}
    lines = "".join(f"{k} = {v}\n" for k, v in table.items() if v is not None)
    path = tmp_path / "tty.toml"
    path.write_text(MINIMAL.replace('"zk"', '"serial"') + "[serial]\n" + lines)
    with pytest.raises(ProfileError) as caught:
        load_profile("tty", tmp_path)
    assert str(path) in str(caught.value) and message in str(caught.value)


def test_the_good_serial_format_of_those_cases_loads(tmp_path):
    lines = "".join(f"{k} = {v}\n" for k, v in GOOD_SERIAL.items())
    (tmp_path / "tty.toml").write_text(MINIMAL.replace('"zk"', '"serial"') + "[serial]\n" + lines)
    assert load_profile("tty", tmp_path).serial["baud"] == 9600


def test_biometric_capabilities_say_which_devices_can_share_templates():
    generic, legacy = load_profile("zkteco-generic-tcp"), load_profile("zkteco-legacy-udp")
    speedface, serial = load_profile("zkteco-speedface-push"), load_profile("giga-tms-tr320")
    finger = generic.biometrics.fingerprint
    assert finger is not None and (finger.format, finger.version, finger.capacity) == ("ZKFinger", "10.0", 3000)
    assert generic.biometrics.user_capacity == 3000 and set(generic.biometrics.formats) == {"fingerprint"}
    assert speedface.biometrics.accepts("fingerprint", finger.key)  # the same algorithm and major version
    assert not legacy.biometrics.accepts("fingerprint", finger.key)  # ZKFinger 9.0 cannot match a 10.0 template
    assert set(speedface.biometrics.formats) == {"fingerprint", "face", "palm"}
    assert not generic.biometrics.accepts("face", speedface.biometrics.formats["face"].key)  # no face sensor
    assert serial.biometrics.formats == {} and serial.biometrics.user_capacity is None


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("[biometrics]\nfingerprint = { format = 'ZKFinger', version = '10.0' }\n", "biometrics.fingerprint.capacity"),
        ("[biometrics]\nface = { format = 'ZKFace', version = '7', capacity = 1, algo = 'x' }\n", "face.algo"),
        ("[biometrics]\nfingerprints = { format = 'ZKFinger' }\n", "did you mean 'fingerprint'?"),
        ("[biometrics]\nuser_capacity = 0\n", "biometrics.user_capacity: expected at least 1"),
    ],
)
def test_a_bad_biometrics_table_names_the_key(tmp_path, extra, message):
    (tmp_path / "bio.toml").write_text(f'model = "M"\nvendor = "V"\nprotocol = "zk"\n{extra}')
    with pytest.raises(ProfileError, match=re.escape(message)):
        load_profile("bio", tmp_path)
