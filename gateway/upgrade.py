"""Upgrades without a site visit: fetch a release from the centre, check the centre's signature, install
it beside the running one, switch, restart, and go back by itself if the new version does not come up.

Who does what:

- the gateway process (unprivileged, sandboxed) never touches its own code. Told to upgrade (the
  `upgrade` command from the centre), it only checks the request and leaves it in its state directory
  (`upgrade-request.json`);
- `kinerja-gateway-upgrade.path` sees the file and starts `kinerja-gateway-upgrade.service`, which runs
  `kinerja gateway upgrade --pending` as root: download the signature and the artefact over HTTP(S) from
  the centre, refuse anything not signed by a key in /etc/kinerja/release-signing.pub before a byte of it
  is unpacked, build /opt/kinerja/releases/<version> offline, switch `current`, restart the gateway;
- healthy means: within `health_timeout_s` the new process writes its health marker (`health.json`:
  its version, its pid, connected to the broker), and it is still the same process `settle_s` later.
  Otherwise `current` goes back to the previous release and the gateway is restarted on it;
- a journal (/opt/kinerja/upgrade-journal.json) records a switch in progress, so that a power cut in the
  middle is finished at the next boot (the service also runs at boot) and a bad version rolled back;
- the outcome is left in the state directory (`upgrade-result.json`) for the gateway to report.

The signature file (`<artefact>.sig`, JSON) names the artefact, its version, size and SHA-256, and the
signing key's id; an Ed25519 signature covers all of that (canonical JSON), so the large artefact is
hashed, not held in memory, and a signature cannot be moved to another file or version.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import ssl
import subprocess
import sys
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from gateway import release
from gateway.release import ReleaseError, check_version

log = logging.getLogger(__name__)

TRUSTED_KEYS = Path("/etc/kinerja/release-signing.pub")
GATEWAY_CONFIG = Path("/etc/kinerja/gateway.toml")
DEFAULT_STATE_DIR = Path("/var/lib/kinerja-gateway")
GATEWAY_UNIT = "kinerja-gateway.service"
HEALTH_MARKER = "health.json"
UPGRADE_REQUEST = "upgrade-request.json"
UPGRADE_RESULT = "upgrade-result.json"
JOURNAL = "upgrade-journal.json"
MAX_SIGNATURE_BYTES = 64 * 1024
MAX_ARTEFACT_BYTES = 256 * 1024 * 1024
SIGNED_FIELDS = ("name", "version", "artefact", "size", "sha256", "key_id")


class UpgradeError(ValueError):
    """An upgrade refused or failed; the running version stays."""


# --- signatures ------------------------------------------------------------------------------------


def key_id(public_key: bytes) -> str:
    return hashlib.sha256(public_key).hexdigest()[:16]


def public_key_line(public_key: bytes, comment: str) -> str:
    """One line of the trusted-keys file: `ed25519 <base64 of the 32-byte key> <comment>`."""
    return f"ed25519 {base64.b64encode(public_key).decode()} {comment}".strip()


def load_trusted_keys(path: Path = TRUSTED_KEYS) -> dict[str, bytes]:
    """Key id -> raw Ed25519 public key. Several lines: key rotation (old and new both trusted)."""
    keys: dict[str, bytes] = {}
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise UpgradeError(f"{path}: no trusted release keys; upgrades are refused") from None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split()
        try:
            raw = base64.b64decode(parts[1], validate=True) if parts[0] == "ed25519" and len(parts) > 1 else b""
        except ValueError:
            raw = b""
        if len(raw) != 32:
            raise UpgradeError(f"{path}:{number}: expected `ed25519 <base64 public key> [comment]`")
        keys[key_id(raw)] = raw
    if not keys:
        raise UpgradeError(f"{path}: no trusted release keys; upgrades are refused")
    return keys


def signed_statement(fields: dict[str, Any]) -> bytes:
    """The bytes an Ed25519 signature covers: the signed fields, canonical JSON."""
    return json.dumps({name: fields[name] for name in SIGNED_FIELDS}, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class SignedRelease:
    name: str
    version: str
    artefact: str
    size: int
    sha256: str
    key_id: str
    signature: str

    @classmethod
    def from_json(cls, data: bytes) -> SignedRelease:
        try:
            body = json.loads(data)
            signed = cls(**{name: body[name] for name in (*SIGNED_FIELDS, "signature")})
        except (ValueError, KeyError, TypeError) as exc:
            raise UpgradeError(f"signature file unreadable: {exc}") from None
        checks = (
            (signed.name == release.ARTEFACT_NAME, "name"),
            (isinstance(signed.size, int) and 0 < signed.size <= MAX_ARTEFACT_BYTES, "size"),
            (isinstance(signed.sha256, str) and re.fullmatch(r"[0-9a-f]{64}", signed.sha256), "sha256"),
            (isinstance(signed.artefact, str) and re.fullmatch(r"[A-Za-z0-9._+-]{1,128}", signed.artefact), "artefact"),
        )
        for ok, field_name in checks:
            if not ok:
                raise UpgradeError(f"signature file: bad {field_name}")
        try:
            check_version(signed.version)
        except ReleaseError as exc:
            raise UpgradeError(f"signature file: {exc}") from None
        return signed

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=1).encode()

    def verify(self, trusted: dict[str, bytes]) -> None:
        """Raise UpgradeError unless a trusted key signed exactly these fields."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        public = trusted.get(self.key_id)
        if public is None:
            raise UpgradeError(
                f"release {self.version} is signed by key {self.key_id}, which this gateway does not trust"
            )
        try:
            signature = base64.b64decode(self.signature, validate=True)
            Ed25519PublicKey.from_public_bytes(public).verify(signature, signed_statement(asdict(self)))
        except (InvalidSignature, ValueError):
            raise UpgradeError(f"release {self.version}: the signature does not verify; refused") from None


def check_artefact(path: Path, signed: SignedRelease) -> None:
    size = path.stat().st_size
    if size != signed.size:
        raise UpgradeError(f"release {signed.version}: {size} bytes downloaded, {signed.size} signed; refused")
    if release.sha256_of(path) != signed.sha256:
        raise UpgradeError(f"release {signed.version}: the artefact is not the one signed; refused")


# --- fetching from the centre ----------------------------------------------------------------------


def check_url(url: object, what: str = "url") -> str:
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 2048:  # type: ignore[arg-type]
        raise UpgradeError(f"{what}: expected an http:// or https:// address at the centre, got {url!r}")
    if parts.username or parts.password:
        raise UpgradeError(f"{what}: no credentials in the address")
    return url  # type: ignore[return-value]


def download(url: str, destination: Path, *, max_bytes: int, timeout_s: float = 60, ca_file: str | None = None) -> None:
    """Stream `url` to `destination`, refusing more than `max_bytes`."""
    check_url(url)
    context = ssl.create_default_context(cafile=ca_file) if url.startswith("https:") else None
    request = urllib.request.Request(url, headers={"User-Agent": "kinerja-gateway-upgrade"})
    try:
        with (
            urllib.request.urlopen(request, timeout=timeout_s, context=context) as answer,
            destination.open("wb") as out,
        ):
            total = 0
            while block := answer.read(1 << 20):
                total += len(block)
                if total > max_bytes:
                    raise UpgradeError(f"{url}: larger than {max_bytes} bytes; refused")
                out.write(block)
    except OSError as exc:  # URLError, HTTPError, timeouts
        raise UpgradeError(f"could not download {url}: {exc}") from None


# --- the health marker the gateway writes, and the service it runs as -------------------------------


def _write_json(path: Path, body: dict[str, Any], owner_of: Path | None = None) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(body) + "\n")
    if owner_of is not None and os.geteuid() == 0:  # root writes it for the gateway's user to read
        stat = owner_of.stat()
        os.chown(temporary, stat.st_uid, stat.st_gid)
    os.replace(temporary, path)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        body = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return body if isinstance(body, dict) else None


def write_health_marker(state_dir: Path, *, version: str, uplink: bool) -> None:
    """Called by the gateway when it is ready and whenever it (re)connects to the broker."""
    with contextlib.suppress(OSError):  # health reporting must never take the gateway down
        _write_json(
            state_dir / HEALTH_MARKER, {"version": version, "pid": os.getpid(), "uplink": uplink, "at": time.time()}
        )


def read_health_marker(state_dir: Path) -> dict[str, Any] | None:
    return _read_json(state_dir / HEALTH_MARKER)


class ServiceControl(Protocol):
    """How the upgrader restarts the gateway and sees which process runs it."""

    def restart(self) -> None: ...

    def main_pid(self) -> int | None: ...


@dataclass
class SystemdService:
    unit: str = GATEWAY_UNIT

    def restart(self) -> None:
        # --no-block: the upgrader judges health itself, rather than trusting readiness alone.
        subprocess.run(["systemctl", "restart", "--no-block", self.unit], check=True, timeout=60)

    def main_pid(self) -> int | None:
        result = subprocess.run(
            ["systemctl", "show", "--property=MainPID,ActiveState", self.unit],
            capture_output=True,
            text=True,
            timeout=30,
        )
        values = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
        pid = int(values.get("MainPID", "0") or 0)
        return pid if pid and values.get("ActiveState") == "active" else None


# --- the upgrade ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UpgradeOutcome:
    status: str  # upgraded | rolled_back | refused | unchanged | failed
    version: str | None
    previous: str | None
    detail: str

    @property
    def ok(self) -> bool:
        return self.status in ("upgraded", "unchanged")


@dataclass
class Upgrader:
    root: Path
    state_dir: Path
    trusted_keys: dict[str, bytes]
    service: ServiceControl
    health_timeout_s: float = 180
    settle_s: float = 20
    require_uplink: bool = True
    ca_file: str | None = None
    keep: int = 3
    python: str | None = None
    poll_s: float = 0.5

    def upgrade(
        self, url: str, *, signature_url: str | None = None, expected_version: str | None = None
    ) -> UpgradeOutcome:
        with self._locked():
            outcome = self._upgrade(check_url(url), signature_url or f"{url}.sig", expected_version)
        log.info("upgrade: %s (%s)", outcome.status, outcome.detail)
        self._leave_result(outcome)
        return outcome

    def _upgrade(self, url: str, signature_url: str, expected_version: str | None) -> UpgradeOutcome:
        previous = release.current_version(self.root)
        downloads = self.root / "downloads"
        shutil.rmtree(downloads, ignore_errors=True)
        downloads.mkdir(parents=True)
        try:
            try:
                download(signature_url, downloads / "release.sig", max_bytes=MAX_SIGNATURE_BYTES, ca_file=self.ca_file)
                signed = SignedRelease.from_json((downloads / "release.sig").read_bytes())
                if expected_version and signed.version != expected_version:
                    raise UpgradeError(
                        f"the centre asked for {expected_version}; the signature is for {signed.version}"
                    )
                if signed.version == previous:
                    return UpgradeOutcome("unchanged", previous, previous, f"{previous} is already running")
                artefact = downloads / signed.artefact
                download(url, artefact, max_bytes=signed.size, ca_file=self.ca_file)
                check_artefact(artefact, signed)
                signed.verify(self.trusted_keys)  # nothing is unpacked before this
                manifest = release.read_manifest(artefact)
                if manifest.version != signed.version:
                    raise UpgradeError(f"signed as {signed.version}, the manifest says {manifest.version}; refused")
            except (UpgradeError, ReleaseError) as exc:
                return UpgradeOutcome("refused", expected_version, previous, str(exc))
            try:
                target = release.install(artefact, self.root, python=self.python)
            except (ReleaseError, OSError, subprocess.CalledProcessError) as exc:
                return UpgradeOutcome("failed", signed.version, previous, f"not installed, {previous} stays: {exc}")
        finally:
            shutil.rmtree(downloads, ignore_errors=True)
        return self._switch_and_watch(target.name, previous)

    def _switch_and_watch(self, version: str, previous: str | None) -> UpgradeOutcome:
        self._journal({"state": "switching", "version": version, "previous": previous, "at": time.time()})
        since = time.time()
        release.switch(self.root, self.root / "releases" / version)
        self.service.restart()
        healthy, why = self.wait_healthy(version, since)
        if healthy:
            self._journal(None)
            release.prune(self.root, self.keep, protect=[previous] if previous else [])
            return UpgradeOutcome("upgraded", version, previous, f"{version} runs and is connected")
        return self._roll_back(version, previous, why)

    def _roll_back(self, version: str, previous: str | None, why: str) -> UpgradeOutcome:
        if previous is None:
            self._journal(None)
            return UpgradeOutcome("failed", version, None, f"{why}; there is no earlier release to go back to")
        log.warning("upgrade to %s: %s; rolling back to %s", version, why, previous)
        since = time.time()
        release.switch(self.root, self.root / "releases" / previous)
        self.service.restart()
        back, why_back = self.wait_healthy(previous, since)
        self._journal(None)
        shutil.rmtree(self.root / "releases" / version, ignore_errors=True)  # a retry installs it afresh
        detail = f"{why}; back on {previous}" + ("" if back else f", which is not healthy either: {why_back}")
        return UpgradeOutcome("rolled_back", version, previous, detail)

    def wait_healthy(self, version: str, since: float) -> tuple[bool, str]:
        """The process running the service wrote a marker naming `version` after `since` (connected to
        the broker, when required), and is the same process `settle_s` later."""
        deadline = time.monotonic() + self.health_timeout_s
        seen = "no health marker"
        while time.monotonic() < deadline:
            marker = read_health_marker(self.state_dir) or {}
            pid = self.service.main_pid()
            fresh = marker.get("version") == version and marker.get("pid") == pid and marker.get("at", 0) >= since
            if pid and fresh and (marker.get("uplink") or not self.require_uplink):
                settled = time.monotonic() + self.settle_s
                while time.monotonic() < settled:
                    if self.service.main_pid() != pid:
                        return False, f"{version} came up, then its process ended within {self.settle_s:.0f} s"
                    time.sleep(self.poll_s)
                return True, "healthy"
            if pid and fresh:
                seen = f"{version} runs but is not connected to the broker"
            time.sleep(self.poll_s)
        return False, f"{version} did not come up healthy within {self.health_timeout_s:.0f} s ({seen})"

    def resume(self) -> UpgradeOutcome | None:
        """At boot: a switch that a power cut interrupted is judged again, and rolled back if bad."""
        journal = _read_json(self.root / JOURNAL)
        if not journal or journal.get("state") != "switching":
            return None
        version, previous = str(journal.get("version")), journal.get("previous")
        with self._locked():
            if release.current_version(self.root) != version:  # the switch itself never happened
                self._journal(None)
                return None
            healthy, why = self.wait_healthy(version, float(journal.get("at", 0)))
            if healthy:
                self._journal(None)
                outcome = UpgradeOutcome("upgraded", version, previous, f"{version} runs (confirmed after a restart)")
            else:
                outcome = self._roll_back(version, previous, why)
        self._leave_result(outcome)
        return outcome

    def run_pending(self) -> UpgradeOutcome | None:
        """What the upgrade service does: finish an interrupted switch, then carry out a request if any."""
        outcome = self.resume()
        request = take_request(self.state_dir)
        if request is None:
            return outcome
        return self.upgrade(
            request["url"], signature_url=request.get("signature_url"), expected_version=request["version"]
        )

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".upgrade.lock").open("w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise UpgradeError("another upgrade is under way") from None
            yield

    def _journal(self, body: dict[str, Any] | None) -> None:
        path = self.root / JOURNAL
        if body is None:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        else:
            _write_json(path, body)

    def _leave_result(self, outcome: UpgradeOutcome) -> None:
        with contextlib.suppress(OSError):
            body = {**asdict(outcome), "at": time.time()}
            _write_json(self.state_dir / UPGRADE_RESULT, body, owner_of=self.state_dir)


# --- requests from the centre, through the gateway process -------------------------------------------


def running_release_root() -> Path | None:
    """/opt/kinerja when this process runs from an installed release (…/releases/<v>/venv), else None."""
    prefix = Path(sys.prefix).resolve()
    if prefix.name == "venv" and prefix.parent.parent.name == "releases":
        root = prefix.parent.parent.parent
        return root if (root / "current").is_symlink() else None
    return None


def request_upgrade(state_dir: Path, args: dict[str, Any], *, release_root: Path | None = None) -> str:
    """The gateway's side of the `upgrade` command: check it, leave it for the upgrade service."""
    root = release_root or running_release_root()
    if root is None:
        raise UpgradeError("this gateway was not installed from a release package; upgrade it on site")
    try:
        version = check_version(args.get("version"))  # type: ignore[arg-type]
    except ReleaseError as exc:
        raise UpgradeError(f"args.version: {exc}") from None
    request = {"version": version, "url": check_url(args.get("url"), "args.url")}
    if args.get("signature_url") is not None:
        request["signature_url"] = check_url(args.get("signature_url"), "args.signature_url")
    running = release.current_version(root)
    if version == running:
        return f"{version} is already running"
    _write_json(state_dir / UPGRADE_REQUEST, request)
    return f"upgrade from {running} to {version} requested; the gateway restarts on it, or stays on {running}"


def take_request(state_dir: Path) -> dict[str, Any] | None:
    """Read and remove the pending request (written by the less trusted gateway process: checked again)."""
    path = state_dir / UPGRADE_REQUEST
    body = _read_json(path)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    if body is None:
        return None
    try:
        request = {"version": check_version(body.get("version")), "url": check_url(body.get("url"))}
        if body.get("signature_url") is not None:
            request["signature_url"] = check_url(body.get("signature_url"), "signature_url")
    except (UpgradeError, ReleaseError) as exc:
        log.warning("upgrade request ignored: %s", exc)
        return None
    return request


def state_dir_of(config_path: Path) -> Path:
    """The gateway's state directory from its config, without validating the rest of it."""
    try:
        return Path(tomllib.loads(config_path.read_text()).get("state_dir", DEFAULT_STATE_DIR))
    except (OSError, tomllib.TOMLDecodeError):
        return DEFAULT_STATE_DIR
