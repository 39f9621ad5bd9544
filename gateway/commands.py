"""Commands from the centre on the gateway's command topic, each answered with a result message.

Unknown or malformed commands get an error result, never a crash; a command that fails on one
device reports per device what happened.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, time
from types import MappingProxyType
from typing import Any

from gateway.device_interface import ClearRefused, Coordinator
from gateway.devices.base import DeviceError, DeviceTemplate, DeviceUser
from gateway.user_lists import UserLists
from wire.contract import (
    MAX_COMMAND_BYTES,
    Command,
    CommandAction,
    CommandResult,
    ContractError,
    UnsupportedAction,
    peek_id,
)

log = logging.getLogger(__name__)

Reloader = Callable[[], Awaitable[str]]
ConfigApplier = Callable[[dict[str, Any]], Awaitable[tuple[str, dict[str, Any]]]]
UpgradeRequester = Callable[[dict[str, Any]], str]
Outcome = tuple[str, dict[str, Any]]  # the result's detail, and per device what happened


class CommandError(ValueError):
    """A well-formed command that cannot be carried out as asked; `results` go with the refusal."""

    def __init__(self, message: str, results: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.results = results or {}


class CommandHandler:
    def __init__(
        self,
        coordinators: Callable[[], list[Coordinator]],
        reload_config: Reloader,
        request_upgrade: UpgradeRequester | None = None,
        templates_written: Callable[[str, list[DeviceTemplate]], None] | None = None,
        apply_config: ConfigApplier | None = None,
        user_lists: UserLists | None = None,
    ) -> None:
        self._coordinators = coordinators
        self._reload_config = reload_config
        self._apply_config = apply_config
        self._request_upgrade = request_upgrade
        # Told of templates a sync wrote to a device (serial, templates): not enrolments to report back.
        self._templates_written = templates_written
        # Where the list each device was last told to hold is kept (gateway/user_lists.py).
        self._user_lists = user_lists

    async def handle(self, payload: bytes) -> CommandResult:
        try:
            command = Command.from_json(payload)
        except UnsupportedAction as exc:  # a server newer than this gateway: say so, carry on
            log.warning("command with an action this gateway does not know: %s", exc.action)
            return CommandResult(peek_id(payload, "command_id", MAX_COMMAND_BYTES), False, str(exc))
        except ContractError as exc:
            return CommandResult(peek_id(payload, "command_id", MAX_COMMAND_BYTES), False, f"malformed command: {exc}")
        try:
            detail, results = await self._dispatch(command)
        except CommandError as exc:
            return CommandResult(command.command_id, False, str(exc), exc.results)
        except Exception as exc:  # a command must never take the gateway down
            log.exception("command %s (%s) failed", command.command_id, command.action.value)
            return CommandResult(command.command_id, False, f"failed: {exc}")
        ok = all(entry.get("ok", True) for entry in results.values())
        if command.action is CommandAction.SYNC_USERS and self._user_lists is not None:
            for name, entry in results.items():  # the answer a restore of that device answers again
                if entry.get("ok", True) and not entry.get("dry_run", False):
                    self._user_lists.answered(name, command.command_id, entry)
        return CommandResult(command.command_id, ok, detail, results)

    async def _dispatch(self, command: Command) -> Outcome:
        handler = HANDLERS.get(command.action)
        if handler is None:
            raise CommandError(f"action {command.action.value!r} is not handled by this gateway")
        return await handler(self, command.args)

    async def _sync_users(self, args: dict[str, Any]) -> Outcome:
        return await _sync_users_on(self._targets, args, self._templates_written, self._user_lists)

    async def _reload(self, _args: dict[str, Any]) -> Outcome:
        return await self._reload_config(), {}

    async def _apply(self, args: dict[str, Any]) -> Outcome:
        """The centre's configuration (gateway/centre_config.py): applied whole, or refused with the old kept."""
        if self._apply_config is None:
            raise CommandError("this gateway does not take its configuration from the centre")
        return await self._apply_config(args)

    async def _upgrade(self, args: dict[str, Any]) -> Outcome:
        """Only left for the upgrade service (root) to carry out: this process never rewrites its own code."""
        from gateway.upgrade import UpgradeError

        if self._request_upgrade is None:
            raise CommandError("this gateway cannot be upgraded remotely")
        try:
            return self._request_upgrade(args), {}
        except UpgradeError as exc:
            raise CommandError(str(exc)) from None

    async def _sync_clock(self, args: dict[str, Any]) -> Outcome:
        targets = self._targets(args.get("device"))
        return "clocks synchronised", await self._each(targets, lambda c: c.sync_clock(), "corrected_s")

    async def _reread_device(self, args: dict[str, Any]) -> Outcome:
        targets = self._targets(args.get("device"))
        window = _reupload_window(args)
        return "logs read again", await self._each(targets, lambda c: c.reread(window), "new_punches")

    async def _write_user(self, args: dict[str, Any]) -> Outcome:
        targets = self._targets(args.get("device"))
        user = _user_from(args)
        return f"user {user.pin} written", await self._each(targets, lambda c: c.write_user(user), None)

    async def _reboot_device(self, args: dict[str, Any]) -> Outcome:
        """Restart one device: its connection drops and it comes back by itself (the poller reconnects)."""
        targets = self._targets(_one_device(args))
        return "device restarting", await self._each(targets, lambda c: c.reboot(), None)

    async def _clear_log(self, args: dict[str, Any]) -> Outcome:
        """Empty one device's attendance log, only through the coordinator's safe path: read it whole,
        and clear it only if the server has acknowledged every punch in it; otherwise refused, with why."""
        results: dict[str, Any] = {}
        for coordinator in self._targets(_one_device(args)):
            try:
                results[coordinator.config.name] = {"ok": True, "cleared": await coordinator.clear_log()}
            except ClearRefused as exc:
                results[coordinator.config.name] = {"ok": False, "refused": True, "error": str(exc)}
                raise CommandError(f"clear refused: {exc}", results) from None
            except DeviceError as exc:
                results[coordinator.config.name] = {"ok": False, "error": str(exc)}
        return "log cleared", results

    def _targets(self, device: object) -> list[Coordinator]:
        coordinators = self._coordinators()
        if device is None:
            return coordinators
        chosen = [c for c in coordinators if c.config.name == device]
        if not chosen:
            names = ", ".join(c.config.name for c in coordinators)
            raise CommandError(f"no device named {device!r} on this gateway (devices: {names})")
        return chosen

    @staticmethod
    async def _each(
        targets: list[Coordinator], action: Callable[[Coordinator], Awaitable[Any]], key: str | None
    ) -> dict[str, Any]:
        results: dict[str, Any] = {}
        for coordinator in targets:
            try:
                value = await action(coordinator)
            except DeviceError as exc:
                results[coordinator.config.name] = {"ok": False, "error": str(exc)}
            else:
                results[coordinator.config.name] = {"ok": True, **({key: value} if key else {})}
        return results


async def _sync_users_on(
    targets: Callable[[object], list[Coordinator]],
    args: dict[str, Any],
    templates_written: Callable[[str, list[DeviceTemplate]], None] | None,
    user_lists: UserLists | None = None,
) -> tuple[str, dict[str, Any]]:
    from dataclasses import replace

    from gateway.user_sync import SyncError, parse_sync_args, sync_on

    try:
        request = replace(parse_sync_args(args), templates_written=templates_written)
    except SyncError as exc:
        raise CommandError(str(exc)) from None
    results: dict[str, Any] = {}
    for coordinator in targets(request.device):
        name = coordinator.config.name
        try:
            if user_lists is None:
                results[name] = {"ok": True, **await sync_on(coordinator, request)}
            else:  # under the device's list lock: a restore never writes back a list replaced meanwhile
                async with user_lists.lock(name):
                    results[name] = {"ok": True, **await sync_on(coordinator, request)}
                    user_lists.applied(name, request)
        except (DeviceError, SyncError) as exc:
            results[coordinator.config.name] = {"ok": False, "error": str(exc)}
    verb = "planned" if request.dry_run else "synchronised"
    return f"{len(request.users)} users {verb}", results


# One handler per action of the contract (tests/test_commands.py checks none is missing).
HANDLERS: Mapping[CommandAction, Callable[[CommandHandler, dict[str, Any]], Awaitable[Outcome]]] = MappingProxyType(
    {
        CommandAction.SYNC_CLOCK: CommandHandler._sync_clock,
        CommandAction.REREAD_DEVICE: CommandHandler._reread_device,
        CommandAction.WRITE_USER: CommandHandler._write_user,
        CommandAction.RELOAD_CONFIG: CommandHandler._reload,
        CommandAction.UPGRADE: CommandHandler._upgrade,
        CommandAction.SYNC_USERS: CommandHandler._sync_users,
        CommandAction.APPLY_CONFIG: CommandHandler._apply,
        CommandAction.REBOOT_DEVICE: CommandHandler._reboot_device,
        CommandAction.CLEAR_LOG: CommandHandler._clear_log,
    }
)


def _one_device(args: dict[str, Any]) -> str:
    """A reboot or a clear names its device: never every device of the gateway by omission."""
    device = args.get("device")
    if not isinstance(device, str) or not device:
        raise CommandError(f"args.device: this action needs the name of one device, got {device!r}")
    return device


def _user_from(args: dict[str, Any]) -> DeviceUser:
    pin, name, card = args.get("pin"), args.get("name"), args.get("card", 0)
    if not isinstance(pin, str) or not pin.isdigit() or len(pin) > 9:
        raise CommandError(f"args.pin: expected up to 9 digits as a string, got {pin!r}")
    if not isinstance(name, str) or len(name) > 24:
        raise CommandError(f"args.name: expected a name of at most 24 characters, got {name!r}")
    if not isinstance(card, int) or isinstance(card, bool) or not 0 <= card < 2**32:
        raise CommandError(f"args.card: expected a card number 0..4294967295, got {card!r}")
    return DeviceUser(pin=pin, name=name, card=card)


def _reupload_window(args: dict[str, Any]) -> tuple[datetime, datetime] | None:
    """Optional args.start / args.end, ISO dates or date-times in device time: the range a push device is
    asked to upload again (a polled device reads its whole log anyway). A date alone means the whole day."""
    if "start" not in args and "end" not in args:
        return None
    bounds: list[datetime] = []
    for key, day_time in (("start", time.min), ("end", time(23, 59, 59))):
        value = args.get(key)
        try:
            moment = datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is not None:
            raise CommandError(f"args.{key}: expected an ISO date or date-time without a zone, got {value!r}")
        bounds.append(datetime.combine(moment.date(), day_time) if len(value) == 10 else moment)  # type: ignore[arg-type]
    if bounds[1] < bounds[0]:
        raise CommandError(f"args.end ({args['end']}) is before args.start ({args['start']})")
    return bounds[0], bounds[1]
