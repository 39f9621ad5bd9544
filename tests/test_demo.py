"""`kinerja demo --once`, run as a newcomer runs it: a separate process, the embedded parts only."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from kinerja.demo import (
    DEMO_EMPLOYEES,
    DEMO_SUPERVISOR_NIP,
    DEMO_UNIT,
    DEMO_UNITS,
    DEMO_ZONE,
    correction_day,
    demo_punches,
)
from tests.test_browser import _chromium_installed, browser  # noqa: F401 (fixtures)

ARTIFACTS = Path(__file__).parent / "artifacts"
ADMIN_PAGES = ("/dashboard", "/recap", "/charts", "/devices", "/devices/pending", "/devices/commands", "/fleet",
               "/areas", "/accounts", "/audit", "/payroll", "/requests/queue", "/requests", "/activities", "/my/month",
               "/approvals",
               "/master/units", "/master/employees", "/employees/import", "/gateways/enrol",
               f"/employees/{DEMO_EMPLOYEES[0].nip}/month", f"/master/employees/{DEMO_EMPLOYEES[0].nip}",
               f"/employees/{DEMO_EMPLOYEES[0].nip}/devices", "/kinerja/skp", "/kinerja/skp/tim", "/kinerja/sasaran",
               "/kinerja/organisasi", f"/kinerja/skp/pegawai/{DEMO_EMPLOYEES[0].nip}")  # fmt: skip
GRADE_7_GROSS = 3_915_950  # Perpres 71/2023, Kementerian Sosial, kelas jabatan 7 (DOMAIN.md)


def run_demo(state_dir, timeout_s: float = 110) -> subprocess.CompletedProcess[str]:
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


# The limits catch a hang, not slowness: the demo seeds three units, a closed month and Argon2 logins,
# which take a minute when the suite's other worker loads the same two cores.
@pytest.mark.timeout(150)
def test_demo_prints_every_employees_punches_from_the_simulated_device(tmp_path):
    result = run_demo(tmp_path / "demo")
    assert result.returncode == 0, result.stderr
    for employee in DEMO_EMPLOYEES:
        assert employee.nip in result.stdout
        assert employee.name in result.stdout
    assert "stored via gateway gw-demo" in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.timeout(260)
def test_running_the_demo_again_stores_nothing_twice(tmp_path):
    first = run_demo(tmp_path / "demo")
    second = run_demo(tmp_path / "demo")
    assert first.returncode == 0 and second.returncode == 0, second.stderr
    table = table_rows(second.stdout)
    assert len(table) == len(DEMO_EMPLOYEES)
    assert table == table_rows(first.stdout)


@contextlib.contextmanager
def serving_demo(state_dir, timeout_s: float = 90) -> Iterator[tuple[str, dict[str, tuple[str, str]], float]]:
    """`kinerja demo` serving: its base URL, the printed login of each role, and how long it took to serve."""
    command = [sys.executable, "-m", "kinerja.cli", "demo", "--http-port", "0", "--state-dir", str(state_dir)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1"}
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: queue.Queue[str] = queue.Queue()  # read on a thread: a pipe's buffered lines never wake a select
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    seen: list[str] = []
    try:
        while not (seen and seen[-1].startswith("Server running at ")):
            try:
                seen.append(lines.get(timeout=max(0.1, timeout_s - (time.monotonic() - started))))
            except queue.Empty:
                process.send_signal(signal.SIGABRT)
                pytest.fail(f"kinerja demo did not serve within {timeout_s} s:\n" + "".join(seen)[-6000:])
        took = time.monotonic() - started
        base = seen[-1].split()[3]
        logins = {m[1]: (m[2], m[3]) for line in seen if (m := re.match(r"  (\w+) +(\S+) / (\S+)$", line))}
        yield base, logins, took
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


async def logged_in(context, base: str, username: str, password: str):
    page = await context.new_page()
    await page.goto(f"{base}/login")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", password)
    await page.click("form.login button[type=submit]")
    await page.wait_for_load_state()
    return page


def previous_month(today: date) -> date:
    return (today.replace(day=1) - timedelta(days=1)).replace(day=1)


@pytest.mark.timeout(300)  # the demo's start, five password logins (Argon2, slow on purpose), a browser
async def test_the_demo_serves_a_bureaus_month_and_every_printed_login_works(tmp_path, browser):  # noqa: F811
    ARTIFACTS.mkdir(exist_ok=True)
    with serving_demo(tmp_path / "demo") as (base, logins, took):
        print(f"kinerja demo served after {took:.1f} s")
        assert set(logins) == {"bureau_admin", "unit_admin", "supervisor", "employee", "operations"}
        pages = {}
        for role, (username, password) in logins.items():
            # One browser, one session at a time: each login replaces the one before (checked per role below).
            page = await logged_in(browser, base, username, password)
            assert "/login" not in page.url, (role, page.url)  # the login worked: the role's home
            pages[role] = page
            if role == "employee":  # their own month, with the new recruit's days before the start left out
                assert page.url.endswith(f"/employees/{DEMO_EMPLOYEES[0].nip}/month"), page.url
                # The forgotten departure, corrected and approved: the day is not a left-early day (PSW).
                day = correction_day(datetime.now(DEMO_ZONE).date())
                await page.goto(f"{base}/employees/{DEMO_EMPLOYEES[0].nip}/month?month={day:%Y-%m}")
                category = await page.locator(f"details[data-date='{day.isoformat()}']").get_attribute("data-category")
                assert category in ("ok", "TL"), (day, category)
                await page.screenshot(path=str(ARTIFACTS / "demo-employee-month.png"), full_page=True)
                mine = page  # the employee sees both: the leave waiting, the correction approved
                await mine.goto(f"{base}/requests")
                text = await mine.inner_text("main")
                assert "Cuti tahunan" in text and "Koreksi presensi" in text and "Disetujui" in text, text[:2000]
            elif role == "supervisor":  # the pending leave waits in the supervisor's queue
                await page.goto(f"{base}/requests/queue")
                text = await page.inner_text("main")
                assert "Budi Santoso" in text and "Cuti tahunan" in text, text[:2000]
                await page.screenshot(path=str(ARTIFACTS / "demo-queue.png"), full_page=True)
                assert (await page.goto(f"{base}/approvals")).status == 200  # activity approvals: supervisors only
            elif role == "operations":
                assert page.url.endswith("/devices") and "DEMO-ZK-0003" in await page.inner_text("main")
        # Last, the bureau's administrator again: every unit's figures.
        admin_page = await logged_in(browser, base, *logins["bureau_admin"])
        admin = admin_page.request
        today = datetime.now(DEMO_ZONE).date()
        closed = previous_month(today)

        for path in ADMIN_PAGES:  # the demo's administrator opens every page
            response = await admin.get(base + path)
            assert response.status == 200, (path, response.status, (await response.text())[:500])
            assert "Traceback" not in await response.text()

        units = (await (await admin.get(f"{base}/api/v1/units")).json())["items"]
        assert {unit["code"] for unit in units} >= {unit.code for unit in DEMO_UNITS}
        employees = (await (await admin.get(f"{base}/api/v1/employees?limit=500")).json())["items"]
        assert len(employees) >= 20
        assert all(e["position"] for e in employees)
        assert sum(1 for e in employees if e["supervisor"]) >= 18

        for spec in DEMO_UNITS:  # every unit's last month is closed and paid in Rupiah
            sheet = await (await admin.get(f"{base}/api/v1/payroll?unit={spec.code}&month={closed:%Y-%m}")).json()
            assert sheet["final"] is True, sheet
            assert len(sheet["lines"]) == len([e for e in DEMO_EMPLOYEES if e.unit == spec.code])
            assert sheet["totals"]["gross"] > 0 and 0 < sheet["totals"]["net"] <= sheet["totals"]["gross"]
            assert sheet["totals"]["net"] == sum(line["net"] for line in sheet["lines"])
        # The recruit who started on the 10th is paid pro rata (CPNS, 80 %), never cut for the days before.
        recruit = next(e for e in DEMO_EMPLOYEES if e.started_day)
        sheet = await (await admin.get(f"{base}/api/v1/payroll?unit={recruit.unit}&month={closed:%Y-%m}")).json()
        line = next(line for line in sheet["lines"] if line["nip"] == recruit.nip)
        assert line["status"] == "cpns" and 0 < line["net"] < GRADE_7_GROSS * 0.8 * 0.8, line
        month = await (await admin.get(f"{base}/api/v1/employees/{recruit.nip}/month?month={closed:%Y-%m}")).json()
        before = [d for d in month["days"] if d["date"] < closed.replace(day=recruit.started_day).isoformat()]
        assert before and all(d["category"] != "TK" for d in before), before

        await admin_page.goto(f"{base}/payroll?unit={DEMO_UNIT}&month={closed:%Y-%m}")
        text = await admin_page.inner_text("main")
        assert "Rp" in text and "SEMENTARA" not in text, text[:2000]
        await admin_page.screenshot(path=str(ARTIFACTS / "demo-payroll.png"), full_page=True)
        await admin_page.goto(f"{base}/dashboard")
        await admin_page.screenshot(path=str(ARTIFACTS / "demo-dashboard.png"), full_page=True)
        # The head office's plans cascade from its head to every staff member, realised by the approved claims.
        await admin_page.goto(f"{base}/kinerja/organisasi")
        assert await admin_page.inner_text(f"#organisation tr[data-unit='{DEMO_UNIT}'] .achievement") != "–"
        await admin_page.click(f"#organisation tr[data-unit='{DEMO_UNIT}'] summary")
        staff = [e for e in DEMO_EMPLOYEES if e.unit == DEMO_UNIT and e.supervisor == DEMO_SUPERVISOR_NIP]
        for employee in staff:
            line = await admin_page.inner_text(f"#organisation tr[data-nip='{employee.nip}']")
            assert "%" in line, (employee.name, line)
        await admin_page.screenshot(path=str(ARTIFACTS / "demo-organisation.png"), full_page=True)
        # The same unit carries the year's appraisal: the ministry's row rolls up every member's predicate within
        # the unit's rule, and the yearly SIASN export holds a rated row for each of them.
        members = {e.nip for e in DEMO_EMPLOYEES if e.unit == DEMO_UNIT}
        await admin_page.goto(f"{base}/kinerja/organisasi?year={today.year}&period={today.year}")
        ministry = await admin_page.inner_text("#organisation tr[data-unit='kemensos'] .predicates")
        assert sum(int(n) for n in re.findall(r"\d+", ministry)) == len(members), ministry
        assert await admin_page.locator(f"#organisation tr[data-unit='{DEMO_UNIT}'] [data-breaks]").count() == 0
        assert "Sesuai aturan" in await admin_page.inner_text(
            f"#organisation tr[data-unit='{DEMO_UNIT}'] .distribution"
        )
        await admin_page.screenshot(path=str(ARTIFACTS / "demo-organisation-year.png"), full_page=True)
        export = await admin.get(f"{base}/api/v1/exports/skp.csv?year={today.year}&unit={DEMO_UNIT}")
        rows = list(csv.reader(io.StringIO((await export.body()).decode("utf-8-sig"))))[1:]
        assert {row[1].lstrip("'") for row in rows} == members and all(row[9] for row in rows), rows
        await admin_page.goto(f"{base}/recap?unit={DEMO_UNIT}&month={closed:%Y-%m}")
        assert "Hendra Gunawan" in await admin_page.inner_text("main")
        await admin_page.screenshot(path=str(ARTIFACTS / "demo-recap.png"), full_page=True)


@pytest.mark.parametrize("clock", ["00:00:30", "02:07:00", "07:40:00", "23:59:00"])
def test_todays_punches_are_the_same_a_minute_later_and_never_in_the_future(clock):
    """A demo run at night shows punches at fixed moments after midnight: a rerun a minute later adds only
    what happened in that minute (CI once ran the demo at 01:45 WIB and its rerun stored new punches)."""
    day = date(2026, 12, 4)
    now = datetime.combine(day, datetime.strptime(clock, "%H:%M:%S").time())
    earlier, later = demo_punches(day, now), demo_punches(day, now + timedelta(minutes=1))
    assert all(moment <= now for _, _, moment, _ in earlier)
    assert [p for p in later if p[2] <= now] == earlier
    assert len({(unit, pin, moment) for unit, pin, moment, _ in later if moment <= now}) == len(earlier)
