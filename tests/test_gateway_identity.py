"""Talking to the centre as itself: retained birth `online` and will `offline`, and a per-gateway
broker account over TLS with a CA file, on Mosquitto instances of the test's own."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from kinerja.processes import GatewayProcess, free_port, gateway_toml, wait_until
from tests.conftest import unique_slug
from tests.edge_broker import private_mosquitto
from wire.contract import GatewayStatus, TopicKind, topic_for
from wire.mqtt import MqttSettings


class StatusWatcher:
    """A plain paho subscriber to one gateway's status topic, as any dashboard would be."""

    def __init__(self, mqtt: MqttSettings, topic: str, **tls: str) -> None:
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        self.seen: list[tuple[str, bool]] = []
        self._client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
        if mqtt.username:
            self._client.username_pw_set(mqtt.username, mqtt.password)
        if mqtt.tls:
            self._client.tls_set(ca_certs=mqtt.ca_file)
        self._client.on_message = lambda _c, _u, m: self.seen.append(
            (GatewayStatus.from_json(m.payload).state, m.retain)
        )
        self._client.on_connect = lambda client, *_: client.subscribe(topic, qos=1)
        self._client.connect(mqtt.host, mqtt.port)
        self._client.loop_start()

    def latest(self) -> str | None:
        return self.seen[-1][0] if self.seen else None

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def retained_status(mqtt: MqttSettings, topic: str) -> str | None:
    """What a dashboard connecting now is told first: the retained status."""
    watcher = StatusWatcher(mqtt, topic)
    try:
        wait_until(lambda: bool(watcher.seen), 2, "a retained status", 0.02)
    except TimeoutError:
        return None
    finally:
        watcher.close()
    state, retained = watcher.seen[0]
    return state if retained else None  # published live while we subscribed: ask again


def test_birth_online_and_will_offline_are_retained(tmp_path: Path):
    with private_mosquitto(tmp_path / "broker") as broker:
        unit, gateway_id = unique_slug("unit"), unique_slug("gw")
        config = tmp_path / "gateway.toml"
        # The device is absent on purpose: the gateway reports to the centre whatever its devices do.
        config.write_text(
            gateway_toml(
                gateway_id=gateway_id, unit=unit, state_dir=tmp_path / "state", mqtt=broker.settings,
                devices=[("door", free_port())],
            )
        )  # fmt: skip
        topic = topic_for(unit, gateway_id, TopicKind.STATUS)
        gateway = GatewayProcess(config, tmp_path / "gateway.log")
        gateway.start()
        try:
            wait_until(lambda: retained_status(broker.settings, topic) == "online", 10, "birth", 0.2)
            gateway.kill()  # kill -9: no goodbye, the broker publishes the will
            wait_until(lambda: retained_status(broker.settings, topic) == "offline", 10, "will", 0.2)
            gateway.start()
            wait_until(lambda: retained_status(broker.settings, topic) == "online", 10, "second birth", 0.2)
            assert gateway.stop() == 0  # SIGTERM: says offline itself
            assert retained_status(broker.settings, topic) == "offline"
        finally:
            gateway.kill()


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA, and a certificate it signs for 127.0.0.1: (ca.pem, server.pem, server.key)."""
    ca_key, ca, key, csr, cert = (directory / n for n in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem"))
    ext = directory / "san.ext"
    ext.write_text("subjectAltName = IP:127.0.0.1\n")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=30)

    openssl("ecparam", "-genkey", "-name", "prime256v1", "-noout", "-out", str(ca_key))
    openssl("req", "-x509", "-new", "-key", str(ca_key), "-days", "2", "-subj", "/CN=Kinerja test CA", "-out", str(ca))
    openssl("ecparam", "-genkey", "-name", "prime256v1", "-noout", "-out", str(key))
    openssl("req", "-new", "-key", str(key), "-subj", "/CN=127.0.0.1", "-out", str(csr))
    openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
        "-days", "2", "-extfile", str(ext), "-out", str(cert),
    )  # fmt: skip
    return ca, cert, key


def test_a_gateway_logs_in_with_its_own_account_over_tls_and_a_wrong_password_is_refused(tmp_path: Path):
    import shutil

    if shutil.which("openssl") is None or shutil.which("mosquitto_passwd") is None:
        pytest.skip("openssl and mosquitto_passwd are needed")
    unit, gateway_id = unique_slug("unit"), unique_slug("gw")
    ca, cert, key = make_certificates(tmp_path)
    passwords = tmp_path / "passwords"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(passwords), gateway_id, "s3cret-gw"], check=True, timeout=30)
    subprocess.run(["mosquitto_passwd", "-b", str(passwords), "centre", "centre-pw"], check=True, timeout=30)
    acl = tmp_path / "acl"
    # As docs/deploy-gateway.md has it: the server reads everything, a gateway only its own topics.
    acl.write_text("user centre\ntopic readwrite kinerja/#\n\npattern readwrite kinerja/v1/+/%u/#\n")
    port = free_port()
    extra = (
        f"listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {passwords}\nacl_file {acl}\n"
        f"cafile {ca}\ncertfile {cert}\nkeyfile {key}\n"
    )
    with private_mosquitto(tmp_path / "broker", extra, port=port):
        broker_url = f"mqtts://127.0.0.1:{port}?protocol=5"
        password_file = tmp_path / "gateway.mqtt-password"
        password_file.write_text("s3cret-gw\n")
        config = tmp_path / "gateway.toml"
        config.write_text(
            gateway_toml(
                gateway_id=gateway_id, unit=unit, state_dir=tmp_path / "state", mqtt=MqttSettings(port=port),
                devices=[("door", free_port())],
            ).replace(
                f'url = "mqtt://127.0.0.1:{port}?protocol=5"',
                f'url = "{broker_url}"\nusername = "{gateway_id}"\npassword_file = "{password_file}"\nca_file = "{ca}"',
            )
        )  # fmt: skip
        centre = MqttSettings(
            host="127.0.0.1", port=port, username="centre", password="centre-pw", tls=True, ca_file=str(ca)
        )
        watcher = StatusWatcher(centre, topic_for(unit, gateway_id, TopicKind.STATUS))
        gateway = GatewayProcess(config, tmp_path / "gateway.log")
        try:
            gateway.start()
            wait_until(lambda: watcher.latest() == "online", 15, f"birth over TLS\n{gateway.log()}")
            assert gateway.stop() == 0
            wait_until(lambda: watcher.latest() == "offline", 5, "orderly offline")

            password_file.write_text("wrong\n")
            gateway.start()
            time.sleep(2)
            assert gateway.process is not None and gateway.process.poll() is None  # keeps trying, no crash
            assert watcher.latest() == "offline"
            assert "refused" in gateway.log().rsplit("--- start", 1)[1].lower()
        finally:
            gateway.kill()
            watcher.close()
