"""The keys that seal biometric templates, kept outside the database (UU 27/2022: specific personal data).

A key file (KINERJA_BIOMETRIC_KEY_FILE; mode 0600, owned by the server's user) holds one key a line:

    # kinerja biometric keys: the last line seals new templates; the others only open old ones
    k20261202a 3q2+7w...base64 of 32 random bytes...=

`kinerja server rotate-biometric-key` appends a new key, re-encrypts every template under it and only
then drops the keys no template uses any more; until it is done, every listed key still opens its
templates, so a rotation cut off half way loses nothing and can be run again.

Sealing is AES-256-GCM with a random 96-bit nonce; the associated data is the template's slot (unit,
PIN, modality, index, format), so a ciphertext copied onto another person's row fails to open.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_FILE_ENV = "KINERJA_BIOMETRIC_KEY_FILE"
_KEY_ID = re.compile(r"^[0-9A-Za-z_-]{1,32}$")
_NONCE_BYTES = 12
_HEADER = "# kinerja biometric keys: the last line seals new templates; the others only open old ones\n"


class BiometricKeyError(ValueError):
    """A key file that cannot be used as it is; the text says what to fix (never a key)."""


@dataclass(frozen=True, slots=True)
class Slot:
    """What a template is of: bound to its ciphertext as associated data."""

    unit_code: str
    pin: str
    modality: str
    index: int
    template_format: str

    def associated_data(self) -> bytes:
        return "\x1f".join((self.unit_code, self.pin, self.modality, str(self.index), self.template_format)).encode()


class Keyring:
    """The keys of one key file, by id; `current` seals, every one opens."""

    def __init__(self, keys: dict[str, bytes], current: str, path: Path | None = None) -> None:
        if current not in keys:
            raise BiometricKeyError("the current key is not in the key ring")
        self._keys = dict(keys)
        self.current = current
        self.path = path

    def __repr__(self) -> str:  # never the keys
        return f"Keyring(current={self.current!r}, ids={sorted(self._keys)!r})"

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    def seal(self, slot: Slot, template: bytes) -> tuple[str, bytes]:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = AESGCM(self._keys[self.current]).encrypt(nonce, template, slot.associated_data())
        return self.current, nonce + sealed

    def open(self, slot: Slot, key_id: str, ciphertext: bytes) -> bytes:
        key = self._keys.get(key_id)
        if key is None:
            raise BiometricKeyError(f"template sealed under key {key_id!r}, which the key file no longer holds")
        try:
            return AESGCM(key).decrypt(ciphertext[:_NONCE_BYTES], ciphertext[_NONCE_BYTES:], slot.associated_data())
        except InvalidTag:
            raise BiometricKeyError(f"a template sealed under key {key_id!r} does not open: altered or moved") from None

    @classmethod
    def load(cls, path: Path) -> Keyring:
        try:
            info = path.stat()
        except FileNotFoundError:
            raise BiometricKeyError(
                f"biometric key file {path} does not exist (create it: kinerja server rotate-biometric-key)"
            ) from None
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise BiometricKeyError(f"biometric key file {path} is readable by others: chmod 600 {path}")
        keys: dict[str, bytes] = {}
        current = ""
        for number, line in enumerate(path.read_text(encoding="ascii").splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key_id, _, encoded = line.partition(" ")
            try:
                key = base64.b64decode(encoded.strip(), validate=True)
            except ValueError:
                key = b""
            if not _KEY_ID.match(key_id) or len(key) != 32:
                raise BiometricKeyError(f"{path} line {number}: expected '<key id> <base64 of 32 bytes>'")
            if key_id in keys:
                raise BiometricKeyError(f"{path} line {number}: key id {key_id!r} appears twice")
            keys[key_id] = key
            current = key_id
        if not keys:
            raise BiometricKeyError(f"biometric key file {path} holds no key")
        return cls(keys, current, path)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Keyring | None:
        """The key ring of KINERJA_BIOMETRIC_KEY_FILE; None when unset (the centre then stores no template)."""
        value = (os.environ if env is None else env).get(KEY_FILE_ENV, "").strip()
        return cls.load(Path(value)) if value else None

    def with_new_key(self) -> Keyring:
        """This ring plus a fresh key, which becomes the current one (written by `save`)."""
        key_id = "k" + datetime.now(UTC).strftime("%Y%m%d%H%M%S") + secrets.token_hex(2)
        return Keyring({**self._keys, key_id: secrets.token_bytes(32)}, key_id, self.path)

    def keeping_only(self, key_ids: set[str]) -> Keyring:
        kept = {key_id: key for key_id, key in self._keys.items() if key_id in key_ids or key_id == self.current}
        return Keyring(kept, self.current, self.path)

    def save(self, path: Path | None = None) -> None:
        """Written whole to a new file beside it and renamed over it: a crash leaves the old file or the new."""
        target = path or self.path
        if target is None:
            raise BiometricKeyError("no key file to write")
        older = [key_id for key_id in self._keys if key_id != self.current]
        lines = [_HEADER] + [f"{key_id} {base64.b64encode(self._keys[key_id]).decode()}\n" for key_id in older]
        lines.append(f"{self.current} {base64.b64encode(self._keys[self.current]).decode()}\n")
        temporary = target.with_name(target.name + ".new")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.writelines(lines)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
        self.path = target


def new_keyring(path: Path) -> Keyring:
    """A key file with one fresh key (the first run of rotate-biometric-key)."""
    key_id = "k" + datetime.now(UTC).strftime("%Y%m%d%H%M%S") + secrets.token_hex(2)
    ring = Keyring({key_id: secrets.token_bytes(32)}, key_id, path)
    ring.save()
    return ring
