"""The systemd units: accepted by systemd-analyze, hardened, and the gateway speaks sd_notify."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.systemd import notify, watchdog_interval_s
from tests.conftest import IN_CI

UNITS = Path(__file__).resolve().parent.parent / "systemd"


def installed_units(tmp_path: Path) -> list[Path]:
    """The units as installed, pointing at this checkout's own `kinerja` executable."""
    executable = Path(sys.executable).with_name("kinerja")
    assert executable.exists(), "install the project first (pip install -e .)"
    paths = []
    for unit in sorted([*UNITS.glob("*.service"), *UNITS.glob("*.path")]):
        target = tmp_path / unit.name
        text = unit.read_text().replace("/opt/kinerja/.venv/bin/kinerja", str(executable))
        target.write_text(text.replace("/opt/kinerja/current/venv/bin/kinerja", str(executable)))
        paths.append(target)
    return paths


def test_systemd_analyze_accepts_every_unit(tmp_path):
    if shutil.which("systemd-analyze") is None:
        if IN_CI:
            pytest.fail("systemd-analyze is missing; .ci/run installs Debian's systemd")
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    units = installed_units(tmp_path)
    assert {unit.name for unit in units} == {
        "kinerja-gateway.service", "kinerja-server.service", "kinerja-gateway-upgrade.service",
        "kinerja-gateway-upgrade.path",
    }  # fmt: skip
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *map(str, units)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "kinerja" not in result.stderr, result.stderr  # warnings about our units are failures too


@pytest.mark.parametrize(
    "directive",
    [
        "Type=notify",
        "WatchdogSec=",
        "Restart=always",
        "StateDirectory=kinerja-gateway",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "User=kinerja-gateway",
        "DeviceAllow=char-ttyUSB rw",
        "SupplementaryGroups=dialout",
        "CapabilityBoundingSet=\n",
    ],
)
def test_the_gateway_unit_is_hardened_and_may_reach_serial_ports(directive):
    assert directive in (UNITS / "kinerja-gateway.service").read_text()


def test_sd_notify_reaches_the_socket_systemd_gives(tmp_path, monkeypatch):
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(path))
        listener.settimeout(2)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        assert notify("READY=1")
        assert listener.recv(100) == b"READY=1"


def test_outside_systemd_notify_does_nothing_and_there_is_no_watchdog(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    assert notify("READY=1") is False
    assert watchdog_interval_s() is None


def test_the_watchdog_is_pinged_at_half_the_interval_systemd_asks_for(monkeypatch):
    import os

    monkeypatch.setenv("WATCHDOG_USEC", "60000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert watchdog_interval_s() == 30
    monkeypatch.setenv("WATCHDOG_PID", "1")  # meant for another process
    assert watchdog_interval_s() is None


def test_a_real_gateway_process_says_ready_pings_the_watchdog_and_says_stopping(tmp_path):
    """As systemd runs it: NOTIFY_SOCKET and WATCHDOG_USEC in the environment, SIGTERM to stop."""
    import time

    from kinerja.processes import GatewayProcess, free_port, gateway_toml
    from wire.mqtt import MqttSettings

    config = tmp_path / "gateway.toml"
    config.write_text(
        gateway_toml(
            gateway_id="gw-notify", unit="unit-notify", state_dir=tmp_path / "state",
            mqtt=MqttSettings(port=free_port()),  # no broker: readiness must not wait for the uplink
            devices=[("door", free_port())],
        )
    )  # fmt: skip
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(path))
        listener.settimeout(10)
        gateway = GatewayProcess(config, tmp_path / "gateway.log")
        gateway.start(NOTIFY_SOCKET=str(path), WATCHDOG_USEC="400000")
        try:
            messages: list[str] = []
            deadline = time.monotonic() + 10
            while messages.count("WATCHDOG=1") < 3 and time.monotonic() < deadline:
                messages.append(listener.recv(4096).decode())
            assert messages[0] == "READY=1", messages
            assert messages.count("WATCHDOG=1") >= 3, gateway.log()
            assert any(m.startswith("STATUS=0 punches queued") for m in messages)
            assert gateway.stop() == 0
            rest = []
            listener.settimeout(0.5)
            try:
                while True:
                    rest.append(listener.recv(4096).decode())
            except TimeoutError:
                pass
            assert "STOPPING=1" in rest
        finally:
            gateway.kill()
