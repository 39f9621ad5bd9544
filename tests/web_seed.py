"""A small ministry for the web, API and browser tests: a unit tree, employees with supervisors, PINs,
a gateway with a device, punches, and one account per role.

    kemen (ministry)
    └── dj-a (directorate general)
        ├── dir-1   Ani (supervisor of Budi), Budi
        └── dir-2   Citra
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone

from aiohttp.test_utils import TestClient, TestServer

from server.app import create_app
from server.models import Device, DevicePin, Employee, Gateway, Punch, Unit
from server.services.accounts import Role, UserAccount, hash_password, issue_api_token, start_session
from server.settings import ServerSettings

WIB = timezone(timedelta(hours=7))
PASSWORD = "kata-sandi-rahasia-1"
_HASH = hash_password(PASSWORD)  # once per test run: Argon2 is slow on purpose

ANI = "198503122010012001"
BUDI = "199001012015031002"
CITRA = "198807202012022003"


@dataclass
class World:
    client: TestClient
    tokens: dict[str, str] = field(default_factory=dict)  # username -> API token
    usernames: dict[Role, str] = field(default_factory=dict)

    def auth(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[self.usernames[role]]}"}


ACCOUNTS = (
    ("biro", Role.BUREAU_ADMIN, None, None),
    ("admin-dir2", Role.UNIT_ADMIN, "dir-2", None),
    ("ani", Role.SUPERVISOR, None, ANI),
    ("budi", Role.EMPLOYEE, None, BUDI),
    ("ops", Role.OPERATIONS, None, None),
)


def last_working_day(before: date) -> date:
    """The last day before `before` the national calendar has people at work (no weekend, holiday)."""
    from scoring import DayKind, Policy, plan_day

    policy = Policy()
    day = before - timedelta(days=1)
    while plan_day(policy, day).kind is not DayKind.WORKING:
        day -= timedelta(days=1)
    return day


async def seed(world: World) -> None:
    await Unit.create(code="kemen", name="Kementerian Contoh", kind="ministry")
    await Unit.create(code="dj-a", name="Direktorat Jenderal A", parent_id="kemen", kind="directorate_general")
    await Unit.create(code="dir-1", name="Direktorat Satu", parent_id="dj-a", kind="directorate")
    await Unit.create(code="dir-2", name="Direktorat Dua", parent_id="dj-a", kind="directorate")
    await Employee.create(nip=ANI, name="Ani Wulandari", unit_id="dir-1", position="Kepala Subbagian")
    await Employee.create(nip=BUDI, name="Budi Santoso", unit_id="dir-1", position="Analis", supervisor_id=ANI)
    await Employee.create(nip=CITRA, name="Citra Lestari", unit_id="dir-2", position="Pranata")
    for unit, pin, nip in (("dir-1", "1", ANI), ("dir-1", "2", BUDI), ("dir-2", "1", CITRA)):
        await DevicePin.create(unit_id=unit, pin=pin, employee_id=nip)
    await Gateway.create(gateway_id="gw-dir1", unit_code="dir-1", registered=True, online=True,
                         last_seen_at=datetime.now(UTC), queued_punches=4)  # fmt: skip
    await Gateway.create(gateway_id="gw-dir2", unit_code="dir-2", registered=True, online=False)
    await Device.create(serial="DEV-DIR1", name="lobby", gateway_id="gw-dir1", reachable=True, clock_drift_s=300.0)
    await Device.create(serial="DEV-DIR2", name="entrance", gateway_id="gw-dir2", reachable=False)
    for username, role, unit, nip in ACCOUNTS:
        user = await UserAccount.create(
            username=username, display_name=username, password_hash=_HASH, role=role, unit_code=unit, employee_nip=nip
        )
        world.usernames[role] = username
        world.tokens[username] = await issue_api_token(user, "tests")


async def add_punch(unit: str, pin: str, at: datetime, state: int = 0, device: str = "DEV-DIR1") -> None:
    await Punch.create(
        device_serial=device,
        pin=pin,
        punched_at=at.astimezone(UTC),
        utc_offset_minutes=int(at.utcoffset().total_seconds() // 60),  # type: ignore[union-attr]
        state=state,
        verify=1,
        unit_code=unit,
        gateway_id="gw-" + unit.lower().replace("-", ""),
        batch_id=uuid.uuid4().hex[:16],
    )


async def seed_month(day: date) -> None:
    """Budi 45 minutes late (TL2) and gone 20 minutes early (PSW1) on `day`; Ani on time; Citra on time."""
    at = datetime(day.year, day.month, day.day, tzinfo=WIB)
    await add_punch("dir-1", "2", at.replace(hour=8, minute=15))
    await add_punch(
        "dir-1", "2", at.replace(hour=15, minute=40) if day.weekday() < 4 else at.replace(hour=16, minute=10), 1
    )
    await add_punch("dir-1", "1", at.replace(hour=7, minute=20))
    await add_punch("dir-1", "1", at.replace(hour=17, minute=0), 1)
    await add_punch("dir-2", "1", at.replace(hour=7, minute=25), device="DEV-DIR2")
    await add_punch("dir-2", "1", at.replace(hour=17, minute=5), 1, device="DEV-DIR2")


@contextlib.asynccontextmanager
async def web_world(db_url: str, **settings: object) -> AsyncIterator[World]:
    """The real app without the MQTT consumer, seeded, on a real port."""
    app = create_app(ServerSettings(db_url=db_url, **settings), consume=False)  # type: ignore[arg-type]
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        world = World(client)
        await seed(world)
        yield world
    finally:
        await client.close()


async def session_cookie(world: World, role: Role) -> tuple[str, str]:
    """A logged-in session for `role` without going through the (deliberately slow) password check:
    (cookie value, CSRF token)."""
    user = await UserAccount.get(username=world.usernames[role])
    token, session = await start_session(user)
    return token, session.csrf_token


async def settle(timeout_s: float = 60.0) -> int:
    """Let the scoring workers score every unit-month marked stale (the recap reads stored results only,
    server/services/recap.py): this process works the queue too until no mark is left, the app's own
    worker's included. Returns how many unit-months this call scored."""
    import asyncio

    from server.services.scoring_queue import work_once
    from server.stale_models import StaleUnitMonth

    dialect = StaleUnitMonth._meta.db.capabilities.dialect
    done = 0
    async with asyncio.timeout(timeout_s):
        while True:
            if await work_once(dialect, "test-settle") is not None:
                done += 1
                continue
            if not await StaleUnitMonth.exists():
                return done
            await asyncio.sleep(0.05)  # another worker holds one: wait for it to finish
