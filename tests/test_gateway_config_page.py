"""A gateway's devices edited in a page and sent as numbered revisions (issue 20), in a real browser (Debian's
Chromium) against the real server, its consumer on a broker, and a real gateway polling ZK simulators.

Operations adds the gateway's device and sees the revision applied by the gateway; a form with mistakes comes
back with the reasons in Indonesian beside the fields and everything typed still there, but never a comm key;
a device with a comm key shows it "stored" and a blank field keeps it; a key the device refuses is refused by
the gateway's doctor, with its reason on the page, and the gateway stays on the revision it had.
Screenshots in /tmp/t20-config-*.png."""

from __future__ import annotations

import asyncio
from pathlib import Path

from gateway.config import DeviceConfig, GatewayConfig, RelayConfig, TelemetryConfig
from gateway.service import Gateway
from gateway.simulators.zk import ZKSimulator
from server.i18n import MISSING
from tests.helpers import running_server
from tests.test_browser import WIB, _chromium_installed, browser, log_in  # noqa: F401 (fixtures)
from tests.web_seed import World, seed

SHOTS = Path("/tmp")


async def answered(page: object, revision: int, timeout_s: float = 30) -> str:
    """The revision's state once the gateway answered (the page reloaded until then)."""
    row = page.locator(f"#revisions tr[data-revision='{revision}']")  # type: ignore[attr-defined]
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        await page.reload()  # type: ignore[attr-defined]
        if await row.count() and await row.get_attribute("data-status") != "sent":
            return str(await row.get_attribute("data-status"))
        await asyncio.sleep(0.5)
    raise AssertionError(f"revision {revision} not answered: {await row.inner_text()}")


async def test_operations_edits_a_gateways_devices_and_the_gateway_applies_or_refuses(
    embedded_broker,
    browser,  # noqa: F811
    tmp_path,
):
    with ZKSimulator(serial="DEV-CFG-LOBBY") as lobby, ZKSimulator(serial="DEV-CFG-SAFE", comm_key=4321) as safe:
        config = GatewayConfig(
            gateway_id="gw-dir1",
            unit="dir-1",
            zone=WIB,
            state_dir=tmp_path / "gw",
            mqtt=embedded_broker,
            devices=(DeviceConfig("lobby", "127.0.0.1", lobby.port, timeout_s=3, poll_interval_s=0.5),),
            relay=RelayConfig(batch_size=100, resend_after_s=2),
            telemetry=TelemetryConfig(interval_s=0.5),
        )
        async with running_server(f"sqlite://{tmp_path / 'live.sqlite3'}", embedded_broker) as client:
            await seed(World(client))
            url = str(client.make_url("")).rstrip("/")
            gateway = Gateway(config)
            await gateway.start()
            try:
                page = await log_in(browser, url, "ops")
                await page.set_viewport_size({"width": 1280, "height": 900})
                await page.click("nav a[href='/fleet']")
                await page.click("tr[data-gateway=gw-dir1] a.edit-config")
                assert await page.inner_text("h1") == "Konfigurasi gw-dir1"
                assert "berkasnya sendiri" in await page.inner_text("#config-running")

                # Revision 1: the lobby device, typed into the empty row.
                await page.fill("input[name=name-0]", "lobby")
                await page.fill("input[name=host-0]", "127.0.0.1")
                await page.fill("input[name=port-0]", str(lobby.port))
                await page.fill("input[name=poll_interval_s-0]", "0,5")  # the Indonesian decimal comma
                await page.click("#send-config")
                await page.wait_for_url("**/fleet/gw-dir1/config?sent=1")
                assert "Revisi 1 dikirim" in await page.inner_text("#config-sent")
                assert await answered(page, 1) == "applied"
                assert "Diterapkan" in await page.inner_text("#revisions tr[data-revision='1']")
                assert await page.input_value("input[name=poll_interval_s-0]") == "0,5"
                # The page's first revision names devices only: the relay and telemetry tuned in the
                # gateway's own file still run.
                assert (gateway.config.relay.batch_size, gateway.config.telemetry.interval_s) == (100, 0.5)

                # Mistakes: each named in Indonesian beside its field, everything typed kept but the key.
                await page.click("button[name=add]")
                await page.fill("input[name=name-1]", "Brankas Utama")
                await page.fill("input[name=host-1]", "127.0.0.1; reboot")
                await page.fill("input[name=port-1]", "99999")
                await page.fill("input[name=comm_key-1]", "4321")
                await page.fill("input[name=poll_interval_s-1]", "sering")
                await page.click("#send-config")
                assert "Tidak ada yang dikirim" in await page.inner_text("#config-error")
                row = page.locator("tr[data-row='1']")
                text = await row.inner_text()
                assert "huruf kecil" in text and "Bukan nama host" in text and "1 sampai 65535" in text, text
                assert "0,1 sampai 86400" in text and "ketik sekali lagi" in text, text
                assert await page.input_value("input[name=name-1]") == "Brankas Utama"
                assert await page.input_value("input[name=host-1]") == "127.0.0.1; reboot"
                assert await page.input_value("input[name=port-1]") == "99999"
                assert await page.input_value("input[name=comm_key-1]") == ""
                assert "4321" not in await page.content()
                await page.screenshot(path=str(SHOTS / "t20-config-bad-input.png"), full_page=True)
                assert await page.locator("#revisions tr[data-revision='2']").count() == 0  # nothing sent

                # Corrected, with the safe's key: revision 2 applied; the key shown only as stored.
                await page.fill("input[name=name-1]", "brankas")
                await page.fill("input[name=host-1]", "127.0.0.1")
                await page.fill("input[name=port-1]", str(safe.port))
                await page.fill("input[name=comm_key-1]", "4321")
                await page.fill("input[name=poll_interval_s-1]", "1")
                await page.click("#send-config")
                await page.wait_for_url("**/fleet/gw-dir1/config?sent=2")
                assert await answered(page, 2) == "applied"
                assert "4321" not in await page.content()
                safe_row = page.locator("tr[data-device=brankas]")
                assert "tersimpan" in await safe_row.inner_text()
                assert await page.input_value("tr[data-device=brankas] input[type=password]") == ""
                assert gateway.config.config_revision == 2
                assert {d.name: d.comm_key for d in gateway.config.devices} == {"lobby": 0, "brankas": 4321}

                # A blank key keeps the stored one: a new interval only, applied as revision 3.
                await page.fill("tr[data-device=brankas] input[name^=poll_interval_s]", "2")
                await page.click("#send-config")
                await page.wait_for_url("**/fleet/gw-dir1/config?sent=3")
                assert await answered(page, 3) == "applied"
                assert {d.name: d.comm_key for d in gateway.config.devices} == {"lobby": 0, "brankas": 4321}
                assert gateway.config.relay.resend_after_s == 2

                # A key the device refuses: the gateway's doctor refuses revision 4; revision 3 stays.
                await page.fill("tr[data-device=brankas] input[type=password]", "1111")
                await page.click("#send-config")
                await page.wait_for_url("**/fleet/gw-dir1/config?sent=4")
                assert await answered(page, 4) == "rejected"
                refused = await page.inner_text("#revisions tr[data-revision='4']")
                assert "Ditolak oleh gateway" in refused and "doctor" in refused and "comm key" in refused, refused
                assert "menjalankan revisi 3" in await page.inner_text("#config-running")
                assert gateway.config.config_revision == 3
                assert "1111" not in await page.content()
                await page.screenshot(path=str(SHOTS / "t20-config-refused.png"), full_page=True)
                await page.set_viewport_size({"width": 390, "height": 844})
                await page.screenshot(path=str(SHOTS / "t20-config-phone.png"), full_page=True)
            finally:
                await gateway.stop()
    assert not {m for m in MISSING if m[0] == "id"}, MISSING


async def test_the_config_form_refuses_stale_garbled_and_undeliverable_input_without_losing_it(tmp_path):
    """Without a browser: a form started from an older revision (someone sent one meanwhile), garbled
    fields, and a revision the broker cannot take (this server has no consumer) — each answered with a page
    in the reader's language, the typed values in it, never a 500."""
    from server.gateway_config_models import GatewayConfigRevision
    from tests.web_seed import session_cookie, web_world

    async with web_world(f"sqlite://{tmp_path / 'web.sqlite3'}") as world:
        from server.auth import SESSION_COOKIE
        from server.services.accounts import Role

        cookie, csrf = await session_cookie(world, Role.OPERATIONS)
        client = world.client
        form = {
            "csrf_token": csrf, "base_revision": "0", "rows": "1", "name-0": "pintu", "profile-0": "zkteco-generic-tcp",
            "host-0": "10.0.0.9", "port-0": "4370", "transport-0": "tcp", "comm_key-0": "918273",
            "poll_interval_s-0": "30",
        }  # fmt: skip

        async def post(data: dict, lang: str = "id") -> tuple[int, str]:
            response = await client.post(
                f"/fleet/gw-dir2/config?lang={lang}", data=data, cookies={SESSION_COOKIE: cookie},
                allow_redirects=False,
            )  # fmt: skip
            return response.status, await response.text()

        # No broker: the revision is numbered, kept as not delivered, and the form comes back whole.
        status, page = await post(form)
        assert status == 503 and 'id="config-error"' in page, page
        assert 'value="10.0.0.9"' in page and 'value="pintu"' in page and 'value="918273"' not in page
        row = await GatewayConfigRevision.get(gateway_id="gw-dir2", revision=1)
        assert row.status == "failed" and row.document["devices"][0]["comm_key"] == 918273
        # Started from revision 0 while revision 1 exists: nothing sent, said so, the values kept.
        status, page = await post(form)
        assert status == 409 and "Revisi 1 baru saja dikirim" in page and 'value="10.0.0.9"' in page
        assert await GatewayConfigRevision.filter(gateway_id="gw-dir2").count() == 1
        # Garbled fields, in English this time: each named, no 500.
        garbled = {**form, "base_revision": "1", "port-0": "80x", "poll_interval_s-0": "0", "transport-0": "sctp"}
        status, page = await post(garbled, lang="en")
        assert status == 400 and "A port is a whole number from 1 to 65535" in page
        assert "Choose TCP or UDP" in page and "a number from 0.1 to 86400" in page and 'value="80x"' in page
        for nonsense in ({"rows": "many"}, {"rows": "9999999999"}, {"base_revision": "-1", "rows": "1"}, {}):
            status, page = await post({"csrf_token": csrf, **nonsense})
            assert status in (200, 400, 409), (nonsense, status)
        # The page shows revision 1 as the form's start, its key only as stored.
        response = await client.get("/fleet/gw-dir2/config", cookies={SESSION_COOKIE: cookie})
        page = await response.text()
        assert response.status == 200 and "Tidak terkirim" in page and "tersimpan" in page and "918273" not in page
    assert not {m for m in MISSING if m[0] == "id"}, MISSING
