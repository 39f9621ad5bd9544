"""The gateway process: device coordinators feed the durable queue, the relay drains it to MQTT,
telemetry says how it is doing, and commands from the centre are carried out and answered."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from gateway import centre_config
from gateway.commands import CommandError, CommandHandler
from gateway.config import ConfigError, GatewayConfig, load_gateway_config
from gateway.coordinator import DeviceCoordinator, DriverFactory
from gateway.device_interface import Coordinator
from gateway.devices.base import DeviceDriver, DeviceTemplate
from gateway.devices.factory import driver_for
from gateway.enrolment import BiometricOutbox, BiometricSender, EnrolmentWatcher
from gateway.faults import crash_point, is_armed
from gateway.push import push_frontend
from gateway.queue import PunchQueue
from gateway.relay import Relay
from gateway.systemd import keep_watchdog_fed, notify
from gateway.telemetry import certificate_expiry, publish_every, snapshot
from gateway.upgrade import request_upgrade, write_health_marker
from gateway.user_lists import UserLists, UserListWatcher
from wire import __version__
from wire.aio import wait_event
from wire.contract import (
    MAX_COMMAND_BYTES,
    CommandResult,
    ConfigOutcome,
    ConfigStatus,
    Telemetry,
    TopicKind,
    address_for,
    peek_id,
    topic_for,
)
from wire.mqtt import IncomingMessage

log = logging.getLogger(__name__)

# A command redelivered by the broker (QoS 1 after a reconnect) is answered again, not run again.
REMEMBERED_COMMANDS = 256
RESTART_PAUSE_S = 1.0  # before a device loop that ended is started again


class _CrashingDriver:
    """Test-only wrapper (see gateway.faults): dies with the device log read, or a live event received,
    but not yet handed back."""

    def __init__(self, driver: DeviceDriver) -> None:
        object.__setattr__(self, "_driver", driver)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._driver, name)

    def read_punches(self) -> Any:
        punches = self._driver.read_punches()
        crash_point("device.reading")
        return punches

    def live_punches(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        for punch in self._driver.live_punches(*args, **kwargs):
            crash_point("device.live_event")
            yield punch


class Gateway:
    def __init__(self, config: GatewayConfig, driver_factory: DriverFactory | None = None) -> None:
        """`driver_factory`: how to reach a device; by default the driver its profile names. The centre's
        configuration kept in the state directory, if any, is in force over the file's devices."""
        config = centre_config.with_saved(config)
        self.config = config
        self.started_at = time.monotonic()
        if is_armed("device.reading") or is_armed("device.live_event"):
            inner = driver_factory or (lambda device, hooks: driver_for(device, self.config.zone, hooks))
            driver_factory = lambda device, hooks: _CrashingDriver(inner(device, hooks))  # type: ignore[assignment,return-value]  # noqa: E731
        self.driver_factory = driver_factory
        self.queue = PunchQueue(config.queue_path)
        self.relay = Relay(config, self.queue)
        self.push = push_frontend(config, self.queue, self.relay.wake)  # None without push devices
        # Templates enrolled on devices, on their way to the centre (gateway/enrolment.py).
        self.biometrics = BiometricOutbox(config.state_dir / "biometrics.sqlite")
        self.biometric_sender = BiometricSender(
            self.biometrics, self.relay.mqtt, unit=config.unit, gateway_id=config.gateway_id, relay=config.relay
        )
        self.enrolment = EnrolmentWatcher(lambda: self.coordinators, self.biometrics, self.biometric_sender.wake)
        self.coordinators = self._coordinators_for(config)
        # The list each device was last told to hold: a device found short of it is refilled from it.
        self.user_lists = UserLists(config.state_dir / "user_lists")
        self.user_list_watcher = UserListWatcher(
            lambda: self.coordinators,
            self.user_lists,
            self.biometrics.remember,
            lambda result: self.relay.mqtt.send(self._command_results, result.to_json()),
        )
        self.commands = CommandHandler(
            lambda: self.coordinators,
            self.reload_config,
            lambda args: request_upgrade(self.config.state_dir, args),
            templates_written=self.biometrics.remember,
            apply_config=self.apply_centre_config,
            user_lists=self.user_lists,
        )
        self._command_results = address_for(config.unit, config.gateway_id, TopicKind.COMMAND_RESULTS)
        self._telemetry = address_for(config.unit, config.gateway_id, TopicKind.TELEMETRY)
        self._answered: OrderedDict[str, bytes | None] = OrderedDict()
        self._telemetry_now = asyncio.Event()
        self.relay.mqtt.subscribe(topic_for(config.unit, config.gateway_id, TopicKind.COMMANDS), self._on_command)
        self.relay.mqtt.on_connected(self._on_connected)
        self._tasks: list[asyncio.Task[None]] = []
        self._device_tasks: dict[int, asyncio.Task[None]] = {}  # by id() of the coordinator it runs
        self._command_tasks: set[asyncio.Task[None]] = set()
        self._reconfiguring = asyncio.Lock()  # a reload and a centre configuration, one at a time
        # Read once: the CA file is the technician's (or enrolment's), replaced only with a restart.
        self._tls_expires_at = certificate_expiry(config.mqtt.ca_file) if config.mqtt.tls else None

    def _coordinators_for(self, config: GatewayConfig) -> list[Coordinator]:
        polled: list[Coordinator] = [
            DeviceCoordinator(device, self.queue, config.zone, self.driver_factory, self.relay.wake)
            for device in config.devices
            if device.protocol != "push"
        ]
        return [*polled, *self._push_coordinators_for(config)]

    def _push_coordinators_for(self, config: GatewayConfig) -> list[Coordinator]:
        # Push devices answer commands and report health through the same interface as polled ones.
        pushed = self.push.coordinators_for(config) if self.push else []
        for device in pushed:  # a push device uploads its enrolments itself
            device.on_template = lambda template, serial=device.serial: self._enrolled(serial, template)
        return list(pushed)

    def _enrolled(self, serial: str, template: DeviceTemplate) -> None:
        if self.biometrics.offer(serial, template):
            self.biometric_sender.wake()

    async def start(self) -> None:
        await self.relay.start()
        self._tasks.append(asyncio.create_task(self.relay.run(), name="relay"))
        self._tasks.append(asyncio.create_task(self._telemetry_loop(), name="telemetry"))
        self._tasks.append(asyncio.create_task(self.biometric_sender.run(), name="biometric-uploads"))
        self._tasks.append(asyncio.create_task(self.enrolment.run(), name="enrolment-watch"))
        self._tasks.append(asyncio.create_task(self.user_list_watcher.run(), name="user-list-watch"))
        self._start_devices()
        if self.push:
            await self.push.start()
        log.info(
            "gateway %s (unit %s) started: %d devices, broker %s",
            self.config.gateway_id,
            self.config.unit,
            len(self.coordinators),
            self.config.mqtt.redacted(),
        )

    def _start_devices(self, coordinators: list[Coordinator] | None = None) -> None:
        for coordinator in self.coordinators if coordinators is None else coordinators:
            self._device_tasks[id(coordinator)] = asyncio.create_task(
                self._supervise(coordinator), name=f"device-{coordinator.config.name}"
            )

    async def _supervise(self, coordinator: Coordinator) -> None:
        """Keep a device's loop running: one that ends (it should not: it catches everything itself) is
        restarted after a pause, logged, and reported in the device's health and the telemetry."""
        while True:
            try:
                await coordinator.run()
                reason = "the device loop returned"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any end but cancellation is a fault to report
                reason = f"the device loop died: {type(exc).__name__}: {exc}"
            log.error("device %s: %s; restarting it", coordinator.config.name, reason)
            coordinator.note_restart(reason)
            self._telemetry_now.set()
            await asyncio.sleep(RESTART_PAUSE_S)

    async def _stop_devices(self, coordinators: list[Coordinator] | None = None) -> None:
        stopping = list(self.coordinators if coordinators is None else coordinators)
        await _cancel([task for c in stopping if (task := self._device_tasks.pop(id(c), None)) is not None])
        for coordinator in stopping:
            coordinator.close()

    async def stop(self) -> None:
        await self._stop_devices()
        await _cancel([*self._tasks, *self._command_tasks])
        self._tasks.clear()
        if self.push:
            await self.push.stop()
        await self.relay.close()
        self.queue.close()
        self.biometrics.close()

    def healthy(self) -> bool:
        """The relay loop turned recently: the process is working, not merely alive."""
        return asyncio.get_running_loop().time() - self.relay.last_turn_at < 10

    async def run_forever(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await self.start()
        notify("READY=1")
        # The upgrade service judges a new version by this marker (gateway/upgrade.py).
        write_health_marker(self.config.state_dir, version=__version__, uplink=self.relay.mqtt.is_connected)
        watchdog = asyncio.create_task(keep_watchdog_fed(self.healthy), name="watchdog")
        try:
            await stop.wait()
            log.info("stopping on a signal")
        finally:
            notify("STOPPING=1")
            watchdog.cancel()
            await self.stop()

    # --- configuration reload -----------------------------------------------------------------

    async def reload_config(self) -> str:
        """Read the config file again and put it in force (with the centre's kept configuration over it, if
        any). Identity, broker and state directory are fixed for the life of the process: changing them
        needs a restart."""
        if self.config.source is None:
            raise CommandError("this gateway was not started from a config file; nothing to reload")
        try:
            fresh = centre_config.with_saved(load_gateway_config(self.config.source))
        except ConfigError as exc:
            raise CommandError(f"config not reloaded, the running one stays: {exc}") from None
        fixed = ("gateway_id", "unit", "mqtt", "state_dir")
        changed = [name for name in fixed if getattr(fresh, name) != getattr(self.config, name)]
        if changed:
            raise CommandError(f"{', '.join(changed)} changed: restart the service to apply (nothing was changed)")
        async with self._reconfiguring:
            added, removed, _ = await self._switch_to(fresh)
        log.info("configuration reloaded from %s", fresh.source)
        return (
            f"configuration reloaded: {len(fresh.devices)} devices"
            f" (added {added or 'none'}, removed {removed or 'none'})"
        )

    async def apply_centre_config(self, args: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The centre's configuration: checked whole, kept in the state directory, then put in force. Refused
        (CommandError with the outcome), the running configuration stays as it was, device loops untouched."""
        revision = args.get("revision") if isinstance(args.get("revision"), int) else 0
        async with self._reconfiguring:
            running = self.config.config_revision
            try:
                document = centre_config.parse_document(args)
                if running is not None and document.revision < running:
                    raise centre_config.ConfigRefused(
                        f"revisi {document.revision} lebih lama dari yang berjalan ({running})"
                        f" (older than the running revision)"
                    )
                if document.revision == running:
                    outcome = ConfigOutcome(document.revision, ConfigStatus.APPLIED, running=running)
                    return f"configuration revision {running} already in force", outcome.to_results()
                fresh = centre_config.merged(self.config, document)
                self._refuse_new_push(fresh)
                # The doctor's check of what changes, before anything is kept (blocking I/O: in a thread).
                notes = await asyncio.to_thread(centre_config.precheck, self.config, fresh, self.driver_factory)
                centre_config.save(self.config.state_dir, document)
            except (centre_config.ConfigRefused, OSError) as exc:
                reason = str(exc) if not isinstance(exc, OSError) else f"cannot keep it: {exc.strerror or exc}"
                refused = ConfigOutcome(revision, ConfigStatus.REJECTED, reason=reason, running=running)
                log.warning("centre configuration revision %s refused: %s", revision or "?", reason)
                raise CommandError(
                    f"konfigurasi revisi {revision or '?'} ditolak, konfigurasi yang berjalan tetap"
                    f" (refused, the running configuration stays): {reason}",
                    refused.to_results(),
                ) from None
            added, removed, restarted = await self._switch_to(fresh)
        log.info("centre configuration revision %d in force", document.revision)
        # Devices that did not answer the check do not stop the change; the answer names them.
        silent = f"belum menjawab (not answering yet): {'; '.join(notes)}" if notes else None
        outcome = ConfigOutcome(document.revision, ConfigStatus.APPLIED, reason=silent, running=document.revision)
        return (
            f"konfigurasi revisi {document.revision} diterapkan (applied): {len(fresh.devices)} perangkat;"
            f" added {added or 'none'}, removed {removed or 'none'}, restarted {restarted or 'none'}"
            + (f"; {silent}" if silent else ""),
            outcome.to_results(),
        )

    def _refuse_new_push(self, fresh: GatewayConfig) -> None:
        if self.push is None and any(device.protocol == "push" for device in fresh.devices):
            raise centre_config.ConfigRefused(
                "perangkat push butuh endpoint push, yang baru dibuka saat layanan dimulai ulang"
                " (a push device needs the push endpoint, opened only at a restart)"
            )

    async def _switch_to(self, fresh: GatewayConfig) -> tuple[list[str], list[str], list[str]]:
        """Put `fresh` in force touching only what changed: a polled device whose settings are the same keeps
        its loop (and its connection) running; changed ones are stopped and started anew, removed ones
        stopped, new ones started. Push devices are served again from the new list when it changed (a push
        device's punches are committed before it is answered, so it resends what was under way).
        Returns (added, removed, restarted) device names."""
        before = {device.name: device for device in self.config.devices}
        after = {device.name: device for device in fresh.devices}
        same = {name for name, device in after.items() if before.get(name) == device}
        push_changed = [d for d in self.config.devices if d.protocol == "push"] != [
            d for d in fresh.devices if d.protocol == "push"
        ]
        keep = [
            c for c in self.coordinators if c.config.name in same and (c.config.protocol != "push" or not push_changed)
        ]
        stopping = [c for c in self.coordinators if all(c is not k for k in keep)]
        await self._stop_devices(stopping)
        self.config = fresh
        self.relay.config = fresh
        kept = {c.config.name for c in keep}
        starting: list[Coordinator] = [
            DeviceCoordinator(device, self.queue, fresh.zone, self.driver_factory, self.relay.wake)
            for device in fresh.devices
            if device.protocol != "push" and device.name not in kept
        ]
        if push_changed:
            starting += self._push_coordinators_for(fresh)
        by_name = {c.config.name: c for c in [*keep, *starting]}
        self.coordinators = [by_name[device.name] for device in fresh.devices]
        self._start_devices(starting)
        self._telemetry_now.set()
        added = sorted(set(after) - set(before))
        restarted = sorted(name for name in set(after) & set(before) if name not in kept)
        return added, sorted(set(before) - set(after)), restarted

    # --- telemetry ----------------------------------------------------------------------------

    def telemetry(self) -> Telemetry:
        report = snapshot(self.config.gateway_id, self.queue, self.coordinators, self.started_at)
        report = replace(
            report,
            config_revision=self.config.config_revision,
            relayed_punches=self.relay.acked_punches,
            tls=self.config.mqtt.tls,
            tls_expires_at=self._tls_expires_at,
        )
        return self.push.with_refused(report) if self.push else report  # unknown push serials are reported

    async def _telemetry_loop(self) -> None:
        async def wait_interval() -> None:
            await wait_event(self._telemetry_now, self.config.telemetry.interval_s)
            self._telemetry_now.clear()

        def publish(payload: bytes) -> None:
            stats = self.queue.stats()
            notify(f"STATUS={stats.queued} punches queued, {stats.in_flight_batches} batches awaiting acks")
            if self.relay.mqtt.is_connected:
                self.relay.mqtt.send(self._telemetry, payload)

        await publish_every(wait_interval, self.telemetry, publish)

    async def _on_connected(self) -> None:
        self._telemetry_now.set()
        write_health_marker(self.config.state_dir, version=__version__, uplink=True)

    # --- commands -----------------------------------------------------------------------------

    async def _on_command(self, message: IncomingMessage) -> None:
        """Carry the command out in its own task: a slow device must not hold up the acks behind it.
        The broker gets its PUBACK only once the result is published, so a crash means redelivery."""
        task = asyncio.create_task(self._answer(message), name="command")
        self._command_tasks.add(task)
        task.add_done_callback(self._command_tasks.discard)

    async def _answer(self, message: IncomingMessage) -> None:
        try:
            command_id = peek_id(message.payload, "command_id", MAX_COMMAND_BYTES)
            if command_id and command_id in self._answered:
                cached = self._answered[command_id]
                if cached is not None:  # done already: answer again; still running: it will answer
                    self.relay.mqtt.send(self._command_results, cached)
                return
            if command_id:
                self._remember(command_id, None)
            result = await self.commands.handle(message.payload)
            payload = result.to_json()
            if command_id:
                self._remember(command_id, payload)
            self.relay.mqtt.send(self._command_results, payload)
            log.info("command %s: %s", result.command_id or "(unreadable)", "ok" if result.ok else result.detail)
        except Exception as exc:  # the last line of defence: a command never takes the gateway down
            log.exception("command on %s failed", message.topic)
            failure = CommandResult("", False, f"internal error: {exc}")
            self.relay.mqtt.send(self._command_results, failure.to_json())
        finally:
            self.relay.mqtt.ack(message)

    def _remember(self, command_id: str, payload: bytes | None) -> None:
        self._answered[command_id] = payload
        self._answered.move_to_end(command_id)
        while len(self._answered) > REMEMBERED_COMMANDS:
            self._answered.popitem(last=False)


async def _cancel(tasks: list[asyncio.Task[None]] | set[asyncio.Task[None]]) -> None:
    tasks = list(tasks)
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
