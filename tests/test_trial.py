"""The field trial, shortened for CI: three gateway processes (WIB, WITA, WIT) with ZK/TCP, ZK/UDP and
serial devices, two server replicas, a private Mosquitto with the deployment's ACL, PostgreSQL; the
broker restarted, a replica and a gateway killed -9, an uplink cut, a device dropping reads, a
drifting clock, serial garbage, a forged and four malformed batches. Every punch must be stored
exactly once and every employee's month must equal the hand-computed expectation.
(`kinerja trial` runs the same with 300 employees per office.)"""

from __future__ import annotations

import shutil

import pytest

from kinerja.trial.run import report, run_trial
from tests.conftest import IN_CI, PG_ADMIN_URL, require_service

pytestmark = pytest.mark.production


def test_the_short_trial_adds_up(tmp_path, capsys):
    require_service("PostgreSQL", PG_ADMIN_URL, 5432)
    if not (shutil.which("mosquitto") and shutil.which("mosquitto_passwd")):
        if IN_CI:
            pytest.fail("mosquitto and mosquitto_passwd must be installed under CI=true")
        pytest.skip("mosquitto is not installed")

    outcome = run_trial(short=True, workdir=tmp_path, pg_admin_url=PG_ADMIN_URL)  # KINERJA_TEST_PG_URL
    text = report(outcome)
    with capsys.disabled():
        print("\n" + text)
    assert outcome.problems == [], text
    assert outcome.generated > 1000 and outcome.stored_rows == outcome.generated
    assert (outcome.duplicated, outcome.lost, outcome.unexpected) == (0, 0, 0)
    assert outcome.server_quarantined == outcome.server_quarantine_expected == 7
    assert outcome.gateway_quarantined == outcome.gateway_quarantine_expected > 0
    assert outcome.employees_compared == 36 and outcome.differing == []
    # The faults bit: the gateway behind the cut uplink held punches, the drifted clock was set back.
    assert any("punches held meanwhile" in fault and " 0 punches" not in fault for fault in outcome.faults)
    assert any("set the drifted clock back (1" in fault for fault in outcome.faults)
    assert outcome.peak_rate > 0 and outcome.latency_batches > 0
