"""The trial's look at the database: the registry it seeds, what the server stored, and the monthly
results it has the server compute. Every function opens and closes its own connection."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

from kinerja.trial.population import CLAIM_MINUTES, Office, Trial


def zone_of(office: Office) -> timezone:
    return timezone(timedelta(hours=office.utc_offset_hours))


async def _seed(db_url: str, trial: Trial) -> None:
    from server.activity_models import ActivityClaimRecord, ExcuseRecord
    from server.db import close_database, open_database
    from server.models import Device, DevicePin, Employee, Gateway, Unit
    from server.models import Office as OfficeRow

    context = await open_database(db_url, create_schema=True)
    try:
        for office in trial.offices:
            unit = await Unit.create(code=office.unit, name=f"Trial office {office.key.upper()} ({office.zone})")
            row = await OfficeRow.create(code=office.unit, name=unit.name, unit=unit, zone=office.zone)
            await Gateway.create(gateway_id=office.gateway_id, unit_code=office.unit, office=row, registered=True)
            for kind in ("tcp", "udp", "serial"):
                await Device.create(
                    serial=office.device_serial(kind), name=kind, office=row, gateway_id=office.gateway_id
                )
            await Employee.bulk_create(
                [Employee(nip=e.nip, name=e.name, unit=unit) for e in office.employees], batch_size=1000
            )
            await DevicePin.bulk_create(
                [DevicePin(unit=unit, pin=e.pin, employee_id=e.nip) for e in office.employees], batch_size=1000
            )
            await ExcuseRecord.bulk_create(
                [
                    ExcuseRecord(nip=nip, unit_code=office.unit, kind=kind, first_day=day, last_day=day,
                                 recorded_by="trial")
                    for nip, days in office.excuses.items()
                    for day, kind in days.items()
                ],
                batch_size=1000,
            )  # fmt: skip
            zone = zone_of(office)
            await ActivityClaimRecord.bulk_create(
                [
                    ActivityClaimRecord(
                        claim_id=uuid.uuid4().hex, nip=claim.nip, unit_code=office.unit, activity="LAPORAN",
                        activity_name="Menyusun laporan", start=claim.local_start.replace(tzinfo=zone).astimezone(UTC),
                        quantity=claim.quantity, minutes=claim.quantity * CLAIM_MINUTES,
                        state="approved" if claim.approved else "rejected",
                        reason="" if claim.approved else "no evidence attached", decided_by="trial",
                    )
                    for claim in office.claims
                ],
                batch_size=1000,
            )  # fmt: skip
    finally:
        await close_database(context)


def seed(db_url: str, trial: Trial) -> None:
    """Migrate the fresh database and register units, offices, gateways, devices, employees, PINs,
    excused days and activity claims (as the registry API and the web pages would)."""
    asyncio.run(_seed(db_url, trial))


@dataclass(frozen=True, slots=True)
class StoredPunch:
    serial: str
    pin: str
    at: datetime
    state: int
    batch_id: str
    received_at: datetime
    flag: str | None


async def _query(db_url: str, sql: str, *args: object) -> list:
    import asyncpg

    connection = await asyncpg.connect(db_url)
    try:
        return await connection.fetch(sql, *args)
    finally:
        await connection.close()


def stored_punches(db_url: str, units: list[str]) -> list[StoredPunch]:
    rows = asyncio.run(
        _query(
            db_url,
            "SELECT device_serial, pin, punched_at, state, batch_id, received_at, flag FROM punch "
            "WHERE unit_code = ANY($1::varchar[])",
            units,
        )
    )
    return [StoredPunch(*row) for row in rows]


def stored_count(db_url: str, units: list[str], serials: list[str] | None = None) -> int:
    """Punch rows of these units (of these devices only, when given)."""
    sql = "SELECT count(*) FROM punch WHERE unit_code = ANY($1::varchar[])"
    if serials is None:
        return asyncio.run(_query(db_url, sql, units))[0][0]
    return asyncio.run(_query(db_url, sql + " AND device_serial = ANY($2::varchar[])", units, serials))[0][0]


def quarantined(db_url: str, units: list[str]) -> list[tuple[str, str, bytes]]:
    """(topic, reason, payload) of every quarantined message under the trial's units."""
    patterns = [f"kinerja/v1/{unit}/%" for unit in units]
    rows = asyncio.run(
        _query(
            db_url,
            "SELECT topic, reason, payload FROM quarantined_message WHERE topic LIKE ANY($1::text[]) ORDER BY id",
            patterns,
        )
    )
    return [(row[0], row[1], bytes(row[2])) for row in rows]


@dataclass(frozen=True, slots=True)
class ServerResult:
    nip: str
    codes: dict[str, int]
    planned_days: int
    effective_minutes: int
    discipline_deduction_bp: int
    score_bp: int
    allowance_deduction_bp: int


async def _monthly(db_url: str, trial: Trial) -> dict[str, ServerResult]:
    """The server's own path: policy per office, excused days and claims from the database through the
    web layer's readers, `compute_unit_month` on the stored punches, then the stored rows read back."""
    from scoring import parse_policy_text
    from server.db import close_database, open_database
    from server.models import Employee
    from server.services.activities import claims_for_unit_month
    from server.services.excuses import excuses_for
    from server.services.results import compute_unit_month, unit_month_scores

    context = await open_database(db_url, create_schema=False)
    found: dict[str, ServerResult] = {}
    try:
        first_day = date(trial.year, trial.month, 1)
        next_month = date(trial.year + trial.month // 12, trial.month % 12 + 1, 1)
        for office in trial.offices:
            zone = zone_of(office)
            policy = parse_policy_text(office.policy_text(trial.year), source=f"trial-{office.key}").base
            nips = await Employee.filter(unit_id=office.unit).values_list("nip", flat=True)
            excuses = await excuses_for(nips, first_day, next_month - timedelta(days=1))
            claims = await claims_for_unit_month(
                office.unit,
                datetime.combine(first_day, datetime.min.time(), zone),
                datetime.combine(next_month, datetime.min.time(), zone),
            )
            await compute_unit_month(
                office.unit, trial.year, trial.month, policy,
                excuses=excuses, rosters=office.rosters or None, claims=claims,
            )  # fmt: skip
            for row in await unit_month_scores(office.unit, trial.year, trial.month):
                found[row.nip] = ServerResult(
                    row.nip, dict(row.codes), row.planned_days, row.effective_minutes,
                    row.discipline_deduction_bp, row.score_bp, row.allowance_deduction_bp,
                )  # fmt: skip
    finally:
        await close_database(context)
    return found


def monthly_results(db_url: str, trial: Trial) -> dict[str, ServerResult]:
    return asyncio.run(_monthly(db_url, trial))
