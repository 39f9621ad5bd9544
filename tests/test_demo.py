"""`kinerja demo --once`, run as a newcomer runs it: a separate process, the embedded parts only."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import pytest

from kinerja.demo import DEMO_EMPLOYEES


def run_demo(state_dir, timeout_s: float = 50) -> subprocess.CompletedProcess[str]:
    """Run the demo; should it hang, make it print every thread's stack (faulthandler) and fail with that."""
    command = [sys.executable, "-m", "kinerja.cli", "demo", "--once", "--http-port", "0", "--state-dir", str(state_dir)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1"}
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGABRT)
            stdout, stderr = process.communicate()
            pytest.fail(f"kinerja demo did not finish within {timeout_s} s; its threads:\n{stderr[-6000:]}")
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def table_rows(stdout: str) -> list[str]:
    """The attendance table's rows: the lines that begin with an employee's 18-digit NIP."""
    return [line for line in stdout.splitlines() if re.match(r"\d{18} ", line)]


def test_demo_prints_every_employees_punches_from_the_simulated_device(tmp_path):
    result = run_demo(tmp_path / "demo")
    assert result.returncode == 0, result.stderr
    for employee in DEMO_EMPLOYEES:
        assert employee.nip in result.stdout
        assert employee.name in result.stdout
    assert "stored via gateway gw-demo" in result.stdout
    assert "Traceback" not in result.stderr


def test_running_the_demo_again_stores_nothing_twice(tmp_path):
    first = run_demo(tmp_path / "demo")
    second = run_demo(tmp_path / "demo")
    assert first.returncode == 0 and second.returncode == 0, second.stderr
    table = table_rows(second.stdout)
    assert len(table) == len(DEMO_EMPLOYEES)
    assert table == table_rows(first.stdout)
