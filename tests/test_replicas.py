"""Two real server processes on one Mosquitto (a private one, with the deployment's configuration,
users and ACL) and one PostgreSQL: the shared subscription splits the
punch stream, and every punch is stored exactly once, also when one replica is killed -9 mid-stream
(the gateways' resending of unacked batches covers what the dead replica had taken)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from server.db import close_database, open_database
from server.models import Punch
from tests.conftest import unique_slug
from tests.edge_broker import EdgeBroker, edge_broker
from tests.helpers import WIB
from wire.contract import AckStatus, BatchAck, PunchBatch, PunchRecord, TopicKind, parse_topic, topic_for
from wire.embedded import free_port
from wire.mqtt import AsyncMqttClient, IncomingMessage

pytestmark = [pytest.mark.production, pytest.mark.empty_database]  # its replicas migrate the database themselves


@dataclass
class ResendingGateways:
    """Many gateways, each on its own broker login; like the real relay, a batch is published again
    until the server's own ack arrives."""

    broker: EdgeBroker
    addresses: list[tuple[str, str]]
    resend_after_s: float = 1.5
    pending: dict[str, tuple[str, bytes, float]] = field(default_factory=dict)
    acked: dict[str, BatchAck] = field(default_factory=dict)
    resends: int = 0
    clients: dict[str, AsyncMqttClient] = field(default_factory=dict)

    async def start(self) -> None:
        for unit, gateway in self.addresses:
            client = AsyncMqttClient(self.broker.settings(gateway), gateway, persistent=False)
            client.subscribe(topic_for(unit, gateway, TopicKind.ACKS), self._acker(client))
            await client.start()
            self.clients[gateway] = client
        for client in self.clients.values():
            await client.wait_connected(10)
        await asyncio.sleep(0.2)

    async def close(self) -> None:
        for client in self.clients.values():
            await client.close()

    def _acker(self, client: AsyncMqttClient) -> Callable[[IncomingMessage], Awaitable[None]]:
        async def on_ack(message: IncomingMessage) -> None:
            ack = BatchAck.from_json(message.payload)
            assert ack.status is AckStatus.STORED, ack
            self.pending.pop(ack.batch_id, None)
            self.acked.setdefault(ack.batch_id, ack)
            client.ack(message)

        return on_ack

    def publish(self, batch: PunchBatch) -> None:
        topic = topic_for(batch.unit, batch.gateway_id, TopicKind.PUNCHES)
        payload = batch.to_json()
        self.pending[batch.batch_id] = (topic, payload, asyncio.get_running_loop().time())
        self.clients[batch.gateway_id].publish(topic, payload, qos=1)

    def resend_due(self) -> None:
        now = asyncio.get_running_loop().time()
        for batch_id, (topic, payload, sent_at) in list(self.pending.items()):
            if now - sent_at >= self.resend_after_s:
                self.pending[batch_id] = (topic, payload, now)
                self.clients[parse_topic(topic).gateway].publish(topic, payload, qos=1)
                self.resends += 1

    async def drain(self, timeout_s: float) -> None:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while self.pending:
            assert asyncio.get_running_loop().time() < deadline, f"{len(self.pending)} batches never acked"
            self.resend_due()
            await asyncio.sleep(0.1)


def make_batches(addresses: list[tuple[str, str]], per_gateway: int, punches: int, first: int) -> list[PunchBatch]:
    """Batches interleaved across gateways; every punch distinct (device, PIN, minute)."""
    day = datetime.now(WIB).date() - timedelta(days=1)
    start = datetime(day.year, day.month, day.day, 6, 0, tzinfo=WIB)
    batches = []
    for index in range(first, first + per_gateway):
        for unit, gateway in addresses:
            records = tuple(
                PunchRecord(str(pin), start + timedelta(seconds=index * punches + pin), 0, 1, index * punches + pin)
                for pin in range(punches)
            )
            batches.append(PunchBatch(PunchBatch.new_id(), gateway, unit, f"SER-{gateway}", records, datetime.now(UTC)))
    return batches


@contextlib.contextmanager
def replica_process(env: dict[str, str], replica_id: str, port: int, log_path) -> Iterator[subprocess.Popen]:
    log = open(log_path, "wb")  # noqa: SIM115 - closed below, after the process
    process = subprocess.Popen(
        [sys.executable, "-m", "kinerja.cli", "server", "run", "--port", str(port)],
        env={**env, "KINERJA_REPLICA_ID": replica_id},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


async def health(port: int) -> dict:
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/api/v1/health") as response:
        return await response.json()


async def wait_healthy(port: int, log_path, timeout_s: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        with contextlib.suppress(aiohttp.ClientError):
            if (await health(port)).get("mqtt_connected"):
                return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"replica on port {port} never became healthy:\n{log_path.read_text()[-3000:]}")
        await asyncio.sleep(0.2)


async def test_two_replicas_split_the_stream_and_store_every_punch_once_across_a_kill_9(postgres_url, tmp_path):
    addresses = [(unique_slug("unit"), unique_slug("gw")) for _ in range(6)]
    # One broker login per replica: the deployment binds the client id to the login.
    ids = [unique_slug("replica-a"), unique_slug("replica-b")]
    with edge_broker(tmp_path, ids, addresses) as broker:
        await run_replicas(broker, ids, addresses, postgres_url, tmp_path)


async def run_replicas(
    broker: EdgeBroker, ids: list[str], addresses: list[tuple[str, str]], postgres_url: str, tmp_path
) -> None:
    env = {
        **os.environ,
        "KINERJA_DB_URL": postgres_url,
        "KINERJA_MQTT_URL": broker.url(ids[0]),
        "KINERJA_SHARE_GROUP": f"replicas-{uuid.uuid4().hex[:8]}",
        "KINERJA_UNITS": ",".join(unit for unit, _ in addresses),
        "KINERJA_MIGRATE_ON_START": "0",
        "KINERJA_SESSION_EXPIRY_S": "60",
        "KINERJA_NEW_DEVICES": "accept",  # the test's devices are registered by nobody
    }
    migrate = subprocess.run(
        [sys.executable, "-m", "kinerja.cli", "server", "migrate"], env=env, capture_output=True, timeout=60
    )
    assert migrate.returncode == 0, migrate.stderr.decode()

    ports = [free_port(), free_port()]
    publisher = ResendingGateways(broker, addresses)
    with (
        replica_process(
            {**env, "KINERJA_MQTT_URL": broker.url(ids[0])}, ids[0], ports[0], tmp_path / "a.log"
        ) as replica_a,
        replica_process({**env, "KINERJA_MQTT_URL": broker.url(ids[1])}, ids[1], ports[1], tmp_path / "b.log"),
    ):
        await asyncio.gather(*(wait_healthy(port, tmp_path / f"{n}.log") for port, n in zip(ports, "ab", strict=True)))
        await asyncio.sleep(0.5)  # both SUBSCRIBEs at the broker
        await publisher.start()
        try:
            # Phase 1: both replicas running; each must have stored part of the stream.
            first = make_batches(addresses, per_gateway=10, punches=50, first=0)
            for batch in first:
                publisher.publish(batch)
            await publisher.drain(30)
            shares = [(await health(port))["punches_stored"] for port in ports]
            assert all(share > 0 for share in shares), f"the stream was not split: {shares}"
            assert sum(shares) == 10 * 6 * 50

            # Phase 2: replica A is killed -9 while batches are in flight.
            second = make_batches(addresses, per_gateway=40, punches=50, first=10)
            for index, batch in enumerate(second):
                publisher.publish(batch)
                if index == len(second) // 3:
                    replica_a.send_signal(signal.SIGKILL)
                if index % 20 == 0:
                    await asyncio.sleep(0.02)  # a stream, not one burst
            replica_a.wait(10)
            await publisher.drain(60)
        finally:
            await publisher.close()

    expected = {
        (f"SER-{batch.gateway_id}", punch.pin, punch.time.astimezone(UTC))
        for batch in first + second
        for punch in batch.punches
    }
    context = await open_database(postgres_url, create_schema=False)
    try:
        units = [unit for unit, _ in addresses]
        rows = await Punch.filter(unit_code__in=units).values_list("device_serial", "pin", "punched_at")
    finally:
        await close_database(context)
    stored = [(serial, pin, at.astimezone(UTC)) for serial, pin, at in rows]
    assert len(stored) == len(expected) == 50 * 6 * 50
    assert set(stored) == expected
    print(f"split {shares}; {publisher.resends} resends after the kill")


# --- the month-end run across a kill -9 -------------------------------------------------------------------

BIG = 2500  # employees of the unit the doomed replica is scoring when it dies: three chunks (scoring_queue.CHUNK)
SMALL_UNITS = 12
_SEED = """
INSERT INTO "unit" ("code", "name", "kind") SELECT c, 'Unit ' || c, 'upt'
FROM unnest(array['u-big'] || array(SELECT 'unit-' || lpad(n::text, 3, '0') FROM generate_series(1, $1) n)) c;
INSERT INTO "employee" ("nip", "name", "unit_id", "position")
SELECT '19800101' || lpad(n::text, 10, '0'), 'Pegawai ' || n,
       CASE WHEN n <= $2 THEN 'u-big' ELSE 'unit-' || lpad((n - $2 - 1) % $1 + 1 || '', 3, '0') END, ''
FROM generate_series(1, $2 + 3 * $1) n;
INSERT INTO "punch" ("device_serial", "pin", "punched_at", "utc_offset_minutes", "state", "verify", "unit_code",
                     "gateway_id", "batch_id", "received_at", "employee_nip")
SELECT 'ZK-' || e."unit_id", e."nip", d + make_interval(mins => m), 420, s, 1, e."unit_id", 'gw', 'seed', now(), e."nip"
FROM "employee" e CROSS JOIN unnest(array[timestamptz '2025-05-05 00:00+07', '2025-05-06 00:00+07']) d
CROSS JOIN (VALUES (0, 445), (1, 965)) AS p(s, m)
"""


async def test_a_replica_killed_during_the_month_end_run_leaves_no_unit_unscored(postgres_url: str) -> None:
    """Replica A starts the month-end run (`kinerja server score-month`) and is killed -9 half-way through a
    unit of three chunks, some of its results stored, its lease held; replica B, on the queue meanwhile,
    scores the other units and, the dead one's lease run out, that unit too: every employee of every unit
    ends with one result and no mark is left. The lease (two minutes) is made to run out at once."""
    import asyncpg

    from server.services.scoring_queue import CHUNK

    assert CHUNK < BIG < 3 * CHUNK
    context = await open_database(postgres_url)
    await close_database(context)
    connection = await asyncpg.connect(postgres_url)
    try:
        await connection.execute(_SEED.replace("$1", str(SMALL_UNITS)).replace("$2", str(BIG)))
        await connection.execute('DELETE FROM "stale_unit_month"')
        env = {**os.environ, "KINERJA_DB_URL": postgres_url}
        kinerja = [sys.executable, "-m", "kinerja.cli", "server", "score-month", "2025-05"]
        replica_a = subprocess.Popen(kinerja, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        replica_b = None
        try:
            lease_of_a = f"%:{replica_a.pid}"
            stored_big = 0
            deadline = asyncio.get_running_loop().time() + 240
            while not 0 < stored_big < BIG:  # A has stored a chunk of the big unit, not the whole of it
                assert asyncio.get_running_loop().time() < deadline, "replica A never stored a chunk"
                assert replica_a.poll() is None, "replica A ended before it was killed"
                if replica_b is None and await connection.fetchval(
                    'SELECT count(*) FROM "stale_unit_month" WHERE "unit_code" = \'u-big\' AND "leased_by" LIKE $1',
                    lease_of_a,
                ):  # A holds the big unit: B joins the run on the queue A marked
                    replica_b = subprocess.Popen(
                        [*kinerja, "--queued-only"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
                    )
                stored_big = await connection.fetchval(
                    'SELECT count(*) FROM "monthly_score" WHERE "unit_code" = \'u-big\''
                )
                await asyncio.sleep(0.02)
            replica_a.send_signal(signal.SIGKILL)
            assert replica_a.wait(10) == -signal.SIGKILL
            assert replica_b is not None
            held = await connection.fetchval(
                'SELECT "unit_code" FROM "stale_unit_month" WHERE "leased_by" LIKE $1 AND "lease_until" > now()',
                lease_of_a,
            )
            assert held == "u-big", "replica A was not killed mid-way through the big unit"
            assert await connection.fetchval('SELECT count(*) FROM "monthly_score" WHERE "unit_code" = \'u-big\'') < BIG
            # B scores the other units, then waits for the dead replica's: it must not end the run meanwhile.
            while await connection.fetchval('SELECT count(*) FROM "stale_unit_month"') > 1:
                assert asyncio.get_running_loop().time() < deadline, "replica B never scored the other units"
                assert replica_b.poll() is None, "replica B ended with units left"
                await asyncio.sleep(0.1)
            await asyncio.sleep(2.5)  # B's idle loop looks again every second
            assert replica_b.poll() is None, "replica B ended the run while a dead replica's unit was leased"
            # Two minutes later (the lease): brought forward; B is still waiting for the mark to clear.
            await connection.execute(
                'UPDATE "stale_unit_month" SET "lease_until" = now() WHERE "leased_by" LIKE $1', lease_of_a
            )
            out, err = await asyncio.to_thread(replica_b.communicate, timeout=180)
            assert replica_b.returncode == 0, err.decode()[-3000:]
        finally:
            for replica in (replica_a, replica_b):
                if replica is not None and replica.poll() is None:
                    replica.kill()
                    replica.wait()
        per_unit = dict(
            await connection.fetch('SELECT "unit_code", count(*) FROM "monthly_score" GROUP BY "unit_code"')
        )
        assert per_unit == {"u-big": BIG, **{f"unit-{n:03d}": 3 for n in range(1, SMALL_UNITS + 1)}}
        assert await connection.fetchval('SELECT count(*) FROM "stale_unit_month"') == 0
        assert int(out.decode().split(": ", 1)[1].split()[0]) >= 2  # B scored the big unit and others
    finally:
        await connection.close()
