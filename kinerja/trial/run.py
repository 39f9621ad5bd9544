"""`kinerja trial`: three offices, two server replicas, one broker, one database, faults on a schedule,
and at the end the numbers must add up.

The schedule (each step while punches are flowing):
 1. start: private Mosquitto (deployment config + ACL), fresh PostgreSQL database (seeded registry,
    excused days, activity claims), two replicas, three gateways, each with a ZK device over TCP, a
    ZK device over UDP and a serial terminal on a pty; the first half of the month loaded into the
    ZK devices' logs; forged and malformed messages published with a gateway's own login;
 2. the serial terminals print their month (garbage lines in between) while the broker is restarted
    and replica A is killed -9 (and started again);
 3. the WITA gateway is killed -9 and its uplink cut; the second half of the month goes into the
    device logs (the WIB UDP device drops the connection mid-read meanwhile); the gateway is started
    again behind the cut line, holds its backlog, and delivers it when the line is back;
 4. the WIT TCP device's clock drifts by minutes: the gateway must set it back;
 5. when every queue is empty: counts, quarantine, monthly results against the hand expectation.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kinerja.trial.population import Office, Punch, Trial, generate
from kinerja.trial.rig import REPLICA_USERS, WATCH_USER, EdgeBroker, Replica, Uplink, holds_open
from kinerja.trial.store import StoredPunch, quarantined, seed, stored_count, stored_punches, zone_of
from wire.contract import DELIVERY, PunchBatch, PunchRecord, TopicKind, topic_for

DRIFT = timedelta(minutes=7)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str, step_s: float = 0.25) -> float:
    """Seconds it took; TimeoutError naming `what` otherwise."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout_s:
            raise TimeoutError(f"{what}: not within {timeout_s:.0f} s")
        time.sleep(step_s)
    return time.monotonic() - started


@dataclass(frozen=True)
class Scale:
    employees_per_office: int
    uplink_cut_s: float
    settle_timeout_s: float
    serial_spread_s: float  # the serial terminals print their month over this long, faults meanwhile


FULL = Scale(employees_per_office=300, uplink_cut_s=30, settle_timeout_s=900, serial_spread_s=40)
SHORT = Scale(employees_per_office=12, uplink_cut_s=5, settle_timeout_s=120, serial_spread_s=8)
SERIAL_BURST = 40  # lines per write burst: a pty holds a few kilobytes


class OfficeRig:
    """One office: its simulated devices, its gateway process and its uplink."""

    def __init__(self, office: Office, directory: Path, broker: EdgeBroker) -> None:
        from gateway.devices.serial_line import SerialLineFormat
        from gateway.profiles import load_profile
        from gateway.simulators.serial_terminal import SerialTerminalSimulator
        from gateway.simulators.zk import ZKSimulator
        from kinerja.processes import GatewayProcess

        self.office = office
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        zone = zone_of(office)
        self.zk = {
            "tcp": ZKSimulator(serial=office.device_serial("tcp"), udp=False, zone=zone),
            "udp": ZKSimulator(serial=office.device_serial("udp"), tcp=False, zone=zone, platform="ZEM510_TFT"),
        }
        for simulator in self.zk.values():
            for employee in office.employees:
                simulator.add_user(employee.pin, employee.name)
            simulator.start()
        profile = load_profile("giga-tms-tr320")
        self.terminal = SerialTerminalSimulator(
            SerialLineFormat.from_table(profile.serial, profile.source), directory / "by-id" / "side-door"
        ).plug_in()
        self.garbage_sent = 0
        self.uplink = Uplink(broker.port)
        config = directory / "gateway.toml"
        config.write_text(self._config(broker))
        self.gateway = GatewayProcess(config, directory / "gateway.log")

    def _config(self, broker: EdgeBroker) -> str:
        office = self.office
        return f"""gateway_id = "{office.gateway_id}"
unit = "{office.unit}"
timezone = "{office.zone}"
state_dir = "{self.directory / "state"}"

[mqtt]
url = "mqtt://127.0.0.1:{self.uplink.port}?protocol=5"
username = "{office.gateway_id}"
password = "{broker.passwords[office.gateway_id]}"

[relay]
batch_size = 200
max_in_flight = 4
resend_after_s = 2
max_backoff_s = 4

[telemetry]
interval_s = 5

[[devices]]
name = "lobby-tcp"
profile = "zkteco-generic-tcp"
host = "127.0.0.1"
port = {self.zk["tcp"].port}
timeout_s = 5
poll_interval_s = 1

[[devices]]
name = "hall-udp"
profile = "zkteco-legacy-udp"
host = "127.0.0.1"
port = {self.zk["udp"].port}
timeout_s = 5
poll_interval_s = 1

[[devices]]
name = "side-serial"
profile = "giga-tms-tr320"
serial_path = "{self.terminal.path}"
serial_number = "{office.device_serial("serial")}"
"""

    @property
    def queue_path(self) -> Path:
        return self.directory / "state" / "queue.sqlite3"

    def queue_counts(self) -> tuple[int, int]:
        from kinerja.processes import queue_counts

        return queue_counts(self.queue_path)

    def gateway_quarantine(self) -> int:
        path = self.directory / "state" / "devices.sqlite3"
        if not path.exists():
            return 0
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            return db.execute("SELECT count(*) FROM quarantine").fetchone()[0]
        except sqlite3.OperationalError:
            return 0
        finally:
            db.close()

    def clock_sets(self) -> int:
        path = self.directory / "state" / "devices.sqlite3"
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            return db.execute("SELECT count(*) FROM clock_sets WHERE device = 'lobby-tcp'").fetchone()[0]
        except sqlite3.OperationalError:
            return 0
        finally:
            db.close()

    def load_log(self, punches: list[Punch]) -> None:
        """History into the ZK devices' logs, as if punched there over the days."""
        from gateway.simulators.zk import SimRecord

        for kind, simulator in self.zk.items():
            simulator.load_records(
                SimRecord(p.pin, p.local_time, p.state, 1) for p in sorted(punches, key=_by_time) if p.device == kind
            )

    def print_serial(self, punches: list[Punch], garbage_every: int, spread_s: float) -> None:
        """The serial terminal prints its punches (and now and then a garbled line) while the gateway
        holds the port: a terminal keeps no log, a line printed to nobody is lost."""
        from gateway.simulators.serial_terminal import GARBLE_KINDS, garble

        wait_until(lambda: holds_open(self.gateway.pid, self.terminal.path), 30, f"{self.office.key} gateway on pty")
        lines = [p for p in sorted(punches, key=_by_time) if p.device == "serial"]
        pause_s = spread_s * SERIAL_BURST / max(len(lines), 1)
        for index, punch in enumerate(lines):
            if garbage_every and index % garbage_every == garbage_every - 1:
                good = self.terminal.format_line(punch.pin, punch.local_time, punch.state + 1, 4)
                self.terminal.send_raw(garble(good, GARBLE_KINDS[self.garbage_sent % len(GARBLE_KINDS)]))
                self.garbage_sent += 1
            # The TR320 prints 1 for in and 2 for out; its profile maps them back to 0 and 1.
            self.terminal.punch(punch.pin, punch.local_time, punch.state + 1, 4)
            if index % SERIAL_BURST == SERIAL_BURST - 1:
                time.sleep(pause_s)

    def close(self) -> None:
        self.gateway.kill()
        for simulator in self.zk.values():
            simulator.stop()
        self.terminal.unplug()
        self.uplink.close()


def _by_time(punch: Punch) -> datetime:
    return punch.local_time


class DropCounter(logging.Handler):
    """Counts the ZK simulators' "dropping the connection mid-read" (they run in this process)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0

    @classmethod
    def install(cls) -> DropCounter:
        counter = cls()
        simulator_log = logging.getLogger("gateway.simulators.zk")
        simulator_log.setLevel(logging.INFO)
        simulator_log.addHandler(counter)
        return counter

    def emit(self, record: logging.LogRecord) -> None:
        if "mid-read" in record.getMessage():
            self.count += 1

    def remove(self) -> None:
        logging.getLogger("gateway.simulators.zk").removeHandler(self)


class WireWatch:
    """Sees every punch batch on the broker as the server's user (not shared): when each batch id was
    first published, for the publish-to-commit latency."""

    def __init__(self, broker: EdgeBroker) -> None:
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        self.first_seen: dict[str, float] = {}
        self.copies: dict[str, int] = {}  # a batch seen twice was published again (no ack in time)
        self._lock = threading.Lock()
        self._client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5, client_id="trial-wire-watch"
        )
        self._client.username_pw_set(WATCH_USER, broker.passwords[WATCH_USER])
        self._client.on_message = self._on_message
        self._client.on_connect = lambda client, *_: client.subscribe("kinerja/v1/+/+/punches", qos=0)
        self._client.reconnect_delay_set(0.2, 1)
        self._client.connect("127.0.0.1", broker.port)
        self._client.loop_start()

    def _on_message(self, _client: object, _userdata: object, message: Any) -> None:
        seen = time.time()
        try:
            body = json.loads(message.payload)
            batch_id, sent_at = body["batch_id"], datetime.fromisoformat(body["sent_at"]).timestamp()
        except (ValueError, AttributeError, KeyError, TypeError):
            return  # malformed on purpose: quarantined, never committed
        if isinstance(batch_id, str):
            # The gateway stamps sent_at when it first publishes (same machine clock); a copy seen
            # earlier than its stamp cannot be, so the earlier of the two is the publish time.
            with self._lock:
                self.copies[batch_id] = self.copies.get(batch_id, 0) + 1
                self.first_seen[batch_id] = min(self.first_seen.get(batch_id, seen), sent_at, seen)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@dataclass
class Forgery:
    """What a misbehaving gateway sent with its own broker login, and what must become of it."""

    quarantined: list[str] = field(default_factory=list)  # reasons expected, one per message
    denied_serial: str = ""  # published on another gateway's topic: the broker's ACL drops it
    # On its own topic, a real punch of the victim's device (its serial, PIN, instant and state): refused,
    # and the victim's own copy stored as the victim's.
    forged_serial_batch: str = ""


def forge_and_garble(broker: EdgeBroker, sender: Office, victim: Office) -> Forgery:
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5, client_id="forger")
    client.username_pw_set(sender.gateway_id, broker.passwords[sender.gateway_id])
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    own = topic_for(sender.unit, sender.gateway_id, TopicKind.PUNCHES)
    now = datetime.now(UTC)
    record = PunchRecord("1", now - timedelta(days=1), 0, 1, 1)
    claims_victim = PunchBatch(PunchBatch.new_id(), victim.gateway_id, victim.unit, "FORGED-1", (record,), now)
    on_victims_topic = PunchBatch(PunchBatch.new_id(), victim.gateway_id, victim.unit, "FORGED-2", (record,), now)
    good = json.loads(PunchBatch(PunchBatch.new_id(), sender.gateway_id, sender.unit, "BAD", (record,), now).to_json())
    # The victim's first real punch, as the victim's gateway will send it, claimed by the sender.
    real = victim.punches[0]
    stolen = PunchRecord(real.pin, real.local_time.replace(tzinfo=zone_of(victim)), real.state, 1, 1)
    forged_serial = PunchBatch(
        PunchBatch.new_id(), sender.gateway_id, sender.unit, victim.device_serial(real.device), (stolen,), now
    )
    malformed = [
        # A hostile gateway's poison: json.loads refuses a 5,000-digit integer with a plain ValueError.
        b'{"schema":1,"batch_id":"%s","seq":%s}' % (PunchBatch.new_id().encode(), b"9" * 5000),
        forged_serial.to_json(),
        b"{not json at all",
        json.dumps({**good, "schema": 99}).encode(),
        json.dumps({**good, "punches": []}).encode(),
        json.dumps({**good, "punches": [{**good["punches"][0], "pin": "1; DROP TABLE punch"}]}).encode(),
    ]
    sent = [(own, claims_victim.to_json()), *((own, payload) for payload in malformed)]
    sent.append((topic_for(victim.unit, victim.gateway_id, TopicKind.PUNCHES), on_victims_topic.to_json()))
    for topic, payload in sent:  # a forger's raw paho client, but the punches' own QoS all the same
        client.publish(topic, payload, qos=DELIVERY[TopicKind.PUNCHES].qos).wait_for_publish(10)
    client.disconnect()
    client.loop_stop()
    return Forgery(
        quarantined=[
            "is not the topic's gateway", "digits", "registered to another gateway", "not valid UTF-8 JSON",
            "schema", "at least one punch", "pin",
        ],
        denied_serial="FORGED-2",
        forged_serial_batch=forged_serial.batch_id,
    )  # fmt: skip


@dataclass
class Outcome:
    """Everything the report needs; `problems` empty means the numbers add up."""

    trial: Trial
    elapsed_s: float = 0.0
    generated: int = 0
    stored_rows: int = 0
    duplicated: int = 0
    lost: int = 0
    unexpected: int = 0
    flagged: int = 0
    server_quarantined: int = 0
    server_quarantine_expected: int = 0
    gateway_quarantined: int = 0
    gateway_quarantine_expected: int = 0
    peak_rate: int = 0
    worst_latency_s: float = 0.0
    latency_batches: int = 0
    faults: list[str] = field(default_factory=list)
    differing: list[str] = field(default_factory=list)
    differing_punches: list[str] = field(default_factory=list)
    committed_batches: int = 0
    republished_batches: int = 0
    employees_compared: int = 0
    problems: list[str] = field(default_factory=list)


# The trial makes (and drops) a database of its own through this administrative connection.
DEFAULT_PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/test"


def run_trial(
    short: bool = False, workdir: Path | None = None, seed_value: int = 2025, pg_admin_url: str | None = None
) -> Outcome:
    """`pg_admin_url`: default KINERJA_TRIAL_PG_URL, else the local PostgreSQL's `test` database."""
    from kinerja.processes import fresh_database

    scale = SHORT if short else FULL
    started = time.monotonic()
    trial = generate(scale.employees_per_office, seed=seed_value)
    outcome = Outcome(trial, generated=trial.punch_count)
    log(
        f"trial month {trial.year}-{trial.month:02d}: {trial.employee_count} employees in 3 offices, "
        f"{trial.punch_count} punches, {sum(len(o.claims) for o in trial.offices)} activity claims"
    )
    with tempfile.TemporaryDirectory(prefix="kinerja-trial-", dir=workdir) as tmp:
        root = Path(tmp)
        admin_url = pg_admin_url or os.environ.get("KINERJA_TRIAL_PG_URL", DEFAULT_PG_ADMIN_URL)
        with fresh_database(admin_url) as db_url:
            _run(trial, scale, root, db_url, outcome)
    outcome.elapsed_s = time.monotonic() - started
    return outcome


def _run(trial: Trial, scale: Scale, root: Path, db_url: str, outcome: Outcome) -> None:
    """The month in acts, each with its faults; every number is checked at the end (_account)."""
    seed(db_url, trial)
    run = _TrialRun(trial, scale, root, db_url, outcome)
    try:
        run.start()
        forgery = run.serial_month_through_broker_and_replica_faults()
        run.second_half_behind_a_cut_uplink_and_dropped_reads()
        expected = run.drifted_clock_and_settling()
        assert run.watch is not None
        _account(outcome, trial, db_url, run.rigs, forgery, run.watch, expected)
    finally:
        run.close()


@dataclass
class _TrialRun:
    trial: Trial
    scale: Scale
    root: Path
    db_url: str
    outcome: Outcome
    broker: EdgeBroker | None = None
    replicas: list[Replica] = field(default_factory=list)
    rigs: list[OfficeRig] = field(default_factory=list)
    watch: WireWatch | None = None
    second_half: dict[str, list[Punch]] = field(default_factory=dict)
    forgery: Forgery | None = None

    @property
    def units(self) -> list[str]:
        return [o.unit for o in self.trial.offices]

    def start(self) -> None:
        """Broker, two server replicas, the wire watch and three gateways with the first half of the month."""
        offices = self.trial.offices
        broker = self.broker = EdgeBroker(self.root / "broker", [(o.unit, o.gateway_id) for o in offices])
        broker.start()
        env = {
            "KINERJA_DB_URL": self.db_url,
            "KINERJA_SHARE_GROUP": "kinerja-server",
            "KINERJA_UNITS": ",".join(self.units),
            "KINERJA_MIGRATE_ON_START": "0",
        }
        self.replicas = [
            Replica(user, {**env, "KINERJA_MQTT_URL": broker.url(user)}, self.root / f"replica-{user[-1]}.log")
            for user in REPLICA_USERS
        ]
        for replica in self.replicas:
            replica.start()
        wait_until(lambda: all(r.consuming() for r in self.replicas), 60, "both replicas on the broker")
        self.watch = WireWatch(broker)
        # The forger logs in as gateway jkt; the broker makes its client id that login, so it would take
        # over jkt's own connection if jkt were up. It strikes before jkt starts.
        self.forgery = forge_and_garble(broker, offices[0], offices[1])
        self.outcome.faults.append(
            "hostile gateway jkt: a batch claiming mks, a real mks punch under mks's device serial, a poison"
            " batch (5,000-digit number) and 4 malformed batches published"
        )
        self.outcome.server_quarantine_expected = len(self.forgery.quarantined)
        self.rigs = [OfficeRig(office, self.root / office.key, broker) for office in offices]
        middle = datetime(self.trial.year, self.trial.month, 16)
        first_half = {o.key: [p for p in o.punches if p.local_time < middle] for o in offices}
        self.second_half = {o.key: [p for p in o.punches if p.local_time >= middle] for o in offices}
        for rig in self.rigs:
            rig.load_log(first_half[rig.office.key])
            rig.gateway.start()
        log(f"broker on {broker.port}, replicas on {[r.port for r in self.replicas]}, 3 gateways started")

    def serial_month_through_broker_and_replica_faults(self) -> Forgery:
        """The serial terminals printing the month (garbage included), the broker restarted and a replica
        killed meanwhile; returns what the forgery (published in start) expects quarantined."""
        broker, replicas, rigs, outcome, scale = self.broker, self.replicas, self.rigs, self.outcome, self.scale
        assert broker is not None and self.forgery is not None
        forgery, offices = self.forgery, self.trial.offices

        printers = [
            threading.Thread(target=rig.print_serial, args=(rig.office.punches, 25, scale.serial_spread_s), daemon=True)
            for rig in rigs
        ]
        for printer in printers:
            printer.start()

        time.sleep(scale.serial_spread_s * 0.25)
        broker.restart(down_s=1.0)
        outcome.faults.append("broker restarted (down 1 s, sessions lost: persistence off)")
        log("fault: broker restarted")
        time.sleep(scale.serial_spread_s * 0.25)
        share = replicas[0].health().get("punches_stored", 0)
        replicas[0].kill()
        outcome.faults.append(f"replica a killed -9 mid-stream (it had stored {share} punches), restarted 3 s later")
        log("fault: replica a killed -9")
        time.sleep(3)
        replicas[0].start()
        for printer in printers:
            printer.join(600)
        outcome.gateway_quarantine_expected = sum(rig.garbage_sent for rig in rigs)
        outcome.faults.append(f"{outcome.gateway_quarantine_expected} garbled lines on the serial terminals")
        serials = [o.device_serial("serial") for o in offices]
        serial_total = sum(1 for o in offices for p in o.punches if p.device == "serial")
        wait_until(
            lambda: stored_count(self.db_url, self.units, serials) >= serial_total,
            scale.settle_timeout_s,
            "every serial punch stored",
            1.0,
        )
        log("serial month stored; fault: gateway mks killed -9, uplink cut")
        return forgery

    def second_half_behind_a_cut_uplink_and_dropped_reads(self) -> None:
        """Gateway mks killed behind a cut uplink as it reads the second half; device jkt/udp dropping
        the connection mid-read."""
        rigs, outcome, scale, second_half = self.rigs, self.outcome, self.scale, self.second_half
        mks, jkt = rigs[1], rigs[0]
        mks.uplink.cut()
        drops = DropCounter.install()
        udp_log_bytes = 40 * (len(jkt.zk["udp"].records) + sum(1 for p in second_half["jkt"] if p.device == "udp"))
        # pyzk reads a UDP log in 16 KiB chunks: drop half way through (before the first, for a short log).
        drop_after = udp_log_bytes // (16 * 1024) // 2
        jkt.zk["udp"].drop_connection_after_chunks = drop_after
        for rig in rigs:
            rig.load_log(second_half[rig.office.key])
        wait_until(lambda: mks.queue_counts()[0] > 0, 30, "gateway mks queueing the second half")
        queued_at_kill = mks.queue_counts()[0]
        mks.gateway.kill()
        mks.gateway.start()
        outcome.faults.append(
            f"uplink mks cut; gateway mks killed -9 as it read the second half ({queued_at_kill} punches queued, "
            "unsent), restarted behind the cut line"
        )
        held = 0
        cut_until = time.monotonic() + scale.uplink_cut_s
        while time.monotonic() < cut_until:
            held = max(held, mks.queue_counts()[0])
            time.sleep(0.5)
        try:
            wait_until(lambda: drops.count > 0, 30, "a read dropped mid-way")
        except TimeoutError as exc:
            outcome.problems.append(f"device jkt/udp: {exc}")
        jkt.zk["udp"].drop_connection_after_chunks = None
        outcome.faults.append(
            f"device jkt/udp dropped the connection mid-read (after {drop_after} chunks) {drops.count} times"
        )
        drops.remove()
        mks.uplink.restore()
        outcome.faults.append(f"uplink mks restored after {scale.uplink_cut_s:.0f} s; {held} punches held meanwhile")
        if held <= 0:
            outcome.problems.append("the gateway behind the cut uplink held no punches: the fault did not bite")
        log(f"uplink restored ({held} punches held); fault: device clock drifting")

    def drifted_clock_and_settling(self) -> set[tuple[str, str, datetime, int]]:
        """Device jyp/tcp's clock drifts ahead; then everything settles. Returns the punches expected stored."""
        rigs, outcome, scale, db_url, units = self.rigs, self.outcome, self.scale, self.db_url, self.units
        jyp = rigs[2]
        for step in range(1, 8):  # the clock runs fast: a minute further ahead every half second
            jyp.zk["tcp"].clock_offset = DRIFT * step / 7
            time.sleep(0.5)
        outcome.faults.append(f"device jyp/tcp clock drifted {DRIFT.total_seconds() / 60:.0f} minutes ahead")

        expected = expected_keys(self.trial)

        def settled() -> bool:
            return stored_count(db_url, units) >= len(expected) and all(r.queue_counts() == (0, 0) for r in rigs)

        try:
            wait_until(settled, scale.settle_timeout_s, "every punch stored and every queue empty", 1.0)
        except TimeoutError as exc:
            outcome.problems.append(str(exc))
        try:
            wait_until(lambda: abs(jyp.zk["tcp"].clock_offset) < timedelta(seconds=10), 30, "drifted clock set back")
            outcome.faults.append(f"gateway jyp set the drifted clock back ({jyp.clock_sets()} clock set recorded)")
        except TimeoutError as exc:
            outcome.problems.append(f"device jyp/tcp: {exc}")
        time.sleep(1.0)  # late duplicates of resent batches land
        return expected

    def close(self) -> None:
        if self.watch is not None:
            self.watch.close()
        for rig in self.rigs:
            rig.close()
        for replica in self.replicas:
            replica.stop()
        if self.broker is not None:
            self.broker.stop()


def expected_keys(trial: Trial) -> set[tuple[str, str, datetime, int]]:
    keys = set()
    for office in trial.offices:
        zone = zone_of(office)
        for p in office.punches:
            keys.add(
                (office.device_serial(p.device), p.pin, p.local_time.replace(tzinfo=zone).astimezone(UTC), p.state)
            )
    return keys


def _account(
    outcome: Outcome,
    trial: Trial,
    db_url: str,
    rigs: list[OfficeRig],
    forgery: Forgery,
    watch: WireWatch,
    expected: set[tuple[str, str, datetime, int]],
) -> None:
    units = [o.unit for o in trial.offices]
    rows = stored_punches(db_url, units)
    keys = [(r.serial, r.pin, r.at.astimezone(UTC), r.state) for r in rows]
    outcome.stored_rows = len(rows)
    outcome.duplicated = len(keys) - len(set(keys))
    outcome.lost = len(expected - set(keys))
    outcome.unexpected = len(set(keys) - expected)
    outcome.flagged = sum(1 for r in rows if r.flag)
    if outcome.duplicated or outcome.lost or outcome.unexpected or len(expected) != outcome.generated:
        outcome.problems.append(
            f"punches: {outcome.generated} generated, {len(set(keys))} stored distinct, {outcome.duplicated} "
            f"duplicated, {outcome.lost} lost, {outcome.unexpected} not generated"
        )
    for sample in sorted(expected - set(keys))[:3] + sorted(set(keys) - expected)[:3]:
        outcome.differing_punches.append(str(sample))
    if forgery.denied_serial in {r.serial for r in rows}:
        outcome.problems.append("a batch published on another gateway's topic got past the ACL")
    if forgery.forged_serial_batch in {r.batch_id for r in rows}:
        outcome.problems.append("a punch forged with another office's device serial was stored as the forger's")

    _account_quarantine(outcome, db_url, units, rigs, forgery)
    _account_latency(outcome, rows, watch)
    _account_results(outcome, trial, db_url)


def _account_quarantine(
    outcome: Outcome, db_url: str, units: list[str], rigs: list[OfficeRig], forgery: Forgery
) -> None:
    kept = quarantined(db_url, units)
    outcome.server_quarantined = len(kept)
    reasons = [reason for _, reason, _ in kept]
    missing = [want for want in forgery.quarantined if not any(want in reason for reason in reasons)]
    if missing or len(kept) != outcome.server_quarantine_expected:
        outcome.problems.append(f"server quarantine: {len(kept)} kept, expected {len(forgery.quarantined)}; {reasons}")
    outcome.gateway_quarantined = sum(rig.gateway_quarantine() for rig in rigs)
    if outcome.gateway_quarantined != outcome.gateway_quarantine_expected:
        outcome.problems.append(
            f"gateway quarantine: {outcome.gateway_quarantined} lines kept, "
            f"{outcome.gateway_quarantine_expected} garbled lines sent"
        )


def _account_latency(outcome: Outcome, rows: list[StoredPunch], watch: WireWatch) -> None:
    per_second: dict[int, int] = {}
    committed: dict[str, float] = {}
    for r in rows:
        second = int(r.received_at.timestamp())
        per_second[second] = per_second.get(second, 0) + 1
        at = r.received_at.timestamp()
        committed[r.batch_id] = min(committed.get(r.batch_id, at), at)
    outcome.peak_rate = max(per_second.values(), default=0)
    latencies = [at - watch.first_seen[b] for b, at in committed.items() if b in watch.first_seen]
    outcome.latency_batches = len(latencies)
    outcome.committed_batches = len(committed)
    outcome.republished_batches = sum(1 for copies in watch.copies.values() if copies > 1)
    outcome.worst_latency_s = max(latencies, default=0.0)


def _account_results(outcome: Outcome, trial: Trial, db_url: str) -> None:
    from kinerja.trial.store import monthly_results

    results = monthly_results(db_url, trial)
    for office in trial.offices:
        for employee in office.employees:
            want = office.expected[employee.nip]
            got = results.get(employee.nip)
            outcome.employees_compared += 1
            # (codes, planned days, effective minutes, discipline deduction, score, allowance deduction)
            mine = (dict(want.codes), want.planned_days, want.effective_minutes, want.discipline_deduction_bp,
                    want.score_bp, 10_000 - want.score_bp)  # fmt: skip
            theirs = None
            if got is not None:
                theirs = (got.codes, got.planned_days, got.effective_minutes, got.discipline_deduction_bp,
                          got.score_bp, got.allowance_deduction_bp)  # fmt: skip
            if mine != theirs:
                outcome.differing.append(f"{office.key} {employee.nip}: expected {mine}, got {theirs}")
    if outcome.differing:
        outcome.problems.append(f"{len(outcome.differing)} employees' monthly results differ from the expectation")


def _office_label(office: Office) -> str:
    return f"{office.key} ({office.zone}{', shifts' if office.shifts else ''})"


def report(outcome: Outcome) -> str:
    trial = outcome.trial
    lines = [
        f"Kinerja field trial, month {trial.year}-{trial.month:02d} "
        f"(holidays: {', '.join(f'{d:%d %b} {n}' for d, n in sorted(trial.holidays.items())) or 'none'})",
        f"  offices: {', '.join(_office_label(o) for o in trial.offices)}; "
        f"{trial.employee_count} employees; 3 gateways x (ZK/TCP, ZK/UDP, serial pty); 2 replicas; "
        "Mosquitto with ACL; PostgreSQL",
        "",
        f"  punches generated      {outcome.generated:>8}",
        f"  punches stored         {outcome.stored_rows:>8}",
        f"  duplicated             {outcome.duplicated:>8}",
        f"  lost                   {outcome.lost:>8}",
        f"  stored, not generated  {outcome.unexpected:>8}",
        f"  quarantined (server)   {outcome.server_quarantined:>8}   expected {outcome.server_quarantine_expected} "
        "(forged + malformed)",
        f"  quarantined (gateways) {outcome.gateway_quarantined:>8}   expected {outcome.gateway_quarantine_expected} "
        "(garbled serial lines)",
        f"  employees compared     {outcome.employees_compared:>8}",
        f"  employees differing    {len(outcome.differing):>8}",
        f"  peak ingest rate       {outcome.peak_rate:>8} punches/s (committed, per wall-clock second)",
        f"  worst publish-to-commit {outcome.worst_latency_s:>7.1f} s over {outcome.latency_batches} of "
        f"{outcome.committed_batches} batches (faults included)",
        f"  batches published again {outcome.republished_batches:>7}   (no ack in time: the faults at work)",
        f"  wall time              {outcome.elapsed_s:>8.0f} s",
        "",
        "  faults:",
        *(f"    - {fault}" for fault in outcome.faults),
        "",
    ]
    if outcome.problems:
        lines += ["  THE NUMBERS DO NOT ADD UP:", *(f"    ! {p}" for p in outcome.problems)]
        lines += [f"    {d}" for d in outcome.differing[:10] + outcome.differing_punches]
    else:
        lines.append("  RESULT: every punch stored exactly once; every refusal quarantined; every result as expected")
    return "\n".join(lines)


def main(short: bool = False, workdir: Path | None = None) -> int:
    outcome = run_trial(short=short, workdir=workdir)
    print(report(outcome))
    return 1 if outcome.problems else 0
