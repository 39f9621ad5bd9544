"""Device profiles are data: every shipped one loads, and a bad one names the file and the key."""

from __future__ import annotations

import pytest

from gateway.profiles import PROFILE_DIR, ProfileError, load_all_profiles, load_profile

MINIMAL = """
model = "Test model"
vendor = "Test"
protocol = "zk"
"""


def test_every_shipped_profile_loads():
    profiles = load_all_profiles()
    assert {"zkteco-generic-tcp", "zkteco-legacy-udp", "solution-x100c", "fingertec-ta100"} <= set(profiles)
    assert all(p.source.startswith(str(PROFILE_DIR)) for p in profiles.values())


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
