"""The OpenAPI document tells the truth: schemathesis, every check it has (`--checks all`), run as its own
command line against the live app on PostgreSQL with a logged-in bureau administrator, finds nothing.

Nothing here names a route: the run covers whatever the served document lists, so a route added later is
fuzzed as soon as it is documented (tests/test_openapi.py checks every served route is documented).
Bounded (`--max-examples`) and deterministic (`--seed`, `--generation-deterministic`) so a failure can be
reproduced with the command line printed in the assertion message."""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from server.services.accounts import Role
from tests.conftest import unique_slug
from tests.test_openapi import threaded_server

# Per operation and phase; enough to reach every check, small enough for ~1 minute on a loaded 2-core machine.
MAX_EXAMPLES = int(os.environ.get("KINERJA_SCHEMATHESIS_EXAMPLES", "20"))
SEED = int(os.environ.get("KINERJA_SCHEMATHESIS_SEED", "20260412"))


def schemathesis_run(base_url: str, headers: dict[str, str], report_dir: Path) -> tuple[list[str], list[dict]]:
    """The schemathesis CLI with all checks against the live app: (its command line, failures per check)."""
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{base_url}/api/v1/openapi.json",
        "--url",
        base_url,
        "--checks",
        "all",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--generation-deterministic",
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--suppress-health-check",
        "all",
        "--no-color",
        "--continue-on-failure",
        "--report",
        "ndjson",
        "--report-dir",
        str(report_dir),
        *(item for name, value in headers.items() for item in ("--header", f"{name}: {value}")),
    ]
    # cwd: schemathesis writes its .schemathesis/ state where it runs, not in the work tree.
    completed = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False, cwd=report_dir.parent)
    failures = list(_failures(report_dir))
    if completed.returncode not in (0, 1) or (completed.returncode == 1 and not failures):
        output = completed.stdout[-4000:] + completed.stderr[-4000:]
        raise AssertionError(f"schemathesis did not run ({completed.returncode}):\n{output}")
    return command, failures


def _failures(report_dir: Path) -> list[dict]:
    """Every failed check in the run's NDJSON events: check, operation, title, message, the request made."""
    found = []
    for path in report_dir.glob("*.ndjson"):
        for line in path.read_text().splitlines():
            scenario = json.loads(line).get("ScenarioFinished")
            if scenario is None:
                continue
            recorder = scenario["recorder"]
            for case_id, checks in recorder.get("checks", {}).items():
                for check in checks:
                    if check["status"] != "failure":
                        continue
                    failure = check["failure_info"]["failure"]
                    case = recorder["cases"][case_id]["value"]
                    response = (recorder["interactions"].get(case_id) or {}).get("response") or {}
                    found.append(
                        {
                            "check": check["name"],
                            "operation": failure.get("operation", recorder["label"]),
                            "title": failure.get("title", ""),
                            "message": failure.get("message", "").split("\n")[0],
                            "request": f"{case['method']} {case['path']} {_parts(case)}",
                            "status": response.get("status_code"),
                        }
                    )
    return found


def _parts(case: dict) -> str:
    return json.dumps({k: case[k] for k in ("path_parameters", "query", "body") if case.get(k) is not None})[:300]


def summary(failures: list[dict]) -> str:
    per_check = collections.Counter(f["check"] for f in failures)
    distinct = {(f["check"], f["operation"], f["message"]): f for f in failures}
    lines = [f"{check}: {count}" for check, count in per_check.most_common()]
    lines += [
        f"- {check} {operation}: {message}\n    {f['status']} <- {f['request']}"
        for (check, operation, message), f in sorted(distinct.items())
    ]
    return "\n".join(lines)


@pytest.mark.production
@pytest.mark.timeout(600)
def test_schemathesis_with_every_check_finds_nothing_on_postgres(postgres_url, mosquitto, tmp_path):
    # The whole server: PostgreSQL, and its consumer on Mosquitto, so commands to gateways are sent (202),
    # not refused for want of a broker (503). It consumes only a unit of its own: tests running beside it
    # on the same broker keep their messages.
    own = unique_slug("openapi")
    settings = {"mqtt": mosquitto, "replica_id": own, "share_group": own, "units": (own,), "session_expiry_s": 60}
    with threaded_server(postgres_url, consume=True, **settings) as (base_url, world):
        command, failures = schemathesis_run(base_url, world.auth(Role.BUREAU_ADMIN), tmp_path / "report")
    assert failures == [], (
        f"schemathesis found {len(failures)} failures:\n{summary(failures)}\n\nreproduce: {' '.join(command)}"
    )
