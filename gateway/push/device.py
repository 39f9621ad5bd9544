"""One coordinator per push device: the same face to the command channel and telemetry as a polled
device, but the device calls us. Its punches arrive through the push server; commands wait in a
per-device queue until the device polls for them, and their results come back on /iclock/devicecmd.

Commands live in memory: a command's requester waits for its result, so after a gateway restart there
is nobody left to answer and the centre sends it again.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import tomllib
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

from gateway.config import DeviceConfig
from gateway.device_interface import Capability, ClearRefused, DeviceHealth, clock_may_not_be_set, device_zone
from gateway.devices.base import DeviceError, DeviceTemplate, DeviceUser
from gateway.profiles import DeviceProfile, ProfileError
from gateway.push import protocol, templates
from gateway.queue import PunchQueue
from gateway.tomltable import TomlTable

log = logging.getLogger(__name__)

DEFAULT_REUPLOAD_DAYS = 31
BATTERY_RESET_BEFORE = datetime(2001, 1, 1)  # ZK clocks restart at 2000-01-01 when the battery is flat
PUSH_KEYS = frozenset(
    {"options", "delay_s", "error_delay_s", "trans_interval_min", "trans_times", "realtime", "user_command"}
    | {"rtlog_punch_events", "template_command"}
)
# Command ids only need to be unique per device over the life of the commands; starting from the clock
# keeps a restarted gateway from reusing the ids of commands a device may still report on.
_command_ids = itertools.count(int(time.time()) % 1_000_000_000)


def load_push_options(profile: DeviceProfile) -> protocol.PushOptions:
    """The `[push]` table of a push model's profile (the profile loader keeps only what all models share)."""
    if not profile.source:
        return protocol.PushOptions()
    with open(profile.source, "rb") as handle:
        raw = tomllib.load(handle)
    table = TomlTable(raw, profile.source, ProfileError).sub("push")
    for key in table.table:
        if key not in PUSH_KEYS:
            raise table.fail(key, f"unknown key; expected one of {sorted(PUSH_KEYS)}")
    return protocol.PushOptions(
        options=table.choice("options", ("current", "legacy"), "current"),
        delay_s=table.get("delay_s", int, 10, minimum=1, maximum=3600),
        error_delay_s=table.get("error_delay_s", int, 30, minimum=1, maximum=3600),
        trans_interval_min=table.get("trans_interval_min", int, 1, minimum=1, maximum=1440),
        trans_times=table.get("trans_times", str, "00:00;14:05"),
        realtime=table.get("realtime", bool, True),
        user_command=table.choice("user_command", ("USERINFO", "USER"), "USERINFO"),
        template_command=table.choice(
            "template_command",
            ("BIODATA", "FINGERTMP", "FP"),
            "FP" if table.table.get("options") == "legacy" else "FINGERTMP",
        ),
        rtlog_punch_events=_event_codes(table),
    )


def _event_codes(table: TomlTable) -> tuple[int, ...]:
    codes = table.get("rtlog_punch_events", list, list(protocol.DEFAULT_RTLOG_PUNCH_EVENTS))
    valid = all(isinstance(code, int) and not isinstance(code, bool) and 0 <= code <= 255 for code in codes)
    if not codes or not valid:
        raise table.fail("rtlog_punch_events", f"expected a list of event codes 0..255, got {codes!r}")
    return tuple(codes)


@dataclass
class _PendingCommand:
    command_id: int
    render: Callable[[], str]  # rendered when delivered: a clock command carries the time of delivery
    result: asyncio.Future[protocol.CommandResult]
    text: str = ""
    delivered_at: float | None = None
    punches_before: int = 0


@dataclass
class PushTraffic:
    """Counters for telemetry and tests."""

    uploads: int = 0
    records: int = 0
    new_punches: int = 0
    commands_delivered: int = 0
    commands_done: int = 0
    last_upload_stamp: int | None = None
    user_count: int | None = None
    firmware: str | None = None
    operlog: dict[str, int] = field(default_factory=dict)
    templates_uploaded: int = 0  # counts only: template bytes never go into telemetry


class PushDeviceCoordinator:
    """A gateway.device_interface.Coordinator, as a polled device's DeviceCoordinator is: the command channel
    and telemetry treat both alike. Re-reading the log means asking the device to upload it again."""

    def __init__(
        self,
        config: DeviceConfig,
        queue: PunchQueue,
        zone: timezone,
        on_new_punches: Callable[[], None] = lambda: None,
        command_timeout_s: float = 120.0,
    ) -> None:
        self.config = config
        self.queue = queue
        self.zone = zone
        self.on_new_punches = on_new_punches
        self.options = load_push_options(config.profile)
        self.command_timeout_s = command_timeout_s
        self.traffic = PushTraffic()
        self.health = DeviceHealth(serial=config.serial_number, mode="push")
        self.last_contact_at: float | None = None
        self._waiting: deque[_PendingCommand] = deque()
        # Security PUSH firmware is told it is registered with this code; it is ours to invent.
        self.registry_code = f"{zlib.crc32(config.serial_number.encode()):010d}"  # the same after a restart
        self._delivered: dict[int, _PendingCommand] = {}
        # What the device is known to hold, from its uploads and our own writes (it cannot be read back):
        # the base a sync plans from. In memory: after a restart the first sync writes everyone again.
        self.known_users: dict[str, DeviceUser] = {}
        self.known_templates: dict[tuple[str, str, int], DeviceTemplate] = {}
        # Told of each template the device uploads (enrolment detection, gateway/enrolment.py).
        self.on_template: Callable[[DeviceTemplate], None] = lambda template: None

    @property
    def serial(self) -> str:
        return self.config.serial_number

    @property
    def device_zone(self) -> timezone:
        return device_zone(self.config, self.zone)

    @property
    def capabilities(self) -> frozenset[Capability]:
        clock = {Capability.SET_CLOCK} if self.config.profile.clock_may_set else set()
        return frozenset({Capability.WRITE_USER, Capability.REUPLOAD_RANGE, *clock})

    def note_restart(self, reason: str) -> None:
        """The gateway restarted this device's watch, which had ended: say so in health and telemetry."""
        self.health.restarts += 1
        self.health.count_anomaly("poller_restarted", reason)

    # -- what the device tells us (called by the push server) --------------------------------------

    def contact(self, info: dict[str, int | str] | None = None) -> None:
        self.last_contact_at = time.time()
        self.health.reachable = True
        self.health.last_poll_ok_at = self.last_contact_at
        self.health.consecutive_failures = 0
        self.health.last_error = None
        info = info or {}
        if isinstance(info.get("record_count"), int):
            self.health.record_count = info["record_count"]  # type: ignore[assignment]
        if isinstance(info.get("user_count"), int):
            self.traffic.user_count = info["user_count"]  # type: ignore[assignment]
        if isinstance(info.get("firmware"), str):
            self.traffic.firmware = info["firmware"]  # type: ignore[assignment]
        if self.health.record_capacity is None:
            self.health.record_capacity = self.config.profile.capacity

    def store_punches(self, records: list[protocol.AttlogRecord]) -> tuple[int, list[tuple[str, str]]]:
        """Commit the punches to the durable queue (the caller answers the device only after this returns).
        Returns how many were new, and the records held back as (line, reason): a time from a reset clock
        or from the future is never queued as if it were true."""
        now_local = datetime.now(UTC).astimezone(self.device_zone).replace(tzinfo=None)
        tolerance = timedelta(seconds=self.config.profile.future_tolerance_s)
        good: list[protocol.AttlogRecord] = []
        held: list[tuple[str, str]] = []
        for record in records:
            if record.local_time < BATTERY_RESET_BEFORE:
                reason = "stamped before 2001: the clock restarted (flat battery?)"
                held.append((protocol.format_attlog([record]), reason))
            elif record.local_time > now_local + tolerance:
                held.append((protocol.format_attlog([record]), f"stamped in the future (device time {now_local})"))
            else:
                good.append(record)
        wire = [self._wire_values(r) for r in good]
        added = self.queue.enqueue(self.serial, wire)
        self.traffic.uploads += 1
        self.traffic.records += len(records)
        self.traffic.new_punches += added
        if wire:
            newest = max(moment for _, moment, _, _ in wire)
            self.health.last_punch_at = max(newest, self.health.last_punch_at or newest)
        if added:
            log.info("push device %s (%s): %d new punches queued", self.config.name, self.serial, added)
            self.on_new_punches()
        return added, held

    def templates_uploaded(self, upload: templates.TemplateUpload) -> None:
        """Users and templates from an OPERLOG / BIODATA / USERINFO / FINGERTMP upload."""
        for user in upload.users:
            self.known_users[user.pin] = DeviceUser(user.pin, user.name, user.card)
        for uploaded in upload.templates:
            template = DeviceTemplate(
                uploaded.pin, uploaded.modality, uploaded.index, uploaded.data, self._format_key(uploaded),
                uploaded.valid,
            )  # fmt: skip
            slot = (template.pin, template.modality, template.index)
            known = self.known_templates.get(slot)
            self.known_templates[slot] = template
            self.traffic.templates_uploaded += 1
            if known is None or known.data != template.data:  # new to us: an enrolment, not our own write
                self.on_template(template)

    def _format_key(self, uploaded: templates.PushTemplate) -> str:
        """The TemplateFormat.key of an uploaded template: the profile's algorithm for its modality, at
        the major version the device reports (BIODATA MajorVer) or, without one, the profile's."""
        own = self.config.profile.biometrics.formats.get(uploaded.modality)
        name = own.format if own else "unknown"
        major = str(uploaded.major_version) if uploaded.major_version else (own.version.split(".")[0] if own else "")
        return f"{uploaded.modality}:{name}:{major}"

    async def sync_users(self, request: object) -> dict[str, object]:
        from gateway.push.sync import sync_push_device

        return await sync_push_device(self, request)  # type: ignore[arg-type]

    def take_commands(self, limit: int = 16) -> list[tuple[int, str]]:
        """Commands for the device's poll, oldest first; each is rendered now and awaits its result."""
        taken: list[tuple[int, str]] = []
        while self._waiting and len(taken) < limit:
            command = self._waiting.popleft()
            if command.result.done():  # its requester gave up before the device came
                continue
            command.text = command.render()
            command.delivered_at = time.time()
            command.punches_before = self.traffic.new_punches
            self._delivered[command.command_id] = command
            taken.append((command.command_id, command.text))
        self.traffic.commands_delivered += len(taken)
        return taken

    def finish_command(self, result: protocol.CommandResult) -> bool:
        """A result from /iclock/devicecmd; False when no delivered command of this device has its id."""
        command = self._delivered.pop(result.command_id, None)
        if command is None:
            return False
        self.traffic.commands_done += 1
        if not command.result.done():
            command.result.set_result(result)
        return True

    # -- the command channel (same methods as a polled device's coordinator) ------------------------

    async def sync_clock(self) -> float | None:
        """Set the device clock to the gateway's, in the device's zone, when the device next polls.
        A push device never reports its clock, so the drift it had is unknown: None."""
        if Capability.SET_CLOCK not in self.capabilities:
            raise clock_may_not_be_set(self.config)

        def now_on_device() -> str:
            local = datetime.now(UTC).astimezone(self.device_zone).replace(tzinfo=None, microsecond=0)
            return protocol.set_clock_command(local)

        await self._run(now_on_device)
        self.health.clock_set_at = time.time()
        self.health.clock_drift_s = None
        log.info("push device %s: clock set", self.config.name)
        return None

    async def write_user(self, user: DeviceUser) -> None:
        text = protocol.user_command(user.pin, user.name, user.card, self.options.user_command)
        await self._run(lambda: text)

    async def reread(self, window: tuple[datetime, datetime] | None = None) -> int:
        """Ask the device to upload `window` (device-local times) again, or its recent log."""
        return await (self.reupload(*window) if window is not None else self.poll_once())

    async def poll_once(self) -> int:
        """Re-read the log: ask the device to upload the last DEFAULT_REUPLOAD_DAYS days again."""
        end = datetime.now(UTC).astimezone(self.device_zone).replace(tzinfo=None, microsecond=0)
        return await self.reupload(end - timedelta(days=DEFAULT_REUPLOAD_DAYS), end)

    async def reupload(self, start: datetime, end: datetime) -> int:
        """Ask the device to upload every punch between two device-local times again; returns how many of
        them were new to the queue (the rest it had, and dedup kept them out)."""
        if end < start:
            raise DeviceError(f"device {self.config.name}: re-upload range ends before it starts")
        command, result = await self._run(lambda: protocol.query_attlog_command(start, end))
        return self.traffic.new_punches - command.punches_before if result.ok else 0

    async def reboot(self) -> None:
        """REBOOT, delivered when the device next polls; it answers, then restarts and polls again later."""
        await self._run(lambda: protocol.REBOOT_COMMAND)
        log.info("push device %s (%s): restarting on the centre's command", self.config.name, self.serial)

    async def clear_log(self) -> int:
        """CLEAR LOG, only once the server acknowledged every punch of the device's log: the device is
        first asked to upload its whole log again, and nothing of it may wait in the queue. A push device
        cannot be disabled, so a punch made between that upload and the clear (seconds, on realtime
        firmware it is uploaded at once) is the one risk left."""
        end = datetime.now(UTC).astimezone(self.device_zone).replace(tzinfo=None, microsecond=0)
        added = await self.reupload(BATTERY_RESET_BEFORE, end + timedelta(days=1))
        waiting = self.queue.queued_for(self.serial)
        if added or waiting:
            raise ClearRefused(
                f"device {self.config.name}: {waiting} punches read from the log are not yet acknowledged by"
                " the server; the log is cleared only once all of them are (try again after they are sent)"
            )
        records = self.health.record_count or 0
        await self._run(lambda: protocol.CLEAR_LOG_COMMAND)
        self.health.log_cleared_at = time.time()
        self.health.record_count = 0
        log.info("push device %s (%s): log cleared on the centre's command", self.config.name, self.serial)
        return records

    def _wire_values(self, record: protocol.AttlogRecord) -> tuple[str, datetime, int, int]:
        """Device wall time in the device's zone, shown in the office zone; the model's raw state mapped."""
        moment = record.local_time.replace(tzinfo=self.device_zone).astimezone(self.zone)
        state = self.config.profile.canonical_state(record.status)
        return record.pin, moment, record.status if state is None else state, record.verify

    def _failed(self, exc: BaseException) -> None:
        self.health.reachable = False
        self.health.last_error = str(exc) or type(exc).__name__
        self.health.consecutive_failures += 1

    def close(self) -> None:
        """Nothing held open: the device calls us."""

    async def run(self) -> None:
        """Nothing to poll: watch that the device keeps calling, and say so in its health when it stops."""
        silent_after = max(60.0, 3 * self.options.delay_s + self.options.error_delay_s)
        while True:
            await asyncio.sleep(min(silent_after / 3, 30))
            if self.last_contact_at is not None and time.time() - self.last_contact_at > silent_after:
                if self.health.reachable:
                    log.warning("push device %s (%s) has not called for %.0f s", self.config.name, self.serial,
                                time.time() - self.last_contact_at)  # fmt: skip
                self.health.reachable = False
                self.health.last_error = f"no request from the device for {time.time() - self.last_contact_at:.0f} s"

    async def _run(self, render: Callable[[], str]) -> tuple[_PendingCommand, protocol.CommandResult]:
        loop = asyncio.get_running_loop()
        command = _PendingCommand(next(_command_ids), render, loop.create_future())
        self._waiting.append(command)
        try:
            result = await asyncio.wait_for(asyncio.shield(command.result), self.command_timeout_s)
        except TimeoutError:
            command.result.cancel()
            delivered = self._delivered.pop(command.command_id, None) is not None
            with_what = "reported no result for" if delivered else "did not poll for"
            error = f"device {self.config.name} ({self.serial}) {with_what} command {command.command_id} " \
                    f"within {self.command_timeout_s:.0f} s"  # fmt: skip
            self._failed(DeviceError(error))
            raise DeviceError(error) from None
        finally:  # also when the requester is cancelled: nothing of the command stays behind
            if not command.result.done():
                command.result.cancel()
            if command in self._waiting:
                self._waiting.remove(command)
            self._delivered.pop(command.command_id, None)
        if not result.ok:
            raise DeviceError(
                f"device {self.config.name} ({self.serial}): {templates.command_verb(command.text)!r} failed, "
                f"return code {result.return_code}"
            )
        return command, result
