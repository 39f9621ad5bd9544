"""A fresh Debian 12 (bookworm) for install tests: debootstrap into a folder, chroot into it.

debootstrap takes under a minute here, so the bare system (minbase), with its package lists and the
Debian packages our package depends on already downloaded (so the test's `apt install` resolves them
for real, but offline), is kept as a tarball under /var/cache/kinerja-ci, keyed by those
dependencies; each test unpacks a copy of its own. `python -m tests.debian_chroot` prepares it ahead.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

SUITE = "bookworm"
CACHE = Path(os.environ.get("KINERJA_DEBIAN_CACHE", "/var/cache/kinerja-ci"))
CONTROL = Path(__file__).resolve().parent.parent / "deploy" / "gateway" / "debian" / "control"
CLEAN_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive", "LANG": "C.UTF-8"}


def missing_tools() -> list[str]:
    missing = [tool for tool in ("debootstrap", "chroot", "tar") if shutil.which(tool) is None]
    if os.geteuid() != 0:
        missing.append("root (chroot)")
    return missing


def package_relations(control: Path = CONTROL) -> list[str]:
    """The package names in Depends and Recommends: what `apt install ./kinerja-gateway.deb` pulls in."""
    names: list[str] = []
    for line in control.read_text().splitlines():
        field, _, value = line.partition(":")
        if field in ("Depends", "Recommends"):
            for alternative in value.split(","):
                names.append(re.split(r"[\s(|]", alternative.strip())[0])
    return sorted(set(filter(None, names)))


def debian_arch() -> str:
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


def base_tarball() -> Path:
    """The cached bare system, built once per machine (and again when our package's dependencies change)."""
    relations = package_relations()
    key = hashlib.sha256(" ".join(relations).encode()).hexdigest()[:12]
    tarball = CACHE / f"debian-{SUITE}-{debian_arch()}-{key}.tar"
    if tarball.exists():
        return tarball
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test runs on one machine build it once
        if tarball.exists():
            return tarball
        with tempfile.TemporaryDirectory(prefix="debootstrap-", dir=CACHE) as scratch:
            root = Path(scratch) / "root"
            _check(["debootstrap", "--variant=minbase", SUITE, str(root)], "debootstrap")
            _check(["chroot", str(root), "apt-get", "update", "-q"], "apt-get update in the new system")
            _check(
                ["chroot", str(root), "apt-get", "install", "-y", "-q", "--download-only", *relations],
                "downloading the package's dependencies",
            )
            partial = tarball.with_suffix(".partial")
            _check(["tar", "-C", str(root), "-cf", str(partial), "."], "tar")
            partial.rename(tarball)
    for old in CACHE.glob(f"debian-{SUITE}-{debian_arch()}-*.tar"):
        if old != tarball:
            old.unlink()
    return tarball


def _check(command: list[str], what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, env=CLEAN_ENV, cwd="/")
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed ({result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")


@contextlib.contextmanager
def fresh_debian(directory: Path) -> Iterator[Path]:
    """A copy of the bare system at `directory`, removed afterwards."""
    tarball = base_tarball()
    directory.mkdir(parents=True)
    try:
        _check(["tar", "-C", str(directory), "-xf", str(tarball)], "unpacking the base system")
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def run_in(
    root: Path, *command: str, user: str | None = None, timeout_s: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run a command inside the chroot with a clean environment (as `user` through runuser)."""
    as_user = ["runuser", "-u", user, "--"] if user else []
    return subprocess.run(
        ["chroot", str(root), *as_user, *command],
        capture_output=True,
        text=True,
        env=CLEAN_ENV,
        cwd="/",  # apt resolves a relative working directory inside the chroot
        timeout=timeout_s,
    )


def popen_in(root: Path, *command: str, user: str | None = None, log: Path) -> subprocess.Popen[bytes]:
    as_user = ["runuser", "-u", user, "--"] if user else []
    with log.open("ab") as out:
        return subprocess.Popen(
            ["chroot", str(root), *as_user, *command], stdout=out, stderr=out, env=CLEAN_ENV, cwd="/"
        )


if __name__ == "__main__":
    missing = missing_tools()
    if missing:
        sys.exit(f"cannot build the Debian base system: missing {', '.join(missing)}")
    print(base_tarball())
