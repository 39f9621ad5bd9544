"""What the device-management pages read and change (issue 18): areas by unit, an area's devices and
members, who a device holds, which devices an employee is on, pending devices adopted into a unit and an
area, and the command queue with its results.

Knows the database and the principal's Scope, not HTTP. Refusals are `Invalid`/`NotFound` with reasons in
English marked for the catalogues (`N_`), so a page shows them in the reader's language. Template bytes
never leave here: only counts by modality.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from server.area_models import Area, AreaDevice, AreaMember, DeviceSyncCommand
from server.auth import Scope
from server.biometric_models import BiometricTemplate
from server.errors import Conflict, Invalid, NotFound
from server.i18n import N_
from server.models import Device, Employee, Gateway, GatewayCommand, Office, PendingDevice, Unit
from server.services.areas import AreaError, CommandSender, SyncReport, add_member, remove_member, sync_area
from server.services.areas import sync_device as _sync_device
from server.services.biometric_store import BiometricStore
from server.services.registry import RegistryError, check_code, check_name, unit_subtree

MAX_COMMANDS_LISTED = 200


@dataclass(frozen=True, slots=True)
class AreaRow:
    code: str
    name: str
    unit_code: str
    devices: int
    members: int


@dataclass(frozen=True, slots=True)
class SyncState:
    """The last sync_users command sent for one device, and what its gateway answered for it."""

    command_id: str
    part: str
    status: str  # sent | ok | failed
    created_at: datetime | None
    answered_at: datetime | None
    detail: str | None
    result: dict[str, Any] | None  # the device's entry of the command's results

    @property
    def in_sync(self) -> bool | None:
        """True once the device answered a sync without error; None while no answer came."""
        if self.status == "sent":
            return None
        return self.status == "ok" and bool(self.result is None or self.result.get("ok", True))


@dataclass(frozen=True, slots=True)
class DeviceInArea:
    serial: str
    name: str
    gateway_id: str | None
    unit_code: str | None
    reachable: bool | None
    last_sync: SyncState | None


@dataclass(frozen=True, slots=True)
class MemberRow:
    nip: str
    name: str
    pin: str
    templates: dict[str, int]  # modality -> templates the centre holds (never their bytes)


@dataclass(frozen=True, slots=True)
class Enrolment:
    """One area an employee is in: their PIN there, and the devices that should hold them."""

    area: Area
    pin: str
    devices: list[DeviceInArea] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class CommandRow:
    command_id: str
    gateway_id: str
    unit_code: str
    action: str
    device: str | None  # the device named in the args; None: every device of the gateway
    status: str
    detail: str | None
    results: dict[str, Any]
    created_at: datetime | None
    answered_at: datetime | None
    users: int | None  # a sync_users command: how many users it carried


# --- reading ------------------------------------------------------------------------------------------


async def areas_by_unit(scope: Scope) -> tuple[list[Unit], dict[str, list[AreaRow]]]:
    """The units in scope (for the tree), and each unit's areas with device and member counts."""
    units = await Unit.filter(scope.unit_q()).order_by("code")
    visible = [u.code for u in units]
    areas = await Area.filter(unit_code__in=visible).order_by("code")
    devices = Counter(await AreaDevice.filter(area_id__in=[a.code for a in areas]).values_list("area_id", flat=True))
    members = Counter(await AreaMember.filter(area_id__in=[a.code for a in areas]).values_list("area_id", flat=True))
    rows: dict[str, list[AreaRow]] = {}
    for a in areas:
        rows.setdefault(a.unit_code, []).append(AreaRow(a.code, a.name, a.unit_code, devices[a.code], members[a.code]))
    return list(units), rows


async def area_in_scope(scope: Scope, code: str) -> Area:
    area = await Area.get_or_none(code=code)
    if area is None or not scope.sees_unit(area.unit_code):
        raise NotFound(N_("no such area in your scope"))
    return area


async def last_sync(serial: str, device_name: str) -> SyncState | None:
    last = await DeviceSyncCommand.filter(device_serial=serial).order_by("-created_at").first()
    command = await GatewayCommand.get_or_none(command_id=last.command_id) if last else None
    if last is None or command is None:
        return None
    result = (command.results or {}).get(device_name)
    return SyncState(command.command_id, last.part, command.status, command.created_at, command.answered_at,
                     command.detail, result if isinstance(result, dict) else None)  # fmt: skip


async def _device_rows(serials: list[str]) -> list[DeviceInArea]:
    devices = {d.serial: d for d in await Device.filter(serial__in=serials)}
    gateways = dict(
        await Gateway.filter(gateway_id__in={d.gateway_id for d in devices.values() if d.gateway_id}).values_list(
            "gateway_id", "unit_code"
        )
    )
    rows = []
    for serial in serials:
        device = devices.get(serial)
        name = device.name if device else ""
        gateway = device.gateway_id if device else None
        rows.append(DeviceInArea(serial, name, gateway, gateways.get(gateway or ""),
                                 device.reachable if device else None, await last_sync(serial, name)))  # fmt: skip
    return rows


async def area_devices(area: Area) -> list[DeviceInArea]:
    serials = await AreaDevice.filter(area=area).order_by("device_serial").values_list("device_serial", flat=True)
    return await _device_rows(list(serials))


async def template_counts(nips: list[str]) -> dict[str, dict[str, int]]:
    """Per employee, the templates the centre holds by modality (one a finger or face slot)."""
    slots = await BiometricTemplate.filter(employee_nip__in=nips).values_list("employee_nip", "modality", "index")
    counts: dict[str, Counter[str]] = {}
    for nip, modality, _index in set(slots):
        counts.setdefault(nip, Counter())[modality] += 1
    return {nip: dict(sorted(c.items())) for nip, c in counts.items()}


async def area_members(area: Area) -> list[MemberRow]:
    members = await AreaMember.filter(area=area).order_by("pin")
    nips = [m.employee_nip for m in members]
    names = dict(await Employee.filter(nip__in=nips).values_list("nip", "name"))
    counts = await template_counts(nips)
    rows = [MemberRow(m.employee_nip, names.get(m.employee_nip, ""), m.pin, counts.get(m.employee_nip, {}))
            for m in members]  # fmt: skip
    return sorted(rows, key=lambda r: (len(r.pin), r.pin))


async def device_in_area(area: Area, serial: str) -> DeviceInArea:
    if not await AreaDevice.exists(area=area, device_serial=serial):
        raise NotFound(N_("no such device in this area"))
    return (await _device_rows([serial]))[0]


async def candidate_devices(area: Area) -> list[Device]:
    """Devices registered to a gateway of the area's unit (or below) and in no area yet."""
    units = await unit_subtree(area.unit_code)
    gateways = await Gateway.filter(unit_code__in=units).values_list("gateway_id", flat=True)
    taken = await AreaDevice.all().values_list("device_serial", flat=True)
    return await Device.filter(gateway_id__in=list(gateways)).exclude(serial__in=list(taken)).order_by("serial")


async def employee_in_scope(scope: Scope, nip: str) -> Employee:
    employee = await Employee.get_or_none(nip=nip)
    if employee is None or not scope.sees_employee(nip, employee.unit_id):  # type: ignore[attr-defined]
        raise NotFound(N_("no such employee in your scope"))
    return employee


async def enrolment_of(nip: str) -> list[Enrolment]:
    members = await AreaMember.filter(employee_nip=nip).prefetch_related("area").order_by("area_id")
    found = []
    for member in members:
        serials = (
            await AreaDevice.filter(area=member.area).order_by("device_serial").values_list("device_serial", flat=True)
        )
        found.append(Enrolment(member.area, member.pin, await _device_rows(list(serials))))
    return found


async def areas_open_to(scope: Scope, employee: Employee) -> list[Area]:
    """Areas the employee may join: owned by their unit or a unit above it, inside the caller's scope."""
    units: list[str] = []
    code: str | None = employee.unit_id  # type: ignore[attr-defined]
    while code:
        units.append(code)
        unit = await Unit.get_or_none(code=code)
        code = unit.parent_id if unit else None  # type: ignore[attr-defined]
    joined = await AreaMember.filter(employee_nip=employee.nip).values_list("area_id", flat=True)
    areas = await Area.filter(unit_code__in=units).exclude(code__in=list(joined)).order_by("code")
    return [a for a in areas if scope.sees_unit(a.unit_code)]


async def pending_in_scope(scope: Scope) -> list[PendingDevice]:
    return await PendingDevice.filter(scope.unit_q("unit_code")).order_by("unit_code", "first_seen_at", "id")


async def offices_and_areas(scope: Scope) -> tuple[dict[str, list[Office]], dict[str, list[Area]]]:
    """Per unit in scope, its offices and areas: where a pending device may be put."""
    offices: dict[str, list[Office]] = {}
    for office in await Office.filter(scope.unit_q("unit_id")).order_by("code"):
        offices.setdefault(office.unit_id, []).append(office)  # type: ignore[attr-defined]
    areas: dict[str, list[Area]] = {}
    for area in await Area.filter(scope.unit_q("unit_code")).order_by("code"):
        areas.setdefault(area.unit_code, []).append(area)
    return offices, areas


async def commands_in_scope(
    scope: Scope, gateway: str | None = None, device: str | None = None, status: str | None = None
) -> list[CommandRow]:
    """The newest commands of the gateways in scope, narrowed to one gateway, one device (by name: the
    commands naming it and those for every device of its gateway) or one status."""
    query = GatewayCommand.filter(scope.unit_q("unit_code"))
    if gateway:
        query = query.filter(gateway_id=gateway)
    if status:
        query = query.filter(status=status)
    rows = []
    for command in await query.order_by("-created_at").limit(MAX_COMMANDS_LISTED * (4 if device else 1)):
        args = command.args if isinstance(command.args, dict) else {}
        named = args.get("device") if isinstance(args.get("device"), str) else None
        results = command.results if isinstance(command.results, dict) else {}
        if device and named not in (None, device) and device not in results:
            continue
        users = args.get("users")
        rows.append(CommandRow(
            command.command_id, command.gateway_id, command.unit_code, command.action, named, command.status,
            command.detail, results, command.created_at, command.answered_at,
            len(users) if isinstance(users, list) else None,
        ))  # fmt: skip
    return rows[:MAX_COMMANDS_LISTED]


# --- changing -----------------------------------------------------------------------------------------


async def create_area(scope: Scope, unit: str, code: str, name: str) -> Area:
    if not unit or not scope.sees_unit(unit) or not await Unit.exists(code=unit):
        raise NotFound(N_("no such unit in your scope"))
    try:
        code = check_code(code, "code")
    except RegistryError:
        reason = N_("code: use 1-63 lower-case letters, digits, '-' or '_', starting with a letter or digit")
        raise Invalid(reason) from None
    try:
        name = check_name(name, "name")
    except RegistryError:
        raise Invalid(N_("name: expected 1-200 characters without control characters")) from None
    if await Area.exists(code=code):
        raise Conflict(N_("area {code} exists already").format(code=code))
    return await Area.create(code=code, name=name, unit_code=unit)


async def add_device(area: Area, serial: str) -> None:
    """A registered device of the area's unit (or below) joins the area."""
    device = await Device.get_or_none(serial=serial) if serial else None
    gateway = await Gateway.get_or_none(gateway_id=device.gateway_id) if device and device.gateway_id else None
    if device is None or gateway is None or gateway.unit_code not in await unit_subtree(area.unit_code):
        raise NotFound(N_("device {serial} is not registered to a gateway of this unit").format(serial=serial[:64]))
    current = await AreaDevice.get_or_none(device_serial=serial)
    if current is not None and current.area_id != area.code:  # type: ignore[attr-defined]
        raise Conflict(N_("device {serial} is in another area: remove it there first").format(serial=serial))
    if current is None:
        await AreaDevice.create(device_serial=serial, area=area)


async def remove_device(area: Area, serial: str) -> None:
    if not await AreaDevice.filter(area=area, device_serial=serial).delete():
        raise NotFound(N_("no such device in this area"))


async def add_employee(scope: Scope, area: Area, nip: str) -> AreaMember:
    nip = nip.strip()
    if not nip.isdigit() or len(nip) != 18:
        raise Invalid(N_("NIP: expected 18 digits"))
    employee = await Employee.get_or_none(nip=nip)
    if (
        employee is None
        or not scope.sees_employee(nip, employee.unit_id)  # type: ignore[attr-defined]
        or employee.unit_id not in await unit_subtree(area.unit_code)  # type: ignore[attr-defined]
    ):
        raise NotFound(N_("employee {nip} is not in this area's unit").format(nip=nip))
    if await AreaMember.exists(area=area, employee_nip=nip):
        raise Conflict(N_("employee {nip} is in this area already").format(nip=nip))
    try:
        return await add_member(area, nip)
    except AreaError:
        raise Conflict(N_("no free PIN in this area; try again")) from None


async def remove_employee(area: Area, nip: str) -> None:
    if not await remove_member(area, nip):
        raise NotFound(N_("employee {nip} is not in this area").format(nip=nip[:18]))


async def sync_devices(
    area: Area, sender: CommandSender | None, store: BiometricStore | None, *, actor: str,
    only_pins: set[str] | None = None, serial: str | None = None,
) -> list[SyncReport]:  # fmt: skip
    """The area's devices (or one) told their users (and templates) again, through the broker."""
    from server.errors import Unavailable

    if sender is None:
        raise Unavailable(N_("this server does not talk to the broker: nothing was sent to the devices"))
    if serial is not None:
        return [await _sync_device(area, serial, sender, store, actor=actor, only_pins=only_pins)]
    return await sync_area(area, sender, store, actor=actor, only_pins=only_pins)


@dataclass(frozen=True, slots=True)
class Adopted:
    serial: str
    gateway_id: str
    area: str | None
    released_batches: int
    stored: int
    quarantined: int


async def adopt_pending(
    scope: Scope, dialect: str, claim_id: int, office: str | None, area_code: str | None
) -> Adopted:
    """A pending device registered to the gateway that reported it (its held punches stored), put in an
    office of its unit and, if one is chosen, in an area of that unit (which the caller then syncs)."""
    from server.services.pending import assign_device

    claim = await PendingDevice.get_or_none(id=claim_id)
    if claim is None or not scope.sees_unit(claim.unit_code):
        raise NotFound(N_("no such pending device in your scope"))
    if office and not await Office.exists(code=office, unit_id=claim.unit_code):
        raise Invalid(N_("office: choose an office of unit {unit}").format(unit=claim.unit_code))
    area = await Area.get_or_none(code=area_code) if area_code else None
    if area_code and (area is None or claim.unit_code not in await unit_subtree(area.unit_code)):
        raise Invalid(N_("area: choose an area of unit {unit}").format(unit=claim.unit_code))
    if area is not None and not scope.sees_unit(area.unit_code):
        raise Invalid(N_("area: choose an area of unit {unit}").format(unit=claim.unit_code))
    try:
        release = await assign_device(dialect, claim.unit_code, claim.serial, claim.gateway_id, office or None)
    except NotFound:
        raise NotFound(N_("no such pending device in your scope")) from None
    except RegistryError:
        reason = N_("device {serial} is registered to another gateway already")
        raise Conflict(reason.format(serial=claim.serial)) from None
    if area is not None:
        await add_device(area, claim.serial)
    return Adopted(release.serial, release.gateway_id, area.code if area else None, release.batches, release.stored,
                   release.quarantined)  # fmt: skip
