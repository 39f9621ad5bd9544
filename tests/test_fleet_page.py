"""The fleet view for IT staff (issue 20) in a real browser (Debian's Chromium): every gateway with its unit,
version, last seen on its office's clock (WITA here, named), backlog, devices and their state, and the
configuration revision from the centre it applied (and a refused one, with its reason); the filters for
gateways not heard from for over an hour and for older versions. Screenshots in tests/artifacts/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from server.gateway_config_models import GatewayConfigRevision, GatewayConfigRunning
from server.i18n import MISSING
from server.models import Gateway, Office
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
