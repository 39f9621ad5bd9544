"""The fleet view for IT staff (issue 20) in a real browser (Debian's Chromium): every gateway with its unit,
version, last seen on its office's clock (WITA here, named), backlog, devices and their state, and the
configuration revision from the centre it applied (and a refused one, with its reason); the filters for
gateways not heard from for over an hour and for older versions. Screenshots in tests/artifacts/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from server.gateway_config_models import GatewayConfigRevision, GatewayConfigRunning
from server.i18n import MISSING, Formats
from server.models import Gateway, GatewayCommand, Office
from tests.test_browser import _chromium_installed, base, browser, log_in, world  # noqa: F401 (fixtures)
from tests.web_seed import World
from wire.zones import office_zone

ARTIFACTS = Path(__file__).parent / "artifacts"
WITA = office_zone("WITA")


async def fleet() -> datetime:
    """The seeded gateways given versions, a backlog, an old sighting and configuration revisions."""
    await Office.create(code="kantor-dir2", name="Kantor Makassar", unit_id="dir-2", zone="WITA")
    seen = (datetime.now(UTC) - timedelta(hours=3)).replace(second=0, microsecond=0)
    await Gateway.filter(gateway_id="gw-dir1").update(version="0.2.0", queued_punches=4, oldest_queued_age_s=30)
    await Gateway.filter(gateway_id="gw-dir2").update(
        version="0.1.0", last_seen_at=seen, queued_punches=1250, oldest_queued_age_s=3 * 3600
    )
    now = datetime.now(UTC)
    for revision, status, reason in (
        (1, "applied", None),
        (2, "rejected", "konfigurasi pusat revisi 2: devices[0].profile: no profile 'zkteco-x9'"),
    ):
        await GatewayConfigRevision.create(
            gateway_id="gw-dir1", unit_code="dir-1", revision=revision, document={}, created_by="ops",
            created_at=now, status=status, reason=reason, answered_at=now,
        )  # fmt: skip
    await GatewayConfigRunning.create(gateway_id="gw-dir1", revision=1, reported_at=now)
    return seen


async def test_the_fleet_view_shows_every_gateway_in_office_time_and_filters(world: World, browser):  # noqa: F811
    ARTIFACTS.mkdir(exist_ok=True)
    seen = await fleet()
    page = await log_in(browser, base(world), "ops")
    await page.click("nav a[href='/fleet']")
    assert await page.inner_text("h1") == "Armada gateway"
    one, two = page.locator("tr[data-gateway=gw-dir1]"), page.locator("tr[data-gateway=gw-dir2]")
    first = await one.inner_text()
    assert "Direktorat Satu" in first and "0.2.0" in first and "Daring" in first
    assert "Revisi 1 diterapkan" in first and "revisi 2 ditolak" in first and "zkteco-x9" in first
    assert "✓ lobby" in first and "4 presensi" in first
    second = await two.inner_text()
    # Last seen on the office's own clock, its zone named: three hours ago in Makassar.
    local = seen.astimezone(WITA)
    assert f"{local:%H:%M} WITA" in second, second
    assert "Luring" in second and "lebih lama dari yang terbaru" in second
    assert "1.250 presensi" in second and "tertua 180 menit" in second  # Indonesian digit grouping
    assert "✗ entrance" in second and "Berkas gateway sendiri" in second
    await page.set_viewport_size({"width": 1280, "height": 800})
    await page.screenshot(path=str(ARTIFACTS / "fleet-id-desktop.png"), full_page=True)

    await page.click("a[href='/fleet?show=offline']")
    assert await page.locator("tr[data-gateway]").count() == 1 and await two.count() == 1
    await page.click("a[href='/fleet?show=old']")
    assert await page.locator("tr[data-gateway]").count() == 1 and await two.count() == 1
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.screenshot(path=str(ARTIFACTS / "fleet-id-phone.png"), full_page=True)
    assert not {m for m in MISSING if m[0] == "id"}, MISSING


async def test_the_fleet_view_is_for_device_roles_only_and_each_sees_its_scope(world: World):  # noqa: F811
    await fleet()
    client = world.client
    for username, status, gateways in (("biro", 200, 2), ("ops", 200, 2), ("admin-dir2", 200, 1), ("ani", 403, 0)):
        response = await client.get("/fleet", headers={"Authorization": f"Bearer {world.tokens[username]}"})
        assert response.status == status, username
        if status == 200:
            assert (await response.text()).count("<tr data-gateway=") == gateways


async def report(
    gateway_id: str, unit: str, queued: int, relayed: int, version: str = "0.3.0", **extra: object
) -> None:
    """A telemetry report from the gateway, through the server's own handler (as the consumer hands it)."""
    from server.status import record_telemetry
    from wire.contract import Telemetry, TopicKind, address_for

    telemetry = Telemetry(gateway_id, version, 93_780.0, queued, 0, None, 0, (), relayed_punches=relayed, **extra)
    await record_telemetry(address_for(unit, gateway_id, TopicKind.TELEMETRY), telemetry, new_devices="accept")


async def test_the_fleet_shows_uptime_drift_certificates_a_growing_backlog_and_a_days_chart(world: World, browser):  # noqa: F811
    from server.telemetry_models import GatewayTelemetrySample

    seen = await fleet()
    # gw-dir1: a backlog rising from report to report, no TLS, its clock on time.
    for queued in (3, 8, 20, 45):
        await report("gw-dir1", "dir-1", queued, 100, tls=False)
    # gw-dir2: over TLS, its CA expiring in 20 days, its clock 2 minutes ahead; a backlog that went down.
    expiry = datetime.now(UTC) + timedelta(days=20)
    for queued in (50, 60, 40, 70):
        ahead = datetime.now(UTC) + timedelta(seconds=120)
        await report("gw-dir2", "dir-2", queued, 10, "0.2.5", tls=True, tls_expires_at=expiry, at=ahead)
    await Gateway.filter(gateway_id="gw-dir2").update(last_seen_at=seen)  # and not heard from since
    # The last day of gw-dir1, before those: a report every 10 minutes, the centre acknowledging 30 punches
    # between each two (3 a minute), and a restart 18 hours ago (the counter from zero again).
    now = datetime.now(UTC)
    relayed = 0
    for step in range(24 * 6 - 1, 0, -1):  # the oldest first
        relayed = 30 if step == 6 * 18 else relayed + 30
        await GatewayTelemetrySample.create(
            gateway_id="gw-dir1", received_at=now - timedelta(minutes=10 * step), version="0.3.0",
            uptime_s=600.0 * step, queued_punches=step % 7, relayed_punches=relayed, clock_offset_s=0.4,
        )  # fmt: skip
    assert await GatewayTelemetrySample.filter(gateway_id="gw-dir2").count() == 4  # one row a report

    page = await log_in(browser, base(world), "ops")
    await page.set_viewport_size({"width": 1400, "height": 900})
    await page.goto(f"{base(world)}/fleet")
    one, two = page.locator("tr[data-gateway=gw-dir1]"), page.locator("tr[data-gateway=gw-dir2]")
    assert await one.locator("td.uptime").inner_text() == "1 hr 2 jam"  # 93,780 s
    assert await one.locator("td.certificate").inner_text() == "tanpa TLS"
    assert await one.locator("td.drift").inner_text() == "tepat"
    assert "bertambah" in await one.locator("td.backlog").inner_text()
    assert await two.locator("td.drift").inner_text() == "120 dtk lebih cepat"
    assert "warning" in str(await two.locator("td.drift").get_attribute("class"))
    certificate = two.locator("td.certificate")
    assert await certificate.inner_text() == f"sampai {Formats('id').date(expiry.astimezone(WITA).date())}"
    assert "warning" in str(await certificate.get_attribute("class"))  # under 30 days
    await page.screenshot(path="/tmp/t20-fleet-extras.png", full_page=True)

    # The filters: a backlog growing (gw-dir1 only); offline over an hour and an older version (gw-dir2).
    await page.click("a[href='/fleet?show=growing']")
    assert await page.locator("tr[data-gateway]").count() == 1 and await one.count() == 1
    assert await page.get_attribute("a[href='/fleet?show=growing']", "aria-current") == "page"
    await page.click("a[href='/fleet?show=offline']")
    assert await page.locator("tr[data-gateway]").count() == 1 and await two.count() == 1
    await page.click("a[href='/fleet?show=old']")
    assert await page.locator("tr[data-gateway]").count() == 1 and await two.count() == 1  # 0.2.5 < 0.3.0
    # The centre announced 0.4.0 to gw-dir1: now both run an older version than the target.
    await GatewayCommand.create(
        command_id="upgrade-1", gateway_id="gw-dir1", unit_code="dir-1", action="upgrade",
        args={"version": "0.4.0", "url": "https://pusat.example/releases/kinerja-gateway-0.4.0.tar"},
    )  # fmt: skip
    await page.reload()
    assert await page.locator("tr[data-gateway]").count() == 2
    assert await page.inner_text("#target-version") == "Pembaruan yang diumumkan: 0.4.0."
    await page.screenshot(path="/tmp/t20-fleet-filter.png", full_page=True)

    # The gateway's day: 48 half-hour columns of queue depth and of punches per minute.
    await page.goto(f"{base(world)}/fleet")
    await page.click("tr[data-gateway=gw-dir1] td a[href='/fleet/gw-dir1']")
    assert await page.inner_text("h1") == "Gateway gw-dir1"
    assert await page.locator("#queue-depth g[data-start]").count() == 48
    depths = await page.locator("#queue-depth g[data-value]").evaluate_all("gs => gs.map(g => +g.dataset.value)")
    assert len(depths) == 48 and max(depths) == 45  # the last report's 45 in the newest column
    rates = await page.locator("#punch-rate g[data-value]").evaluate_all("gs => gs.map(g => +g.dataset.value)")
    assert sorted(rates)[len(rates) // 2] == 3.0, rates
    await page.screenshot(path="/tmp/t20-fleet-gateway.png", full_page=True)
    assert not {m for m in MISSING if m[0] == "id"}, MISSING
