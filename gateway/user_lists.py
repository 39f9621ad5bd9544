"""The last user list the centre sent each device, kept on disk, and a device that lost it refilled.

A device reset to empty, or replaced by one with the same serial, holds none of its area's users, and
the centre only notices at its next area sync. The gateway notices first: every poll already asks the
device how many users it holds (CMD_GET_FREE_SIZES, in `read_info`), so `UserListWatcher` compares
that count with the list last applied to the device. Fewer users than the list names: the device is
reconciled against the list (users and templates written back, through the same `sync_on` a
`sync_users` command uses) without waiting for the centre, and the centre is told through the
device's telemetry (anomaly `users_restored`, with the counts in the gateway's log). No extra request
to the device per poll; a restore at most every `retry_after_s` per device, one device at a time.

What is kept (`UserLists`), per device name, in state_dir/user_lists/<name>.json (mode 0600, written
whole to a temporary file and renamed): the users of the last complete list and the templates of the
pages that followed it, as the device was told to hold them. Templates are specific personal data
(UU 27/2022): in the file each one is sealed (AES-GCM, bound to its device, PIN and slot) with a key
that lives only in the running gateway's memory and is never written anywhere, so a copied state
directory or a stolen SD card holds no readable template. After a restart the kept templates cannot
be opened any more: a restore then writes the users back without them, and the centre's next area
sync (which holds them encrypted under its own key) writes them again. The file is readable by the
gateway's user only, and no log line names a template's bytes.

A centre sync and a restore of the same device take the same lock, and a restore reads the list
inside it, so a restore never writes back a list the centre replaced meanwhile.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.device_interface import Coordinator
from gateway.devices.base import DeviceError, DeviceTemplate
from gateway.user_sync import DesiredUser, SyncError, SyncRequest, sync_on
from wire.contract import CommandResult

log = logging.getLogger(__name__)

RESTORABLE_PROTOCOLS = frozenset({"zk"})  # push devices are told by command; serial lines keep no users
DEFAULT_RETRY_AFTER_S = 300.0


def _file_name(device: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", device) + ".json"


class UserLists:
    """The list each device was last told to hold, as applied (`applied`) and as read back (`desired`),
    and the last sync command's answer for it (`answered`), which a restore answers again."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._cache: dict[str, dict[str, Any]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._seal = AESGCM(AESGCM.generate_key(bit_length=256))  # this process's only: never stored

    def lock(self, device: str) -> asyncio.Lock:
        return self._locks.setdefault(device, asyncio.Lock())

    def applied(self, device: str, request: SyncRequest) -> None:
        """A sync that reached the device: a complete list replaces the users (keeping the templates of
        those still named), a page adds and updates; a user's `templates` list replaces theirs."""
        if request.dry_run:
            return
        kept = self._load(device)
        before_users: dict[str, dict[str, Any]] = kept["users"]
        users = {} if request.complete else dict(before_users)
        for user in request.users:
            before = before_users.get(user.pin, {})
            templates = (
                before.get("templates", [])
                if user.templates is None
                else [self._sealed(device, user.pin, t) for t in user.templates]
            )
            users[user.pin] = {"name": user.name, "card": user.card, "templates": templates}
        self._save(device, {**kept, "users": users, "applied_at": time.time()})

    def answered(self, device: str, command_id: str, result: dict[str, Any]) -> None:
        """The answer this device's entry got in the last sync command applied to it."""
        kept = self._load(device)
        self._save(device, {**kept, "answer": {"command_id": command_id, "result": result}})

    def last_answer(self, device: str) -> tuple[str, dict[str, Any]] | None:
        answer = self._load(device).get("answer")
        return None if not isinstance(answer, dict) else (answer["command_id"], answer["result"])

    def applied_at(self, device: str) -> float:
        """When the list was last applied (time.time()): a user count read before then says nothing of it."""
        return float(self._load(device).get("applied_at", 0.0))

    def expected_users(self, device: str) -> int:
        return len(self._load(device)["users"])

    def desired(self, device: str) -> tuple[DesiredUser, ...]:
        """The kept users, with the templates this process sealed (an earlier run's cannot be opened)."""
        desired = []
        for pin, entry in self._load(device)["users"].items():
            opened = (self._opened(device, pin, raw) for raw in entry["templates"])
            desired.append(DesiredUser(pin, entry["name"], entry["card"], tuple(t for t in opened if t is not None)))
        return tuple(desired)

    def _sealed(self, device: str, pin: str, template: DeviceTemplate) -> dict[str, Any]:
        nonce, slot = os.urandom(12), _slot(device, pin, template.modality, template.index)
        sealed = self._seal.encrypt(nonce, template.data, slot)
        return {"modality": template.modality, "index": template.index, "format": template.format_key,
                "sealed": base64.b64encode(nonce + sealed).decode()}  # fmt: skip

    def _opened(self, device: str, pin: str, raw: dict[str, Any]) -> DeviceTemplate | None:
        try:
            blob = base64.b64decode(raw["sealed"])
            data = self._seal.decrypt(blob[:12], blob[12:], _slot(device, pin, raw["modality"], raw["index"]))
        except (KeyError, ValueError, TypeError, InvalidTag):  # another run's key, or not ours: left to the centre
            return None
        return DeviceTemplate(pin, raw["modality"], raw["index"], data, raw["format"])

    def _path(self, device: str) -> Path:
        return self.folder / _file_name(device)

    def _load(self, device: str) -> dict[str, Any]:
        if device not in self._cache:
            try:
                loaded = json.loads(self._path(device).read_text())
            except FileNotFoundError:
                loaded = {}
            except (OSError, ValueError) as exc:  # unreadable: as if nothing was sent; the next sync rewrites it
                log.warning("device %s: last user list unreadable (%s); ignored", device, type(exc).__name__)
                loaded = {}
            if not isinstance(loaded, dict) or not isinstance(loaded.get("users"), dict):
                loaded = {"users": {}}
            self._cache[device] = loaded
        return self._cache[device]

    def _save(self, device: str, kept: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self._path(device)
        temporary = path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            json.dump(kept, file, separators=(",", ":"))
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
        self._cache[device] = kept


def _slot(device: str, pin: str, modality: str, index: int) -> bytes:
    """What a sealed template is bound to: moved to another device, user or finger it does not open."""
    return f"{device}\x00{pin}\x00{modality}\x00{index}".encode()


class UserListWatcher:
    """Each tick: a device whose last poll counted fewer users than its last list is refilled from it."""

    def __init__(
        self,
        coordinators: Callable[[], list[Coordinator]],
        lists: UserLists,
        templates_written: Callable[[str, list[DeviceTemplate]], None] | None = None,
        report: Callable[[CommandResult], None] = lambda result: None,
        *,
        retry_after_s: float = DEFAULT_RETRY_AFTER_S,
    ) -> None:
        self.coordinators, self.lists, self.templates_written = coordinators, lists, templates_written
        self.report = report  # publishes a command result to the centre
        self.retry_after_s = retry_after_s
        self._looked_at: dict[str, float] = {}  # device -> last_poll_ok_at of the poll last judged
        self._restored_at: dict[str, float] = {}  # device -> when a restore last ran (monotonic)

    async def run(self, tick_s: float = 1.0) -> None:
        while True:
            await asyncio.sleep(tick_s)
            try:
                await self.check_all()
            except asyncio.CancelledError:
                raise
            except Exception:  # the watcher must outlive any fault
                log.exception("user list check failed; trying again in %.0f s", tick_s)

    async def check_all(self) -> int:
        """Restore every device found short of users; returns how many were restored."""
        restored = 0
        for coordinator in self.coordinators():
            if await self.check(coordinator):
                restored += 1
        return restored

    async def check(self, coordinator: Coordinator) -> bool:
        name, health = coordinator.config.name, coordinator.health
        read_at = health.user_count_read_at
        if coordinator.config.protocol not in RESTORABLE_PROTOCOLS or read_at is None or health.user_count is None:
            return False
        if self._looked_at.get(name) == read_at or read_at <= self.lists.applied_at(name):
            return False  # this count was judged already, or read before the list was applied
        self._looked_at[name] = read_at
        expected = self.lists.expected_users(name)
        if health.user_count >= expected:
            return False
        if time.monotonic() - self._restored_at.get(name, float("-inf")) < self.retry_after_s:
            return False
        self._restored_at[name] = time.monotonic()
        return await self._restore(coordinator, health.user_count, expected)

    async def _restore(self, coordinator: Coordinator, counted: int, expected: int) -> bool:
        name = coordinator.config.name
        log.warning("device %s holds %d users, its last list %d: writing the list back", name, counted, expected)
        async with self.lists.lock(name):
            request = SyncRequest(self.lists.desired(name), complete=True, templates_written=self.templates_written)
            restored: dict[str, Any] = {"at": datetime.now(UTC).isoformat(), "users_held": counted,
                                        "users_expected": expected}  # fmt: skip
            try:
                summary = await sync_on(coordinator, request)
            except (DeviceError, SyncError) as exc:
                log.warning("device %s: writing its user list back failed: %s", name, exc)
                self._answer_again(name, {"ok": False, "error": str(exc), "restored": {**restored, "ok": False}})
                return False
            if not (summary["users_added"] or summary["templates_written"]):
                return False  # the device held its list after all (a count misreported): nothing to tell
            restored |= {"ok": True, "users_added": summary["users_added"],
                         "templates_written": summary["templates_written"]}  # fmt: skip
            self._answer_again(name, {"restored": restored})
        coordinator.health.count_anomaly(
            "users_restored",
            f"{counted} of {expected} users held; {summary['users_added']} users and "
            f"{summary['templates_written']} templates written back",
        )
        return True

    def _answer_again(self, name: str, change: dict[str, Any]) -> None:
        """The device's last sync command answered again, its entry now saying what the restore found
        and did: the centre's device-users view reads that command's answer."""
        last = self.lists.last_answer(name)
        if last is None:
            return
        command_id, entry = last
        entry = {**entry, **change}
        ok = bool(entry.get("ok", True))
        detail = "user list written back by the gateway" if ok else f"user list not written back: {entry.get('error')}"
        self.report(CommandResult(command_id, ok, detail, {name: entry}))
