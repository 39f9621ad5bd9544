"""One coordinator per device: it owns that device's reads, live events, clock and health.

Drivers block (pyzk, pyserial), so every call to a device runs on a worker thread of that device's
own: a device that hangs mid-read is abandoned (its thread left to die on its socket timeout, a fresh
thread and driver take over) and retried later, and it never stalls the event loop or, through a
shared thread pool, the other devices. One session at a time per device: ZK firmware copes badly
with two.

Where the profile says live events work, the coordinator holds one connection open, reconciles the
whole log on connecting and every `reconcile_interval_s`, and in between queues each punch as the
device announces it. Otherwise it reads the whole log every `poll_interval_s`. Serial terminals push
lines and keep no log, so their port is always held open the same way.

Some firmware stops sending live events on a connection without a word, the connection otherwise
healthy. So after every `liveness_s` without an event the coordinator asks the device for its record
count: when the log grew by more than the events heard, the stream has gone silent, and the
coordinator reconnects and re-reads the whole log at once to fill the gap.

Every punch is checked before it is queued: a timestamp in year 2000 (the clock restarted after a
flat battery), in the future, or before the gateway last set the clock (for punches stored after
that) is held in the DeviceStore for a person, never queued with a time that may be invented. The
queue's `seen` table keeps a punch from being queued twice, whatever the device returns.

What a poll costs: the device's identity, clock and record count first; an unchanged count (from a
device whose counts can be believed) ends the poll there, without downloading the log. A log read
whole is absorbed from where the last read ended (logs only grow until cleared). Queue and store work
runs on a writer thread of the coordinator's own, never on the event loop.

The poll loop cannot die quietly: any exception is logged once per outage (and once on recovery, as
Home Assistant's DataUpdateCoordinator does), counted in the device's health, and retried with a
jittered backoff; the gateway restarts a loop that ends anyway and reports it (gateway/service.py).
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

from gateway.config import DeviceConfig
from gateway.device_interface import Capability, ClearRefused, DeviceHealth, clock_may_not_be_set, device_zone
from gateway.devices.base import (
    DeviceDriver,
    DeviceError,
    DeviceInfo,
    DevicePunch,
    DeviceUser,
    DriverHooks,
    LiveEventsRefused,
)
from gateway.devices.store import ClockSet, DeviceStore
from gateway.queue import PunchQueue

log = logging.getLogger(__name__)

# How to reach a device; the hooks are the coordinator's, handed to the driver it makes.
DriverFactory = Callable[[DeviceConfig, DriverHooks], DeviceDriver]
T = TypeVar("T")

BATTERY_RESET_BEFORE = datetime(2001, 1, 1)  # ZK clocks restart at 2000-01-01 when the battery is flat
CLOCK_SET_SLACK = timedelta(seconds=2)  # a punch in the second of the set is not suspect
# An unchanged record count spares the download; the log is still read whole at least this often.
FULL_READ_EVERY_S = 3600.0


@dataclass(frozen=True, slots=True)
class PollResult:
    info: DeviceInfo
    punches: list[DevicePunch] | None  # None: the count said the log is unchanged, it was not downloaded
    gateway_time: datetime
    clock_drift_s: float = 0.0
    clock_set: ClockSet | None = None
    read_at: float = 0.0  # monotonic time of the download, when there was one


class LiveStreamSilent(Exception):
    """The device stored punches it never announced on this connection's live-event stream."""


def suspect_reason(
    local_time: datetime,
    *,
    now_local: datetime,
    future_tolerance_s: float,
    clock_set: ClockSet | None,
    stored_after_set: bool,
) -> str | None:
    """Why a punch's device time cannot be trusted, or None. All times are device wall times."""
    if local_time < BATTERY_RESET_BEFORE:
        return f"stamped {local_time:%Y-%m-%d %H:%M:%S}: the clock restarted at 2000 (flat clock battery?)"
    if local_time > now_local + timedelta(seconds=future_tolerance_s):
        return f"stamped {local_time:%Y-%m-%d %H:%M:%S}, in the future (gateway clock {now_local:%Y-%m-%d %H:%M:%S})"
    # A clock only runs forward: stored after the set, a punch stamped before it means the clock went
    # back again. The punches already in the log mark how far back a clock cannot go.
    went_back = (
        clock_set is not None
        and stored_after_set
        and local_time < clock_set.set_to - CLOCK_SET_SLACK
        and (clock_set.newest_before is None or local_time < clock_set.newest_before)
    )
    if went_back:
        assert clock_set is not None
        return (
            f"stamped {local_time:%Y-%m-%d %H:%M:%S}, before the clock was set to "
            f"{clock_set.set_to:%Y-%m-%d %H:%M:%S} and before punches stored ahead of it, yet stored after"
        )
    return None


class DeviceCoordinator:
    def __init__(
        self,
        config: DeviceConfig,
        queue: PunchQueue,
        zone: timezone,
        driver_factory: DriverFactory | None = None,
        on_new_punches: Callable[[], None] = lambda: None,
        *,
        store: DeviceStore | None = None,
        reconcile_interval_s: float | None = None,
        liveness_s: float | None = None,
    ) -> None:
        self.config = config
        self.queue = queue
        self.zone = zone
        self.driver_factory = driver_factory or self._profile_driver
        self.on_new_punches = on_new_punches
        self.store = store or DeviceStore(queue.path.parent / "devices.sqlite3")
        self.reconcile_interval_s = reconcile_interval_s or config.poll_interval_s * 5
        # How long a live stream may stay quiet before the device's record count is checked against it.
        self.liveness_s = min(liveness_s or 60.0, self.reconcile_interval_s)
        self._live_events_refused = False
        self.health = DeviceHealth(mode="live" if self.streaming else "polling")
        self._busy = asyncio.Lock()
        self._executor = self._new_executor()
        self._driver: DeviceDriver | None = None
        self._sessions_waiting = 0  # a live stream hands the device over when this is non-zero
        self._last_reconcile_at = float("-inf")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        # The queue and the store as the writer thread uses them: its own SQLite connections, so that
        # committing 100,000 punches never blocks the event loop (created on that thread, on first use).
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"queue-{config.name}")
        self._writer_queue: PunchQueue | None = None
        self._writer_store: DeviceStore | None = None
        self._read_count: int | None = None  # the record count when the log was last read whole
        self._full_read_at = float("-inf")
        self._absorbed: tuple[str, int, DevicePunch | None] = ("", 0, None)  # serial, records absorbed, last one
        self._outage_since: float | None = None  # the first failure of the current outage (monotonic)
        self._last_log: set[DevicePunch] = set()  # the log as last read, kept only where clearing is allowed
        # The serial the live stream's reconciliation read, set on the device thread before any live punch of
        # that connection is handed to the writer: health.serial is set later, on the loop, and a punch made in
        # between would otherwise be queued under the device's name.
        self._live_serial: str | None = None

    @property
    def streaming(self) -> bool:
        """Hold a connection open for events: the profile says live events work (and the device has not
        refused them), or a serial line pushes."""
        if self.config.protocol == "serial":
            return True
        return self.config.profile.live_events and not self._live_events_refused

    @property
    def device_zone(self) -> timezone:
        return device_zone(self.config, self.zone)

    @property
    def capabilities(self) -> frozenset[Capability]:
        clock = {Capability.SET_CLOCK} if self.config.profile.clock_may_set else set()
        return frozenset({Capability.WRITE_USER, Capability.READ_LOG_WHOLE, *clock})

    # --- one-off sessions ------------------------------------------------------------------------

    async def session(self, work: Callable[[DeviceDriver], T], deadline_s: float | None = None) -> T:
        """Connect, run `work` on the device's thread, close; one session per device at a time.
        The default deadline covers a full buffered read on a slow link; past it the thread is abandoned."""
        deadline = deadline_s or self.config.timeout_s * 6
        self._sessions_waiting += 1  # a live stream sees this and hands the device over
        try:
            await self._busy.acquire()
        finally:
            self._sessions_waiting -= 1
        try:
            return await self._on_device_thread(_connected(work), deadline)
        finally:
            self._busy.release()

    async def poll_once(self, *, whole: bool = False) -> int:
        """Queue what is new in the device's log; returns the number of new punches. The log is
        downloaded only when the record count changed (or cannot be believed), unless `whole`."""

        def unchanged(info: DeviceInfo) -> bool:
            fresh = time.monotonic() - self._full_read_at < FULL_READ_EVERY_S
            return not whole and fresh and info.counts_reliable and info.record_count == self._read_count

        result = await self.session(lambda driver: self._read_everything(driver, unchanged))
        added = await self._absorb(result)
        if result.punches is not None and self.config.profile.clear_log:
            self._last_log = {*result.punches}  # what a clear may remove, once all of it is acked
        if self._may_clear_log(result, added):
            await self.clear_log_if_acked(self._last_log)
        return added

    async def sync_clock(self) -> float:
        """Set the device clock to the gateway's, in the device's zone. Returns the drift corrected (s)."""
        if Capability.SET_CLOCK not in self.capabilities:
            raise clock_may_not_be_set(self.config)

        def set_clock(driver: DeviceDriver) -> tuple[float, ClockSet]:
            before = driver.read_info().device_time.replace(tzinfo=self.device_zone)
            punches = driver.read_punches()
            now = datetime.now(UTC)
            set_to = now.astimezone(self.device_zone).replace(tzinfo=None, microsecond=0)
            driver.set_time(set_to)
            return (before - now).total_seconds(), ClockSet(set_to, len(punches), _newest(punches, set_to))

        drift, clock_set = await self.session(set_clock)
        await self._in_writer(self._clock_was_set, clock_set)
        log.info("device %s: clock set, it was %+.0f s off", self.config.name, drift)
        return drift

    async def write_user(self, user: DeviceUser) -> None:
        await self.session(lambda driver: driver.write_user(user))

    async def reread(self, window: tuple[datetime, datetime] | None = None) -> int:
        """Download the whole log now, whatever the record count says (`window` is for push devices:
        a polled device reads its whole log anyway)."""
        return await self.poll_once(whole=True)

    async def reboot(self) -> None:
        """Restart the device (ZK: CMD_RESTART). The poller finds it unreachable while it boots and
        reconnects by itself, as after any outage."""
        restart = getattr(self._device_driver(), "restart", None)
        if restart is None:
            raise DeviceError(f"device {self.config.name}: protocol {self.config.protocol} cannot restart the device")
        await self.session(lambda driver: driver.restart())  # type: ignore[attr-defined]
        self._read_count = None
        log.info("device %s: restarted on the centre's command", self.config.name)

    async def clear_log(self) -> int:
        """The centre's clear: read the whole log and queue what is new, then clear it through
        clear_log_if_acked: only when nothing of this device waits in the queue (the server acknowledged
        every punch read from the log) and the log, re-read with the terminal disabled, holds nothing else."""
        if getattr(self._device_driver(), "clear_log_if", None) is None:
            raise DeviceError(f"device {self.config.name}: protocol {self.config.protocol} cannot clear the log")
        result = await self.session(lambda driver: self._read_everything(driver))
        added = await self._absorb(result)
        punches = set(result.punches or ())
        waiting = await self._in_writer(self._ledger_queue().queued_for, result.info.serial)
        if added or waiting:
            raise ClearRefused(
                f"device {self.config.name}: {waiting} punches read from the log are not yet acknowledged by"
                " the server; the log is cleared only once all of them are (try again after they are sent)"
            )
        if not await self.clear_log_if_acked(punches):
            raise ClearRefused(
                f"device {self.config.name}: punches arrived in the log while it was checked; not cleared (try again)"
            )
        return len(punches)

    async def clear_log_if_acked(self, acked: set[DevicePunch]) -> bool:
        """Clear the device log if it holds nothing but `acked` (re-checked with the device disabled)."""
        clear = getattr(self._device_driver(), "clear_log_if", None)
        if clear is None:
            return False

        def clear_if_all_acked(driver: DeviceDriver) -> bool:
            return bool(driver.clear_log_if(lambda now: set(now) <= acked))  # type: ignore[attr-defined]

        cleared = await self.session(clear_if_all_acked)
        if cleared:
            self.health.log_cleared_at = time.time()
            self._read_count, self._absorbed, self._last_log = None, ("", 0, None), set()

            def restart_clock_set() -> None:
                store = self._ledger_store()
                last_set = store.last_clock_set(self.config.name)
                if last_set is not None:  # every record from now on is stored after that set
                    store.record_clock_set(self.config.name, ClockSet(last_set.set_to, 0, last_set.newest_before))

            await self._in_writer(restart_clock_set)
            log.info("device %s: log of %d acknowledged punches cleared", self.config.name, len(acked))
        return cleared

    # --- running -----------------------------------------------------------------------------------

    async def run(self) -> None:
        """Stream or poll forever. Whatever fails is logged once per outage, counted in the health and
        retried after a jittered exponential backoff of at most eight poll intervals."""
        while True:
            try:
                if self.streaming:
                    await self.stream()
                    delay = 0.0  # a session asked for the device: queue up behind it
                else:
                    await self.poll_once()
                    delay = self.config.poll_interval_s
                self._recovered()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the loop must outlive any fault, and say so
                delay = self._outage(exc)
            await asyncio.sleep(delay)

    def _outage(self, exc: Exception) -> float:
        """Book one failure: counted, logged at the first of an outage only; returns the backoff."""
        if not isinstance(exc, DeviceError):  # a fault of ours or of the disk, not of the device
            self._failed(exc)
            self.health.count_anomaly("poller_crashed", f"{type(exc).__name__}: {exc}")
        delay = min(self.config.poll_interval_s * 8, 2 ** min(self.health.consecutive_failures, 8))
        delay *= random.uniform(0.5, 1.0)  # jitter: devices that failed together do not retry together
        if self._outage_since is None:
            self._outage_since = time.monotonic()
            if isinstance(exc, DeviceError):
                log.warning("%s; retrying in %.1f s (further failures logged at debug level)", exc, delay)
            else:
                log.exception(
                    "device %s: poll failed unexpectedly; retrying in %.1f s (further failures logged at debug level)",
                    self.config.name,
                    delay,
                )
        else:
            log.debug("device %s still failing: %s", self.config.name, exc)
        return delay

    def _recovered(self) -> None:
        if self._outage_since is not None:
            log.info(
                "device %s: recovered after %.0f s of failures", self.config.name, time.monotonic() - self._outage_since
            )
            self._outage_since = None

    def note_restart(self, reason: str) -> None:
        """The gateway restarted this device's loop, which had ended: say so in health and telemetry."""
        self.health.restarts += 1
        self.health.count_anomaly("poller_restarted", reason)

    async def stream(self) -> None:
        """Hold the device: reconcile when due, queue live punches in between. Returns when a session
        wants the device; raises DeviceError when the device fails or stops answering."""
        live = _LiveHold(self)
        async with self._busy:
            self.health.mode = "live"
            future = asyncio.ensure_future(self._run_on_device_thread(_connected(live.hold)))
            try:
                await self._watch_for_stalls(future, live)
            finally:
                live.stop.set()
                if not future.done():  # cancelled: the thread ends at its next tick; nobody awaits it now
                    future.add_done_callback(_retrieve_quietly)
            self._stream_ended(future)

    async def _watch_for_stalls(self, future: asyncio.Future[None], live: _LiveHold) -> None:
        """Wait for the hold to end; abandon it when its thread stops beating (a device hung mid-read)."""
        stall_limit = self.config.timeout_s * 6
        while not (await asyncio.wait({future}, timeout=min(1.0, stall_limit)))[0]:
            if time.monotonic() - live.heartbeat > stall_limit:
                self._abandon()
                error = DeviceError(
                    f"device {self.config.name}: no answer for {stall_limit:.0f} s; connection abandoned"
                )
                self._failed(error)
                raise error

    def _stream_ended(self, future: asyncio.Future[None]) -> None:
        try:
            future.result()
        except LiveStreamSilent as exc:
            self.health.silent_streams += 1
            self._last_reconcile_at = float("-inf")  # the next connection re-reads the log first
            log.warning("device %s: live events stopped silently (%s); reconnecting", self.config.name, exc)
        except LiveEventsRefused as exc:
            # The profile promised live events this firmware lacks: poll it, and say so once.
            self._live_events_refused = True
            self.health.mode = "polling"
            log.warning(
                "device %s: %s although profile %s says it has them; polling every %.0f s instead",
                self.config.name,
                exc,
                self.config.profile.name,
                self.config.poll_interval_s,
            )
        except (DeviceError, OSError) as exc:
            self._failed(exc)
            raise DeviceError(f"device {self.config.name}: {exc or type(exc).__name__}") from exc

    def close(self) -> None:
        """Stop the device thread (an abandoned one dies on its socket timeout), finish the writes under
        way on the writer thread, and close the stores."""
        self._closed = True
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._writer.submit(self._close_ledger)
        self._writer.shutdown(wait=True)
        self.store.close()

    def _close_ledger(self) -> None:
        for db in (self._writer_queue, self._writer_store):
            if db is not None:
                db.close()
        self._writer_queue = self._writer_store = None

    def _hand_to_loop(self, callback: Callable[..., object], *args: object) -> None:
        """From the device thread: run `callback` on the event loop, unless the coordinator closed."""
        loop = self._loop
        if loop is not None and not self._closed:
            loop.call_soon_threadsafe(self._unless_closed, callback, *args)

    def _unless_closed(self, callback: Callable[..., object], *args: object) -> None:
        """Run what a device thread handed to the loop, unless the coordinator closed meanwhile (its store is
        gone). A ZK punch skipped here is still in the device's log for the next reconciliation; a serial
        line read in that last instant is lost as it would be on a power cut."""
        if not self._closed:
            callback(*args)

    def _write_soon(self, work: Callable[..., object], *args: object) -> None:
        """From any thread: run `work` on the writer thread, in order; a failure there is logged and the
        next reconciliation (the device log still holds the punch) makes up for it."""
        if self._closed:
            return
        try:
            future = self._writer.submit(work, *args)
        except RuntimeError:  # shut down meanwhile
            return
        future.add_done_callback(self._write_done)

    def _write_done(self, future: Any) -> None:
        if not future.cancelled() and future.exception() is not None:
            self._background_failed(future.exception(), "a live punch was not stored")

    def _background_failed(self, error: BaseException, what: str) -> None:
        """A write that failed away from the poll loop (a live punch, a reconciliation): counted and
        logged like a failed poll, once per outage; the next reconciliation downloads the whole log
        (which still holds every punch) instead of trusting an unchanged count."""
        self._full_read_at, self._read_count = float("-inf"), None
        try:
            on_loop = asyncio.get_running_loop() is self._loop
        except RuntimeError:  # a worker thread
            on_loop = False
        if on_loop:
            self._background_failed_on_loop(error, what)
        else:
            self._hand_to_loop(self._background_failed_on_loop, error, what)

    def _background_failed_on_loop(self, error: BaseException, what: str) -> None:
        self._failed(error)
        self.health.count_anomaly("poller_crashed", f"{what}: {type(error).__name__}: {error}")
        if self._outage_since is None:
            self._outage_since = time.monotonic()
            log.error("device %s: %s: %s (further failures logged at debug level)", self.config.name, what, error)
        else:
            log.debug("device %s still failing: %s: %s", self.config.name, what, error)

    async def _in_writer(self, work: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._writer, work, *args)

    def _ledger_queue(self) -> PunchQueue:
        """The writer thread's own connection to the punch queue (call on the writer thread only)."""
        if self._writer_queue is None:
            self._writer_queue = PunchQueue(self.queue.path)
        return self._writer_queue

    def _ledger_store(self) -> DeviceStore:
        """The writer thread's own connection to the device store (call on the writer thread only)."""
        if self._writer_store is None:
            self._writer_store = DeviceStore(self.store.path)
        return self._writer_store

    # --- on the device thread -------------------------------------------------------------------

    def _read_everything(
        self, driver: DeviceDriver, unchanged: Callable[[DeviceInfo], bool] = lambda info: False
    ) -> PollResult:
        """Identity, clock and count; then the whole log unless `unchanged(info)` says the count shows
        nothing new. The clock is set right away when the profile allows it."""
        info = driver.read_info()
        gateway_time = datetime.now(UTC)
        punches = None if unchanged(info) else driver.read_punches()
        device_clock = info.device_time.replace(tzinfo=self.device_zone)
        drift = (device_clock - gateway_time).total_seconds()
        clock_set = None
        profile = self.config.profile
        if abs(drift) > profile.max_drift_s and profile.clock_may_set and self.config.protocol != "serial":
            set_to = datetime.now(UTC).astimezone(self.device_zone).replace(tzinfo=None, microsecond=0)
            driver.set_time(set_to)
            length = info.record_count if punches is None else len(punches)
            clock_set = ClockSet(set_to, length, _newest(punches or [], set_to))
            if punches is None and self._absorbed[2] is not None:
                clock_set = ClockSet(set_to, length, _newest([self._absorbed[2]], set_to))
        return PollResult(info, punches, gateway_time, drift, clock_set, time.monotonic())

    def _quarantine_from_thread(self, raw: bytes, reason: str) -> None:
        self._write_soon(self._quarantine, raw, reason)

    def _anomaly_from_thread(self, kind: str, detail: str) -> None:
        self.health.count_anomaly(kind, detail)

    # --- on the event loop and the writer thread ----------------------------------------------------

    async def _absorb(self, result: PollResult) -> int:
        """Book a read: health on the loop, clock, held suspects and new punches on the writer thread.
        Returns punches queued."""
        name = self.config.name
        profile = self.config.profile
        if result.clock_set is not None:
            log.warning(
                "device %s: clock was %+.0f s off (more than %.0f s); set to the gateway's",
                name,
                result.clock_drift_s,
                profile.max_drift_s,
            )
        elif abs(result.clock_drift_s) > profile.max_drift_s:
            log.warning("device %s: clock %+.0f s off; its profile forbids setting it", name, result.clock_drift_s)
        added = await self._in_writer(self._absorb_log, result)
        self.health.reachable = True
        self.health.serial = result.info.serial
        self.health.last_poll_ok_at = time.time()
        self.health.last_error = None
        self.health.consecutive_failures = 0
        self.health.clock_drift_s = 0.0 if result.clock_set is not None else result.clock_drift_s
        self.health.record_count = result.info.record_count
        self.health.record_capacity = result.info.record_capacity
        self.health.user_count = result.info.user_count
        self.health.user_count_read_at = result.gateway_time.timestamp()
        self._recovered()
        capacity = result.info.record_capacity or profile.capacity
        if result.info.record_count >= capacity:
            log.warning(
                "device %s: log full (%d of %d records): it stores no more punches",
                name,
                result.info.record_count,
                capacity,
            )
        if added:
            self.on_new_punches()
        return added

    def _absorb_log(self, result: PollResult) -> int:
        """On the writer thread: the clock set, the suspects held and the new punches queued. Only the
        records after those absorbed last time are looked at, when the log still begins with those."""
        if result.clock_set is not None:
            self._clock_was_set(result.clock_set)
        punches = result.punches
        if punches is None:
            return 0
        name = self.config.name
        store = self._ledger_store()
        clock_set = store.last_clock_set(name)
        if clock_set is not None and len(punches) < clock_set.log_length:
            # The log was cleared since (by us or at the device): all of it was stored after the set.
            clock_set = ClockSet(clock_set.set_to, 0, clock_set.newest_before)
            store.record_clock_set(name, clock_set)
        serial, absorbed, last = self._absorbed
        start = absorbed if serial == result.info.serial and 0 < absorbed <= len(punches) else 0
        if start and punches[start - 1] != last:
            start = 0  # not the log absorbed before (cleared and refilled): look at all of it
        now_local = result.gateway_time.astimezone(self.device_zone).replace(tzinfo=None)
        good: list[DevicePunch] = []
        held: list[tuple[str, datetime, int, int, str]] = []
        for position in range(start, len(punches)):
            punch = punches[position]
            reason = suspect_reason(
                punch.local_time,
                now_local=now_local,
                future_tolerance_s=self.config.profile.future_tolerance_s,
                clock_set=clock_set,
                stored_after_set=clock_set is not None and position >= clock_set.log_length,
            )
            if reason is None:
                good.append(punch)
            else:
                held.append((punch.pin, punch.local_time, punch.state, punch.verify, reason))
        self._hold(held)
        added = self._enqueue(result.info.serial, good)
        # Only now is the log's count known to be in the queue: a failed write reads it all again.
        self._absorbed = (result.info.serial, len(punches), punches[-1] if punches else None)
        self._read_count = result.info.record_count if result.info.counts_reliable else None
        self._full_read_at = result.read_at
        return added

    def _absorb_reconciled(self, result: PollResult) -> None:
        """On the loop, from a live stream's reconciliation."""
        task = asyncio.ensure_future(self._absorb(result))

        def done(task: asyncio.Future[int]) -> None:
            if task.cancelled():
                return
            error = task.exception()
            if error is not None:
                self._background_failed(error, "the reconciled log was not stored")
                return
            added = task.result()
            if added:
                log.info("device %s: reconciliation found %d punches live capture missed", self.config.name, added)
            if result.punches is not None and self.config.profile.clear_log:
                self._last_log = {*result.punches}
            if self._may_clear_log(result, added):
                clearing = asyncio.ensure_future(self.clear_log_if_acked(self._last_log))
                clearing.add_done_callback(_log_failure)

        task.add_done_callback(done)

    def _absorb_live(self, punch: DevicePunch) -> None:
        """On the writer thread. A reconciliation (which learns the serial) always precedes live capture
        on the same connection."""
        serial = self._live_serial or self.health.serial or self.config.serial_number or self.config.name
        now_local = datetime.now(self.device_zone).replace(tzinfo=None)
        reason = suspect_reason(
            punch.local_time,
            now_local=now_local,
            future_tolerance_s=self.config.profile.future_tolerance_s,
            clock_set=self._ledger_store().last_clock_set(self.config.name),
            stored_after_set=True,
        )
        if reason is not None:
            self._hold([(punch.pin, punch.local_time, punch.state, punch.verify, reason)])
        elif self._enqueue(serial, [punch]):
            self._hand_to_loop(self.on_new_punches)

    def _enqueue(self, serial: str, punches: list[DevicePunch]) -> int:
        """On the writer thread."""
        if not punches:
            return 0

        def wire_values() -> Iterator[tuple[str, datetime, int, int]]:
            # One at a time: 100,000 converted punches at once would double the gateway's peak memory.
            for punch in punches:
                values = self._wire_values(punch)
                if self.health.last_punch_at is None or values[1] > self.health.last_punch_at:
                    self.health.last_punch_at = values[1]
                yield values

        added = self._ledger_queue().enqueue(serial, wire_values())
        if added:
            log.info("device %s (%s): %d new punches queued", self.config.name, serial, added)
        return added

    def _hold(self, held: list[tuple[str, datetime, int, int, str]]) -> None:
        """On the writer thread."""
        if not held:
            return
        store = self._ledger_store()
        new = store.hold(self.config.name, held)
        self.health.held_punches = store.held_count(self.config.name)
        if new:
            log.warning("device %s: %d punches held for review: %s", self.config.name, new, held[0][4])

    def _quarantine(self, raw: bytes, reason: str) -> None:
        """On the writer thread. A device log is read whole every time; a serial line arrives once and
        is kept every time."""
        store = self._ledger_store()
        if store.quarantine(self.config.name, raw, reason, once=self.config.protocol != "serial"):
            self.health.quarantined = store.quarantined_count(self.config.name)

    def _clock_was_set(self, clock_set: ClockSet) -> None:
        """On the writer thread."""
        self._ledger_store().record_clock_set(self.config.name, clock_set)
        self.health.clock_set_at = time.time()
        self.health.clock_drift_s = 0.0

    def _may_clear_log(self, result: PollResult, added: int) -> bool:
        """Clearing is allowed by the profile, the log is nearly full, and every punch in it is acked:
        nothing new in this read and nothing left in the queue (acked punches leave it)."""
        profile = self.config.profile
        capacity = result.info.record_capacity or profile.capacity
        return (
            profile.clear_log
            and result.info.record_count >= profile.clear_at_fill * capacity
            and added == 0
            and self.queue.stats().queued == 0
        )

    def _wire_values(self, punch: DevicePunch) -> tuple[str, datetime, int, int]:
        """Device wall time in the device's zone, shown in the office zone; the model's raw state mapped."""
        moment = punch.local_time.replace(tzinfo=self.device_zone).astimezone(self.zone)
        state = self.config.profile.canonical_state(punch.state)
        return punch.pin, moment, punch.state if state is None else state, punch.verify

    def _failed(self, exc: BaseException) -> None:
        self.health.reachable = False
        self.health.last_error = str(exc) or type(exc).__name__
        self.health.consecutive_failures += 1

    # --- threads ------------------------------------------------------------------------------------

    def _profile_driver(self, config: DeviceConfig, hooks: DriverHooks) -> DeviceDriver:
        from gateway.devices.factory import driver_for

        return driver_for(config, self.zone, hooks)

    def _device_driver(self) -> DeviceDriver:
        if self._driver is None:
            hooks = DriverHooks(quarantine=self._quarantine_from_thread, report_anomaly=self._anomaly_from_thread)
            self._driver = self.driver_factory(self.config, hooks)
        return self._driver

    def _new_executor(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"device-{self.config.name}")

    async def _run_on_device_thread(self, work: Callable[[DeviceDriver], T]) -> T:
        loop = self._loop = asyncio.get_running_loop()
        driver = self._device_driver()
        return await loop.run_in_executor(self._executor, work, driver)

    async def _on_device_thread(self, work: Callable[[DeviceDriver], T], deadline_s: float) -> T:
        try:
            # asyncio.timeout, not wait_for: see wire/aio.py for why a loop must not use wait_for on 3.11.
            async with asyncio.timeout(deadline_s):
                return await self._run_on_device_thread(work)
        except TimeoutError:
            self._abandon()
            error = DeviceError(f"device {self.config.name}: no answer within {deadline_s:.0f} s; abandoned")
            self._failed(error)
            raise error from None
        except (DeviceError, OSError) as exc:
            self._failed(exc)
            raise DeviceError(f"device {self.config.name}: {exc or type(exc).__name__}") from exc

    def _abandon(self) -> None:
        """Leave a hung thread and its driver behind; the next session starts afresh."""
        log.warning("device %s: abandoning a hung session", self.config.name)
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._executor = self._new_executor()
        self._driver = None


class _LiveHold:
    """One live-event connection, run on the device's thread: its heartbeat (the event loop watches it),
    and the device's record count when last looked at with the punches heard since, which tell a
    silent stream from a quiet office."""

    def __init__(self, coordinator: DeviceCoordinator) -> None:
        self.coordinator = coordinator
        self.stop = threading.Event()
        self.heartbeat = time.monotonic()
        # A serial line keeps no log to count: its silence is just nobody punching.
        self.check_liveness = coordinator.config.protocol != "serial"
        self.stored: int | None = None  # the device's record count when last looked at
        self.heard = 0  # live punches since then

    def beat(self) -> bool:
        """Say the thread is alive; True when it should let go of the device."""
        self.heartbeat = time.monotonic()
        return self.stop.is_set() or self.coordinator._sessions_waiting > 0

    def hold(self, driver: DeviceDriver) -> None:
        coordinator = self.coordinator
        while not self.beat():
            if time.monotonic() - coordinator._last_reconcile_at >= coordinator.reconcile_interval_s:
                self._reconcile(driver)
            elif self.stored is None and self.check_liveness:
                self.stored, self.heard = _record_count(driver), 0
            next_reconcile = coordinator._last_reconcile_at + coordinator.reconcile_interval_s
            self._listen(driver, next_reconcile)
            if self.check_liveness and not self.beat() and time.monotonic() < next_reconcile:
                self._check_nothing_was_missed(driver)

    def _reconcile(self, driver: DeviceDriver) -> None:
        coordinator = self.coordinator
        result = coordinator._read_everything(driver, self._nothing_missed)
        coordinator._live_serial = result.info.serial
        coordinator._last_reconcile_at = time.monotonic()
        self.stored, self.heard = (result.info.record_count if result.info.counts_reliable else None), 0
        coordinator._hand_to_loop(coordinator._absorb_reconciled, result)

    def _nothing_missed(self, info: DeviceInfo) -> bool:
        # The log grew by exactly what the stream announced: reconciling needs no download.
        fresh = time.monotonic() - self.coordinator._full_read_at < FULL_READ_EVERY_S
        return (
            fresh and info.counts_reliable and self.stored is not None and info.record_count - self.stored == self.heard
        )

    def _listen(self, driver: DeviceDriver, next_reconcile: float) -> None:
        def due() -> bool:
            return self.beat() or time.monotonic() >= next_reconcile

        for punch in driver.live_punches(self.coordinator.liveness_s, stop_when=due):
            self.heartbeat = time.monotonic()
            self.heard += 1
            self.coordinator._write_soon(self.coordinator._absorb_live, punch)

    def _check_nothing_was_missed(self, driver: DeviceDriver) -> None:
        # Quiet for liveness_s: the device's own count says whether anyone punched meanwhile.
        # Copies count too (a duplicating device announces each copy), so a healthy stream
        # never hears fewer punches than the log gained; a clear only lowers the count. A
        # device whose counts cannot be believed is reconciled on schedule only.
        count = _record_count(driver)
        if self.stored is not None and count is not None and count - self.stored > self.heard:
            raise LiveStreamSilent(
                f"the log gained {count - self.stored} records but the live stream announced {self.heard}"
            )
        self.stored, self.heard = count, 0


def _record_count(driver: DeviceDriver) -> int | None:
    """One request where the driver offers it; None when the device's counts cannot be believed."""
    count = getattr(driver, "record_count", None)
    if count is not None:
        value = count()
        return None if value is None else int(value)
    info = driver.read_info()
    return info.record_count if info.counts_reliable else None


def _connected(work: Callable[[DeviceDriver], T]) -> Callable[[DeviceDriver], T]:
    def run(driver: DeviceDriver) -> T:
        driver.connect()
        try:
            return work(driver)
        finally:
            driver.close()

    return run


def _log_failure(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("clearing the device log failed: %s", task.exception())


def _retrieve_quietly(future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.debug("an abandoned device session ended: %s", future.exception())


def _newest(punches: list[DevicePunch], set_to: datetime) -> datetime | None:
    """The newest stamp in the log that the new clock setting confirms (not from 2000, not ahead of it)."""
    plausible = [p.local_time for p in punches if BATTERY_RESET_BEFORE <= p.local_time <= set_to]
    return max(plausible, default=None)
