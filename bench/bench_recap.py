"""The monthly recap as the bureau opens it: GET /api/v1/results for N employees with this month's punches.

Prints, measured in one run:
- the first view (the scoring library scores every unit-month and stores the results),
- a second view with nothing changed (the stored results are read; nothing is rescored),
- a view after one new punch in one unit (only that unit is rescored),
- the baseline: reading the same stored rows' numbers straight from the database, no HTTP, no scoping,
and the ratio of the unchanged view to the baseline.

    PYTHONPATH=. .venv/bin/python bench/bench_recap.py [employees=1000] [units=10]
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta

from server.models import DevicePin, Employee, Punch, Unit
from server.results_models import MonthlyScore
from server.services.accounts import Role
from tests.web_seed import WIB, web_world


async def seed(employees: int, units: int) -> int:
    rng = random.Random(1)
    codes = [f"upt-{i}" for i in range(units)]
    for code in codes:
        await Unit.create(code=code, name=code, parent_id="dj-a")
    today = datetime.now(WIB).date()
    people, pins, punches = [], [], []
    for i in range(employees):
        nip, unit, pin = f"1990010120150{i:05d}", codes[i % units], str(1000 + i)
        people.append(Employee(nip=nip, name=f"Pegawai {i}", unit_id=unit))
        pins.append(DevicePin(unit_id=unit, pin=pin, employee_id=nip))
        day = today.replace(day=1)
        while day < today:
            if day.weekday() < 5:
                start = datetime(day.year, day.month, day.day, tzinfo=WIB)
                arrive = start + timedelta(hours=7, minutes=rng.randint(0, 60))
                leave = start + timedelta(hours=16, minutes=rng.randint(-30, 60))
                for at, state in ((arrive, 0), (leave, 1)):
                    punches.append(
                        Punch(device_serial="B", pin=pin, punched_at=at.astimezone(UTC), utc_offset_minutes=420,
                              state=state, verify=1, unit_code=unit, gateway_id="gw", batch_id="b", employee_nip=nip)
                    )  # fmt: skip
            day += timedelta(days=1)
    await Employee.bulk_create(people, batch_size=1000)
    await DevicePin.bulk_create(pins, batch_size=1000)
    await Punch.bulk_create(punches, batch_size=2000)
    return len(punches)


async def main(employees: int, units: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        async with web_world(f"sqlite://{folder}/bench.sqlite3") as world:
            punches = await seed(employees, units)
            print(f"{employees} employees in {units} units, {punches} punches this month (SQLite)")
            headers, params = world.auth(Role.BUREAU_ADMIN), {"limit": 1000}

            async def view(label: str) -> float:
                started = time.perf_counter()
                response = await world.client.get("/api/v1/results", headers=headers, params=params)
                body = await response.json()
                took = time.perf_counter() - started
                print(f"  {label}: {took:.3f} s ({body['total']} rows)")
                return took

            await view("first view, every unit scored and stored")
            unchanged = await view("second view, nothing changed")
            now = datetime.now(UTC)
            await Punch.create(
                device_serial="B", pin="1000", punched_at=now, utc_offset_minutes=420, state=0, verify=1,
                unit_code="upt-0", gateway_id="gw", batch_id="c",
            )  # fmt: skip
            await view("after one new punch in one unit")
            started = time.perf_counter()
            today = datetime.now(WIB).date()
            await MonthlyScore.filter(year=today.year, month=today.month).values_list(
                "nip", "codes", "allowance_deduction_bp", "effective_minutes", "score_bp"
            )
            baseline = time.perf_counter() - started
            print(f"  baseline, the stored numbers read directly: {baseline:.3f} s")
            print(f"  unchanged view / baseline: {unchanged / baseline:.1f}x")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000, int(sys.argv[2]) if len(sys.argv) > 2 else 10))
