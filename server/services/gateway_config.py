"""Configuration from the centre (issue 20): a gateway's devices, relay and telemetry settings, sent as one
numbered revision on its command topic (wire/contract.py GatewayConfigDocument, action `apply_config`).

The centre checks the document's shape here (what the contract allows) and numbers it; what the values mean
(profiles, ranges, a port under /dev) is the gateway's to judge with its own config parser, and it answers
applied or rejected with the reason (server/status.py records the answer on the revision, and the revision
each gateway's telemetry says it runs). A gateway older than the action answers "malformed command", which
is recorded as a rejection naming its version: it keeps running as it was. Every revision sent is audited.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.functions import Max

from server.auth import Principal, Scope
from server.consumer import PunchConsumer
from server.errors import Conflict, Invalid, NotFound, Unavailable
from server.gateway_config_models import GatewayConfigRevision, GatewayConfigRunning
from server.gateway_enrolment_models import GatewayEnrolment
from server.models import Gateway
from server.services.commands import send_command
from server.services.gateway_enrolment import check_devices
from server.services.payroll import record_audit
from wire.contract import (
    CONFIG_SECTIONS,
    CommandAction,
    ContractError,
    GatewayConfigDocument,
)

SHOWN_REVISIONS = 20


@dataclass(frozen=True, slots=True)
class ConfigState:
    """How a gateway's configuration stands: the newest revision it applied, the one it says it runs, and
    the newest sent (which may still wait for an answer, or have been refused)."""

    applied: GatewayConfigRevision | None
    running: int | None
    latest: GatewayConfigRevision | None


async def _gateway_in_scope(scope: Scope, gateway_id: str) -> Gateway:
    gateway = await Gateway.get_or_none(gateway_id=gateway_id)
    if gateway is None or not scope.sees_unit(gateway.unit_code):
        raise NotFound(f"gateway {gateway_id!r}: tidak ada dalam cakupan Anda (no such gateway in your scope)")
    return gateway


async def send_config(
    consumer: PunchConsumer | None, principal: Principal, scope: Scope, gateway_id: str, body: dict[str, Any]
) -> GatewayConfigRevision:
    """Number the document, keep it, and publish it to the gateway; the answer arrives later."""
    gateway = await _gateway_in_scope(scope, gateway_id)
    top = await GatewayConfigRevision.filter(gateway_id=gateway_id).annotate(top=Max("revision")).values("top")
    revision = (top[0]["top"] or 0) + 1 if top else 1
    # A section not in the body is left out of the document: the gateway keeps what it runs.
    args = {
        "version": 1,
        "revision": revision,
        **{key: body[key] for key in CONFIG_SECTIONS if body.get(key) is not None},
    }
    args["devices"] = check_devices(body.get("devices"))  # as enrolment checks them: names unique, fields known
    try:
        document = GatewayConfigDocument.from_args(args)
    except ContractError as exc:
        raise Invalid(f"konfigurasi tidak sah (invalid configuration): {str(exc).removeprefix('config.')}") from None
    try:
        row = await GatewayConfigRevision.create(
            gateway_id=gateway_id, unit_code=gateway.unit_code, revision=revision, document=document.to_args(),
            created_by=principal.username, created_at=datetime.now(UTC),
        )  # fmt: skip
    except IntegrityError:  # another revision was numbered meanwhile
        raise Conflict(
            "revisi lain baru saja dikirim; muat ulang dan coba lagi (another revision was just sent)"
        ) from None
    await record_audit(
        principal.username, principal.role.value, "gateway.config_sent", gateway_id, gateway.unit_code,
        {"revision": revision, "devices": len(document.devices)},
    )  # fmt: skip
    try:
        command = await send_command(
            consumer, gateway, CommandAction.APPLY_CONFIG, document.to_args(), numbered_config=True
        )
    except (Unavailable, Invalid) as exc:
        row.status, row.reason = "failed", str(exc)
        await row.save(update_fields=["status", "reason"])
        raise
    row.command_id = command.command_id
    await row.save(update_fields=["command_id"])
    return row


async def config_states(gateway_ids: list[str]) -> dict[str, ConfigState]:
    """Per gateway: the newest applied revision, the running one, and the newest sent."""
    applied: dict[str, GatewayConfigRevision] = {}
    latest: dict[str, GatewayConfigRevision] = {}
    rows = await GatewayConfigRevision.filter(gateway_id__in=gateway_ids).order_by("gateway_id", "-revision")
    for row in rows:
        latest.setdefault(row.gateway_id, row)
        if row.status == "applied":
            applied.setdefault(row.gateway_id, row)
    running = dict(await GatewayConfigRunning.filter(gateway_id__in=gateway_ids).values_list("gateway_id", "revision"))
    return {g: ConfigState(applied.get(g), running.get(g), latest.get(g)) for g in gateway_ids}  # type: ignore[arg-type]


def revision_json(row: GatewayConfigRevision) -> dict[str, Any]:
    return {
        "gateway": row.gateway_id,
        "revision": row.revision,
        "status": row.status,
        "reason": row.reason,
        "command_id": row.command_id,
        "created_by": row.created_by,
        "created_at": row.created_at.isoformat(),
        "answered_at": row.answered_at.isoformat() if row.answered_at else None,
        "document": row.document,
    }


async def config_of(scope: Scope, gateway_id: str) -> dict[str, Any]:
    """The gateway's configuration as the centre knows it: the revisions sent (newest first) and their answers."""
    await _gateway_in_scope(scope, gateway_id)
    state = (await config_states([gateway_id]))[gateway_id]
    rows = await GatewayConfigRevision.filter(gateway_id=gateway_id).order_by("-revision").limit(SHOWN_REVISIONS)
    return {
        "gateway": gateway_id,
        "applied_revision": state.applied.revision if state.applied else None,
        "running_revision": state.running,
        "revisions": [revision_json(row) for row in rows],
    }


# --- what the configuration page edits (server/pages/gateway_config.py) ------------------------------------

# The device models the gateway knows, one TOML file each beside the packages (gateway/profiles.py reads them).
PROFILE_DIR = Path(__file__).resolve().parents[2] / "device_profiles"
DEFAULT_PROFILE = "zkteco-generic-tcp"  # what the gateway's parser takes when a device names none


@lru_cache(maxsize=1)
def network_profiles() -> tuple[tuple[str, str], ...]:
    """(name, model) of every profile of a device polled over the network (the ZK protocol): what the page
    offers. Serial terminals and push devices are configured otherwise (a port, a serial number)."""
    found = []
    for path in sorted(PROFILE_DIR.glob("*.toml")):
        try:
            profile = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if profile.get("protocol", "zk") == "zk":
            found.append((path.stem, str(profile.get("model", path.stem))))
    return tuple(found)


@dataclass(frozen=True, slots=True)
class EditableConfig:
    """Where an edit starts: the newest revision sent (0: none yet, the devices the gateway was enrolled
    with), so a refused revision can be corrected rather than typed again."""

    base_revision: int
    devices: list[dict[str, Any]]
    relay: dict[str, Any] | None  # None: no revision has set it; the gateway keeps its own
    telemetry: dict[str, Any] | None
    base_status: str = ""  # the state of the revision it starts from (rejected: the form is the refused one)


async def editable_config(scope: Scope, gateway_id: str) -> EditableConfig:
    await _gateway_in_scope(scope, gateway_id)
    row = await GatewayConfigRevision.filter(gateway_id=gateway_id).order_by("-revision").first()
    if row is not None and isinstance(row.document, dict) and row.document.get("devices"):
        document = row.document
        return EditableConfig(
            row.revision, [dict(d) for d in document["devices"]], _section(document, "relay"),
            _section(document, "telemetry"), row.status,
        )  # fmt: skip
    enrolment = await GatewayEnrolment.filter(gateway_id=gateway_id).order_by("-id").first()
    devices = [dict(d) for d in enrolment.devices] if enrolment is not None and enrolment.devices else []
    return EditableConfig(row.revision if row is not None else 0, devices, None, None)


def _section(document: dict[str, Any], name: str) -> dict[str, Any] | None:
    section = document.get(name)
    return dict(section) if isinstance(section, dict) else None


async def revision_rows(scope: Scope, gateway_id: str) -> tuple[Gateway, ConfigState, list[GatewayConfigRevision]]:
    """The gateway, its configuration state and its newest revisions (their documents are not for showing:
    they hold comm keys)."""
    gateway = await _gateway_in_scope(scope, gateway_id)
    state = (await config_states([gateway_id]))[gateway_id]
    rows = await GatewayConfigRevision.filter(gateway_id=gateway_id).order_by("-revision").limit(SHOWN_REVISIONS)
    return gateway, state, list(rows)
