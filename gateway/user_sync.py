"""Reconciling a device's users and templates with the list the centre wants on it.

`plan_sync` is pure: what the device holds and what is wanted in, a SyncPlan out (adds, updates,
deletes of users and templates, and the templates this device cannot take because its format
differs, to be enrolled on site). `apply_plan` carries a plan out on a driver, on the device's thread.
The `sync_users` command (gateway/commands.py) reads the device, plans, applies and reports counts.

Templates are specific personal data (UU 27/2022): a plan's summary, a result and every log line
name a template by PIN, modality and index, never by its bytes.

What the centre says of each user's templates decides what happens to the device's:
- `templates` absent (None): leave the device's templates of this user as they are (a fresh enrolment
  the centre has not heard of yet must not be wiped by a sync that raced it);
- a list (possibly empty): exactly these, as far as the device's format allows; the others are deleted
  (an employee's biometrics deleted on request is an empty list on every device).
A `complete` list is the whole area: users on the device that it does not name are deleted. A page of
a longer list (complete=False) adds and updates only.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from gateway.devices.base import BiometricDriver, DeviceTemplate, DeviceUser
from gateway.profiles import MODALITIES, Biometrics

log = logging.getLogger(__name__)

MAX_TEMPLATE_BYTES = 16 * 1024  # a face template is a few KiB; more is not a template
MAX_SYNC_USERS = 65_535  # the most users a ZK device can number (its uid is a u16)
MAX_LISTED_SLOTS = 500  # a command result is at most 256 KiB: longer lists are cut, their count kept


class SyncError(ValueError):
    """A desired list that cannot be applied as given; the text names the item."""


@dataclass(frozen=True, slots=True)
class DesiredUser:
    pin: str
    name: str
    card: int = 0
    templates: tuple[DeviceTemplate, ...] | None = None  # None: leave this user's templates alone

    @property
    def as_device_user(self) -> DeviceUser:
        return DeviceUser(self.pin, self.name, self.card)


TemplateSlot = tuple[str, str, int]  # pin, modality, index


@dataclass(frozen=True, slots=True)
class SyncPlan:
    add_users: tuple[DeviceUser, ...] = ()
    update_users: tuple[DeviceUser, ...] = ()
    delete_users: tuple[str, ...] = ()
    write_templates: tuple[tuple[DeviceUser, tuple[DeviceTemplate, ...]], ...] = ()
    delete_templates: tuple[TemplateSlot, ...] = ()
    # Wanted here but of a format this device cannot use (or a sensor it lacks): enrol on site.
    incompatible: tuple[TemplateSlot, ...] = ()

    @property
    def in_sync(self) -> bool:
        return not (
            self.add_users or self.update_users or self.delete_users or self.write_templates or self.delete_templates
        )

    def summary(self) -> dict[str, Any]:
        """Counts and slots, never template bytes: what a command result and a log line may carry."""
        return {
            "users_added": len(self.add_users),
            "users_updated": len(self.update_users),
            "users_deleted": len(self.delete_users),
            "templates_written": sum(len(templates) for _user, templates in self.write_templates),
            "templates_deleted": len(self.delete_templates),
            "enrol_on_site": [
                {"pin": p, "modality": m, "index": i} for p, m, i in self.incompatible[:MAX_LISTED_SLOTS]
            ],
            "enrol_on_site_count": len(self.incompatible),
        }


def plan_sync(
    desired: Iterable[DesiredUser],
    users_on_device: Iterable[DeviceUser],
    templates_on_device: Iterable[DeviceTemplate],
    biometrics: Biometrics,
    *,
    complete: bool = True,
    writable_modalities: frozenset[str] = frozenset(MODALITIES),
    stored_name: Callable[[str], str] = lambda name: name,
) -> SyncPlan:
    """What to do so the device holds `desired`. `writable_modalities`: what the driver can write at all
    (pyzk writes fingerprints only), on top of what the profile says the device stores. `stored_name`:
    a name as the device keeps it (cut to its field), so a long name is not an update at every sync."""
    wanted = {user.pin: user for user in desired}
    have = {user.pin: user for user in users_on_device}
    held: dict[TemplateSlot, DeviceTemplate] = {(t.pin, t.modality, t.index): t for t in templates_on_device}
    if biometrics.user_capacity is not None and complete and len(wanted) > biometrics.user_capacity:
        raise SyncError(
            f"{len(wanted)} pengguna tidak muat: perangkat ini menampung paling banyak {biometrics.user_capacity} "
            f"({len(wanted)} users do not fit: this device holds at most {biometrics.user_capacity})"
        )
    add = tuple(user.as_device_user for pin, user in wanted.items() if pin not in have)
    update = tuple(
        user.as_device_user
        for pin, user in wanted.items()
        if pin in have and (have[pin].name, have[pin].card) != (stored_name(user.name), user.card)
    )
    remove = tuple(sorted(pin for pin in have if pin not in wanted)) if complete else ()
    writes: list[tuple[DeviceUser, tuple[DeviceTemplate, ...]]] = []
    deletes: list[TemplateSlot] = []
    incompatible: list[TemplateSlot] = []
    for pin, user in wanted.items():
        if user.templates is None:
            continue
        to_write: list[DeviceTemplate] = []
        wanted_slots = set()
        for template in user.templates:
            slot = (pin, template.modality, template.index)
            wanted_slots.add(slot)
            fits = template.modality in writable_modalities and biometrics.accepts(
                template.modality, template.format_key
            )
            if not fits:
                incompatible.append(slot)
            elif slot not in held or held[slot].data != template.data:
                to_write.append(template)
        if to_write:
            writes.append((user.as_device_user, tuple(to_write)))
        deletes += sorted(slot for slot in held if slot[0] == pin and slot not in wanted_slots)
    return SyncPlan(add, update, remove, tuple(writes), tuple(deletes), tuple(incompatible))


def apply_plan(driver: BiometricDriver, plan: SyncPlan) -> dict[str, Any]:
    """Carry the plan out, deletions first so a full device has room. Blocking: call it on the device's
    thread. A DeviceError stops it where it is; the next sync plans again from what the device holds."""
    if plan.delete_users:
        driver.delete_users(list(plan.delete_users))
    with_templates = {user.pin for user, _templates in plan.write_templates}
    plain = [user for user in (*plan.add_users, *plan.update_users) if user.pin not in with_templates]
    if plain:  # write_templates writes its user first anyway
        driver.write_users(plain)
    for user, templates in plan.write_templates:
        driver.write_templates(user, list(templates))
    for pin, modality, index in plan.delete_templates:
        driver.delete_template(pin, modality, index)
    summary = plan.summary()
    log.info(
        "user sync: %d added, %d updated, %d deleted; %d templates written, %d deleted, %d to enrol on site",
        summary["users_added"],
        summary["users_updated"],
        summary["users_deleted"],
        summary["templates_written"],
        summary["templates_deleted"],
        len(plan.incompatible),
    )
    return summary


@dataclass(frozen=True, slots=True)
class SyncRequest:
    users: tuple[DesiredUser, ...]
    complete: bool = True
    dry_run: bool = False
    device: str | None = None
    # Told (device serial, templates) of what a sync wrote, so the enrolment check does not report the
    # centre's own templates back to it (gateway/enrolment.py).
    templates_written: Callable[[str, list[DeviceTemplate]], None] | None = None


def parse_sync_args(args: dict[str, Any]) -> SyncRequest:
    """The `sync_users` command's args:

        {"users": [{"pin": "1001", "name": "Ani", "card": 0,
                    "templates": [{"modality": "fingerprint", "index": 0, "format": "fingerprint:ZKFinger:10",
                                   "data": "<base64>"}]}],
         "complete": true, "dry_run": false, "device": "optional device name"}

    SyncError, in Indonesian and English, naming the first item that is wrong.
    """
    users = args.get("users")
    if not isinstance(users, list) or len(users) > MAX_SYNC_USERS:
        raise SyncError(f"args.users: diharapkan daftar pengguna (expected a list of at most {MAX_SYNC_USERS} users)")
    desired: list[DesiredUser] = []
    seen: set[str] = set()
    for number, raw in enumerate(users):
        where = f"args.users[{number}]"
        if not isinstance(raw, dict):
            raise SyncError(f"{where}: diharapkan objek (expected an object)")
        pin, name, card = raw.get("pin"), raw.get("name", ""), raw.get("card", 0)
        if not isinstance(pin, str) or not pin.isdigit() or len(pin) > 9:
            raise SyncError(
                f"{where}.pin: PIN harus angka, paling banyak 9 digit (expected up to 9 digits, got {pin!r})"
            )
        if pin in seen:
            raise SyncError(f"{where}.pin: PIN {pin} muncul dua kali (PIN {pin} appears twice)")
        seen.add(pin)
        if not isinstance(name, str) or len(name) > 24:
            raise SyncError(f"{where}.name: nama paling banyak 24 karakter (expected at most 24 characters)")
        if not isinstance(card, int) or isinstance(card, bool) or not 0 <= card < 2**32:
            raise SyncError(f"{where}.card: nomor kartu 0..4294967295 (expected a card number, got {card!r})")
        templates = raw.get("templates")
        parsed = None if templates is None else tuple(_template(pin, templates, where))
        desired.append(DesiredUser(pin, name, card, parsed))
    complete, dry_run, device = args.get("complete", True), args.get("dry_run", False), args.get("device")
    if not isinstance(complete, bool) or not isinstance(dry_run, bool):
        raise SyncError("args.complete / args.dry_run: diharapkan true atau false (expected true or false)")
    if device is not None and not isinstance(device, str):
        raise SyncError("args.device: diharapkan nama perangkat (expected a device name)")
    return SyncRequest(tuple(desired), complete, dry_run, device)


def _template(pin: str, templates: object, where: str) -> Iterable[DeviceTemplate]:
    if not isinstance(templates, list) or len(templates) > 20:
        raise SyncError(f"{where}.templates: diharapkan daftar, paling banyak 20 (expected a list of at most 20)")
    slots: set[tuple[str, int]] = set()
    for number, raw in enumerate(templates):
        at = f"{where}.templates[{number}]"
        if not isinstance(raw, dict):
            raise SyncError(f"{at}: diharapkan objek (expected an object)")
        modality, index, format_key, data = raw.get("modality"), raw.get("index"), raw.get("format"), raw.get("data")
        if modality not in MODALITIES:
            raise SyncError(f"{at}.modality: salah satu dari {list(MODALITIES)} (expected one of them)")
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index <= 9:
            raise SyncError(f"{at}.index: 0..9 (expected a finger or slot index)")
        if (modality, index) in slots:
            raise SyncError(f"{at}: {modality} {index} muncul dua kali (appears twice)")
        slots.add((modality, index))
        if not isinstance(format_key, str) or not format_key or len(format_key) > 64:
            raise SyncError(f"{at}.format: diharapkan format templat (expected a template format)")
        try:
            decoded = base64.b64decode(data, validate=True) if isinstance(data, str) else b""
        except (binascii.Error, ValueError):
            decoded = b""
        if not 0 < len(decoded) <= MAX_TEMPLATE_BYTES:  # the error never quotes the data
            raise SyncError(f"{at}.data: templat base64 1..{MAX_TEMPLATE_BYTES} byte (expected a base64 template)")
        yield DeviceTemplate(pin, modality, index, decoded, format_key)


# Writable by each driver kind: pyzk writes fingerprints only (its protocol has no face or palm upload).
_WRITABLE_BY_PROTOCOL = {"zk": frozenset({"fingerprint"})}


async def sync_on(coordinator: Any, request: SyncRequest) -> dict[str, Any]:
    """Read the device, plan, and (unless a dry run) apply, in one session on the device's thread."""
    profile = coordinator.config.profile
    if profile.protocol == "push":  # a push coordinator plans from what the device uploaded (gateway/push/sync.py)
        return await coordinator.sync_users(request)
    if profile.protocol not in _WRITABLE_BY_PROTOCOL:
        raise SyncError(
            f"perangkat {coordinator.config.name} ({profile.protocol}) tidak menyimpan pengguna "
            f"(device {coordinator.config.name} keeps no users)"
        )
    writable = _WRITABLE_BY_PROTOCOL[profile.protocol]

    def reconcile(driver: Any) -> tuple[dict[str, Any], str, list[DeviceTemplate]]:
        wants_templates = any(user.templates is not None for user in request.users)
        templates = driver.read_templates() if wants_templates else []
        users = driver.read_users()
        plan = plan_sync(
            request.users,
            users,
            templates,
            profile.biometrics,
            complete=request.complete,
            writable_modalities=writable,
            stored_name=driver.stored_name,
        )
        summary = plan.summary() if request.dry_run else apply_plan(driver, plan)
        written = [] if request.dry_run else [t for _user, ts in plan.write_templates for t in ts]
        serial = driver.read_info().serial if written else ""
        return {"in_sync": plan.in_sync, "dry_run": request.dry_run, **summary}, serial, written

    # One round trip or a few per user: allow for a large area on a slow link.
    deadline = max(coordinator.config.timeout_s * 6, 0.2 * len(request.users))
    result, serial, written = await coordinator.session(reconcile, deadline)
    if written and request.templates_written is not None:  # here, on the event loop: the outbox is its own
        request.templates_written(serial, written)
    return result
