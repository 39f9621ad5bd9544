"""End-to-end ingest benchmark: many simulated gateways -> Mosquitto -> one server replica -> PostgreSQL.

Measured in one run, on the same punch batches:
  ingest       gateways publish batches (each keeps a window of unacked batches, like the relay);
               punches/s from first publish to last server ack, and publish-to-ack latency (the server
               acks only after the commit, so this bounds publish-to-commit from above);
  broker       (a) the broker's own pass-through: the same messages from the same gateways on a fresh
               to one plain QoS 1 subscriber, nothing else in the way;
  database     (b) a raw asyncpg insert of the same rows into a table with the same unique key:
               executemany with ON CONFLICT DO NOTHING, 500 rows per transaction, and COPY for reference.

Mosquitto runs privately with the deployment's configuration (deploy/mosquitto/kinerja.conf: logins,
the generated ACL, the queue limits), one user per simulated gateway; the machine's broker is not
touched, and nobody else's server can take or ack these batches. Needs PostgreSQL
(KINERJA_BENCH_PG_URL, default postgres://postgres@127.0.0.1:5432/test; a scratch database is created
and dropped). Run: .venv/bin/python bench/bench_ingest.py [--gateways 100 --batches 15 --punches 200]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import asyncpg

from server.edge import LocalBroker, local_broker
from wire.contract import BatchAck, PunchBatch, PunchRecord, TopicKind, topic_for
from wire.embedded import free_port
from wire.mqtt import AsyncMqttClient, IncomingMessage

SERVER_USER = "kinerja-server"

WIB = timezone(timedelta(hours=7))
PG_ADMIN_URL = os.environ.get("KINERJA_BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/test")


def make_batches(
    run: str, gateways: int, per_gateway: int, punches: int, tag: str = "t"
) -> dict[str, list[PunchBatch]]:
    day = datetime.now(WIB).date() - timedelta(days=1)
    start = datetime(day.year, day.month, day.day, 6, 0, tzinfo=WIB)
    plan: dict[str, list[PunchBatch]] = {}
    for g in range(gateways):
        gateway, unit = f"gw-{run}-{tag}{g:04d}", f"unit-{run}-{g % 50:02d}"
        batches = []
        for b in range(per_gateway):
            records = tuple(
                PunchRecord(str(p % 3000), start + timedelta(seconds=b * punches + p), p % 2, 1, b * punches + p)
                for p in range(punches)
            )
            batches.append(PunchBatch(PunchBatch.new_id(), gateway, unit, f"SN-{gateway}", records, datetime.now(UTC)))
        plan[gateway] = batches
    return plan


@dataclass
class Flow:
    """One gateway: publishes its batches keeping at most `window` unacked, like the relay."""

    client: AsyncMqttClient
    batches: list[PunchBatch]
    window: int
    sent_at: dict[str, float] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    next_index: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)
    closed_loop: bool = True
    # Encoded before the clock starts: the benchmark measures the server, not its own JSON encoding.
    payloads: dict[str, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.payloads = {batch.batch_id: batch.to_json() for batch in self.batches}

    resent: int = 0

    def topic(self, batch: PunchBatch) -> str:
        return topic_for(batch.unit, batch.gateway_id, TopicKind.PUNCHES)

    def pump(self) -> None:
        while self.next_index < len(self.batches) and len(self.sent_at) < self.window:
            batch = self.batches[self.next_index]
            self.next_index += 1
            self.sent_at[batch.batch_id] = time.perf_counter()
            self.client.publish(self.topic(batch), self.payloads[batch.batch_id], qos=1)

    async def on_ack(self, message: IncomingMessage) -> None:
        ack = BatchAck.from_json(message.payload)
        self.client.ack(message)
        sent = self.sent_at.pop(ack.batch_id, None)
        if sent is None:
            return
        self.latencies.append(time.perf_counter() - sent)
        if self.closed_loop:
            self.pump()
        if not self.sent_at and self.next_index >= len(self.batches):
            self.done.set()


async def connect_gateways(broker: LocalBroker, plan: dict[str, list[PunchBatch]]) -> dict[str, AsyncMqttClient]:
    clients = {}
    for gateway in plan:
        client = AsyncMqttClient(broker.settings(gateway), gateway, persistent=False)
        clients[gateway] = client
        await client.start()
    for client in clients.values():
        await client.wait_connected(30)
    return clients


async def run_ingest(broker: LocalBroker, plan: dict[str, list[PunchBatch]], window: int) -> tuple[float, list[float]]:
    clients = await connect_gateways(broker, plan)
    flows = []
    for gateway, batches in plan.items():
        flow = Flow(clients[gateway], batches, window)
        unit = batches[0].unit
        clients[gateway].subscribe(topic_for(unit, gateway, TopicKind.ACKS), flow.on_ack)
        flows.append(flow)
    await asyncio.sleep(1.0)  # acks subscriptions in place
    started = time.perf_counter()
    for flow in flows:
        flow.pump()
    await asyncio.wait_for(asyncio.gather(*(flow.done.wait() for flow in flows)), 600)
    elapsed = time.perf_counter() - started
    for client in clients.values():
        await client.close()
    return elapsed, [latency for flow in flows for latency in flow.latencies]


async def run_open_loop(
    broker: LocalBroker, plan: dict[str, list[PunchBatch]], rate: float
) -> tuple[float, list[float]]:
    """Batches published at a fixed offered rate (punches/s), round robin over the gateways, whatever
    the acks do: the latency a gateway sees at that load, not the queueing of a saturated loop."""
    clients = await connect_gateways(broker, plan)
    flows = {}
    for gateway, batches in plan.items():
        flow = Flow(clients[gateway], batches, window=len(batches), closed_loop=False)
        clients[gateway].subscribe(topic_for(batches[0].unit, gateway, TopicKind.ACKS), flow.on_ack)
        flows[gateway] = flow
    await asyncio.sleep(1.0)
    order = [flows[gateway] for index in range(max(map(len, plan.values()))) for gateway in plan
             if index < len(plan[gateway])]  # fmt: skip
    punches = len(next(iter(plan.values()))[0].punches)
    interval = punches / rate
    started = time.perf_counter()
    for index, flow in enumerate(order):
        delay = started + index * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        batch = flow.batches[flow.next_index]
        flow.next_index += 1
        flow.sent_at[batch.batch_id] = time.perf_counter()
        flow.client.publish(flow.topic(batch), flow.payloads[batch.batch_id], qos=1)
    for flow in flows.values():
        if not flow.sent_at:
            flow.done.set()
    # A batch the broker dropped (or the server lost) gets no ack: resend it, as the relay does; its
    # latency still counts from the first publish.
    waiting = asyncio.gather(*(flow.done.wait() for flow in flows.values()))
    while True:
        try:
            await asyncio.wait_for(asyncio.shield(waiting), 5)
            break
        except TimeoutError:
            for flow in flows.values():
                for batch in flow.batches:
                    if batch.batch_id in flow.sent_at:
                        flow.resent += 1
                        flow.client.publish(flow.topic(batch), flow.payloads[batch.batch_id], qos=1)
    elapsed = time.perf_counter() - started
    for client in clients.values():
        await client.close()
    resent = sum(flow.resent for flow in flows.values())
    if resent:
        print(f"  ({resent} batches of the latency phase were resent: the broker dropped or the server lost them)")
    return elapsed, [latency for flow in flows.values() for latency in flow.latencies]


async def run_broker_ceiling(broker: LocalBroker, plan: dict[str, list[PunchBatch]], run: str) -> tuple[float, int]:
    """The same messages to one plain subscriber (the server's login, nothing behind it): what the broker
    alone passes."""
    total = sum(len(batches) for batches in plan.values())
    received = 0
    last = 0.0
    all_in = asyncio.Event()
    subscriber = AsyncMqttClient(
        broker.settings(SERVER_USER), f"bench-sub-{run}", persistent=False, receive_maximum=1000
    )

    async def count(message: IncomingMessage) -> None:
        nonlocal received, last
        received += 1
        last = time.perf_counter()
        subscriber.ack(message)
        if received == total:
            all_in.set()

    subscriber.subscribe("kinerja/v1/+/+/punches", count)
    await subscriber.start()
    await subscriber.wait_connected(10)
    clients = await connect_gateways(broker, plan)
    await asyncio.sleep(1.0)
    started = time.perf_counter()
    for gateway, batches in plan.items():
        flow = Flow(clients[gateway], batches, window=len(batches))
        flow.pump()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(all_in.wait(), 120)
    for client in clients.values():
        await client.close()
    await subscriber.close()
    return (last - started), received


async def run_db_ceiling(db_url: str, plan: dict[str, list[PunchBatch]]) -> tuple[float, float]:
    rows = [
        (
            b.device_serial,
            p.pin,
            p.time,
            420,
            p.state,
            p.verify,
            b.unit,
            b.gateway_id,
            b.batch_id,
            None,
            datetime.now(UTC),
        )
        for batches in plan.values()
        for b in batches
        for p in b.punches
    ]
    connection = await asyncpg.connect(db_url)
    results = []
    try:
        for table in ("raw_insert", "raw_copy"):
            await connection.execute(f'CREATE TABLE "{table}" (LIKE "punch" INCLUDING ALL)')
        started = time.perf_counter()
        for offset in range(0, len(rows), 500):
            async with connection.transaction():
                await connection.executemany(
                    'INSERT INTO "raw_insert" ("device_serial", "pin", "punched_at", "utc_offset_minutes", "state", '
                    '"verify", "unit_code", "gateway_id", "batch_id", "flag", "received_at") '
                    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
                    rows[offset : offset + 500],
                )
        results.append(len(rows) / (time.perf_counter() - started))
        columns = ["device_serial", "pin", "punched_at", "utc_offset_minutes", "state", "verify", "unit_code",
                   "gateway_id", "batch_id", "flag", "received_at"]  # fmt: skip
        started = time.perf_counter()
        for offset in range(0, len(rows), 500):
            await connection.copy_records_to_table("raw_copy", records=rows[offset : offset + 500], columns=columns)
        results.append(len(rows) / (time.perf_counter() - started))
    finally:
        await connection.close()
    return results[0], results[1]


async def wait_healthy(port: int, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"http://127.0.0.1:{port}/api/v1/health") as response:
                    if (await response.json()).get("mqtt_connected"):
                        return
            await asyncio.sleep(0.2)
    raise RuntimeError("the server did not come up")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gateways", type=int, default=100)
    parser.add_argument("--batches", type=int, default=15, help="batches per gateway")
    parser.add_argument("--punches", type=int, default=200, help="punches per batch")
    parser.add_argument("--window", type=int, default=4, help="unacked batches per gateway (throughput phase)")
    parser.add_argument("--rate", type=float, default=20_000, help="offered punches/s in the latency phase")
    parser.add_argument("--latency-seconds", type=float, default=10, help="length of the latency phase")
    parser.add_argument("--latency-punches", type=int, default=100, help="punches per batch, latency phase")
    args = parser.parse_args()
    run = uuid.uuid4().hex[:6]
    plan = make_batches(run, args.gateways, args.batches, args.punches)
    per_gateway = max(1, round(args.rate * args.latency_seconds / args.latency_punches / args.gateways))
    latency_plan = make_batches(run, args.gateways, per_gateway, args.latency_punches, tag="l")
    total_batches = args.gateways * args.batches
    total = total_batches * args.punches
    payload = len(next(iter(plan.values()))[0].to_json())
    print(
        f"{args.gateways} gateways x {args.batches} batches x {args.punches} punches = {total:,} punches "
        f"({payload:,} bytes per message), {os.cpu_count()} cores, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )

    gateways = [(batches[0].unit, gateway) for gateway, batches in {**plan, **latency_plan}.items()]
    database = f"kinerja_bench_{run}"
    admin = await asyncpg.connect(PG_ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{database}"')
    await admin.close()
    db_url = urlsplit(PG_ADMIN_URL)._replace(path=f"/{database}").geturl()
    port = free_port()
    root = Path(__file__).resolve().parent.parent
    server: subprocess.Popen[bytes] | None = None
    try:
        with tempfile.TemporaryDirectory() as workdir:
            with local_broker(Path(workdir), [SERVER_USER], gateways) as broker:
                env = {
                    **os.environ,
                    "KINERJA_DB_URL": db_url,
                    "KINERJA_MQTT_URL": broker.url(SERVER_USER),
                    "KINERJA_REPLICA_ID": f"bench-server-{run}",
                    "KINERJA_SESSION_EXPIRY_S": "60",
                    "KINERJA_NEW_DEVICES": "accept",  # the bench's devices are registered by nobody
                }
                server = subprocess.Popen(
                    [sys.executable, "-m", "kinerja.cli", "server", "run", "--port", str(port)],
                    env=env, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )  # fmt: skip
                await wait_healthy(port)
                await asyncio.sleep(1.0)
                elapsed, saturated_latencies = await run_ingest(broker, plan, args.window)
                open_elapsed, latencies = await run_open_loop(broker, latency_plan, args.rate)
                async with (
                    aiohttp.ClientSession() as session,
                    session.get(f"http://127.0.0.1:{port}/api/v1/health") as response,
                ):
                    transactions = (await response.json()).get("transactions") or 1
                server.terminate()
                server.wait(30)
            connection = await asyncpg.connect(db_url)
            total_stored = await connection.fetchval('SELECT count(*) FROM "punch"')
            await connection.close()
            latency_total = per_gateway * args.gateways * args.latency_punches
            # A fresh broker for the ceiling: nothing of the server's session left in it.
            (Path(workdir) / "ceiling").mkdir()
            with local_broker(Path(workdir) / "ceiling", [SERVER_USER], gateways) as broker:
                broker_elapsed, received = await run_broker_ceiling(broker, plan, run)
        insert_rate, copy_rate = await run_db_ceiling(db_url, plan)
    finally:
        if server is not None and server.poll() is None:
            server.kill()
        admin = await asyncpg.connect(PG_ADMIN_URL)
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()

    rate = total / elapsed
    stored = total_stored - latency_total
    saturated_latencies.sort()
    latencies.sort()
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    broker_rate = received * args.punches / broker_elapsed
    slower = min(broker_rate, insert_rate)
    print(f"ingest end to end : {rate:>10,.0f} punches/s  ({stored:,} of {total:,} rows committed in {elapsed:.1f} s)")
    saturated_p99 = saturated_latencies[int(len(saturated_latencies) * 0.99)]
    print(
        f"  saturated loop  : publish->ack p99 {saturated_p99 * 1000:.0f} ms "
        f"({args.window} batches in flight per gateway)"
    )
    all_batches = total_batches + per_gateway * args.gateways
    print(f"  transactions    : {transactions:,} ({all_batches / transactions:.1f} batches per commit, both phases)")
    print(f"latency at {args.rate:,.0f} punches/s offered ({args.latency_punches} per batch, {open_elapsed:.1f} s):")
    print(f"  publish->ack    : p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms")
    print(
        f"(a) broker alone  : {broker_rate:>10,.0f} punches/s  ({received:,} of {total_batches:,} messages delivered)"
    )
    print(f"(b) asyncpg insert: {insert_rate:>10,.0f} punches/s  (executemany ON CONFLICT DO NOTHING, 500/tx)")
    print(f"    asyncpg COPY  : {copy_rate:>10,.0f} punches/s  (reference)")
    print(f"ratio ingest / slower ceiling ({'broker' if broker_rate < insert_rate else 'insert'}): {rate / slower:.2f}")
    targets = rate >= 20_000 and rate >= slower / 2 and p99 < 1.0 and stored == total
    print(
        f"targets (>= 20,000/s, >= half the slower ceiling, p99 < 1 s, all committed): {'met' if targets else 'MISSED'}"
    )
    return 0 if targets else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
