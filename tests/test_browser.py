"""The pages in a real browser: Debian's Chromium, headless, driven by Playwright's Python client.

Each role logs in through the form and sees only what it may; a supervisor approves an activity an
employee entered; the recap's XLSX export is downloaded and opened; and the dashboard shows a punch made
on the simulated ZK device after it travelled device -> gateway -> MQTT -> server.
"""

from __future__ import annotations

import asyncio
import io
import shutil
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook

from gateway.config import DeviceConfig, GatewayConfig, RelayConfig
from gateway.service import Gateway
from gateway.simulators.zk import ZKSimulator
from server.services.accounts import Role
from tests.conftest import IN_CI
from tests.helpers import running_server
from tests.web_seed import (
    ACCOUNTS,
    ANI,
    BUDI,
    CITRA,
    PASSWORD,
    WIB,
    World,
    last_working_day,
    seed,
    seed_month,
    settle,
    web_world,
)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DAY = last_working_day(datetime.now(WIB).date())
MONTH = DAY.strftime("%Y-%m")


@pytest.fixture(autouse=True)
def _chromium_installed() -> None:
    """Debian's chromium is needed; skipped on a laptop without it, a failure under CI=true (.ci/run installs it)."""
    if shutil.which("chromium") is None:
        if IN_CI:
            pytest.fail("Debian's chromium is not installed; under CI=true the browser tests must run")
        pytest.skip("Debian's chromium is not installed")


@pytest.fixture
async def browser(tmp_path) -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        # A fresh profile per test: launch_persistent_context with an empty user-data-dir.
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, args=CHROMIUM_ARGS, accept_downloads=True
        )
        try:
            yield context
        finally:
            await context.close()


@pytest.fixture
async def world(tmp_path) -> AsyncIterator[World]:
    async with web_world(f"sqlite://{tmp_path / 'web.sqlite3'}") as w:
        await seed_month(DAY)
        await settle()  # the scoring workers' part: the recap and the charts read stored results only
        yield w


def base(world: World) -> str:
    return str(world.client.make_url("")).rstrip("/")


async def log_in(context: object, url: str, username: str) -> object:
    page = await context.new_page()  # type: ignore[attr-defined]
    await page.goto(f"{url}/login")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("form.login button[type=submit]")
    await page.wait_for_load_state()
    return page


async def log_out(page: object) -> None:
    await page.click("#logout")  # type: ignore[attr-defined]
    await page.wait_for_url("**/login")  # type: ignore[attr-defined]


async def test_each_role_logs_in_and_sees_only_what_it_may(world: World, browser):
    url = base(world)
    expectations = {
        Role.BUREAU_ADMIN: ("/dashboard", {ANI, BUDI, CITRA}),
        Role.UNIT_ADMIN: ("/dashboard", {CITRA}),
        Role.SUPERVISOR: ("/dashboard", {ANI, BUDI}),
    }
    for username, role, _, _ in ACCOUNTS:
        page = await log_in(browser, url, username)
        if role in expectations:
            landing, visible = expectations[role]
            assert page.url.endswith(landing)
            await page.goto(f"{url}/recap?month={MONTH}")
            rows = await page.locator("#recap tbody tr[data-nip]").evaluate_all("rows => rows.map(r => r.dataset.nip)")
            assert set(rows) == visible, role
            assert await page.locator("nav a[href='/recap']").count() == 1
        elif role is Role.EMPLOYEE:
            assert f"/employees/{BUDI}/month" in page.url
            assert await page.locator("#calendar details").count() >= 28
            assert await page.locator("nav a[href='/recap']").count() == 0
            refused = await page.goto(f"{url}/recap")
            assert refused.status == 403
            assert "tidak berhak" in await page.inner_text("h1")
            other = await page.goto(f"{url}/employees/{CITRA}/month")
            assert other.status == 404
        else:  # operations: gateways and devices, no personnel data
            assert page.url.endswith("/devices")
            assert await page.locator("section.gateway").count() == 2
            assert (await page.goto(f"{url}/dashboard")).status == 403
            assert (await page.goto(f"{url}/employees/{ANI}/month")).status == 403
        await log_out(page)
        await page.close()


async def test_a_supervisor_approves_an_activity_the_employee_entered(world: World, browser):
    url = base(world)
    budi = await log_in(browser, url, "budi")
    await budi.goto(f"{url}/activities")
    await budi.select_option("select[name=activity]", "LAPORAN")
    await budi.fill("input[name=date]", DAY.strftime("%d/%m/%Y"))  # typed the Indonesian way
    await budi.fill("input[name=start]", "10.00")
    await budi.fill("input[name=evidence]", "Laporan bulanan")
    await budi.click("#claim-form button[type=submit]")
    await budi.wait_for_url("**/activities?saved=1")
    assert "Diajukan" in await budi.inner_text("#my-claims")
    await log_out(budi)

    ani = await log_in(browser, url, "ani")
    await ani.goto(f"{url}/approvals")
    claim = ani.locator(f"tbody[data-nip='{BUDI}'] input[name=claim_id]")
    assert await claim.count() == 1
    await claim.check()
    await ani.click("#approve")
    await ani.wait_for_url("**/approvals?decided=1")
    assert "1 klaim diputuskan" in await ani.inner_text("main")
    await log_out(ani)

    budi = await log_in(browser, url, "budi")
    await budi.goto(f"{url}/activities")
    assert "Disetujui" in await budi.inner_text("#my-claims")
    await budi.goto(f"{url}/employees/{BUDI}/month?month={MONTH}")
    day = budi.locator(f"details[data-date='{DAY.isoformat()}']")
    await day.locator("summary").click()
    assert "LAPORAN" in await day.inner_text()
    assert "08:15:00" in await day.inner_text()


async def test_the_recap_export_downloads_and_opens(world: World, browser):
    url = base(world)
    page = await log_in(browser, url, "biro")
    await page.goto(f"{url}/recap?month={MONTH}")
    async with page.expect_download() as waiting:
        await page.click("#export-xlsx")
    download = await waiting.value
    assert download.suggested_filename == f"rekap-{MONTH}.xlsx"
    sheet = load_workbook(io.BytesIO((await download.path()).read_bytes())).active
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[0][:3] == ["No", "NIP", "Nama"]
    assert {row[1] for row in rows[1:]} == {ANI, BUDI, CITRA}


async def test_the_bureau_closes_the_month_and_downloads_the_payroll(world: World, browser):
    from datetime import date as _date

    from pypdf import PdfReader

    from server.payroll_models import EmployeeGrade

    for nip, grade in ((ANI, 9), (BUDI, 7)):
        await EmployeeGrade.create(nip=nip, grade=grade, first_day=_date(2020, 1, 1))
    url = base(world)
    page = await log_in(browser, url, "biro")
    await page.goto(f"{url}/recap?month={MONTH}&unit=dir-1")
    await page.click("#close-month button")
    await page.wait_for_url("**/payroll?*")
    assert await page.locator("#closed").count() == 1 and await page.locator("#provisional").count() == 0
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "payroll-closed-id-desktop.png"), full_page=True)
    api = await (
        await world.client.get(
            "/api/v1/payroll", params={"unit": "dir-1", "month": MONTH}, headers=world.auth(Role.BUREAU_ADMIN)
        )
    ).json()
    assert api["final"] and api["totals"]["net"] == sum(line["net"] for line in api["lines"])
    async with page.expect_download() as waiting:
        await page.click("#payroll-xlsx")
    sheet = load_workbook(io.BytesIO((await (await waiting.value).path()).read_bytes())).active
    total = next(row for row in sheet.iter_rows(values_only=True) if row[2] == "JUMLAH")
    assert (total[6], total[8], total[9]) == tuple(api["totals"][k] for k in ("gross", "cut", "net"))
    async with page.expect_download() as waiting:
        await page.click("#payroll-pdf")
    text = "".join(
        p.extract_text() for p in PdfReader(io.BytesIO((await (await waiting.value).path()).read_bytes())).pages
    )
    assert "SEMENTARA" not in text and f"{api['totals']['net']:,}".replace(",", ".") in text
    await page.goto(f"{url}/audit")
    assert "month.close" in await page.locator("#audit").inner_text()
    await page.screenshot(path=str(ARTIFACTS / "audit-id-desktop.png"), full_page=True)


async def wait_until(check, timeout_s: float = 20) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.3)
    return False


async def test_the_dashboard_shows_a_punch_made_on_the_simulated_device(embedded_broker, browser, tmp_path):
    now = datetime.now(WIB).replace(microsecond=0, tzinfo=None)
    with ZKSimulator(serial="DEV-LIVE-1") as device:
        device.add_user(pin="1", name="Ani")
        config = GatewayConfig(
            gateway_id="gw-dir1",
            unit="dir-1",
            zone=WIB,
            state_dir=tmp_path / "gw",
            mqtt=embedded_broker,
            devices=(DeviceConfig("lobby", "127.0.0.1", device.port, timeout_s=5, poll_interval_s=0.5),),
            relay=RelayConfig(batch_size=100, resend_after_s=2),
        )
        async with running_server(f"sqlite://{tmp_path / 'live.sqlite3'}", embedded_broker) as client:
            world = World(client)
            await seed(world)
            url = str(client.make_url("")).rstrip("/")
            page = await log_in(browser, url, "biro")
            row = page.locator(f"#today-employees tr[data-nip='{ANI}'] td.status")
            before = await row.inner_text()
            if now.weekday() < 5:
                assert before in ("Belum datang", "Tidak hadir")
                assert await row.get_attribute("data-status") in ("not_yet_in", "absent")
            gateway = Gateway(config)
            await gateway.start()
            try:
                device.add_punch("1", now - timedelta(minutes=1), state=0, verify=1)

                async def shows_the_punch() -> bool:
                    await page.reload()
                    cell = page.locator(f"#today-employees tr[data-nip='{ANI}'] td")
                    # On the office's clock, the zone named.
                    return (await cell.nth(3).inner_text()) == (now - timedelta(minutes=1)).strftime("%H:%M WIB")

                assert await wait_until(shows_the_punch), await page.inner_text("#today-employees")
                assert await row.inner_text() in ("Hadir tepat waktu", "Terlambat")
                # Operations' command reaches the live gateway, and its answer comes back to the page.
                await page.goto(f"{url}/devices")
                await page.click("section[data-gateway='gw-dir1'] button.sync")
                await page.wait_for_url("**/devices?sent=sync_clock&to=gw-dir1")
                assert "Sinkronkan jam" in await page.inner_text("p.notice")

                async def answered() -> bool:
                    await page.reload()
                    status = page.locator("section[data-gateway='gw-dir1'] td.command-status").first
                    return await status.count() == 1 and await status.get_attribute("data-status") == "ok"

                assert await wait_until(answered), await page.inner_text("section[data-gateway='gw-dir1']")
            finally:
                await gateway.stop()


ARTIFACTS = Path(__file__).parent / "artifacts"
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
# (username, name of the screenshot, path): every page, by the role that opens it.
TOURS = (
    ("biro", "dashboard", "/dashboard"),
    ("biro", "recap", f"/recap?month={MONTH}"),
    ("biro", "charts", f"/charts?month={MONTH}"),
    ("biro", "devices", "/devices"),
    ("biro", "areas", "/areas"),
    ("biro", "pending-devices", "/devices/pending"),
    ("biro", "device-commands", "/devices/commands"),
    ("biro", "enrolment", f"/employees/{BUDI}/devices"),
    ("biro", "accounts", "/accounts"),
    ("biro", "payroll", f"/payroll?month={MONTH}&unit=dir-1"),
    ("biro", "audit", "/audit"),
    ("biro", "employee-month", f"/employees/{BUDI}/month?month={MONTH}"),
    ("biro", "employee-master", f"/master/employees/{BUDI}"),
    ("biro", "error-404", "/employees/000/month"),
    ("ani", "approvals", "/approvals"),
    ("budi", "my-month", f"/employees/{BUDI}/month?month={MONTH}"),
    ("budi", "activities", "/activities?error=choose+at+least+one+claim"),
)
# Every text with a clock time names the zone, in the text itself or on the element that holds it.
TIMES_WITHOUT_ZONE = """() => {
  const found = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (!/\\b\\d{1,2}:\\d{2}\\b/.test(node.textContent) || node.parentElement.closest('[data-zone], .error')) continue;
    const around = node.parentElement.closest('td, p, li, span, small, time, div').textContent;
    if (!/\\b(WIB|WITA|WIT)\\b/.test(around)) found.push(around.trim().slice(0, 80));
  }
  return found;
}"""

# Every control a person fills in has a name a screen reader reads: a <label>, or an aria-label.
UNLABELLED_CONTROLS = """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
  .filter(e => !e.closest('label') && !e.getAttribute('aria-label'))
  .filter(e => !(e.id && document.querySelector(`label[for="${e.id}"]`)))
  .map(e => e.outerHTML.slice(0, 80))"""

FOCUSED = "(() => { const e = document.activeElement; return [e.className, e.getBoundingClientRect().left]; })()"


async def test_every_page_in_both_languages_and_at_phone_width(world: World, browser):
    """Screenshots of every page (tests/artifacts/, for a reviewer's eyes); on each, nothing the server
    was asked for is missing (favicon, stylesheet), no Indonesian page asked for an untranslated message,
    every time names its zone, and nothing is wider than a phone's screen but the tables' own scroll."""
    from server import i18n

    ARTIFACTS.mkdir(exist_ok=True)
    budi = world.auth(Role.EMPLOYEE)
    for start in ("09:00", "20:00"):
        body = {"activity": "SURAT", "date": DAY.isoformat(), "start": start, "quantity": 1, "evidence": "ND-1"}
        assert (await world.client.post("/api/v1/activities", json=body, headers=budi)).status == 201
    await seed_audit()  # the audit trail seen with entries, not only empty
    url = base(world)
    i18n.MISSING.clear()
    login = await browser.new_page()
    for language in ("id", "en"):
        for viewport, size in VIEWPORTS.items():
            await login.set_viewport_size(size)
            await login.goto(f"{url}/login?lang={language}")
            await login.screenshot(path=str(ARTIFACTS / f"login-{language}-{viewport}.png"), full_page=True)
    await login.close()
    pages: dict[str, object] = {}
    for username, name, path in TOURS:
        if username not in pages:
            pages[username] = await log_in(browser, url, username)
        page = pages[username]
        failed: list[str] = []

        def note_failure(response: object, failed: list[str] = failed) -> None:
            if response.status >= 400 and response.request.resource_type != "document":  # type: ignore[attr-defined]
                failed.append(f"{response.status} {response.url}")  # type: ignore[attr-defined]

        page.on("response", note_failure)  # type: ignore[attr-defined]
        for language in ("id", "en"):
            for viewport, size in VIEWPORTS.items():
                await page.set_viewport_size(size)  # type: ignore[attr-defined]
                sep = "&" if "?" in path else "?"
                await page.goto(f"{url}{path}{sep}lang={language}")  # type: ignore[attr-defined]
                await page.wait_for_load_state("networkidle")  # type: ignore[attr-defined]
                if name.endswith("month"):  # a day opened: its detail over the grid
                    await page.locator(f"details[data-date='{DAY.isoformat()}'] summary").click()  # type: ignore[attr-defined]
                await page.screenshot(path=str(ARTIFACTS / f"{name}-{language}-{viewport}.png"), full_page=True)  # type: ignore[attr-defined]
                assert await page.evaluate("document.documentElement.lang") == language  # type: ignore[attr-defined]
                assert await page.evaluate(TIMES_WITHOUT_ZONE) == [], (name, language)  # type: ignore[attr-defined]
                assert await page.evaluate(UNLABELLED_CONTROLS) == [], name  # type: ignore[attr-defined]
                if name == "dashboard":  # the keyboard's first stop: the skip link, shown when it has focus
                    await page.keyboard.press("Tab")  # type: ignore[attr-defined]
                    focused = await page.evaluate(FOCUSED)  # type: ignore[attr-defined]
                    assert focused[0] == "skip" and focused[1] >= 0, focused
                overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")  # type: ignore[attr-defined]
                assert overflow <= 1, (name, language, viewport, overflow)
        if name in ("recap", "employee-month"):  # the report as printed: no menu, no forms
            await page.set_viewport_size(VIEWPORTS["desktop"])  # type: ignore[attr-defined]
            await page.goto(f"{url}{path}{'&' if '?' in path else '?'}lang=id")  # type: ignore[attr-defined]
            await page.emulate_media(media="print")  # type: ignore[attr-defined]
            assert not await page.locator("header.top nav").is_visible()  # type: ignore[attr-defined]
            await page.screenshot(path=str(ARTIFACTS / f"{name}-id-print.png"), full_page=True)  # type: ignore[attr-defined]
            await page.emulate_media(media="screen")  # type: ignore[attr-defined]
        assert failed == [], (name, failed)
        assert {m for m in i18n.MISSING if m[0] == "id"} == set(), name


async def seed_audit() -> None:
    from server.services.payroll import record_audit

    await record_audit(
        "biro", "bureau_admin", "grade.set", BUDI, "dir-1", {"grade": 7, "status": "pns", "from": "2020-01-01"}
    )
    await record_audit("biro", "bureau_admin", "month.close", f"dir-1 {MONTH}", "dir-1", {"lines": 2, "net": 9190300})
    await record_audit("biro", "bureau_admin", "payroll.correct", f"dir-1 {MONTH} {BUDI}", "dir-1",
                       {"reason": "Kelas jabatan salah", "net_before": 4595150, "net_after": 4700000})  # fmt: skip
    await record_audit("admin-dir2", "unit_admin", "signatories.set", "dir-2", "dir-2",
                       {"head_name": "Dr. Sari", "head_nip": "197001011990032001"})  # fmt: skip


async def test_the_month_is_picked_by_name_and_stepped_without_javascript(world: World, browser):
    """The month picker speaks the page's language (not the browser's), and works with scripts off."""
    from server.i18n import Formats
    from server.services.month import next_month, previous_month

    url = base(world)
    page = await log_in(browser, url, "biro")
    month = DAY.replace(day=1)
    earlier = previous_month(month)
    for language in ("id", "en"):
        fmt = Formats(language)
        await page.goto(f"{url}/recap?month={MONTH}&unit=dir-1&lang={language}")
        picker = page.locator("select[name=month]")
        assert (await picker.locator("option:checked").inner_text()).strip() == fmt.month(month)
        await picker.select_option(earlier.strftime("%Y-%m"))
        await page.click("form.filters button[type=submit]")
        await page.wait_for_load_state()
        assert f"month={earlier:%Y-%m}" in page.url and "unit=dir-1" in page.url
        assert fmt.month(earlier) in await page.inner_text("h1")
        await page.click("nav.month-steps a.next")
        await page.wait_for_load_state()
        assert f"month={MONTH}" in page.url and "unit=dir-1" in page.url
        assert (await page.inner_text("nav.month-steps a.next")).strip().startswith(fmt.month(next_month(month)))
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "month-picker-en-desktop.png"))


async def test_accounts_default_to_the_least_role_confirm_before_disabling_and_enable_again(world: World, browser):
    url = base(world)
    page = await log_in(browser, url, "biro")
    await page.goto(f"{url}/accounts")
    assert await page.locator("#account-form select[name=role]").input_value() == "employee"
    row = page.locator("tr[data-username='ops']")
    await row.locator("summary", has_text="Nonaktifkan").click()  # one click only asks
    assert await row.locator("td.active").get_attribute("data-active") == "yes"
    assert "tidak dapat masuk lagi" in await row.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "accounts-confirm-id-desktop.png"), full_page=True)
    await row.locator("button", has_text="Ya, nonaktifkan").click()
    await page.wait_for_url("**/accounts?done=ops")
    row = page.locator("tr[data-username='ops']")
    assert await row.locator("td.active").get_attribute("data-active") == "no"
    await row.locator("button.enable").click()
    await page.wait_for_url("**/accounts?done=ops")
    assert await page.locator("tr[data-username='ops'] td.active").get_attribute("data-active") == "yes"
    await page.close()
    ops = await log_in(browser, url, "ops")  # enabled again: the account logs in
    assert ops.url.endswith("/devices")


async def test_forms_speak_indonesian_in_a_browser_set_to_english_us(world: World, tmp_path):
    """Chromium in en-US draws its own date and time pickers as 12/03/2026 and 09:00 AM on any page; the forms
    take day/month/year and the 24-hour clock as text instead, and choose units by name."""
    from playwright.async_api import async_playwright

    url = base(world)
    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await chromium.new_context(locale="en-US", timezone_id="America/New_York")
            assert await (await context.new_page()).evaluate("navigator.language") == "en-US"
            budi = await log_in(context, url, "budi")
            await budi.goto(f"{url}/activities")
            date_field, start = budi.locator("input[name=date]"), budi.locator("input[name=start]")
            assert await date_field.get_attribute("type") is None and await start.get_attribute("type") is None
            today = datetime.now(WIB).date()
            assert await date_field.input_value() == today.strftime("%d/%m/%Y")
            assert "hari/bulan/tahun" in await budi.inner_text("#claim-form")
            await date_field.fill("")  # the browser's own check, in the page's language (static/forms.js)
            await budi.click("#claim-form button[type=submit]")
            assert await date_field.evaluate("f => f.validationMessage") == "Isian ini wajib diisi."
            assert budi.url.endswith("/activities")
            await date_field.fill("31/02/2026")
            await budi.click("#claim-form button[type=submit]")
            assert "bukan tanggal: tulis sebagai hari/bulan/tahun" in await budi.inner_text("p.error")
            await date_field.fill(DAY.strftime("%d/%m/%Y"))
            await start.fill("9.30")
            await budi.click("#claim-form button[type=submit]")
            await budi.wait_for_url("**/activities?saved=1")
            row = budi.locator("#my-claims tbody tr").first
            assert f"{DAY.day} " in await row.inner_text() and "09:30 WIB" in await row.inner_text()
            await budi.screenshot(path=str(ARTIFACTS / "activities-typed-en-us.png"), full_page=True)

            biro = await log_in(context, url, "biro")
            await biro.goto(f"{url}/employees/{CITRA}/month?month={MONTH}")
            await biro.fill("#excuse-form input[name=first_day]", "2026-13-40")
            await biro.fill("#excuse-form input[name=last_day]", DAY.strftime("%d/%m/%Y"))
            await biro.click("#excuse-form button[type=submit]")
            assert "'2026-13-40' bukan tanggal" in await biro.inner_text("p.error")
            await biro.fill("#excuse-form input[name=first_day]", DAY.strftime("%d/%m/%Y"))
            await biro.fill("#excuse-form input[name=last_day]", DAY.strftime("%d/%m/%Y"))
            await biro.click("#excuse-form button[type=submit]")
            await biro.wait_for_url("**recorded=1")
            category = biro.locator(f"details[data-date='{DAY.isoformat()}']")
            assert await category.get_attribute("data-category") == "excused"
            await biro.screenshot(path=str(ARTIFACTS / "month-excuse-en-us.png"), full_page=True)

            await biro.goto(f"{url}/accounts")
            options = await biro.locator("#account-form select[name=unit] option").all_inner_texts()
            assert "Direktorat Dua (dir-2)" in options and options[0] == "— tidak ada —"
            admin = await log_in(context, url, "admin-dir2")
            await admin.goto(f"{url}/accounts")
            mine = await admin.locator("#account-form select[name=unit] option").evaluate_all(
                "options => options.map(o => o.value)"
            )
            assert mine == ["dir-2"]  # a unit administrator picks only from the units they cover
        finally:
            await chromium.close()
