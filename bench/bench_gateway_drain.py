"""Benchmark: the gateway draining a week-long outage through Mosquitto, acked after each store.

A private Mosquitto (default configuration, on a free port) carries everything. A gateway queue is
prefilled with N punches (default 1,000,000) from 10 devices, as a week-long uplink outage leaves it;
then a real `kinerja gateway run` process, polling 10 live ZK simulators, drains it. Figures:

- baseline: raw paho, the same batch payloads (500 punches each) published QoS 1 as fast as the broker
  PUBACKs them, no application acks; a subscriber counts what actually arrived (a PUBACK is not
  delivery: Mosquitto's default max_queued_messages drops QoS 1 for a subscriber that falls behind);
- gateway + bare acker: the gateway process against a minimal consumer that parses each batch and
  publishes the ack at once: the gateway and broker's own ceiling, punches/s and the ratio to baseline;
- gateway + server (unless --no-server): the same against `kinerja server run` on PostgreSQL, which
  acks after its database commit: the drain time a real office sees, and how soon a punch made on a live
  device during the drain is stored (the gateway slips new punches in between the backlog's batches);
- the gateway process's peak resident memory (VmHWM) in each run, with the 10 devices and the backlog.

Targets: drain >= 10,000 punches/s, gateway memory < 80 MB.

    .venv/bin/python bench/bench_gateway_drain.py [--punches 1000000] [--no-server] [--pg postgres://...]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.queue import PunchQueue
from gateway.simulators.zk import ZKSimulator
from wire.contract import AckStatus, BatchAck, PunchBatch, PunchRecord, TopicKind, parse_topic, subscription_for
from wire.zones import office_zone

WITA = office_zone("WITA")
KINERJA = str(Path(sys.executable).with_name("kinerja"))
DEVICES = 10
BATCH = 500


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_mosquitto(directory: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    config = directory / "mosquitto.conf"
    as_root = "user root\n" if os.geteuid() == 0 else ""
    config.write_text(f"{as_root}persistence false\nlog_dest stderr\nlistener {port} 127.0.0.1\nallow_anonymous true\n")
    log = (directory / "mosquitto.log").open("ab")
    process = subprocess.Popen(["mosquitto", "-c", str(config)], stdout=log, stderr=log)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process, port
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("mosquitto did not start")


def backlog_rows(n: int) -> dict[str, list[tuple[str, datetime, int, int]]]:
    """N punches over the past week from 10 devices, in the order they happened."""
    start = datetime.now(WITA) - timedelta(days=8)
    per_device: dict[str, list[tuple[str, datetime, int, int]]] = {f"BENCH-{d:02d}": [] for d in range(DEVICES)}
    step = 7 * 86400 / max(n, 1)
    for i in range(n):
        per_device[f"BENCH-{i % DEVICES:02d}"].append(
            (str(i % 2000 + 1), start + timedelta(seconds=i * step, microseconds=i % 1000), i % 2, 1)
        )
    return per_device


def prefill(queue_path: Path, n: int) -> float:
    began = time.perf_counter()
    queue = PunchQueue(queue_path)
    rows = backlog_rows(n)
    # Interleaved as they happened, in chunks: the queue sees devices in turn, as during the outage.
    chunk = 5000
    for offset in range(0, n // DEVICES + chunk, chunk):
        for device, punches in rows.items():
            part = punches[offset : offset + chunk]
            if part:
                queue.enqueue(device, part)
    queue.close()
    with sqlite3.connect(queue_path) as db:
        db.execute("UPDATE punches SET queued_at = queued_at - 7 * 86400")
    return time.perf_counter() - began


def batch_payloads(n: int, unit: str, gateway: str) -> list[bytes]:
    rows = backlog_rows(n)
    payloads = []
    seq = 0
    for device, punches in rows.items():
        for offset in range(0, len(punches), BATCH):
            records = []
            for pin, moment, state, verify in punches[offset : offset + BATCH]:
                seq += 1
                records.append(PunchRecord(pin, moment, state, verify, seq))
            payloads.append(
                PunchBatch(PunchBatch.new_id(), gateway, unit, device, tuple(records), datetime.now(UTC)).to_json()
            )
    return payloads


def raw_paho_baseline(port: int, payloads: list[bytes], punches: int) -> tuple[float, int]:
    """Seconds to publish every payload QoS 1 and have every PUBACK; punches a subscriber received."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    topic = f"bench/{uuid.uuid4().hex[:8]}/punches"
    received = [0]
    subscriber = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    subscribed = threading.Event()
    subscriber.on_subscribe = lambda *_: subscribed.set()
    subscriber.on_connect = lambda client, *_: client.subscribe(topic, qos=1)

    def count(_client: object, _userdata: object, message: paho.MQTTMessage) -> None:
        received[0] += message.payload.count(b'"pin"')

    subscriber.on_message = count
    subscriber.connect("127.0.0.1", port)
    subscriber.loop_start()
    subscribed.wait(10)

    publisher = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    publisher.max_inflight_messages_set(100)
    acked = [0]
    done = threading.Event()

    def on_publish(*_: object) -> None:
        acked[0] += 1
        if acked[0] == len(payloads):
            done.set()

    publisher.on_publish = on_publish
    publisher.connect("127.0.0.1", port)
    publisher.loop_start()
    began = time.perf_counter()
    for payload in payloads:
        publisher.publish(topic, payload, qos=1)
    done.wait(600)
    elapsed = time.perf_counter() - began
    time.sleep(2)  # what the subscriber will get, it gets now
    publisher.disconnect()
    publisher.loop_stop()
    subscriber.disconnect()
    subscriber.loop_stop()
    return elapsed, received[0]


def bare_acker(port: int, ready: multiprocessing.synchronize.Event) -> None:  # type: ignore[name-defined]
    """A consumer that parses each batch and acks it at once: the ceiling without a database."""
    from wire.mqtt import AsyncMqttClient, IncomingMessage, MqttSettings

    async def main() -> None:
        client = AsyncMqttClient(MqttSettings(port=port), f"acker-{uuid.uuid4().hex[:6]}", persistent=False)

        async def handle(message: IncomingMessage) -> None:
            batch = PunchBatch.from_json(message.payload)
            address = parse_topic(message.topic)
            ack = BatchAck(batch.batch_id, AckStatus.STORED, len(batch.punches), 0)
            client.publish(f"kinerja/v1/{address.unit}/{address.gateway}/{TopicKind.ACKS.value}", ack.to_json())
            client.ack(message)

        client.subscribe(subscription_for(TopicKind.PUNCHES), handle)
        await client.start()
        await client.wait_connected(10)
        await asyncio.sleep(0.3)
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def queued(queue_path: Path) -> int:
    db = sqlite3.connect(f"file:{queue_path}?mode=ro", uri=True, timeout=10)
    try:
        return db.execute("SELECT count(*) FROM punches").fetchone()[0]
    finally:
        db.close()


def stored_probe(db_url: str, unit: str) -> bool:
    import asyncpg

    async def query() -> bool:
        connection = await asyncpg.connect(db_url)
        try:
            return bool(
                await connection.fetchval(
                    "SELECT count(*) FROM punch WHERE unit_code = $1 AND pin = $2", unit, PROBE_PIN
                )
            )
        finally:
            await connection.close()

    return asyncio.run(query())


PROBE_PIN = "99999"
PROBE_AFTER_S = 2.0


def drain(
    workdir: Path, port: int, n: int, devices: list[ZKSimulator], label: str, db_url: str | None = None
) -> tuple[float, float, float, str]:
    """Prefill, start the gateway process, wait until its queue is empty: (prefill s, drain s, peak MB, probe).

    With `db_url`, a punch is made on a live device PROBE_AFTER_S into the drain and the time until the
    server has stored it is reported, with how much of the backlog was still queued then."""
    state = workdir / f"state-{label}"
    unit, gateway = f"bench-{uuid.uuid4().hex[:6]}", f"gw-{uuid.uuid4().hex[:6]}"
    prefill_s = prefill(state / "queue.sqlite3", n)
    device_tables = "".join(
        f'[[devices]]\nname = "door{i}"\nhost = "127.0.0.1"\nport = {d.port}\npoll_interval_s = 10\n\n'
        for i, d in enumerate(devices)
    )
    config = workdir / f"gateway-{label}.toml"
    config.write_text(
        f'gateway_id = "{gateway}"\nunit = "{unit}"\ntimezone = "WITA"\nstate_dir = "{state}"\n\n'
        f'[mqtt]\nurl = "mqtt://127.0.0.1:{port}?protocol=5"\n\n'
        f"[relay]\nbatch_size = {BATCH}\nmax_in_flight = 16\nresend_after_s = 30\n\n{device_tables}"
    )
    log = (workdir / f"gateway-{label}.log").open("ab")
    began = time.perf_counter()
    process = subprocess.Popen([KINERJA, "gateway", "run", "--config", str(config)], stdout=log, stderr=log)
    peak = 0.0
    probe = "not measured"
    probe_made_at: float | None = None
    try:
        while (left := queued(state / "queue.sqlite3")) > 0:
            peak = max(peak, peak_rss_mb(process.pid))
            now = time.perf_counter()
            if db_url and probe_made_at is None and now - began >= PROBE_AFTER_S:
                devices[0].add_punch(PROBE_PIN, devices[0].device_time(), state=0, verify=1)
                probe_made_at = now
            elif db_url and probe_made_at is not None and probe == "not measured" and stored_probe(db_url, unit):
                probe = (
                    f"a punch made {PROBE_AFTER_S:.0f} s into the drain was stored {now - probe_made_at:.1f} s later, "
                )
                probe += f"{left:,} backlog punches still queued"
            if process.poll() is not None:
                raise RuntimeError(f"gateway exited: see {workdir}/gateway-{label}.log")
            if time.perf_counter() - began > 3600:
                raise TimeoutError("drain took over an hour")
            time.sleep(0.25)
        elapsed = time.perf_counter() - began
        peak = max(peak, peak_rss_mb(process.pid))
        if db_url and probe == "not measured" and probe_made_at is not None and stored_probe(db_url, unit):
            probe = f"a punch made {PROBE_AFTER_S:.0f} s into the drain was stored only with the backlog's end"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    return prefill_s, elapsed, peak, probe


def start_server(workdir: Path, port: int, pg_admin: str) -> tuple[subprocess.Popen[bytes], str, str]:
    import asyncpg

    name = f"kinerja_bench_{uuid.uuid4().hex[:8]}"

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(pg_admin)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    db_url = pg_admin.rsplit("/", 1)[0] + f"/{name}"
    http_port = free_port()
    env = {
        **os.environ,
        "KINERJA_DB_URL": db_url,
        "KINERJA_MQTT_URL": f"mqtt://127.0.0.1:{port}?protocol=5",
        "KINERJA_REPLICA_ID": f"bench-server-{uuid.uuid4().hex[:6]}",
        "KINERJA_NEW_DEVICES": "accept",  # the bench's devices are registered by nobody
    }
    log = (workdir / "server.log").open("ab")
    process = subprocess.Popen([KINERJA, "server", "run", "--port", str(http_port)], env=env, stdout=log, stderr=log)
    import urllib.request

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/api/v1/health", timeout=1):
                time.sleep(0.5)
                return process, name, db_url
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"server exited: see {workdir}/server.log") from None
            time.sleep(0.2)
    raise RuntimeError("server did not start")


def drop_database(pg_admin: str, name: str) -> None:
    import asyncpg

    async def run() -> None:
        connection = await asyncpg.connect(pg_admin)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()

    asyncio.run(run())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--punches", type=int, default=1_000_000)
    parser.add_argument("--no-server", action="store_true", help="skip the run against kinerja server + PostgreSQL")
    parser.add_argument(
        "--pg", default=os.environ.get("KINERJA_TEST_PG_URL", "postgres://postgres@127.0.0.1:5432/test")
    )
    args = parser.parse_args()
    n = args.punches
    print(
        f"gateway drain benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}; {n:,} punches from {DEVICES} devices"
    )
    with tempfile.TemporaryDirectory(prefix="kinerja-bench-") as tmp:
        workdir = Path(tmp)
        broker, port = start_mosquitto(workdir)
        devices = [ZKSimulator(serial=f"BENCHLIVE-{i:02d}", clock_offset=timedelta(hours=8)) for i in range(DEVICES)]
        try:
            for device in devices:
                for minute in range(200):
                    device.add_punch(str(minute % 50 + 1), datetime.now() - timedelta(hours=30, minutes=minute))
                device.start()

            payloads = batch_payloads(n, "bench-raw", "gw-raw")
            raw_s, raw_received = raw_paho_baseline(port, payloads, n)
            del payloads
            print(
                f"baseline raw paho QoS 1, {BATCH}/message: {raw_s:.1f} s, {n / raw_s:,.0f} punches/s; "
                f"subscriber received {raw_received:,} of {n:,} ({n - raw_received:,} dropped by the broker)"
            )

            ready = multiprocessing.Event()
            acker = multiprocessing.Process(target=bare_acker, args=(port, ready), daemon=True)
            acker.start()
            ready.wait(20)
            try:
                prefill_s, drain_s, peak, _ = drain(workdir, port, n, devices, "acker")
            finally:
                acker.terminate()
                acker.join(10)
            print(
                f"gateway + bare acker: prefill {prefill_s:.1f} s; drain {drain_s:.1f} s, {n / drain_s:,.0f} punches/s "
                f"({raw_s / drain_s:.2f}x raw paho throughput); gateway peak RSS {peak:.1f} MB"
            )

            if not args.no_server:
                server, name, db_url = start_server(workdir, port, args.pg)
                try:
                    prefill_s, drain_s, peak, probe = drain(workdir, port, n, devices, "server", db_url)
                finally:
                    server.send_signal(signal.SIGINT)
                    server.wait(30)
                    drop_database(args.pg, name)
                print(
                    f"gateway + kinerja server on PostgreSQL: drain {drain_s:.1f} s, {n / drain_s:,.0f} punches/s "
                    f"({raw_s / drain_s:.2f}x raw paho throughput); gateway peak RSS {peak:.1f} MB"
                )
                print(f"new punch during the drain: {probe}")
        finally:
            for device in devices:
                device.stop()
            broker.terminate()
            broker.wait(10)
    print("targets: drain >= 10,000 punches/s; gateway peak RSS < 80 MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
