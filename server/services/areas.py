"""Areas at work (issue 18): PINs allocated per area without collisions, and every device of an area
told, by `sync_users` commands to its gateway, to hold exactly the area's members and their templates.

A device's sync is one command with the complete user list (no templates: a user's templates on the
device are left alone by it, so a fresh enrolment racing the sync is not wiped) followed by pages of
users with their templates (`complete: false`), each under the contract's 256 KiB command limit.
Removing a member is a new complete list: the devices delete them.

PINs: an employee keeps one PIN across the area's devices (and, where free, the PIN they already have
elsewhere), unique among the area's members and among the PIN mappings of every unit whose gateways
serve the area's devices, which is how those devices' punches find the employee. Device user ids (uid)
are chosen on each device by its gateway (gateway/devices/zk.py), at most 65,535 a device; an area has
at most that many members.
"""

from __future__ import annotations

import base64
import json
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from server.area_models import Area, AreaDevice, AreaMember, DeviceSyncCommand
from server.biometric_models import BiometricTemplate
from server.models import Device, DevicePin, Employee, Gateway, GatewayCommand
from server.services.biometric_store import BiometricStore, read_templates_of
from wire.contract import MAX_COMMAND_BYTES, Command, CommandAction

log = logging.getLogger(__name__)

MAX_AREA_MEMBERS = 65_535  # a ZK device numbers its users with a u16
MAX_PIN = 999_999_999  # devices take up to 9 digits
# A page's JSON stays this far under the command limit (the envelope, the command id, the device name).
_PAGE_BUDGET = MAX_COMMAND_BYTES - 4 * 1024


class AreaError(ValueError):
    """An area change that cannot be made as asked; the text says why (Indonesian, then English)."""


class CommandSender(Protocol):
    async def send_command(self, unit: str, gateway_id: str, command: Command) -> None: ...


@dataclass
class SyncReport:
    """What was sent for one device: command ids, and the users whose templates could not be sent."""

    device_serial: str
    command_ids: list[str] = field(default_factory=list)
    templates: int = 0
    skipped_users: list[str] = field(default_factory=list)
    error: str | None = None


async def area_units(area: Area) -> list[str]:
    """The units whose gateways serve the area's devices (their PIN mappings resolve its punches)."""
    serials = await AreaDevice.filter(area=area).values_list("device_serial", flat=True)
    gateways = await Device.filter(serial__in=serials, gateway_id__not_isnull=True).values_list("gateway_id", flat=True)
    units = await Gateway.filter(gateway_id__in=set(gateways)).values_list("unit_code", flat=True)
    return sorted(set(units) | {area.unit_code})


async def allocate_pin(area: Area, nip: str) -> AreaMember:
    """The employee's membership of the area, with a PIN no other member holds and no unit of the area
    maps to anyone else. Idempotent: a member keeps their PIN."""
    existing = await AreaMember.get_or_none(area=area, employee_nip=nip)
    if existing is not None:
        return existing
    if await AreaMember.filter(area=area).count() >= MAX_AREA_MEMBERS:
        raise AreaError(f"area {area.code} penuh (full: at most {MAX_AREA_MEMBERS} members)")
    units = await area_units(area)
    for _attempt in range(5):  # another allocation may take the same PIN meanwhile: the unique key decides
        pin = await _free_pin(area, nip, units)
        try:
            async with in_transaction() as connection:
                member = await AreaMember.create(area=area, employee_nip=nip, pin=pin, using_db=connection)
                for unit in units:
                    if not await DevicePin.filter(unit_id=unit, pin=pin).using_db(connection).exists():
                        await DevicePin.create(unit_id=unit, pin=pin, employee_id=nip, using_db=connection)
                # Templates uploaded before the PIN was mapped get their employee now.
                await (
                    BiometricTemplate.filter(unit_code__in=units, pin=pin, employee_nip=None)
                    .using_db(connection)
                    .update(employee_nip=nip)
                )
            return member
        except IntegrityError:
            continue
    raise AreaError(f"tidak ada PIN bebas untuk {nip} (no free PIN found for {nip}); try again")


async def _free_pin(area: Area, nip: str, units: list[str]) -> str:
    taken_in_area = set(await AreaMember.filter(area=area).values_list("pin", flat=True))
    mapped = await DevicePin.filter(unit_id__in=units).values_list("pin", "employee_id")
    others = {pin for pin, owner in mapped if owner != nip}

    def free(pin: str) -> bool:
        return pin.isdigit() and len(pin) <= 9 and pin not in taken_in_area and pin not in others

    # The PIN the employee already has (in one of these units first, then anywhere), where free here.
    own = [pin for pin, owner in mapped if owner == nip]
    own += await DevicePin.filter(employee_id=nip).values_list("pin", flat=True)
    own += await AreaMember.filter(employee_nip=nip).values_list("pin", flat=True)
    for pin in own:
        if free(pin):
            return pin
    used = {int(pin) for pin in taken_in_area | others if pin.isdigit() and len(pin) <= 9}
    candidate = 1
    while candidate in used:
        candidate += 1
    if candidate > MAX_PIN:
        raise AreaError("tidak ada PIN bebas (no free PIN left)")
    return str(candidate)


async def add_member(area: Area, nip: str) -> AreaMember:
    if not await Employee.exists(nip=nip):
        raise AreaError(f"pegawai {nip} tidak ada (no employee {nip})")
    return await allocate_pin(area, nip)


async def remove_member(area: Area, nip: str) -> bool:
    """The membership ends; the devices lose the user at the next sync. The PIN mappings stay, so the
    employee's past punches keep their owner."""
    return bool(await AreaMember.filter(area=area, employee_nip=nip).delete())


async def sync_area(
    area: Area, sender: CommandSender, store: BiometricStore | None, *, actor: str, only_pins: set[str] | None = None
) -> list[SyncReport]:
    serials = await AreaDevice.filter(area=area).order_by("device_serial").values_list("device_serial", flat=True)
    return [await sync_device(area, serial, sender, store, actor=actor, only_pins=only_pins) for serial in serials]


async def sync_device(
    area: Area,
    serial: str,
    sender: CommandSender,
    store: BiometricStore | None,
    *,
    actor: str,
    only_pins: set[str] | None = None,
) -> SyncReport:
    """Send one device its complete user list, then pages of templates. `only_pins`: send only these
    users' template pages (after an enrolment), not the user list."""
    report = SyncReport(serial)
    device = await Device.get_or_none(serial=serial)
    gateway = await Gateway.get_or_none(gateway_id=device.gateway_id) if device and device.gateway_id else None
    if device is None or gateway is None or not device.name:
        report.error = f"perangkat {serial} belum terdaftar pada gateway (device not registered to a gateway)"
        return report
    members = await AreaMember.filter(area=area).order_by("pin")
    names = dict(await Employee.filter(nip__in=[m.employee_nip for m in members]).values_list("nip", "name"))
    users = [{"pin": m.pin, "name": names.get(m.employee_nip, "")[:24]} for m in members]
    base = {"device": device.name}
    if only_pins is None:
        args = {**base, "complete": True, "users": users}
        if len(json.dumps(args)) > _PAGE_BUDGET:
            report.error = (
                f"daftar {len(users)} pengguna melebihi batas perintah (the complete list of {len(users)} users "
                f"exceeds the {MAX_COMMAND_BYTES} byte command limit)"
            )
            return report
        report.command_ids.append(await _send(sender, gateway, area, serial, "users", args, len(users), 0))
    if store is None:
        return report
    wanted = [m for m in members if only_pins is None or m.pin in only_pins]
    opened = await read_templates_of(
        store, [m.employee_nip for m in wanted], actor=actor, purpose=f"sync_users to device {serial}"
    )
    page: list[dict[str, Any]] = []
    page_templates = 0
    for member in wanted:
        templates = opened.get(member.employee_nip)
        if not templates:
            continue
        entry = {
            "pin": member.pin,
            "name": names.get(member.employee_nip, "")[:24],
            "templates": [
                {"modality": t.modality, "index": t.index, "format": t.template_format,
                 "data": base64.b64encode(t.data).decode("ascii")}
                for t in templates
            ],
        }  # fmt: skip
        if len(json.dumps({**base, "complete": False, "users": [entry]})) > _PAGE_BUDGET:
            report.skipped_users.append(member.pin)  # one user's templates larger than a command: cannot go
            continue
        if page and len(json.dumps({**base, "complete": False, "users": [*page, entry]})) > _PAGE_BUDGET:
            args = {**base, "complete": False, "users": page}
            report.command_ids.append(await _send(sender, gateway, area, serial, "templates", args, len(page),
                                                  page_templates))  # fmt: skip
            page, page_templates = [], 0
        page.append(entry)
        page_templates += len(templates)
        report.templates += len(templates)
    if page:
        args = {**base, "complete": False, "users": page}
        report.command_ids.append(
            await _send(sender, gateway, area, serial, "templates", args, len(page), page_templates)
        )
    return report


async def send_page(sender: CommandSender, gateway: Gateway, area: Area, serial: str, args: dict[str, Any]) -> str:
    users = args["users"]
    templates = sum(len(user.get("templates") or ()) for user in users)
    return await _send(sender, gateway, area, serial, "templates", args, len(users), templates)


async def _send(
    sender: CommandSender, gateway: Gateway, area: Area, serial: str, part: str, args: dict[str, Any],
    users: int, templates: int,
) -> str:  # fmt: skip
    command = Command(uuid.uuid4().hex, CommandAction.SYNC_USERS, args)
    # The stored args never hold templates: the command row is shown by the API.
    shown = {**args, "users": [{k: v for k, v in user.items() if k != "templates"} for user in args["users"]]}
    if part == "templates":
        shown["users"] = [
            {"pin": u["pin"], "templates": [{k: t[k] for k in ("modality", "index", "format")} for t in u["templates"]]}
            for u in args["users"]
        ]
    await GatewayCommand.create(
        command_id=command.command_id, gateway_id=gateway.gateway_id, unit_code=gateway.unit_code,
        action=CommandAction.SYNC_USERS.value, args=shown,
    )  # fmt: skip
    await DeviceSyncCommand.create(
        command_id=command.command_id, device_serial=serial, area_code=area.code, part=part, users=users,
        templates=templates,
    )  # fmt: skip
    await sender.send_command(gateway.unit_code, gateway.gateway_id, command)
    return command.command_id


async def areas_of_employee(nip: str) -> list[tuple[Area, str]]:
    members = await AreaMember.filter(employee_nip=nip).prefetch_related("area")
    return [(member.area, member.pin) for member in members]


# --- the employee life cycle: a transfer or an end changes the areas (issue 18) ----------------------


async def home_areas(unit_code: str, office_code: str | None) -> list[str]:
    """The areas an assignment puts an employee in: those holding a device of their office, or, with no
    office (or none of its devices in an area), the areas their unit owns."""
    if office_code:
        serials = await Device.filter(office_id=office_code).values_list("serial", flat=True)
        at_office = await AreaDevice.filter(device_serial__in=list(serials)).values_list("area_id", flat=True)
        if at_office:
            return sorted(set(at_office))
    return sorted(await Area.filter(unit_code=unit_code).values_list("code", flat=True))


async def _unit_and_above(unit_code: str) -> set[str]:
    from server.models import Unit

    found: set[str] = set()
    code: str | None = unit_code
    while code and code not in found:
        found.add(code)
        unit = await Unit.get_or_none(code=code)
        code = unit.parent_id if unit else None  # type: ignore[attr-defined]
    return found


async def follow_assignment(nip: str, before: dict[str, Any], state: dict[str, Any]) -> list[str]:
    """The employee's areas follow a change of unit, office or status that is valid from today: an
    ended employment leaves every area; a transfer leaves the old assignment's areas (and any area of a
    unit that is no longer theirs or above them) and joins the new one's. Idempotent. Returns the codes of
    the areas whose members changed, whose devices are then to be told (sync_area)."""
    keys = ("unit_code", "office_code", "status")
    if all(before.get(key) == state.get(key) for key in keys):
        return []
    members = await AreaMember.filter(employee_nip=nip).prefetch_related("area")
    if state["status"] != "active":
        leaving = [member.area for member in members]
        joining: list[str] = []
    else:
        target = set(await home_areas(state["unit_code"], state.get("office_code")))
        old_home = set(await home_areas(before["unit_code"], before.get("office_code")))
        open_units = await _unit_and_above(state["unit_code"])
        # Left: the old assignment's areas, and areas of a unit the employee is neither in nor below.
        stale = [m.area for m in members if m.area.code in old_home or m.area.unit_code not in open_units]
        leaving = [area for area in stale if area.code not in target]
        held = {member.area.code for member in members}
        joining = sorted(target - held)
    for area in leaving:
        await remove_member(area, nip)
    joined = []
    for code in joining:
        area = await Area.get(code=code)
        try:
            await allocate_pin(area, nip)
        except AreaError as exc:  # a full area: the change stands, the area is joined by hand once it has room
            log.warning("employee %s could not join area %s: %s", nip, code, exc)
            continue
        joined.append(code)
    return sorted({area.code for area in leaving} | set(joined))
