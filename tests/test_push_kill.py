"""kill -9 of a real gateway process in the middle of a push upload loses nothing and stores nothing twice.

The gateway dies (crash point `queue.enqueued`, gateway.faults) after committing an upload and before
answering it OK. The device, not having heard OK, waits ErrorDelay, registers again with the restarted
gateway and sends the same lines again; the queue's dedup keeps them from being stored twice.
"""

from __future__ import annotations

import signal
import sqlite3
from datetime import datetime, timedelta

from gateway.simulators.push import PushDeviceSimulator
from kinerja.processes import GatewayProcess, free_port
from wire.zones import office_zone

WITA = office_zone("WITA")
SERIAL = "SPD-KILL-0001"


def stored_punches(tmp_path) -> list[tuple[str, str, int]]:
    path = tmp_path / "state" / "queue.sqlite3"
    if not path.exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return db.execute("SELECT pin, time, state FROM punches WHERE device = ? ORDER BY seq", (SERIAL,)).fetchall()
    except sqlite3.OperationalError:  # not created yet
        return []
    finally:
        db.close()


def test_a_gateway_killed_during_a_push_upload_loses_nothing_and_stores_nothing_twice(tmp_path):
    push_port = free_port()
    # Nobody listens on the broker port: nothing is acked, so every punch stays in the queue to be counted.
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'gateway_id = "gw-push-kill"\nunit = "unit-push-kill"\ntimezone = "WITA"\nstate_dir = "{tmp_path / "state"}"\n'
        f'\n[mqtt]\nurl = "mqtt://127.0.0.1:{free_port()}"\n'
        f'\n[push]\nhost = "127.0.0.1"\nport = {push_port}\n'
        f'\n[[devices]]\nname = "hall"\nprofile = "zkteco-speedface-push"\nserial_number = "{SERIAL}"\n'
    )
    gateway = GatewayProcess(config, tmp_path / "gateway.log")
    device = PushDeviceSimulator(
        f"http://127.0.0.1:{push_port}", SERIAL, batch_size=40, delay_s=0.1, error_delay_s=0.2, zone=WITA
    )
    day = datetime.now(WITA).date() - timedelta(days=1)
    start = datetime(day.year, day.month, day.day, 7, 0)
    for i in range(200):
        device.add_punch(str(i % 13 + 1), start + timedelta(seconds=17 * i), status=i % 2, verify=15)

    gateway.start(crash_at="queue.enqueued@3")  # dies with the third upload committed, before its OK
    try:
        with device:
            assert gateway.wait(30) == -signal.SIGKILL, gateway.log()
            assert len(stored_punches(tmp_path)) == 120  # three uploads committed ...
            assert device.position == 80  # ... only two answered OK: the device still holds the third
            gateway.start()
            gateway.wait_drained(lambda: device.position == 200, 30, "every punch answered OK")
        assert gateway.stop() == 0
    finally:
        gateway.kill()
    rows = stored_punches(tmp_path)
    assert len(rows) == 200 and len(set(rows)) == 200  # nothing lost, nothing twice
    assert device.stats.uploads_failed >= 1 and device.stats.records_acknowledged >= 200
    assert rows[0] == ("1", f"{start.isoformat()}+08:00", 0)
