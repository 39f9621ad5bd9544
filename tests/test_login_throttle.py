"""Login throttling under concurrency, on SQLite and PostgreSQL: a burst of wrong passwords sent at once
gets exactly the allowed number of password checks (401) and the rest are refused unchecked (429), and
the password hashing (Argon2, ~0.1 s of CPU each) runs off the event loop, so the replica keeps
answering its health checks meanwhile.

The attacker and the load balancer are another process, as they would be: the server's process does only
the server's work. The machine these tests share is busy, so a health check can be late for reasons of
its own (one was 68 ms with no burst at all); the latency bound must hold in the best of three bursts.
On the old code every burst stalls the loop for whole password checks (0.4 to 1.4 s measured)."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import aiohttp
import pytest
from argon2 import PasswordHasher

from server.auth import LOGIN_CSRF_COOKIE, LOGIN_THROTTLE
from server.services import accounts
from tests.web_seed import PASSWORD, World, web_world

BURST = 30
ROOT = Path(__file__).resolve().parent.parent


async def login_form(world: World) -> str:
    """The login page's CSRF token (its cookie is now in the client's jar)."""
    form = await (await world.client.get("/login")).text()
    match = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert match is not None
    return match.group(1)


def burst_of_logins(port: int, form: dict[str, str], csrf: str, source: str) -> Counter[int]:
    """BURST logins sent at once, each on a connection of its own, from the loopback address `source`."""

    async def send_all() -> Counter[int]:
        connector = aiohttp.TCPConnector(limit=BURST, local_addr=(source, 0))
        async with aiohttp.ClientSession(cookies={LOGIN_CSRF_COOKIE: csrf}, connector=connector) as session:

            async def one() -> int:
                url = f"http://127.0.0.1:{port}/login"
                async with session.post(url, data=form, allow_redirects=False) as response:
                    await response.read()
                    return response.status

            return Counter(await asyncio.gather(*(one() for _ in range(BURST))))

    return asyncio.run(send_all())


def health_checks(port: int, stop: threading.Event, latencies: list[float]) -> None:
    """A load balancer's health checks, one after another on one connection, until told to stop."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        while not stop.is_set():
            started = time.perf_counter()
            connection.request("GET", "/api/v1/health")
            response = connection.getresponse()
            response.read()
            latencies.append(time.perf_counter() - started)
            assert response.status == 200
            time.sleep(0.005)
    finally:
        connection.close()


def attacker_and_load_balancer(port: int, username: str, csrf: str, source: str) -> None:
    """The client process: health checks running, the burst, and what each saw (JSON on stdout)."""
    stop = threading.Event()
    latencies: list[float] = []
    checker = threading.Thread(target=health_checks, args=(port, stop, latencies))
    checker.start()
    time.sleep(0.3)
    before = len(latencies)
    form = {"username": username, "password": "wrong-password", "csrf_token": csrf}
    statuses = burst_of_logins(port, form, csrf, source)
    during = latencies[before:]
    stop.set()
    checker.join()
    print(json.dumps({"statuses": statuses, "health_s": during}))


async def burst_from_another_process(
    port: int, username: str, csrf: str, source: str
) -> tuple[Counter[int], list[float]]:
    code = (
        "from tests.test_login_throttle import attacker_and_load_balancer as run; "
        f"run({port}, {username!r}, {csrf!r}, {source!r})"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()
    seen = json.loads(out)
    return Counter({int(status): count for status, count in seen["statuses"].items()}), seen["health_s"]


# A check on the event loop would hold /health for a whole Argon2 verification at the production cost
# (0.4-0.6 s, each of a burst in turn); two busy cores alone delay it by far less.
BLOCKED_S = 0.25


async def test_a_burst_of_wrong_passwords_gets_exactly_the_allowed_checks_and_health_stays_fast(
    db_url, monkeypatch: pytest.MonkeyPatch
):
    # The production cost here (conftest hashes at the lowest): a check on the loop must be slow enough to see.
    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=2))
    async with web_world(db_url) as world:
        await accounts.UserAccount.filter(username="budi").update(password_hash=accounts.hash_password(PASSWORD))
        allowed = world.client.app[LOGIN_THROTTLE].per_username
        assert allowed < BURST
        port = world.client.port
        assert port is not None
        csrf = await login_form(world)
        slowest: list[float] = []
        # A known user, then unknown ones (as slow to check), each burst from an address of its own so that
        # no burst is cut short by the per-address limit.
        for n, username in enumerate(("budi", "nobody-1", "nobody-2")):
            statuses, during = await burst_from_another_process(port, username, csrf, f"127.0.0.{10 + n}")
            print(f"{username}: {dict(statuses)}; {len(during)} health checks, slowest {max(during) * 1000:.1f} ms")
            assert statuses == {401: allowed, 429: BURST - allowed}, statuses
            assert len(during) >= 3, during
            slowest.append(max(during))
            if slowest[-1] < BLOCKED_S:
                break
        assert min(slowest) < BLOCKED_S, f"health took up to {[round(s * 1000) for s in slowest]} ms during the bursts"

        # The right password is refused too while the window lasts; another user is not affected.
        right = {"username": "budi", "password": PASSWORD, "csrf_token": csrf}
        assert (await world.client.post("/login", data=right, allow_redirects=False)).status == 429
        ani = {**right, "username": "ani"}
        assert (await world.client.post("/login", data=ani, allow_redirects=False)).status == 303


async def test_the_counts_hold_failures_only_and_windows_end(db_url):
    from server.auth import LoginThrottle

    async with web_world(db_url):
        throttle = LoginThrottle(per_username=2, per_address=3, window_s=1.0)
        # Right passwords from one office address (many employees behind one NAT) never use its budget.
        for name in ("ani", "budi", "citra", "dewi", "eko"):
            attempt = await throttle.attempt(name, "10.0.0.1")
            assert attempt.retry_after_s == 0
            await throttle.succeeded(attempt)
        # Wrong ones do: three failures from the address, and the fourth attempt (another name) waits.
        for name in ("fajar", "gita", "hadi"):
            attempt = await throttle.attempt(name, "10.0.0.1")
            assert attempt.retry_after_s == 0
            await throttle.failed(attempt)
        refused = await throttle.attempt("indah", "10.0.0.1")
        assert 0 < refused.retry_after_s <= 1.0
        # Concurrent attempts on one username: exactly `per_username` get through, whatever the interleaving.
        results = await asyncio.gather(*(throttle.attempt("joko", f"10.0.1.{n}") for n in range(12)))
        assert sum(1 for result in results if result.retry_after_s == 0) == 2
        # Refusals were not counted as failures, and when the window is over all may try again.
        await asyncio.sleep(1.1)
        assert (await throttle.attempt("indah", "10.0.0.1")).retry_after_s == 0
        assert (await throttle.attempt("joko", "10.0.1.0")).retry_after_s == 0
