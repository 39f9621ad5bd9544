"""`kinerja demo`: the whole chain on the embedded default, in one process.

A simulated ZK device holding today's punches of a few employees, a gateway polling it into its
durable queue, the in-process amqtt broker, and the server storing what arrives in a SQLite file.
It waits until every punch is stored, prints today's attendance and serves the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import signal
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from aiohttp import web

from gateway.config import DeviceConfig, GatewayConfig, RelayConfig
from gateway.service import Gateway
from gateway.simulators.zk import ZKSimulator
from server.activity_models import ActivityClaimRecord
from server.app import create_app
from server.models import Device, DevicePin, Employee, Punch, Unit
from server.models import Gateway as GatewayRow
from server.services.report import attendance_for_day, format_table
from server.settings import ServerSettings
from wire.embedded import EmbeddedBroker, free_port
from wire.mqtt import MqttSettings
from wire.zones import office_zone

log = logging.getLogger(__name__)

DEMO_UNIT = "kemensos-pusat"
DEMO_ZONE = office_zone("WIB")
DEMO_DEVICE_SERIAL = "DEMO-ZK-0001"


@dataclass(frozen=True, slots=True)
class DemoEmployee:
    pin: str
    nip: str
    name: str
    arrival: time
    departure: time


# NIPs follow the real layout: birth date, appointment month, sex, sequence.
DEMO_EMPLOYEES = (
    DemoEmployee("1", "198503122010011001", "Budi Santoso", time(7, 21), time(16, 4)),
    DemoEmployee("2", "199001052015032002", "Siti Rahmawati", time(7, 29), time(16, 12)),
    DemoEmployee("3", "198711232012121003", "Agus Prasetyo", time(7, 52), time(16, 1)),
    DemoEmployee("4", "199204182019022001", "Dewi Lestari", time(8, 47), time(15, 20)),
    DemoEmployee("5", "198009302005011002", "Made Wirawan", time(7, 15), time(17, 2)),
)


def demo_punches(day: date, now: datetime) -> list[tuple[str, datetime, int]]:
    """Today's punches up to `now` (device wall time): arrival, a repeated press for some, departure."""
    rng = random.Random(day.toordinal())  # the same day always gives the same punches: reruns add nothing
    punches: list[tuple[str, datetime, int]] = []
    earliest = datetime.combine(day, time(0, 0))
    for index, employee in enumerate(DEMO_EMPLOYEES):
        arrival = datetime.combine(day, employee.arrival) + timedelta(seconds=rng.randrange(60))
        # Early in the morning the planned arrival lies ahead: the demo still shows a punch.
        arrival = max(earliest, min(arrival, now - timedelta(minutes=len(DEMO_EMPLOYEES) - index)))
        punches.append((employee.pin, arrival.replace(microsecond=0), 0))
        if index == 1:  # people press twice when the device is slow to beep
            punches.append((employee.pin, arrival.replace(microsecond=0) + timedelta(seconds=40), 0))
        departure = datetime.combine(day, employee.departure) + timedelta(seconds=rng.randrange(60))
        if departure < now:
            punches.append((employee.pin, departure.replace(microsecond=0), 1))
    return punches


async def seed_registry() -> None:
    unit, _ = await Unit.get_or_create(code=DEMO_UNIT, defaults={"name": "Kementerian Sosial - Kantor Pusat"})
    # The demo's gateway and its one device, registered as the bureau would: the centre takes punches
    # only from a device registered to the gateway that sends them.
    await GatewayRow.get_or_create(gateway_id="gw-demo", defaults={"unit_code": DEMO_UNIT, "registered": True})
    await Device.get_or_create(serial=DEMO_DEVICE_SERIAL, defaults={"name": "lobby", "gateway_id": "gw-demo"})
    for employee in DEMO_EMPLOYEES:
        await Employee.get_or_create(nip=employee.nip, defaults={"name": employee.name, "unit": unit})
        await DevicePin.get_or_create(unit=unit, pin=employee.pin, defaults={"employee_id": employee.nip})


def month_history(today: date) -> list[tuple[str, datetime, int]]:
    """The month's earlier weekdays, so the monthly recap has something to show: each employee near their
    usual hours, now and then late or early, one day absent. The same month always gives the same punches."""
    punches: list[tuple[str, datetime, int]] = []
    for day in (today.replace(day=number) for number in range(1, today.day)):
        if day.weekday() >= 5:
            continue
        for employee in DEMO_EMPLOYEES:
            rng = random.Random(f"{day.isoformat()}-{employee.pin}")
            if rng.random() < 0.04:
                continue  # absent without notice: a TK day in the recap
            arrival = datetime.combine(day, employee.arrival) + timedelta(minutes=rng.randint(-10, 12))
            departure = datetime.combine(day, employee.departure) + timedelta(minutes=rng.randint(-12, 15))
            punches.append((employee.pin, arrival + timedelta(seconds=rng.randrange(60)), 0))
            punches.append((employee.pin, departure + timedelta(seconds=rng.randrange(60)), 1))
    return punches


# A working day's outputs, in order from arrival: (catalogue activity, quantity).
DEMO_DAY_OF_WORK = (("LAPORAN", 1), ("RAPAT", 1), ("SURAT", 3), ("VERIFIKASI", 6))


async def seed_activities(history: list[tuple[str, datetime, int]]) -> None:
    """Approved activity outputs for the history's working days, so the recap's performance component is
    not empty: each employee's day of work from half an hour after arrival, one claim in twenty rejected."""
    from server.services.activities import catalogue  # the server's catalogue: standard minutes per output

    nip_of = {employee.pin: employee.nip for employee in DEMO_EMPLOYEES}
    rows: dict[str, ActivityClaimRecord] = {}
    for pin, arrival, state in history:
        if state != 0:
            continue
        start = arrival.replace(tzinfo=DEMO_ZONE) + timedelta(minutes=30)
        for index, (activity, quantity) in enumerate(DEMO_DAY_OF_WORK):
            # The same employee-day always gives the same ids: a rerun adds nothing.
            claim_id = hashlib.md5(f"{nip_of[pin]}-{arrival.date()}-{index}".encode()).hexdigest()
            claim = catalogue().claim(claim_id, activity, start, quantity, evidence="demo")
            rejected = random.Random(claim_id).random() < 0.05
            rows[claim_id] = ActivityClaimRecord(
                claim_id=claim_id,
                nip=nip_of[pin],
                unit_code=DEMO_UNIT,
                activity=claim.activity,
                activity_name=catalogue().activity(claim.activity).name,
                start=start.astimezone(UTC),
                quantity=claim.quantity,
                minutes=claim.minutes,
                output=claim.output,
                evidence=claim.evidence,
                state="rejected" if rejected else "approved",
                reason="bukti tidak dilampirkan" if rejected else "",
                decided_by="demo",
                decided_at=datetime.now(UTC),
            )
            start += timedelta(minutes=claim.minutes)
    known = set(await ActivityClaimRecord.filter(claim_id__in=list(rows)).values_list("claim_id", flat=True))
    await ActivityClaimRecord.bulk_create([row for claim_id, row in rows.items() if claim_id not in known])


async def stored_count(first_day: date, last_day: date) -> int:
    start = datetime.combine(first_day, time.min, DEMO_ZONE)
    end = datetime.combine(last_day, time.min, DEMO_ZONE) + timedelta(days=1)
    return await Punch.filter(device_serial=DEMO_DEVICE_SERIAL, punched_at__gte=start, punched_at__lt=end).count()


async def run_demo(
    *,
    once: bool,
    state_dir: Path,
    http_port: int = 8080,
    db_url: str | None = None,
    mqtt: MqttSettings | None = None,
    timeout_s: float = 60.0,
) -> int:
    state_dir.mkdir(parents=True, exist_ok=True)
    now = datetime.now(DEMO_ZONE).replace(tzinfo=None)
    today = now.date()
    broker = None
    if mqtt is None:
        broker = EmbeddedBroker()
        await broker.start()
        mqtt = broker.settings
    settings = ServerSettings(
        db_url=db_url or f"sqlite://{state_dir / 'kinerja.sqlite3'}",
        mqtt=mqtt,
        http_port=http_port or free_port(),
        replica_id="kinerja-demo-server",
    )
    runner = web.AppRunner(create_app(settings))
    simulator = ZKSimulator(serial=DEMO_DEVICE_SERIAL, port=0, zone=DEMO_ZONE)  # an office device keeps WIB wall time
    gateway: Gateway | None = None
    try:
        await runner.setup()
        await web.TCPSite(runner, settings.http_host, settings.http_port).start()
        await seed_registry()
        for employee in DEMO_EMPLOYEES:
            simulator.add_user(pin=employee.pin, name=employee.name)
        punches, history = demo_punches(today, now), month_history(today)
        await seed_activities(history)
        for pin, moment, state in [*history, *punches]:
            simulator.add_punch(pin, moment, state=state, verify=1)
        simulator.start()
        gateway = Gateway(
            GatewayConfig(
                gateway_id="gw-demo",
                unit=DEMO_UNIT,
                zone=DEMO_ZONE,
                state_dir=state_dir / "gateway",
                mqtt=mqtt,
                devices=(DeviceConfig("lobby", "127.0.0.1", simulator.port, poll_interval_s=5),),
                relay=RelayConfig(resend_after_s=5),
            )
        )
        await gateway.start()
        await _wait_stored(today, len(history) + len(punches), timeout_s)
        rows = await attendance_for_day(today, DEMO_ZONE, DEMO_UNIT)
        print(f"Attendance on {today.isoformat()} (WIB), unit {DEMO_UNIT}:")
        print(format_table(rows))
        print(
            f"\n{len(punches)} punches today (and {len(history)} earlier this month, for the monthly"
            f" recap) from device {DEMO_DEVICE_SERIAL} stored via gateway gw-demo."
        )
        if not once:
            base = f"http://{settings.http_host}:{settings.http_port}"
            from server.services.accounts import demo_admin

            password = await demo_admin()
            print(f"Server running at {base}  - Ctrl-C stops everything.")
            print(f"Log in at {base}/login as demo / {password}  (pages in Indonesian; ?lang=en for English)")
            await _until_interrupted()
        return 0
    finally:
        if gateway is not None:
            await gateway.stop()
        simulator.stop()
        await runner.cleanup()
        if broker is not None:
            await broker.stop()


async def _wait_stored(day: date, expected: int, timeout_s: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while (count := await stored_count(day.replace(day=1), day)) < expected:
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"only {count} of {expected} punches were stored within {timeout_s:.0f} s")
        await asyncio.sleep(0.2)


async def _until_interrupted() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # Windows has no add_signal_handler
            loop.add_signal_handler(signum, stop.set)
    await stop.wait()
