"""User accounts, their roles, web sessions and API tokens.

Roles, and what each may see:

- ``bureau_admin``: the central personnel bureau; every unit.
- ``unit_admin``: one unit and every unit below it in the tree.
- ``supervisor``: their subordinates (and themselves), as the registry's supervisor links say.
- ``employee``: themselves only.
- ``operations``: gateways and devices (of their unit subtree, or all when no unit is set); no personnel data.

Passwords are hashed with Argon2id (memory-hard). Session and API tokens are long random strings, so a
plain SHA-256 of them is what is stored: a database leak gives no usable token.

Argon2 takes ~0.1 s of CPU and 64 MiB per password, on purpose; in a request handler it runs on a small
thread pool of its own (argon2-cffi releases the GIL), never on the event loop, which would otherwise
stop serving every other request (health checks included) for that long per login. Two threads bound
the memory and CPU a login burst can take; the rest wait their turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from tortoise import fields
from tortoise.models import Model

from server.models import Employee, Unit

MIN_PASSWORD_LENGTH = 10
SESSION_LIFETIME = timedelta(hours=12)
API_TOKEN_PREFIX = "knj_"

# Argon2id with RFC 9106's second recommended profile (64 MiB, 3 passes).
_hasher = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=2)


def _yield_to_requests() -> None:
    """Hashing threads (and the lane threads Argon2 starts, which inherit it) run at nice 10: on a busy
    machine the event loop serving requests gets the CPU first, and a login burst only waits longer."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)  # Linux: per thread


_HASHING = ThreadPoolExecutor(max_workers=2, thread_name_prefix="argon2", initializer=_yield_to_requests)
_T = TypeVar("_T")


class Role(StrEnum):
    BUREAU_ADMIN = "bureau_admin"
    UNIT_ADMIN = "unit_admin"
    SUPERVISOR = "supervisor"
    EMPLOYEE = "employee"
    OPERATIONS = "operations"


class AccountError(ValueError):
    """A user account that cannot be created as asked; the message says why."""


class UserAccount(Model):
    id = fields.IntField(primary_key=True)
    username = fields.CharField(max_length=64, unique=True)
    display_name = fields.CharField(max_length=200)
    password_hash = fields.CharField(max_length=255)
    role = fields.CharEnumField(Role, max_length=20)
    # The unit a unit administrator (or an operations user) is responsible for, with its subtree.
    unit_code = fields.CharField(max_length=63, null=True)
    # The employee record a supervisor or employee logs in as.
    employee_nip = fields.CharField(max_length=18, null=True)
    language = fields.CharField(max_length=2, default="id")
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "user_account"


class WebSession(Model):
    """A browser session: the cookie holds the token, the table its hash and the CSRF token."""

    token_hash = fields.CharField(max_length=64, primary_key=True)
    user: fields.ForeignKeyRelation[UserAccount] = fields.ForeignKeyField(
        "models.UserAccount", related_name="sessions", on_delete=fields.CASCADE
    )
    csrf_token = fields.CharField(max_length=64)
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField()

    class Meta:
        table = "web_session"


class ApiToken(Model):
    """A token for automation (payroll exports, scripts): ``Authorization: Bearer knj_...``."""

    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation[UserAccount] = fields.ForeignKeyField(
        "models.UserAccount", related_name="api_tokens", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=100)
    token_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    last_used_at = fields.DatetimeField(null=True)
    revoked = fields.BooleanField(default=False)

    class Meta:
        table = "api_token"


class LoginWindow(Model):
    """Failed logins of one username or one client address in its current throttling window
    (server.auth.LoginThrottle): one row per key, changed by single atomic statements, so concurrent
    attempts on any replica count exactly. Rows whose window is over are deleted."""

    key = fields.CharField(max_length=80, primary_key=True)  # "user:<name>" or "addr:<address>"
    window_start_ms = fields.BigIntField()  # Unix time in ms: compared in SQL the same on both databases
    failures = fields.IntField()

    class Meta:
        table = "login_window"
        indexes = (("window_start_ms",),)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# Verified against when the username is unknown, so a wrong username costs as long as a wrong password.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


async def _off_loop(function: Callable[..., _T], *args: object) -> _T:
    return await asyncio.get_running_loop().run_in_executor(_HASHING, function, *args)


async def hash_password_off_loop(password: str) -> str:
    return await _off_loop(hash_password, password)


async def verify_password_off_loop(password_hash: str, password: str) -> bool:
    return await _off_loop(verify_password, password_hash, password)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _checked_role_and_name(
    role: Role | str, username: str, password: str, *, unit_code: str | None, employee_nip: str | None
) -> tuple[Role, str]:
    """The checks that need no database: the role, the username's shape, the password's length, the role's needs."""
    try:
        role = Role(role)
    except ValueError:
        raise AccountError(f"role: expected one of {[r.value for r in Role]}, got {role!r}") from None
    username = username.strip()
    if not username or len(username) > 64 or not username.replace(".", "").replace("_", "").replace("-", "").isalnum():
        raise AccountError(f"username: expected 1-64 letters, digits, '.', '_' or '-', got {username!r}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"password: expected at least {MIN_PASSWORD_LENGTH} characters")
    if role is Role.UNIT_ADMIN and not unit_code:
        raise AccountError("a unit administrator needs --unit")
    if role in (Role.SUPERVISOR, Role.EMPLOYEE) and not employee_nip:
        raise AccountError(f"a {role.value} account needs --nip, the employee record it belongs to")
    return role, username


async def _checked_references(unit_code: str | None, employee_nip: str | None, display_name: str | None) -> str | None:
    """The unit and the employee record must exist; the display name falls back to the employee's name."""
    if unit_code and not await Unit.exists(code=unit_code):
        raise AccountError(f"unit {unit_code!r} is not in the registry")
    if employee_nip:
        employee = await Employee.get_or_none(nip=employee_nip)
        if employee is None:
            raise AccountError(f"employee {employee_nip!r} is not in the registry")
        display_name = display_name or employee.name
    return display_name


async def create_user(
    username: str,
    password: str,
    role: Role | str,
    *,
    display_name: str | None = None,
    unit_code: str | None = None,
    employee_nip: str | None = None,
    language: str = "id",
) -> UserAccount:
    """Create an account after checking that the role has what it needs (a unit, an employee record)."""

    role, username = _checked_role_and_name(role, username, password, unit_code=unit_code, employee_nip=employee_nip)
    display_name = await _checked_references(unit_code, employee_nip, display_name)
    if language not in ("id", "en"):
        raise AccountError(f"language: expected 'id' or 'en', got {language!r}")
    if await UserAccount.exists(username=username):
        raise AccountError(f"username {username!r} is taken")
    return await UserAccount.create(
        username=username,
        display_name=display_name or username,
        password_hash=await hash_password_off_loop(password),
        role=role,
        unit_code=unit_code,
        employee_nip=employee_nip,
        language=language,
    )


async def authenticate_password(username: str, password: str) -> UserAccount | None:
    user = await UserAccount.get_or_none(username=username, active=True)
    if user is None:
        await verify_password_off_loop(_DUMMY_HASH, password)
        return None
    if not await verify_password_off_loop(user.password_hash, password):
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = await hash_password_off_loop(password)
        await user.save(update_fields=["password_hash"])
    return user


async def start_session(user: UserAccount) -> tuple[str, WebSession]:
    """A new session: the token (for the cookie, never stored) and its row."""
    token = secrets.token_urlsafe(32)
    session = await WebSession.create(
        token_hash=token_digest(token),
        user=user,
        csrf_token=secrets.token_urlsafe(32),
        expires_at=datetime.now(UTC) + SESSION_LIFETIME,
    )
    return token, session


async def find_session(token: str) -> WebSession | None:
    session = await WebSession.get_or_none(token_hash=token_digest(token)).prefetch_related("user")
    if session is None:
        return None
    if session.expires_at <= datetime.now(UTC) or not session.user.active:
        await session.delete()
        return None
    return session


async def end_session(token: str) -> None:
    await WebSession.filter(token_hash=token_digest(token)).delete()


async def issue_api_token(user: UserAccount, name: str) -> str:
    """A new API token for `user`; the clear text is returned once and never stored."""
    token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    await ApiToken.create(user=user, name=name[:100], token_hash=token_digest(token))
    return token


async def find_api_token_user(token: str) -> UserAccount | None:
    if not token.startswith(API_TOKEN_PREFIX) or len(token) > 200:
        return None
    row = await ApiToken.get_or_none(token_hash=token_digest(token), revoked=False).prefetch_related("user")
    if row is None or not row.user.active:
        return None
    row.last_used_at = datetime.now(UTC)
    await row.save(update_fields=["last_used_at"])
    return row.user


async def demo_admin(username: str = "demo") -> str:
    """A bureau administrator for `kinerja demo` with a fresh random password (returned, printed once)."""
    password = secrets.token_urlsafe(12)
    user = await UserAccount.get_or_none(username=username)
    if user is None:
        await create_user(username, password, Role.BUREAU_ADMIN, display_name="Demo")
    else:
        user.password_hash, user.active = await hash_password_off_loop(password), True
        await user.save(update_fields=["password_hash", "active"])
    return password
