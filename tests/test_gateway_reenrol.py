"""Re-enrolment with `--force`, with real parts: a gateway enrolled once (the real server, the real
`kinerja gateway enrol`, a private Mosquitto with the dynamic-security plugin) is enrolled again with a
fresh code, as after a replaced SD card or a gateway moved to new devices. Its files are replaced whole
(new broker password, new devices, same modes, no temporary file left behind), the old login stops
working on the broker at once, and a gateway started from the new files logs in. A `--force` with a code
the centre refuses leaves the existing enrolment exactly as it was."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

from gateway.config import load_gateway_config
from gateway.service import Gateway
from server.broker_identity import DynsecBroker
from server.payroll_models import AuditEntry
from server.services.gateway_enrolment import EnrolmentSettings
from tests.conftest import unique_slug
from tests.test_broker_identity import (
    Probe,
    dynsec,  # noqa: F401  (the fixture: a private Mosquitto with dynsec)
)
from tests.test_gateway_enrol import base_url, centre, issue, make_unit, run_cli


def files_of(config_path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(config_path.parent.iterdir())}


async def test_force_re_enrolment_replaces_the_identity_and_the_old_login_stops_working(
    db_url,
    dynsec: DynsecBroker,  # noqa: F811
    tmp_path,
):
    enrolment = EnrolmentSettings(
        broker_admin=dynsec.admin, gateway_broker_url=f"mqtt://127.0.0.1:{dynsec.port}?protocol=5"
    )
    config_path = tmp_path / "etc" / "gateway.toml"
    secret_path = config_path.with_name("gateway.mqtt-password")
    state = tmp_path / "state"
    common = ("--config", str(config_path), "--state-dir", str(state), "--no-start")
    async with centre(db_url, dynsec.settings(), enrolment) as client:
        unit = await make_unit()
        gateway_id = unique_slug("gw")
        first = await issue(client, unit, gateway_id, port=4370)
        rc, _, err = await run_cli("gateway", "enrol", base_url(client), first["code"], *common)
        assert rc == 0, err
        old_password = secret_path.read_text().strip()
        before = files_of(config_path)

        # Without --force a second code is refused on the gateway itself, before it is sent: still valid.
        second = await issue(client, unit, gateway_id, port=4371)
        rc, _, err = await run_cli("gateway", "enrol", base_url(client), second["code"], *common)
        assert rc == 1 and "--force" in err
        assert files_of(config_path) == before

        # --force with a code the centre refuses (the spent first one): nothing is touched.
        rc, _, err = await run_cli("gateway", "enrol", base_url(client), first["code"], *common, "--force")
        assert rc == 1 and "sudah dipakai" in err
        assert files_of(config_path) == before

        # --force with the fresh code: a new identity, written whole; the centre's configuration of the old one goes.
        state.mkdir(exist_ok=True)
        (state / "centre-config.json").write_text("{}")
        (state / "notes.txt").write_text("kept")
        rc, out, err = await run_cli("gateway", "enrol", base_url(client), second["code"], *common, "--force")
        assert rc == 0, err
        assert f"Gateway {gateway_id}" in out
        new_password = secret_path.read_text().strip()
        assert new_password and new_password != old_password
        assert sorted(p.name for p in config_path.parent.iterdir()) == ["gateway.mqtt-password", "gateway.toml"]
        assert stat.S_IMODE(secret_path.stat().st_mode) == 0o600
        assert stat.S_IMODE(config_path.stat().st_mode) == 0o644
        written = tomllib.loads(config_path.read_text())
        assert written["gateway_id"] == gateway_id and written["devices"][0]["port"] == 4371  # the new devices
        assert new_password not in config_path.read_text()
        assert not (state / "centre-config.json").exists() and (state / "notes.txt").read_text() == "kept"

        # On the broker: the old login is gone, the new one is the gateway's (bound to its client id).
        old = Probe(dynsec, gateway_id, old_password, gateway_id)
        try:
            assert not old.accepted
        finally:
            old.close()
        other_id = Probe(dynsec, gateway_id, new_password, gateway_id + "-x")
        try:
            assert not other_id.accepted  # the login works only under its own client id
        finally:
            other_id.close()

        gateway = Gateway(load_gateway_config(config_path))
        await gateway.start()
        try:
            await gateway.relay.mqtt.wait_connected(10)
        finally:
            await gateway.stop()

        actions = [a.action for a in await AuditEntry.filter(target=gateway_id).order_by("id")]
        assert actions == [
            "gateway.enrolment_code", "gateway.enrolled", "gateway.enrolment_code", "gateway.enrol_refused",
            "gateway.enrolled",
        ]  # fmt: skip
