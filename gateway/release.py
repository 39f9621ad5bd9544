"""A gateway release on disk: the artefact's format, and installing one side by side under /opt/kinerja.

An artefact (built at the centre by `kinerja release build`) is a tar holding

    manifest.json        name, version, target Python, and the SHA-256 of every other file
    install.txt          pip requirements: every wheel below, pinned, with its hash (--require-hashes)
    wheels/*.whl         the project and each locked dependency, for every target architecture
    docs/, systemd/      what the gateway's unit and `systemctl help` point at

and installs as

    /opt/kinerja/releases/<version>/venv     a virtual environment built offline from those wheels
    /opt/kinerja/releases/<version>/docs     ... and the rest of the artefact
    /opt/kinerja/current -> releases/<version>

so a new version is built beside the running one, switched to by renaming one symlink, and switched
back the same way. This module uses the standard library only: the Debian package's postinst runs it
with the system's python3 before any virtual environment exists
(`python3 release.py install ARTEFACT --root /opt/kinerja --switch-if-newer`).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ARTEFACT_NAME = "kinerja-gateway"
MANIFEST = "manifest.json"
INSTALL_REQUIREMENTS = "install.txt"
INSTALLED_MARKER = "installed.json"
DEFAULT_ROOT = Path("/opt/kinerja")
MAX_MEMBERS = 2000
MAX_UNPACKED_BYTES = 512 * 1024 * 1024
_VERSION = re.compile(r"^[0-9]+(\.[0-9]+){1,3}([a-z0-9.+-]{0,32})$")


class ReleaseError(ValueError):
    """An artefact that must not be installed, or an install that failed; nothing was switched."""


@dataclass(frozen=True, slots=True)
class Manifest:
    name: str
    version: str
    python: str  # "3.11": the wheels' interpreter
    platforms: tuple[str, ...]
    files: dict[str, str]  # path in the artefact -> sha256

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        try:
            body = json.loads(data)
            manifest = cls(
                name=str(body["name"]),
                version=str(body["version"]),
                python=str(body["python"]),
                platforms=tuple(str(p) for p in body["platforms"]),
                files={str(k): str(v) for k, v in body["files"].items()},
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ReleaseError(f"{MANIFEST}: unreadable ({exc})") from None
        if manifest.name != ARTEFACT_NAME:
            raise ReleaseError(f"{MANIFEST}: this is {manifest.name!r}, not a {ARTEFACT_NAME} release")
        check_version(manifest.version)
        if INSTALL_REQUIREMENTS not in manifest.files:
            raise ReleaseError(f"{MANIFEST}: lists no {INSTALL_REQUIREMENTS}")
        return manifest

    def to_json(self) -> bytes:
        body = {
            "name": self.name,
            "version": self.version,
            "python": self.python,
            "platforms": list(self.platforms),
            "files": dict(sorted(self.files.items())),
        }
        return json.dumps(body, indent=1).encode()


def check_version(version: str) -> str:
    """A version is also a directory name: digits and dots, an optional short suffix, nothing else."""
    if not isinstance(version, str) or not _VERSION.match(version) or ".." in version:
        raise ReleaseError(f"version {version!r}: expected e.g. 0.2.0 or 0.2.0rc1")
    return version


def version_key(version: str) -> tuple[tuple[int, ...], int, str]:
    """Order versions: 0.10.0 > 0.9.1 > 0.9.1rc1. (PEP 440's common cases; the rest sort as text.)"""
    match = re.match(r"^([0-9]+(?:\.[0-9]+)*)(.*)$", version)
    if not match:
        return ((), 0, version)
    numbers = tuple(int(part) for part in match.group(1).split("."))
    suffix = match.group(2)
    return (numbers, 0 if suffix and suffix[0] in "abrc" else 1, suffix)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(artefact: Path) -> Manifest:
    try:
        with tarfile.open(artefact) as archive:
            member = archive.getmember(MANIFEST)
            source = archive.extractfile(member) if member.isfile() and member.size < 1 << 20 else None
            if source is None:
                raise ReleaseError(f"{artefact.name}: {MANIFEST} is not a small regular file")
            return Manifest.from_json(source.read())
    except KeyError:
        raise ReleaseError(f"{artefact.name}: no {MANIFEST}; not a {ARTEFACT_NAME} release") from None
    except (tarfile.TarError, OSError) as exc:
        raise ReleaseError(f"{artefact.name}: not a readable tar ({exc})") from None


def _safe_name(artefact: Path, member: tarfile.TarInfo) -> str:
    """The member's path inside the release; refused unless a plain relative path to a directory or file."""
    name = member.name.removeprefix("./")
    parts = Path(name).parts
    if not name or name.startswith("/") or ".." in parts or "\\" in name:
        raise ReleaseError(f"{artefact.name}: unsafe path {member.name!r}")
    if not member.isdir() and not member.isfile():
        raise ReleaseError(f"{artefact.name}: {member.name!r} is not a regular file")
    return name


def _extract_checked(archive: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> str:
    """Write one regular file to `target`; returns the SHA-256 of what was written."""
    target.parent.mkdir(parents=True, exist_ok=True)
    source = archive.extractfile(member)
    assert source is not None
    digest = hashlib.sha256()
    with source, target.open("wb") as out:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
            out.write(block)
    return digest.hexdigest()


def unpack(artefact: Path, destination: Path) -> Manifest:
    """Unpack only regular files and directories under `destination`, each file checked against the
    manifest: no links, devices, absolute paths or '..', nothing unlisted, nothing missing."""
    manifest = read_manifest(artefact)
    seen: set[str] = set()
    total = 0
    with tarfile.open(artefact) as archive:
        members = archive.getmembers()
        if len(members) > MAX_MEMBERS:
            raise ReleaseError(f"{artefact.name}: {len(members)} entries; at most {MAX_MEMBERS}")
        for member in members:
            name = _safe_name(artefact, member)
            target = destination / name
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            if name == MANIFEST:
                continue
            if name not in manifest.files:
                raise ReleaseError(f"{artefact.name}: {name!r} is not listed in the manifest")
            total += member.size
            if total > MAX_UNPACKED_BYTES:
                raise ReleaseError(f"{artefact.name}: unpacks to more than {MAX_UNPACKED_BYTES} bytes")
            if _extract_checked(archive, member, target) != manifest.files[name]:
                raise ReleaseError(f"{artefact.name}: {name} does not match its checksum in the manifest")
            seen.add(name)
    missing = sorted(set(manifest.files) - seen)
    if missing:
        raise ReleaseError(f"{artefact.name}: listed in the manifest but absent: {', '.join(missing[:5])}")
    (destination / MANIFEST).write_bytes(manifest.to_json())
    return manifest


def base_python() -> str:
    """The interpreter a release's venv is built on: the system's, even when we run inside a venv."""
    return getattr(sys, "_base_executable", None) or sys.executable


def _python_version(python: str) -> str:
    result = subprocess.run(
        [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def _bundled_pip(python: str) -> str | None:
    """The pip wheel the interpreter's ensurepip would use: Debian's python3-pip-whl, or CPython's own."""
    result = subprocess.run(
        [python, "-c", "import ensurepip, os; print(os.path.dirname(ensurepip.__file__))"],
        capture_output=True,
        text=True,
    )
    places = [Path("/usr/share/python-wheels")]
    if result.returncode == 0:
        places.append(Path(result.stdout.strip()) / "_bundled")
    for place in places:
        wheels = sorted(place.glob("pip-*-py3-none-any.whl"), key=lambda p: version_key(p.name.split("-")[1]))
        if wheels:
            return str(wheels[-1])
    return None


def install(artefact: Path, root: Path = DEFAULT_ROOT, *, python: str | None = None) -> Path:
    """Build `root/releases/<version>` from the artefact, offline; return it. Idempotent: a version
    already installed completely is returned as it is. Nothing is switched here."""
    manifest = read_manifest(artefact)
    releases = root / "releases"
    final = releases / manifest.version
    if (final / INSTALLED_MARKER).exists():
        return final
    python = python or base_python()
    found = _python_version(python)
    if found != manifest.python:
        raise ReleaseError(
            f"release {manifest.version} is built for Python {manifest.python}; this system's {python} is {found}"
        )
    releases.mkdir(parents=True, exist_ok=True)
    staging = releases / f".{manifest.version}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    if final.exists():  # an earlier attempt that did not finish
        shutil.rmtree(final)
    staging.mkdir()
    try:
        unpack(artefact, staging)
        # The venv is created where it will live: its scripts name their interpreter by absolute path.
        staging.rename(final)
        venv = final / "venv"
        bundled_pip = _bundled_pip(python)
        if bundled_pip:  # pip run from its wheel: no pip (nor setuptools) is installed into the venv, seconds saved
            subprocess.run([python, "-m", "venv", "--without-pip", str(venv)], check=True, capture_output=True)
            pip = [str(venv / "bin" / "python"), f"{bundled_pip}/pip"]
        else:
            subprocess.run([python, "-m", "venv", str(venv)], check=True, capture_output=True)
            pip = [str(venv / "bin" / "python"), "-m", "pip"]
        pip += ["install", "--quiet", "--no-index", "--no-cache-dir"]
        pip += ["--disable-pip-version-check", "--require-hashes", "--only-binary=:all:"]
        pip += ["--find-links", str(final / "wheels"), "-r", str(final / INSTALL_REQUIREMENTS)]
        # The machine's pip configuration (extra indexes, constraints) is not the release's business.
        env = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
        env["PIP_CONFIG_FILE"] = os.devnull
        result = subprocess.run(pip, capture_output=True, text=True, env=env)
        if result.returncode != 0:
            raise ReleaseError(f"release {manifest.version}: pip could not install it:\n{result.stderr.strip()}")
        shutil.rmtree(final / "wheels")  # installed; the artefact stays where it came from
        (final / INSTALLED_MARKER).write_text(json.dumps({"version": manifest.version, "python": found}) + "\n")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(final, ignore_errors=True)
        raise
    return final


def current(root: Path = DEFAULT_ROOT) -> Path | None:
    """The release `current` points at, or None before the first install."""
    link = root / "current"
    if not link.is_symlink():
        return None
    return (root / os.readlink(link)).resolve()


def current_version(root: Path = DEFAULT_ROOT) -> str | None:
    release = current(root)
    return release.name if release else None


def switch(root: Path, release: Path) -> None:
    """Point `current` at `release` in one rename: a reader sees the old target or the new, never none."""
    if not (release / INSTALLED_MARKER).exists():
        raise ReleaseError(f"{release} is not a completely installed release")
    link = root / "current"
    temporary = root / ".current.new"
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    os.symlink(os.path.relpath(release, root), temporary)
    os.replace(temporary, link)
    descriptor = os.open(root, os.O_RDONLY)
    try:
        os.fsync(descriptor)  # the switch survives a power cut right after it
    finally:
        os.close(descriptor)


def installed_versions(root: Path = DEFAULT_ROOT) -> list[str]:
    releases = root / "releases"
    if not releases.is_dir():
        return []
    found = [p.name for p in releases.iterdir() if (p / INSTALLED_MARKER).exists()]
    return sorted(found, key=version_key)


def prune(root: Path, keep: int = 3, protect: Sequence[str] = ()) -> list[str]:
    """Remove old releases beyond the newest `keep`, never the current one nor those in `protect`."""
    versions = installed_versions(root)
    spared = {*protect, current_version(root) or ""}
    removed = []
    for version in versions[: max(0, len(versions) - keep)]:
        if version not in spared:
            shutil.rmtree(root / "releases" / version)
            removed.append(version)
    return removed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="release.py", description="install a Kinerja gateway release")
    actions = parser.add_subparsers(dest="action", required=True)
    install_cmd = actions.add_parser("install", help="build releases/<version> from an artefact, offline")
    install_cmd.add_argument("artefact", type=Path)
    install_cmd.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    install_cmd.add_argument("--python", help="interpreter for the venv (default: the system's)")
    install_cmd.add_argument("--switch", action="store_true", help="then point `current` at it")
    install_cmd.add_argument(
        "--switch-if-newer", action="store_true", help="switch only if nothing is current or it is older"
    )
    actions.add_parser("list", help="installed releases, the current one marked").add_argument(
        "--root", type=Path, default=DEFAULT_ROOT
    )
    args = parser.parse_args(argv)
    try:
        if args.action == "list":
            now = current_version(args.root)
            for version in installed_versions(args.root):
                print(f"{'*' if version == now else ' '} {version}")
            return 0
        release = install(args.artefact, args.root, python=args.python)
        now = current_version(args.root)
        newer = now is None or version_key(release.name) > version_key(now)
        if args.switch or (args.switch_if_newer and newer):
            switch(args.root, release)
            print(f"installed {release.name}; current is now {release.name}")
        else:
            print(f"installed {release.name}; current stays {now}")
        return 0
    except (ReleaseError, OSError, subprocess.CalledProcessError) as exc:
        print(f"kinerja release: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
