"""User sync on a push device: the same plan as for a polled device (gateway/user_sync.py), carried out
as DATA UPDATE / DATA DELETE commands the device picks up at its next polls.

A push device cannot be read back, so the plan starts from what it is known to hold: the users and
templates it uploaded and those this gateway wrote to it (PushDeviceCoordinator.known_*). Users are
always written again (a user write is idempotent on the device), so a restarted gateway still brings
every desired user onto the device; deletions are of what the device was seen to hold.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

from gateway.config import DeviceConfig
from gateway.devices.base import DeviceError, DeviceTemplate, DeviceUser
from gateway.push import protocol, templates
from gateway.user_sync import SyncPlan, SyncRequest, plan_sync


class PushDeviceCoordinator(Protocol):
    """What a sync needs of gateway/push/device.py's coordinator (declared here: that module calls this one)."""

    config: DeviceConfig
    options: protocol.PushOptions
    known_users: dict[str, DeviceUser]
    known_templates: dict[tuple[str, str, int], DeviceTemplate]

    async def _run(self, render: Callable[[], str]) -> tuple[Any, protocol.CommandResult]: ...


# What each template command can carry: only the unified BIODATA command writes faces and palms.
_WRITABLE = {"BIODATA": frozenset({"fingerprint", "face", "palm"})}
_FINGERS_ONLY = frozenset({"fingerprint"})


async def sync_push_device(device: PushDeviceCoordinator, request: SyncRequest) -> dict[str, Any]:
    style = device.options.template_command
    plan = plan_sync(
        request.users,
        device.known_users.values(),
        device.known_templates.values(),
        device.config.profile.biometrics,
        complete=request.complete,
        writable_modalities=_WRITABLE.get(style, _FINGERS_ONLY),
    )
    summary: dict[str, Any] = {"in_sync": plan.in_sync, "dry_run": request.dry_run, **plan.summary()}
    if request.dry_run:
        return summary
    failures = await _apply(device, plan, request, style)
    if failures:
        summary |= {"ok": False, "error": f"{len(failures)} perintah gagal ({len(failures)} commands failed)"}
        summary["failed"] = failures[:20]
    return summary


async def _apply(
    device: PushDeviceCoordinator, plan: SyncPlan, request: SyncRequest, style: str
) -> list[dict[str, str]]:
    """Queue every command at once (the device takes them in order, 16 a poll) and wait for them all."""
    steps: list[tuple[str, str, Any]] = []  # (command text, pin, what to remember on success)
    for pin in plan.delete_users:
        steps.append((templates.delete_user_command(style, pin), pin, ("forget_user", pin)))
    with_templates = {user.pin: ts for user, ts in plan.write_templates}
    # Every desired user is written: the device may hold less than we remember (a reset, a restart).
    for desired in request.users:
        user = desired.as_device_user
        text = protocol.user_command(user.pin, user.name, user.card, device.options.user_command)
        steps.append((text, user.pin, ("user", user)))
        for template in with_templates.get(user.pin, ()):
            command = templates.write_template_command(style, user.pin, _as_push(template))
            steps.append((command, user.pin, ("template", template)))
    for pin, modality, index in plan.delete_templates:
        steps.append(
            (templates.delete_template_command(style, pin, modality, index), pin, ("drop", (pin, modality, index)))
        )

    async def run(text: str) -> None:
        await device._run(lambda: text)

    outcomes = await asyncio.gather(*(run(text) for text, _pin, _memo in steps), return_exceptions=True)
    failures: list[dict[str, str]] = []
    for (text, pin, (kind, value)), outcome in zip(steps, outcomes, strict=True):
        if isinstance(outcome, DeviceError):
            failures.append({"pin": pin, "command": templates.command_verb(text), "error": str(outcome)})
            continue
        if isinstance(outcome, BaseException):
            raise outcome
        _remember(device, kind, value)
    return failures


def _remember(device: PushDeviceCoordinator, kind: str, value: Any) -> None:
    if kind == "forget_user":
        device.known_users.pop(value, None)
        for slot in [slot for slot in device.known_templates if slot[0] == value]:
            del device.known_templates[slot]
    elif kind == "user":
        device.known_users[value.pin] = value
    elif kind == "template":
        device.known_templates[(value.pin, value.modality, value.index)] = value
    elif kind == "drop":
        device.known_templates.pop(value, None)


def _as_push(template: DeviceTemplate) -> templates.PushTemplate:
    major = template.format_key.rsplit(":", 1)[-1]
    return templates.PushTemplate(
        template.pin, template.modality, template.index, template.data, int(major) if major.isdigit() else 0
    )
