"""The push endpoint on the office LAN: ZKTeco push devices register, upload and poll for commands here.

Rules that keep punches safe and the gateway standing:
- Only serials in the gateway config are served; any other gets 403 and is counted (`refused`).
- A device is answered `OK` for an upload only after its punches are committed to the durable queue;
  if the commit fails it gets 503 and sends the same lines again after its ErrorDelay.
- Bodies are bounded (`max_body_bytes`, 413 beyond). Lines that cannot be read are quarantined with
  the raw bytes of the body and counted; the readable lines of the same body are still stored and the
  device is answered OK, because sending the same bytes again would never help.
- No request gets a traceback: a bad one gets a 4xx with a reason, a fault of ours a 503.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from aiohttp import web

from gateway.push import protocol, templates
from gateway.push.device import PushDeviceCoordinator
from gateway.push.store import PushStore

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
IGNORED_TABLES = ("ATTPHOTO", "OPTIONS", "USERPIC", "BIOPHOTO", "RTSTATE")
# Users and templates, uploaded after an enrolment (gateway/push/templates.py): kept for user sync and
# enrolment detection; OPERLOG lines of the same kinds are read too.
TEMPLATE_TABLES = ("BIODATA", "USERINFO", "FINGERTMP", "FACE")


@dataclass
class PushCounters:
    refused_requests: int = 0  # from serials not in the config
    quarantined_bodies: int = 0
    malformed_lines: int = 0
    oversized_bodies: int = 0
    ignored_uploads: int = 0  # tables this system has no use for (photos, templates, door states)
    unknown_tables: dict[str, int] = field(default_factory=dict)  # tables no document here names: acknowledged
    access_events: int = 0  # rtlog events that are not a person verified (door, alarm): acknowledged
    unknown_results: int = 0  # devicecmd results for no command we delivered
    held_punches: int = 0  # stamped by a reset clock or in the future: kept in quarantine, never queued
    refused_by_serial: dict[str, int] = field(default_factory=dict)


class PushServer:
    def __init__(
        self,
        devices: list[PushDeviceCoordinator],
        store: PushStore,
        *,
        host: str = "0.0.0.0",
        port: int = 8081,
        max_body_bytes: int = 1024 * 1024,
    ) -> None:
        self.devices = {device.serial: device for device in devices}
        self.store = store
        self.host = host
        self.port = port
        self.max_body_bytes = max_body_bytes
        self.counters = PushCounters()
        self.app = self._make_app()
        self._runner: web.AppRunner | None = None

    def _make_app(self) -> web.Application:
        app = web.Application(client_max_size=self.max_body_bytes, middlewares=[self._guard])
        for suffix in ("", ".aspx"):  # some firmware (and its OEM variants) asks for the .aspx names
            app.router.add_get(f"/iclock/cdata{suffix}", self._registration)
            app.router.add_post(f"/iclock/cdata{suffix}", self._upload)
            app.router.add_get(f"/iclock/getrequest{suffix}", self._command_poll)
            app.router.add_post(f"/iclock/devicecmd{suffix}", self._command_results)
            app.router.add_get(f"/iclock/ping{suffix}", self._ping)
            # Security PUSH (access-control firmware): registration, its configuration, the time.
            app.router.add_post(f"/iclock/registry{suffix}", self._registry)
            app.router.add_post(f"/iclock/push{suffix}", self._registry)
            app.router.add_get(f"/iclock/rtdata{suffix}", self._rtdata)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        if self.port == 0:  # the config asked for any free port: learn which
            self.port = self._runner.addresses[0][1]
        log.info("push endpoint on http://%s:%d/iclock/ for %d devices", self.host, self.port, len(self.devices))

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- middleware and helpers -------------------------------------------------------------------

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.content_length is not None and request.content_length > self.max_body_bytes:
            self.counters.oversized_bodies += 1
            return _text(f"body of {request.content_length} bytes, at most {self.max_body_bytes} allowed", 413)
        try:
            return await handler(request)
        except web.HTTPRequestEntityTooLarge:
            self.counters.oversized_bodies += 1
            return _text(f"body larger than {self.max_body_bytes} bytes", 413)
        except web.HTTPException:
            raise
        except (sqlite3.Error, OSError):
            log.exception("push request %s failed on our side", request.path_qs)
            return _text("the gateway could not store this now; send it again later", 503)
        except Exception:  # a device must never see a traceback, and never take the endpoint down
            log.exception("push request %s failed", request.path_qs)
            return _text("internal error; send it again later", 503)

    def _device(self, request: web.Request) -> PushDeviceCoordinator | web.Response:
        serial = _query(request, "SN").strip()
        if not serial:
            return _text("missing SN (the device serial number)", 400)
        device = self.devices.get(serial)
        if device is None:
            self.counters.refused_requests += 1
            key = serial[:64]
            self.counters.refused_by_serial[key] = self.counters.refused_by_serial.get(key, 0) + 1
            self.store.count_refused(serial, request.remote or "")
            if self.counters.refused_by_serial[key] == 1:
                log.warning("refused push device %r from %s: not in this gateway's config", key, request.remote)
            return _text(f"device {serial[:64]!r} is not configured on this gateway", 403)
        return device

    def _quarantine(self, device: PushDeviceCoordinator, request: web.Request, raw: bytes, bad: list) -> None:
        # Kept for review, but never with a biometric template in it (UU 27/2022): those are withheld.
        raw = templates.redact_body(raw)
        reasons = "; ".join(f"line {b.number}: {b.reason}" for b in bad[:20])
        more = f"; and {len(bad) - 20} more" if len(bad) > 20 else ""
        qid = self.store.quarantine(
            device.serial, request.remote or "", f"{request.method} {request.path_qs}", reasons + more, raw
        )
        self.counters.quarantined_bodies += 1
        self.counters.malformed_lines += len(bad)
        device.health.quarantined += len(bad)
        log.warning("push device %s: %d unreadable lines quarantined (#%d): %s", device.serial, len(bad), qid, reasons)

    # -- endpoints --------------------------------------------------------------------------------

    async def _registration(self, request: web.Request) -> web.Response:
        device = self._device(request)
        if isinstance(device, web.Response):
            return device
        pushver = _query(request, "pushver")
        device.contact({"firmware": pushver} if pushver else None)
        offset = device.device_zone.utcoffset(None)
        hours = int(offset.total_seconds() // 3600) if offset is not None else 0
        reply = protocol.registration_reply(
            device.serial,
            self.store.stamp(device.serial, "ATTLOG"),
            self.store.stamp(device.serial, "OPERLOG"),
            device.options,
            hours,
        )
        log.info("push device %s (%s) registered", device.config.name, device.serial)
        return _text(reply)

    async def _upload(self, request: web.Request) -> web.Response:
        device = self._device(request)
        if isinstance(device, web.Response):
            return device
        raw = await request.read()
        device.contact()
        table = _query(request, "table").upper()
        text = raw.decode("utf-8", errors="replace")
        if table in ("ATTLOG", "RTLOG"):
            return self._upload_punches(device, request, raw, text, table)
        if table == "OPERLOG":
            return self._upload_operlog(device, request, raw, text)
        if table in TEMPLATE_TABLES:
            return self._upload_templates(device, request, raw, text, table)
        if table in IGNORED_TABLES:
            self.counters.ignored_uploads += 1
            return _text("OK")
        return self._upload_unknown(device, table)

    def _upload_punches(
        self, device: PushDeviceCoordinator, request: web.Request, raw: bytes, text: str, table: str
    ) -> web.Response:
        """ATTLOG or RTLOG lines: stored (or held) before the device hears OK; ATTLOG's stamp saved after."""
        if table == "RTLOG":  # Security PUSH: keyed lines, only verified persons are punches
            rtlog = protocol.parse_rtlog(text, device.options.rtlog_punch_events)
            records, bad = rtlog.records, rtlog.bad
            self.counters.access_events += rtlog.not_punches
        else:
            records, bad = protocol.parse_attlog(text)
        if bad:
            self._quarantine(device, request, raw, bad)
        _, held = device.store_punches(records)  # committed before the device hears OK
        for line, reason in held:
            self.store.quarantine(device.serial, request.remote or "", f"held: {request.path_qs}", reason,
                                  line.encode())  # fmt: skip
        if held:
            self.counters.held_punches += len(held)
            device.health.held_punches += len(held)
            log.warning("push device %s: %d punches held for review: %s", device.serial, len(held), held[0][1])
        stamp = protocol.parse_stamp(_query(request, "Stamp") or None)
        if stamp is not None and table == "ATTLOG":
            self.store.save_stamp(device.serial, "ATTLOG", stamp)
            device.traffic.last_upload_stamp = stamp
        return _text(_upload_ok(device, len(records)))

    def _upload_operlog(
        self, device: PushDeviceCoordinator, request: web.Request, raw: bytes, text: str
    ) -> web.Response:
        """The operation log: counted by kind, its user and template records taken in."""
        counts, bad = protocol.parse_operlog(text)
        upload = templates.parse_upload(text, "OPERLOG")
        if bad or upload.bad:
            self._quarantine(device, request, raw, bad + upload.bad)
        device.templates_uploaded(upload)
        for kind, count in counts.items():
            device.traffic.operlog[kind] = device.traffic.operlog.get(kind, 0) + count
        stamp = protocol.parse_stamp(_query(request, "OpStamp") or _query(request, "Stamp") or None)
        if stamp is not None:
            self.store.save_stamp(device.serial, "OPERLOG", stamp)
        return _text(_upload_ok(device, sum(counts.values())))

    def _upload_templates(
        self, device: PushDeviceCoordinator, request: web.Request, raw: bytes, text: str, table: str
    ) -> web.Response:
        upload = templates.parse_upload(text, table)
        if upload.bad:
            self._quarantine(device, request, raw, upload.bad)
        device.templates_uploaded(upload)
        return _text(_upload_ok(device, len(upload.users) + len(upload.templates) + upload.other_kinds))

    def _upload_unknown(self, device: PushDeviceCoordinator, table: str) -> web.Response:
        # A table no protocol document here names: refusing it would only make the device resend it
        # forever. It is acknowledged, counted and logged once.
        name = table[:32] or "(none)"
        self.counters.unknown_tables[name] = self.counters.unknown_tables.get(name, 0) + 1
        device.health.count_anomaly("push_table_unknown", f"table {name!r}")
        if self.counters.unknown_tables[name] == 1:
            log.warning("push device %s uploaded table %r, which this gateway does not use: acknowledged",
                        device.serial, name)  # fmt: skip
        return _text("OK")

    async def _command_poll(self, request: web.Request) -> web.Response:
        device = self._device(request)
        if isinstance(device, web.Response):
            return device
        device.contact(protocol.parse_device_info(_query(request, "INFO") or None))
        commands = device.take_commands()
        if not commands:
            return _text("OK")
        body = protocol.format_commands(commands)
        # User names travel in the device's own encoding, as the profile says.
        return web.Response(
            body=body.encode(device.config.profile.name_encoding, errors="replace"), content_type="text/plain"
        )

    async def _command_results(self, request: web.Request) -> web.Response:
        device = self._device(request)
        if isinstance(device, web.Response):
            return device
        raw = await request.read()
        device.contact()
        results, bad = protocol.parse_command_results(raw.decode("utf-8", errors="replace"))
        if bad:
            self._quarantine(device, request, raw, bad)
        for result in results:
            if not device.finish_command(result):
                self.counters.unknown_results += 1
                log.info("push device %s reported on command %d, which is not pending", device.serial,
                         result.command_id)  # fmt: skip
        return _text("OK")

    async def _ping(self, request: web.Request) -> web.Response:
        device = self._device(request)
        if isinstance(device, web.Response):
            return device
        device.contact()
        return _text("OK")

    async def _registry(self, request: web.Request) -> web.Response:
        """Security PUSH registration (/iclock/registry) and configuration (/iclock/push): the device is
        told it is registered, and how often to call."""
        device = self._device(request)
        if isinstance(device, web.Response):
            return device
        await request.read()
        device.contact()
        options = device.options
        return _text(
            "\r\n".join(
                [
                    f"RegistryCode={device.registry_code}",
                    f"ServerVersion={protocol.SERVER_VERSION}",
                    f"PushProtVer={protocol.PUSH_PROTOCOL_VERSION}",
                    f"ErrorDelay={options.error_delay_s}",
                    f"RequestDelay={options.delay_s}",
                    f"TransInterval={options.trans_interval_min}",
                    f"Realtime={int(options.realtime)}",
                ]
            )
            + "\r\n"
        )

    async def _rtdata(self, request: web.Request) -> web.Response:
        """/iclock/rtdata?type=time (Security PUSH): the time in the device's zone."""
        device = self._device(request)
        if isinstance(device, web.Response):
            return device
        device.contact()
        now = datetime.now(device.device_zone).replace(tzinfo=None, microsecond=0)
        offset = device.device_zone.utcoffset(None)
        hours = int(offset.total_seconds() // 3600) if offset is not None else 0
        return _text(protocol.time_reply(now, hours))


def _query(request: web.Request, name: str) -> str:
    """A query parameter whatever its case: firmware sends `SN=` and `sn=`, `table=ATTLOG` and `attlog`."""
    wanted = name.lower()
    return next((value for key, value in request.query.items() if key.lower() == wanted), "")


def _text(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/plain")


def _upload_ok(device: PushDeviceCoordinator, lines: int) -> str:
    """Current firmware is told how many lines were taken (`OK: <n>`); PUSH 2.x firmware was documented
    with a bare `OK`, and that is what it gets."""
    return "OK" if device.options.options == "legacy" else f"OK: {lines}"
