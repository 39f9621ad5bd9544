"""A gateway's devices edited in a page and sent as a new numbered revision (issue 20), on
server/services/gateway_config.py: name, model (its profile in device_profiles/), host, port, transport, comm
key and how often it is read, for each device the gateway polls over the network. The page then shows each
revision's state: waiting for the gateway, applied, or refused with the gateway's reason.

A comm key is never written back into the page: a device that has one shows "stored", and a blank field keeps
it. A form refused for bad input comes back with everything typed except a new comm key (said so by the
field), and the reasons in the reader's language beside the fields. Devices of other kinds in the revision
(serial terminals, push devices) and its relay and telemetry settings are carried over unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from server.access import COMMAND_ROLES
from server.auth import request_scope, require_role
from server.context import CONSUMER
from server.errors import DomainError, page_message
from server.i18n import N_
from server.pages.pages import reader_zone
from server.pages.render import language_of, render
from server.services.attendance import unit_zones
from server.services.gateway_config import (
    DEFAULT_PROFILE,
    editable_config,
    network_profiles,
    revision_rows,
    send_config,
)
from server.services.gateway_enrolment import HOST, NAME

routes = web.RouteTableDef()

MAX_ROWS = 64
DEVICE_FIELDS = ("name", "profile", "host", "port", "transport", "comm_key", "poll_interval_s")
_DIGITS = re.compile(r"^\d{1,9}$")
_SECONDS = re.compile(r"^\d{1,6}(?:[.,]\d{1,3})?$")

BAD_NAME = N_("Lower-case letters, digits, '-' or '_', starting with a letter or digit (at most 63)")
SAME_NAME = N_("Another device already has this name")
BAD_PROFILE = N_("Choose the device's model")
BAD_HOST = N_("Not a host name or IP address")
BAD_PORT = N_("A port is a whole number from 1 to 65535")
BAD_TRANSPORT = N_("Choose TCP or UDP")
BAD_KEY = N_("The comm key is a number from 0 to 999999")
BAD_INTERVAL = N_("Seconds between reads: a number from 0.1 to 86400")
NO_DEVICES = N_("Keep at least one device")
NOT_SAVED = N_("Nothing was sent: correct the marked fields")
CHANGED_MEANWHILE = N_(
    "Revision {revision} was sent meanwhile: nothing was sent. Reload the page and make your change again"
)


@dataclass
class DeviceRow:
    """One device of the form: what is shown (never its comm key) and what was wrong with it."""

    original: str = ""  # the device's name in the revision the edit started from ("" for a new one)
    values: dict[str, str] = field(default_factory=dict)
    key_stored: bool = False  # the device has a comm key other than 0 (shown as "stored", never its digits)
    key_typed: bool = False  # a key was typed in a form sent back for other mistakes (not shown again)
    remove: bool = False
    errors: dict[str, str] = field(default_factory=dict)

    def value(self, name: str) -> str:
        return self.values.get(name, "")


def _gateway_id(request: web.Request) -> str:
    return request.match_info["gateway_id"][:63]


def _rows_of(devices: list[dict[str, Any]]) -> tuple[list[DeviceRow], list[dict[str, Any]]]:
    """The network devices as form rows, and the others (kept as they are)."""
    known = {name for name, _ in network_profiles()}
    rows, others = [], []
    for device in devices:
        profile = str(device.get("profile") or DEFAULT_PROFILE)
        if profile not in known or "serial_path" in device or "serial_number" in device:
            others.append(device)
            continue
        values = {
            "name": str(device.get("name", "")),
            "profile": profile,
            "host": str(device.get("host", "")),
            "port": str(device.get("port", 4370)),
            "transport": str(device.get("transport", "tcp")),
            "poll_interval_s": _seconds_text(device.get("poll_interval_s", 60)),
        }
        rows.append(DeviceRow(str(device.get("name", "")), values, key_stored=bool(device.get("comm_key"))))
    return rows, others


def _seconds_text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _blank() -> DeviceRow:
    return DeviceRow(values={"profile": DEFAULT_PROFILE, "port": "4370", "transport": "tcp", "poll_interval_s": "60"})


@routes.get("/fleet/{gateway_id}/config")
async def config_page(request: web.Request) -> web.Response:
    require_role(request, *COMMAND_ROLES)
    editable = await editable_config(await request_scope(request), _gateway_id(request))
    rows, others = _rows_of(editable.devices)
    if language_of(request) == "id":  # 0,5 as an Indonesian writes it (both are read back)
        for row in rows:
            row.values["poll_interval_s"] = row.values["poll_interval_s"].replace(".", ",")
    return await _page(request, [*rows, _blank()], others, editable.base_revision, base_status=editable.base_status)


@routes.post("/fleet/{gateway_id}/config")
async def config_submit(request: web.Request) -> web.Response:
    principal = require_role(request, *COMMAND_ROLES)
    scope = await request_scope(request)
    gateway_id = _gateway_id(request)
    form = await request.post()
    base_text = str(form.get("base_revision", "0"))
    base_revision = int(base_text) if _DIGITS.match(base_text) else 0
    editable = await editable_config(scope, gateway_id)  # the revision the edit started from, if still newest
    rows = _posted_rows(form)
    if "add" in form:  # one more empty row; nothing sent
        return await _page(request, [*rows, _blank()], _rows_of(editable.devices)[1], base_revision)
    if editable.base_revision != base_revision:
        return await _page(
            request, rows, _rows_of(editable.devices)[1], base_revision, status=409,
            error=(CHANGED_MEANWHILE, {"revision": editable.base_revision}),
        )  # fmt: skip
    originals = {str(d.get("name", "")): d for d in editable.devices}
    others = _rows_of(editable.devices)[1]
    devices = _checked(rows, originals)
    if devices is None:
        return await _page(request, rows, others, base_revision, status=400, error=(NOT_SAVED, {}))
    if not devices and not others:
        return await _page(request, rows, others, base_revision, status=400, error=(NO_DEVICES, {}))
    body: dict[str, Any] = {"devices": [*devices, *others]}
    for name, section in (("relay", editable.relay), ("telemetry", editable.telemetry)):
        if section is not None:  # carried over from the revision edited; never set: the gateway keeps its own
            body[name] = section
    try:
        row = await send_config(request.app.get(CONSUMER), principal, scope, gateway_id, body)
    except DomainError as exc:
        for device_row in rows:
            device_row.key_typed = device_row.key_typed or bool(device_row.values.get("comm_key"))
        return await _page(request, rows, others, base_revision, status=exc.status, service_error=page_message(exc))
    raise web.HTTPSeeOther(f"/fleet/{gateway_id}/config?sent={row.revision}")


def _posted_rows(form: Any) -> list[DeviceRow]:
    count_text = str(form.get("rows", "0"))
    count = min(int(count_text), MAX_ROWS) if _DIGITS.match(count_text) else 0
    rows = []
    for index in range(count):
        values = {name: str(form.get(f"{name}-{index}", "")).strip()[:256] for name in DEVICE_FIELDS}
        original = str(form.get(f"original-{index}", "")).strip()[:63]
        row = DeviceRow(original, values, remove=f"remove-{index}" in form)
        if not original and not any(values[name] for name in ("name", "host", "comm_key")):
            continue  # the empty row left empty
        rows.append(row)
    return rows


def _checked(rows: list[DeviceRow], originals: dict[str, dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The devices as the revision carries them, or None when a row has mistakes (marked on the row). A new
    comm key is then dropped from the form (it is not shown again); a blank one keeps the stored key."""
    profiles = {name for name, _ in network_profiles()}
    devices: list[dict[str, Any]] = []
    names: set[str] = set()
    for row in rows:
        original = originals.get(row.original, {})
        row.key_stored = bool(original.get("comm_key"))
        if row.remove:
            continue
        row.errors = _mistakes(row.values, profiles, names)
        names.add(row.values["name"])
        if not row.errors:
            devices.append(_device_of(row.values, original))
    if any(row.errors for row in rows):
        for row in rows:
            row.key_typed = bool(row.values.get("comm_key"))
        return None
    return devices


def _mistakes(values: dict[str, str], profiles: set[str], names: set[str]) -> dict[str, str]:
    """What is wrong with one row, field by field (the messages marked for the catalogue)."""
    errors = {}
    if not NAME.match(values["name"]):
        errors["name"] = BAD_NAME
    elif values["name"] in names:
        errors["name"] = SAME_NAME
    if values["profile"] not in profiles:
        errors["profile"] = BAD_PROFILE
    if not HOST.match(values["host"]):
        errors["host"] = BAD_HOST
    if not _DIGITS.match(values["port"]) or not 1 <= int(values["port"]) <= 65535:
        errors["port"] = BAD_PORT
    if values["transport"] not in ("tcp", "udp"):
        errors["transport"] = BAD_TRANSPORT
    key = values["comm_key"]
    if key and (not _DIGITS.match(key) or int(key) > 999_999):
        errors["comm_key"] = BAD_KEY
    seconds = values["poll_interval_s"]
    if not _SECONDS.match(seconds) or not 0.1 <= float(seconds.replace(",", ".")) <= 86_400:
        errors["poll_interval_s"] = BAD_INTERVAL
    return errors


def _device_of(values: dict[str, str], original: dict[str, Any]) -> dict[str, Any]:
    """A checked row as the revision's device: what the page does not edit (e.g. timeout_s) kept."""
    device = {k: v for k, v in original.items() if k not in DEVICE_FIELDS}
    interval = float(values["poll_interval_s"].replace(",", "."))
    device.update(
        name=values["name"], profile=values["profile"], host=values["host"], port=int(values["port"]),
        transport=values["transport"], poll_interval_s=int(interval) if interval.is_integer() else interval,
    )  # fmt: skip
    if values["comm_key"]:
        device["comm_key"] = int(values["comm_key"])
    elif original.get("comm_key") is not None:
        device["comm_key"] = original["comm_key"]
    return device


async def _page(
    request: web.Request,
    rows: list[DeviceRow],
    others: list[dict[str, Any]],
    base_revision: int,
    status: int = 200,
    error: tuple[str, dict[str, object]] | None = None,
    service_error: str | None = None,
    base_status: str = "",
) -> web.Response:
    principal = require_role(request, *COMMAND_ROLES)
    scope = await request_scope(request)
    gateway_id = _gateway_id(request)
    gateway, state, revisions = await revision_rows(scope, gateway_id)
    zone = (await unit_zones()).get(gateway.unit_code)  # the revisions' times on the gateway's office clock
    for row in rows:
        row.values.pop("comm_key", None)  # never back into the page
    sent = request.query.get("sent", "")
    return render(
        request,
        "gateway_config.html",
        status=status,
        gateway_id=gateway_id,
        rows=rows,
        others=[str(d.get("name", "")) for d in others],
        base_revision=base_revision,
        base_status=base_status,
        profiles=network_profiles(),
        state=state,
        revisions=revisions,
        zone=zone or await reader_zone(principal),
        error=error,
        service_error=service_error,
        sent=int(sent) if sent.isdigit() else None,
    )
