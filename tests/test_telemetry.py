"""Telemetry on a real Mosquitto: per device reachability, last punch, clock drift, record count and
capacity; backlog size and oldest queued age; version; uptime; every interval and right after connect."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from gateway.simulators.zk import ZKSimulator
from kinerja.processes import free_port
from tests.gateway_centre import WITA, office_clock_offset, running_gateway, write_config
from wire import __version__
from wire.mqtt import MqttSettings


async def test_telemetry_reports_devices_backlog_version_and_uptime(tmp_path, mosquitto: MqttSettings):
    drift = timedelta(seconds=25)  # within the profile's 60 s: reported, not corrected
    with ZKSimulator(serial="TELE-0001", clock_offset=office_clock_offset(drift), record_capacity=50_000) as device:
        day = datetime.now(WITA).date() - timedelta(days=1)
        for minute in range(3):
            device.add_punch("5", datetime(day.year, day.month, day.day, 7, 10 + minute), state=0)
        dead_port = free_port()  # nothing listens there: an unplugged device
        config = write_config(
            tmp_path / "gateway.toml",
            mosquitto,
            [("lobby", device.port), ("annex", dead_port)],
            telemetry_interval_s=0.3,
            poll_interval_s=0.2,
        )
        started = time.monotonic()
        async with running_gateway(config) as (gateway, centre):
            # No server on these topics: the punches stay queued, so the backlog is visible.
            def settled() -> bool:
                if len(centre.telemetry) < 2:
                    return False
                lobby = {d.name: d for d in centre.telemetry[-1].devices}["lobby"]
                return lobby.record_count == 3 and centre.telemetry[-1].queued_punches == 3

            await centre.wait_for(settled, 15, "telemetry with the lobby read and its punches queued")
            latest = centre.telemetry[-1]
            devices = {d.name: d for d in latest.devices}
            assert set(devices) == {"lobby", "annex"}
            lobby, annex = devices["lobby"], devices["annex"]
            assert lobby.reachable and lobby.serial == "TELE-0001"
            assert (lobby.record_count, lobby.record_capacity) == (3, 50_000)
            assert lobby.last_punch_at == datetime(day.year, day.month, day.day, 7, 12, tzinfo=WITA)
            assert lobby.clock_drift_s is not None and abs(lobby.clock_drift_s - 25) <= 3
            assert lobby.last_poll_ok_at is not None
            assert not annex.reachable and annex.last_error and annex.serial is None
            assert latest.gateway_id == gateway.config.gateway_id
            assert latest.version == __version__
            assert latest.queued_punches == 3 and latest.in_flight_batches == 1
            assert latest.oldest_queued_age_s is not None and 0 <= latest.oldest_queued_age_s < 30
            assert latest.rejected_punches == 0
            assert 0 < latest.uptime_s <= time.monotonic() - started + 1
            assert centre.telemetry[0].uptime_s < latest.uptime_s  # a fresh document every interval

            count = len(centre.telemetry)
            await centre.wait_for(lambda: len(centre.telemetry) >= count + 2, 5, "two more intervals")


def test_the_certificate_expiry_is_the_soonest_in_the_ca_file_and_unreadable_files_say_nothing(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from gateway.telemetry import certificate_expiry

    def certificate(name: str, days: int) -> bytes:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        start = datetime.now(UTC).replace(microsecond=0)
        built = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start - timedelta(days=1))
            .not_valid_after(start + timedelta(days=days)).sign(key, hashes.SHA256())
        )  # fmt: skip
        return built.public_bytes(serialization.Encoding.PEM)

    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(certificate("root", 3650) + certificate("intermediate", 40))
    expiry = certificate_expiry(str(bundle))
    assert expiry is not None and timedelta(days=39) < expiry - datetime.now(UTC) <= timedelta(days=40)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    assert certificate_expiry(str(garbage)) is None
    assert certificate_expiry(str(tmp_path / "missing.pem")) is None
    assert certificate_expiry(None) is None
