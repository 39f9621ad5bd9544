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
from typing import Any

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
from gateway.telemetry import publish_every, snapshot
from gateway.upgrade import request_upgrade, write_health_marker
from wire import __version__
from wire.aio import wait_event
from wire.contract import MAX_COMMAND_BYTES, CommandResult, Telemetry, TopicKind, address_for, peek_id, topic_for
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
        """`driver_factory`: how to reach a device; by default the driver its profile names."""
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
        self.commands = CommandHandler(
            lambda: self.coordinators,
            self.reload_config,
            lambda args: request_upgrade(self.config.state_dir, args),
            templates_written=self.biometrics.remember,
        )
        self._command_results = address_for(config.unit, config.gateway_id, TopicKind.COMMAND_RESULTS)
        self._telemetry = address_for(config.unit, config.gateway_id, TopicKind.TELEMETRY)
        self._answered: OrderedDict[str, bytes | None] = OrderedDict()
        self._telemetry_now = asyncio.Event()
        self.relay.mqtt.subscribe(topic_for(config.unit, config.gateway_id, TopicKind.COMMANDS), self._on_command)
        self.relay.mqtt.on_connected(self._on_connected)
        self._tasks: list[asyncio.Task[None]] = []
        self._device_tasks: list[asyncio.Task[None]] = []
        self._command_tasks: set[asyncio.Task[None]] = set()

    def _coordinators_for(self, config: GatewayConfig) -> list[Coordinator]:
        polled: list[Coordinator] = [
            DeviceCoordinator(device, self.queue, config.zone, self.driver_factory, self.relay.wake)
            for device in config.devices
            if device.protocol != "push"
        ]
        # Push devices answer commands and report health through the same interface as polled ones.
        pushed = self.push.coordinators_for(config) if self.push else []
        for device in pushed:  # a push device uploads its enrolments itself
            device.on_template = lambda template, serial=device.serial: self._enrolled(serial, template)
        return [*polled, *pushed]

    def _enrolled(self, serial: str, template: DeviceTemplate) -> None:
        if self.biometrics.offer(serial, template):
            self.biometric_sender.wake()

    async def start(self) -> None:
        await self.relay.start()
        self._tasks.append(asyncio.create_task(self.relay.run(), name="relay"))
        self._tasks.append(asyncio.create_task(self._telemetry_loop(), name="telemetry"))
        self._tasks.append(asyncio.create_task(self.biometric_sender.run(), name="biometric-uploads"))
        self._tasks.append(asyncio.create_task(self.enrolment.run(), name="enrolment-watch"))
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

    def _start_devices(self) -> None:
        self._device_tasks = [
            asyncio.create_task(self._supervise(coordinator), name=f"device-{coordinator.config.name}")
            for coordinator in self.coordinators
        ]

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

    async def _stop_devices(self) -> None:
        await _cancel(self._device_tasks)
        self._device_tasks = []
        for coordinator in self.coordinators:
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
        """Read the config file again and restart the device pollers with it. Identity, broker and
        state directory are fixed for the life of the process: changing them needs a restart."""
        if self.config.source is None:
            raise CommandError("this gateway was not started from a config file; nothing to reload")
        try:
            fresh = load_gateway_config(self.config.source)
        except ConfigError as exc:
            raise CommandError(f"config not reloaded, the running one stays: {exc}") from None
        fixed = ("gateway_id", "unit", "mqtt", "state_dir")
        changed = [name for name in fixed if getattr(fresh, name) != getattr(self.config, name)]
        if changed:
            raise CommandError(f"{', '.join(changed)} changed: restart the service to apply (nothing was changed)")
        before = {d.name for d in self.config.devices}
        after = {d.name for d in fresh.devices}
        await self._stop_devices()
        self.config = fresh
        self.relay.config = fresh
        self.coordinators = self._coordinators_for(fresh)
        self._start_devices()
        self._telemetry_now.set()
        log.info("configuration reloaded from %s", fresh.source)
        return (
            f"configuration reloaded: {len(after)} devices"
            f" (added {sorted(after - before) or 'none'}, removed {sorted(before - after) or 'none'})"
        )

    # --- telemetry ----------------------------------------------------------------------------

    def telemetry(self) -> Telemetry:
        report = snapshot(self.config.gateway_id, self.queue, self.coordinators, self.started_at)
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
