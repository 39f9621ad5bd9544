"""`kinerja demo`: the whole chain on the embedded default, in one process, and a bureau's month in it.

Three units under a ministry, each with an office, a simulated ZK device and a gateway polling it into its
durable queue; the in-process amqtt broker; the server storing what arrives in a SQLite file. The devices
hold the punches of 22 employees (positions, grades, supervisors; two CPNS recruits who started in the
middle of last month, so no day before their start is TK) for the whole of last month and this month so
far. Seeded through the services, as the bureau and the employees would in the pages: grades (payroll),
start dates (history), an attendance correction approved by the supervisor and a day of annual leave
waiting in the supervisor's queue (requests), last month closed for every unit (payroll), and an account
for every role. It waits until every punch is stored, prints today's attendance and each role's login
(a fresh password every run) and serves the pages and the API. Reruns add nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import secrets
import signal
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from aiohttp import web

from gateway.config import DeviceConfig, GatewayConfig, RelayConfig, TelemetryConfig
from gateway.service import Gateway
from gateway.simulators.zk import ZKSimulator
from scoring import Policy, plan_day
from server.activity_models import ActivityClaimRecord
from server.app import create_app
from server.auth import Principal
from server.models import Device, DevicePin, Employee, Office, Punch, Unit
from server.models import Gateway as GatewayRow
from server.services import skp
from server.services.report import attendance_for_day, format_table
from server.settings import ServerSettings
from wire.embedded import EmbeddedBroker, free_port
from wire.mqtt import MqttSettings
from wire.zones import office_zone

log = logging.getLogger(__name__)

DEMO_UNIT = "kemensos-pusat"
DEMO_ZONE = office_zone("WIB")
DEMO_DEVICE_SERIAL = "DEMO-ZK-0001"
DEMO_BY = "demo"  # who the demo's seeding is recorded as, in the history and the audit trail
DEMO_SINCE = date(2024, 1, 1)  # grades held since, for everyone who did not start in the demo's months


@dataclass(frozen=True, slots=True)
class DemoUnit:
    code: str
    name: str
    kind: str
    gateway_id: str
    serial: str
    office: str


# A ministry with its head office, a directorate and a UPT below it; each unit's office has a gateway and a device.
DEMO_MINISTRY = ("kemensos", "Kementerian Sosial")
DEMO_UNITS = (
    DemoUnit(DEMO_UNIT, "Kementerian Sosial - Kantor Pusat", "directorate_general", "gw-demo", DEMO_DEVICE_SERIAL,
             "Kantor Pusat Salemba, Jakarta"),
    DemoUnit("kemensos-rehsos", "Direktorat Rehabilitasi Sosial", "directorate", "gw-demo-rehsos", "DEMO-ZK-0002",
             "Gedung Rehabilitasi Sosial, Jakarta"),
    DemoUnit("kemensos-upt-bekasi", "Sentra Terpadu Pangudi Luhur Bekasi", "upt", "gw-demo-bekasi", "DEMO-ZK-0003",
             "Sentra Pangudi Luhur, Bekasi"),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class DemoEmployee:
    pin: str
    nip: str
    name: str
    arrival: time
    departure: time
    unit: str = DEMO_UNIT
    position: str = ""
    grade: int = 7
    supervisor: str | None = None  # the supervisor's NIP
    status: str = "pns"
    started_day: int | None = None  # started on this day of the previous month (None: long before)


_PUSAT, _REHSOS, _BEKASI = (unit.code for unit in DEMO_UNITS)
_HEADS = ("197205141998031001", "197811022003122002", "197601172000031003")

# NIPs follow the real layout: birth date, appointment month, sex, sequence. The first five are the demo's
# original employees (same PINs and NIPs), now with positions, grades and a supervisor each.
DEMO_EMPLOYEES = (
    DemoEmployee("1", "198503122010011001", "Budi Santoso", time(7, 21), time(16, 4), _PUSAT,
                 "Analis Kebijakan Ahli Muda", 9, _HEADS[0]),
    DemoEmployee("2", "199001052015032002", "Siti Rahmawati", time(7, 29), time(16, 12), _PUSAT,
                 "Pranata Komputer Ahli Pertama", 8, _HEADS[0]),
    DemoEmployee("3", "198711232012121003", "Agus Prasetyo", time(7, 52), time(16, 1), _PUSAT,
                 "Analis Keuangan", 8, _HEADS[0]),
    DemoEmployee("4", "199204182019022001", "Dewi Lestari", time(8, 47), time(15, 20), _PUSAT,
                 "Pengadministrasi Perkantoran", 6, _HEADS[0]),
    DemoEmployee("5", "198009302005011002", "Made Wirawan", time(7, 15), time(17, 2), _PUSAT,
                 "Bendahara Pengeluaran", 8, _HEADS[0]),
    DemoEmployee("6", _HEADS[0], "Hendra Gunawan", time(7, 10), time(16, 30), _PUSAT,
                 "Kepala Biro Kepegawaian", 14),
    DemoEmployee("7", "199807212023022001", "Putri Anggraini", time(7, 25), time(16, 5), _PUSAT,
                 "Penata Layanan Operasional", 7, _HEADS[0], "cpns", 10),
    DemoEmployee("8", "198907142014032004", "Dian Puspitasari", time(7, 34), time(16, 11), _PUSAT,
                 "Analis SDM Aparatur Ahli Muda", 9, _HEADS[0]),
    DemoEmployee("11", _HEADS[1], "Rina Marlina", time(7, 18), time(16, 20), _REHSOS,
                 "Direktur Rehabilitasi Sosial Anak", 15),
    DemoEmployee("12", "198306152008011004", "Yusuf Hidayat", time(7, 33), time(16, 8), _REHSOS,
                 "Pekerja Sosial Ahli Madya", 11, _HEADS[1]),
    DemoEmployee("13", "198912012014022003", "Ayu Kartika", time(7, 41), time(16, 3), _REHSOS,
                 "Pekerja Sosial Ahli Pertama", 8, _HEADS[1]),
    DemoEmployee("14", "199108082017011005", "Rizki Ramadhan", time(7, 56), time(16, 0), _REHSOS,
                 "Penyuluh Sosial Ahli Pertama", 8, _HEADS[1]),
    DemoEmployee("15", "198604262011012006", "Nur Aini", time(7, 27), time(16, 15), _REHSOS,
                 "Analis Rehabilitasi Sosial", 9, _HEADS[1]),
    DemoEmployee("16", "199505172020121007", "Fajar Nugroho", time(8, 12), time(16, 2), _REHSOS,
                 "Pengolah Data dan Informasi", 6, _HEADS[1]),
    DemoEmployee("17", "200002142024011008", "Salsabila Putri", time(7, 35), time(16, 10), _REHSOS,
                 "Penata Layanan Operasional", 7, _HEADS[1], "cpns", 17),
    DemoEmployee("21", _HEADS[2], "Bambang Sutrisno", time(7, 5), time(16, 25), _BEKASI,
                 "Kepala Sentra", 12),
    DemoEmployee("22", "198201102006041009", "Wayan Sudarsana", time(7, 30), time(16, 5), _BEKASI,
                 "Pekerja Sosial Ahli Muda", 9, _HEADS[2]),
    DemoEmployee("23", "198808192013032010", "Lestari Wulandari", time(7, 44), time(16, 1), _BEKASI,
                 "Perawat Ahli Pertama", 8, _HEADS[2]),
    DemoEmployee("24", "199302272018011011", "Eko Saputra", time(7, 58), time(15, 45), _BEKASI,
                 "Pengemudi", 5, _HEADS[2]),
    DemoEmployee("25", "198710052012022012", "Maria Ulfa", time(7, 22), time(16, 9), _BEKASI,
                 "Pengadministrasi Keuangan", 6, _HEADS[2]),
    DemoEmployee("26", "199409302019031013", "Andi Firmansyah", time(7, 39), time(16, 4), _BEKASI,
                 "Instruktur Keterampilan", 7, _HEADS[2]),
    DemoEmployee("27", "199612112021022014", "Intan Permatasari", time(7, 48), time(16, 0), _BEKASI,
                 "Pengelola Layanan Kesehatan", 7, _HEADS[2]),
)  # fmt: skip

# The demo's cast for the requests: the employee who forgot a departure punch (corrected, approved) and
# asks for a day of annual leave (pending in the supervisor's queue), and that supervisor.
DEMO_EMPLOYEE_NIP = DEMO_EMPLOYEES[0].nip
DEMO_SUPERVISOR_NIP = _HEADS[0]
DEMO_ADMIN_NIP = "198907142014032004"  # the bureau officer who administers the demo: her own pages open too


@dataclass(frozen=True, slots=True)
class DemoAccount:
    username: str
    role: str
    unit_code: str | None = None
    employee_nip: str | None = None


DEMO_ACCOUNTS = (
    DemoAccount("demo", "bureau_admin", employee_nip=DEMO_ADMIN_NIP),
    DemoAccount("admin.pusat", "unit_admin", unit_code=DEMO_UNIT),
    DemoAccount("atasan", "supervisor", employee_nip=DEMO_SUPERVISOR_NIP),
    DemoAccount("pegawai", "employee", employee_nip=DEMO_EMPLOYEE_NIP),
    DemoAccount("operasi", "operations"),
)


def previous_month_start(today: date) -> date:
    return (today.replace(day=1) - timedelta(days=1)).replace(day=1)


def start_of(employee: DemoEmployee, today: date) -> date | None:
    if employee.started_day is None:
        return None
    return previous_month_start(today).replace(day=employee.started_day)


def employees_of(unit: str) -> list[DemoEmployee]:
    return [employee for employee in DEMO_EMPLOYEES if employee.unit == unit]


def demo_punches(day: date, now: datetime) -> list[tuple[str, str, datetime, int]]:
    """Today's punches up to `now` (device wall time), (unit, pin, moment, state): arrival, a repeated press
    for some, departure."""
    rng = random.Random(day.toordinal())  # the same day always gives the same punches: reruns add nothing
    punches: list[tuple[str, str, datetime, int]] = []
    midnight = datetime.combine(day, time(0, 0))
    for index, employee in enumerate(DEMO_EMPLOYEES):
        arrival = datetime.combine(day, employee.arrival) + timedelta(seconds=rng.randrange(60))
        if arrival > now:
            # Before the planned arrival (a demo run at night) the demo still shows punches, at fixed
            # moments after midnight, so a rerun a minute later adds nothing; none in the future.
            arrival = midnight + timedelta(minutes=index + 1, seconds=rng.randrange(60))
            if arrival > now:
                continue
        punches.append((employee.unit, employee.pin, arrival.replace(microsecond=0), 0))
        if index == 1:  # people press twice when the device is slow to beep
            punches.append((employee.unit, employee.pin, arrival.replace(microsecond=0) + timedelta(seconds=40), 0))
        departure = datetime.combine(day, employee.departure) + timedelta(seconds=rng.randrange(60))
        if departure < now:
            punches.append((employee.unit, employee.pin, departure.replace(microsecond=0), 1))
    return punches


def correction_day(today: date) -> date:
    """The day the demo employee forgot to punch out: the last weekday before today (this month's if any)."""
    day = today - timedelta(days=1)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


async def seed_registry(today: date) -> None:
    """Units, offices, gateways and devices, then employees as the bureau records them: position, grade
    (kelas jabatan, effective-dated), supervisor, and for the new recruits their start date in the history."""
    from server.payroll_models import EmployeeGrade, UnitSignatory
    from server.services.history import Change, apply_change, history_of
    from server.services.payroll import set_grade

    ministry, _ = await Unit.get_or_create(
        code=DEMO_MINISTRY[0], defaults={"name": DEMO_MINISTRY[1], "kind": "ministry"}
    )
    for spec in DEMO_UNITS:
        unit, _ = await Unit.get_or_create(code=spec.code, defaults={"name": spec.name, "kind": spec.kind})
        if unit.parent_id is None:  # type: ignore[attr-defined]
            unit.parent = ministry
            await unit.save()
        await Office.get_or_create(
            code=f"{spec.code}-kantor", defaults={"name": spec.office, "unit": unit, "zone": "WIB"}
        )
        # Registered as the bureau would: the centre takes punches only from a device registered to the
        # gateway that sends them.
        await GatewayRow.get_or_create(
            gateway_id=spec.gateway_id, defaults={"unit_code": spec.code, "registered": True}
        )
        await Device.get_or_create(serial=spec.serial, defaults={"name": "lobby", "gateway_id": spec.gateway_id})
    for employee in sorted(DEMO_EMPLOYEES, key=lambda e: e.supervisor is not None):  # heads first
        row, _ = await Employee.get_or_create(
            nip=employee.nip, defaults={"name": employee.name, "unit_id": employee.unit}
        )
        row.position, row.supervisor_id = employee.position, employee.supervisor  # type: ignore[attr-defined]
        await row.save()
        await DevicePin.get_or_create(unit_id=employee.unit, pin=employee.pin, defaults={"employee_id": employee.nip})
        started = start_of(employee, today)
        if not await EmployeeGrade.exists(nip=employee.nip):
            await set_grade(employee.nip, employee.grade, employee.status, started or DEMO_SINCE, DEMO_BY)
        if started is not None and not await history_of(employee.nip):
            await apply_change(employee.nip, Change("start", started, reason="CPNS formasi baru"), DEMO_BY,
                               "bureau_admin", today=today)  # fmt: skip
    for spec, head in zip(DEMO_UNITS, _HEADS, strict=True):
        treasurer = next(e for e in employees_of(spec.code) if e.supervisor is not None)
        chief = next(e for e in DEMO_EMPLOYEES if e.nip == head)
        await UnitSignatory.get_or_create(unit_code=spec.code, defaults={
            "head_name": chief.name, "head_nip": chief.nip, "head_title": chief.position,
            "treasurer_name": treasurer.name, "treasurer_nip": treasurer.nip,
            "office_heading": f"{DEMO_MINISTRY[1].upper()}\n{spec.name.upper()}"})  # fmt: skip


def month_history(today: date) -> list[tuple[str, str, datetime, int]]:
    """The previous month's and this month's earlier weekdays, so the recap and the payroll have something
    to show: each employee near their usual hours, now and then late or early, now and then absent, nobody
    before their start; the demo employee forgot to punch out on the correction day. The same days always
    give the same punches."""
    punches: list[tuple[str, str, datetime, int]] = []
    first, forgotten = previous_month_start(today), correction_day(today)
    for day in (first + timedelta(days=offset) for offset in range((today - first).days)):
        if day.weekday() >= 5:
            continue
        for employee in DEMO_EMPLOYEES:
            started = start_of(employee, today)
            if started is not None and day < started:
                continue
            rng = random.Random(f"{day.isoformat()}-{employee.pin}")
            if rng.random() < 0.03:
                continue  # absent without notice: a TK day in the recap
            arrival = datetime.combine(day, employee.arrival) + timedelta(minutes=rng.randint(-10, 12))
            departure = datetime.combine(day, employee.departure) + timedelta(minutes=rng.randint(-12, 15))
            punches.append((employee.unit, employee.pin, arrival + timedelta(seconds=rng.randrange(60)), 0))
            if not (employee.nip == DEMO_EMPLOYEE_NIP and day == forgotten):
                punches.append((employee.unit, employee.pin, departure + timedelta(seconds=rng.randrange(60)), 1))
    return punches


# A working day's outputs, in order from arrival: (catalogue activity, quantity).
DEMO_DAY_OF_WORK = (("LAPORAN", 1), ("RAPAT", 1), ("SURAT", 3), ("VERIFIKASI", 6))


async def seed_activities(history: list[tuple[str, str, datetime, int]]) -> None:
    """Approved activity outputs for the history's working days, so the recap's performance component is
    not empty: each employee's day of work from half an hour after arrival, one claim in twenty rejected."""
    from server.services.activities import catalogue  # the server's catalogue: standard minutes per output

    nip_of = {(employee.unit, employee.pin): employee.nip for employee in DEMO_EMPLOYEES}
    rows: dict[str, ActivityClaimRecord] = {}
    for unit, pin, arrival, state in history:
        if state != 0:
            continue
        start = arrival.replace(tzinfo=DEMO_ZONE) + timedelta(minutes=30)
        for index, (activity, quantity) in enumerate(DEMO_DAY_OF_WORK):
            # The same employee-day always gives the same ids: a rerun adds nothing.
            claim_id = hashlib.md5(f"{nip_of[unit, pin]}-{arrival.date()}-{index}".encode()).hexdigest()
            claim = catalogue().claim(claim_id, activity, start, quantity, evidence="demo")
            rejected = random.Random(claim_id).random() < 0.05
            rows[claim_id] = ActivityClaimRecord(
                claim_id=claim_id,
                nip=nip_of[unit, pin],
                unit_code=unit,
                activity=claim.activity,
                activity_name=catalogue().activity(claim.activity).name,
                start=start.astimezone(UTC),
                quantity=claim.quantity,
                minutes=claim.minutes,
                output=claim.output,
                evidence=claim.evidence,
                state="rejected" if rejected else "approved",
                reason="bukti tidak dilampirkan" if rejected else "",
                decided_by=DEMO_BY,
                decided_at=datetime.now(UTC),
            )
            start += timedelta(minutes=claim.minutes)
    known = set(await ActivityClaimRecord.filter(claim_id__in=list(rows)).values_list("claim_id", flat=True))
    await ActivityClaimRecord.bulk_create([row for claim_id, row in rows.items() if claim_id not in known])


# The head office's plan for the year (issue 17): the unit's RKAKL outputs, the head's RHK under them, each
# staff member's RHK under the head's. Targets are sized to the months the demo's office has been live
# (last month and this), so the quarter's realisation reads as progress; activity -> (RHK, indicator).
DEMO_TARGETS = (
    ("3360.001", "Terselenggaranya layanan administrasi kepegawaian yang tertib"),
    ("3360.003", "Tersusunnya laporan kinerja biro kepegawaian"),
)
DEMO_HEAD_PLAN = (
    ("3360.001", "Terkoordinasinya layanan administrasi kepegawaian", "Rapat koordinasi terlaksana", 24, "rapat",
     "RAPAT"),
    ("3360.003", "Tersusunnya laporan kinerja biro tepat waktu", "Laporan kegiatan tersusun", 24, "laporan",
     "LAPORAN"),
)  # fmt: skip
DEMO_STAFF_PLAN = (
    ("RHK1", "Terverifikasinya berkas usulan kepegawaian", "Berkas usulan terverifikasi", 150, "berkas",
     "VERIFIKASI"),
    ("RHK2", "Tersusunnya konsep surat dinas layanan kepegawaian", "Konsep surat dinas tersusun", 80, "surat",
     "SURAT"),
)  # fmt: skip


async def seed_skp(today: date) -> None:
    """The head office carries the year's whole performance cycle (with seed_appraisal: the same unit). Through
    the SKP service, as the pages would: the bureau enters the head office's targets for the year,
    its head plans under them and the bureau agrees (the head has no superior on record); every staff member
    under the head plans under the head's RHK, links the activities they claim and submits, and the head
    agrees. The approved claims of the seeded months realise the plans. A rerun adds nothing."""
    from server.services.accounts import Role
    from server.skp_models import OrganisationTargetRecord

    def as_(nip: str | None, role: Role) -> Principal:
        return Principal(0, DEMO_BY, DEMO_BY, role, None, nip, "id", "demo")

    year, bureau = today.year, as_(None, Role.BUREAU_ADMIN)
    head = next(e for e in DEMO_EMPLOYEES if e.unit == DEMO_UNIT and e.supervisor is None)
    for code, text in DEMO_TARGETS:
        if not await OrganisationTargetRecord.exists(unit_code=DEMO_UNIT, year=year, code=code):
            await skp.add_target(bureau, DEMO_UNIT, year, code, text, "rkakl_output")
    staff = [e for e in DEMO_EMPLOYEES if e.unit == DEMO_UNIT and e.supervisor == head.nip]
    await _demo_plan(as_(head.nip, Role.SUPERVISOR), year, DEMO_HEAD_PLAN, bureau)
    for employee in staff:
        await _demo_plan(as_(employee.nip, Role.EMPLOYEE), year, DEMO_STAFF_PLAN, as_(head.nip, Role.SUPERVISOR))


async def _demo_plan(
    owner: Principal, year: int, plan: tuple[tuple[str, str, str, int, str, str], ...], agrees: Principal
) -> None:
    if await skp.current_version(owner.employee_nip or "", year) is not None:
        return
    for number, (parent, text, indicator, target, unit, activity) in enumerate(plan, start=1):
        await skp.add_result(owner, year, text, parent)
        await skp.add_indicator(owner, year, f"RHK{number}", indicator, "kuantitas", str(target), unit)
        await skp.link_activity(owner, year, activity, f"RHK{number}.1")
    await skp.submit_plan(owner, year)
    await skp.agree_submitted(agrees, owner.employee_nip or "", year)


async def seed_account(account: DemoAccount) -> tuple[str, str]:
    """The account with a fresh random password (created, or its password reset): (username, password)."""
    from server.services.accounts import UserAccount, create_user, hash_password_off_loop

    password = secrets.token_urlsafe(12)
    user = await UserAccount.get_or_none(username=account.username)
    if user is None:
        await create_user(account.username, password, account.role, unit_code=account.unit_code,
                          employee_nip=account.employee_nip)  # fmt: skip
    else:  # a demo run before: the same account, a new password (and the employee record it belongs to)
        user.password_hash, user.active = await hash_password_off_loop(password), True
        user.employee_nip = user.employee_nip or account.employee_nip
        await user.save(update_fields=["password_hash", "active", "employee_nip"])
    return account.username, password


async def seed_accounts() -> dict[str, tuple[str, str]]:
    """An account for every role, each with a fresh random password: role -> (username, password)."""
    found = await asyncio.gather(*(seed_account(account) for account in DEMO_ACCOUNTS))
    return {account.role: login for account, login in zip(DEMO_ACCOUNTS, found, strict=True)}


async def seed_requests(today: date, now: datetime) -> None:
    """Through the requests service, as the employee and the supervisor would in the pages: a correction of
    the forgotten punch, approved, and a day of annual leave next week, waiting in the supervisor's queue."""
    from server.auth import Principal
    from server.request_models import EmployeeRequest
    from server.services.accounts import UserAccount
    from server.services.requests import decide_request, file_request

    employee = Principal.of(await UserAccount.get(username="pegawai"), "demo")
    supervisor = Principal.of(await UserAccount.get(username="atasan"), "demo")
    moment = now.replace(tzinfo=DEMO_ZONE)
    day = correction_day(today)
    if not await EmployeeRequest.exists(nip=DEMO_EMPLOYEE_NIP, kind="attendance_correction", first_day=day):
        departure = next(e for e in DEMO_EMPLOYEES if e.nip == DEMO_EMPLOYEE_NIP).departure
        # Not before the day's end: a Friday's hours end later, and a corrected 16:04 would be a PSW day.
        planned_end = plan_day(Policy(), day).end
        if planned_end is not None:
            departure = max(departure, planned_end.time())
        fields = {"kind": "attendance_correction", "date": day.isoformat(), "time": departure.strftime("%H:%M"),
                  "direction": "out", "reason": "Lupa presensi pulang, mesin antre saat jam pulang"}  # fmt: skip
        filed = await file_request(employee, fields, now=moment)
        await decide_request(supervisor, filed.id, "approve", "Benar, saya melihat yang bersangkutan hadir")
    leave = today + timedelta(days=7)
    while leave.weekday() >= 5:
        leave += timedelta(days=1)
    if not await EmployeeRequest.exists(nip=DEMO_EMPLOYEE_NIP, kind="annual_leave", status="pending"):
        fields = {"kind": "annual_leave", "first_day": leave.isoformat(), "last_day": leave.isoformat(),
                  "reason": "Menghadiri wisuda anak di Yogyakarta"}  # fmt: skip
        await file_request(employee, fields, now=moment)


# The appraisal of the head office's year (PermenPANRB 6/2022), in the unit that carries the plans: (behaviour
# rating of all seven values but the last, the last's, work result) per employee, so the predicates keep the
# "Baik" organisation rating's bounds (at most 70 % Baik: 5 of 8; at least one Butuh Perbaikan or Kurang).
_A, _S, _B = "di_atas_ekspektasi", "sesuai_ekspektasi", "di_bawah_ekspektasi"
DEMO_APPRAISAL_UNIT = DEMO_UNIT
DEMO_APPRAISAL = {
    _HEADS[0]: (_A, _A, _A),  # Sangat Baik (the head: rated by the bureau for his superior outside the system)
    "198503122010011001": (_A, _S, _A),  # 20 points over 7: above x above, Sangat Baik
    "199001052015032002": (_S, _A, _A),  # above x as: Baik
    "198711232012121003": (_S, _S, _S),  # Baik
    "199204182019022001": (_S, _B, _B),  # below x as: Butuh Perbaikan
    "198009302005011002": (_S, _A, _S),  # Baik
    "199807212023022001": (_S, _S, _A),  # Baik
    "198907142014032004": (_S, _S, _S),  # Baik
}
# The performance dialogue: the superior's feedback on the year so far and the employee's answer, per employee.
DEMO_FEEDBACK = (
    "Capaian triwulan ini sesuai rencana; lengkapi bukti dukung kegiatan setiap pekan.",
    "Terima kasih atas masukannya, Pak. Bukti dukung akan saya unggah setiap Jumat.",
)


async def seed_appraisal(today: date) -> None:
    """Through the appraisal service, as the bureau and the head office's head would in the pages: this year's
    organisation rating "Baik" for the unit, and each member's BerAKHLAK ratings with evidence notes,
    work-result rating and predicate, within the rating's bounds (not finalised: the bureau finalises it on
    the page); the superior's feedback to every member and each member's answer (the head's superior is
    outside the system: the bureau records it)."""
    from server.appraisal_models import AppraisalRating
    from server.auth import Principal
    from server.services.accounts import Role, UserAccount
    from server.services.appraisal import add_feedback, record_behaviour, set_organisation_rating, set_rating

    period = str(today.year)
    if await AppraisalRating.exists(unit_code=DEMO_APPRAISAL_UNIT, period=period):
        return
    bureau = Principal.of(await UserAccount.get(username="demo"), "demo")
    head_nip = next(e.nip for e in employees_of(DEMO_APPRAISAL_UNIT) if e.supervisor is None)
    head = Principal(0, DEMO_BY, "Hendra Gunawan", Role.SUPERVISOR, None, head_nip, "id", "demo")
    await set_organisation_rating(bureau, DEMO_APPRAISAL_UNIT, today.year, "baik")
    values = ("berorientasi_pelayanan", "akuntabel", "kompeten", "harmonis", "loyal", "adaptif", "kolaboratif")
    for nip, (most, last, work) in DEMO_APPRAISAL.items():
        rater = bureau if nip == head_nip else head
        ratings = {v: (most, f"Catatan {v.replace('_', ' ')}: sesuai laporan kegiatan") for v in values[:-1]}
        ratings[values[-1]] = (last, "Catatan kolaboratif: rapat lintas tim")
        await record_behaviour(rater, nip, period, ratings)
        await set_rating(rater, nip, period, work)
        await add_feedback(rater, nip, period, DEMO_FEEDBACK[0])
        own = Principal(0, DEMO_BY, nip, Role.SUPERVISOR if nip == head_nip else Role.EMPLOYEE, None, nip, "id", "demo")
        await add_feedback(own, nip, period, DEMO_FEEDBACK[1])


async def close_previous_month(today: date) -> None:
    """The bureau closed last month for every demo unit: its payroll is final, in Rupiah."""
    from server.services.payroll import close_month, closed_month, explained_month

    month = previous_month_start(today)
    for spec in DEMO_UNITS:
        if await closed_month(spec.code, month.year, month.month) is None:
            explained = await explained_month(spec.code, month)
            await close_month(spec.code, month.year, month.month, explained, DEMO_BY, "bureau_admin")


async def score_this_month(today: date) -> None:
    """This month's results stored for every demo unit, as the scoring workers would within seconds of the
    punches: the organisation page reads stored results only (its discipline figures)."""
    from server.services.month import unit_month

    for spec in DEMO_UNITS:
        await unit_month(spec.code, today.replace(day=1), explained=False)


async def stored_count(first_day: date, last_day: date) -> int:
    start = datetime.combine(first_day, time.min, DEMO_ZONE)
    end = datetime.combine(last_day, time.min, DEMO_ZONE) + timedelta(days=1)
    serials = [spec.serial for spec in DEMO_UNITS]
    return await Punch.filter(device_serial__in=serials, punched_at__gte=start, punched_at__lt=end).count()


async def start_gateways(simulators: dict[str, ZKSimulator], state_dir: Path, mqtt: MqttSettings) -> list[Gateway]:
    """Each unit's device and the gateway polling it into its durable queue."""
    gateways = []
    for spec in DEMO_UNITS:
        simulators[spec.code].start()
        gateway = Gateway(
            GatewayConfig(
                gateway_id=spec.gateway_id,
                unit=spec.code,
                zone=DEMO_ZONE,
                state_dir=state_dir / ("gateway" if spec.code == DEMO_UNIT else f"gateway-{spec.code}"),
                mqtt=mqtt,
                devices=(DeviceConfig("lobby", "127.0.0.1", simulators[spec.code].port, poll_interval_s=5),),
                relay=RelayConfig(resend_after_s=5),
                telemetry=TelemetryConfig(interval_s=5),  # the dashboard shows the devices reachable within seconds
            )
        )
        gateways.append(gateway)
        await gateway.start()
    return gateways


def print_logins(base: str, logins: dict[str, tuple[str, str]]) -> None:
    print(f"Log in at {base}/login (pages in Indonesian; ?lang=en for English), one account per role:")
    for role, (username, password) in logins.items():
        print(f"  {role:<13} {username} / {password}")


async def run_demo(
    *,
    once: bool,
    state_dir: Path,
    http_port: int = 8080,
    db_url: str | None = None,
    mqtt: MqttSettings | None = None,
    timeout_s: float = 120.0,  # a slow laptop or a loaded machine still gets its demo; a stall still ends
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
    # One device per unit's office, keeping WIB wall time as an office device does.
    simulators = {spec.code: ZKSimulator(serial=spec.serial, port=0, zone=DEMO_ZONE) for spec in DEMO_UNITS}
    gateways: list[Gateway] = []
    accounts: asyncio.Task[dict[str, tuple[str, str]]] | None = None
    try:
        await runner.setup()
        await web.TCPSite(runner, settings.http_host, settings.http_port).start()
        await seed_registry(today)
        # Argon2 is slow on purpose: the accounts are hashed on their threads while the punches travel.
        accounts = asyncio.create_task(seed_accounts())
        for employee in DEMO_EMPLOYEES:
            simulators[employee.unit].add_user(pin=employee.pin, name=employee.name)
        punches, history = demo_punches(today, now), month_history(today)
        await seed_activities(history)
        for unit, pin, moment, state in [*history, *punches]:
            simulators[unit].add_punch(pin, moment, state=state, verify=1)
        gateways.extend(await start_gateways(simulators, state_dir, mqtt))
        await _wait_stored(previous_month_start(today), today, len(history) + len(punches), timeout_s)
        logins = await accounts
        await seed_requests(today, now)
        await seed_appraisal(today)
        await seed_skp(today)
        await close_previous_month(today)
        await score_this_month(today)
        for spec in DEMO_UNITS:
            rows = await attendance_for_day(today, DEMO_ZONE, spec.code)
            print(f"Attendance on {today.isoformat()} (WIB), unit {spec.code}:")
            print(format_table(rows) + "\n")
        print(
            f"{len(punches)} punches today (and {len(history)} since {previous_month_start(today).isoformat()},"
            f" for the monthly recap) from {len(DEMO_UNITS)} devices stored via gateway gw-demo and its"
            f" neighbours; {len(DEMO_EMPLOYEES)} employees in {len(DEMO_UNITS)} units;"
            f" {previous_month_start(today):%Y-%m} closed, its payroll final."
        )
        if not once:
            base = f"http://{settings.http_host}:{settings.http_port}"
            print_logins(base, logins)
            print(f"Server running at {base}  - Ctrl-C stops everything.", flush=True)
            await _until_interrupted()
        return 0
    finally:
        if accounts is not None and not accounts.done():
            accounts.cancel()
        for gateway in gateways:
            await gateway.stop()
        for simulator in simulators.values():
            simulator.stop()
        await runner.cleanup()
        if broker is not None:
            await broker.stop()


async def _wait_stored(first: date, day: date, expected: int, timeout_s: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while (count := await stored_count(first, day)) < expected:
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
