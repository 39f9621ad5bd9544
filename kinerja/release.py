"""Building gateway releases at the centre: `kinerja release keygen | lock | build`.

`build` turns a source checkout into

    dist/kinerja-gateway-<version>.tar        the artefact gateways upgrade to (gateway/release.py format)
    dist/kinerja-gateway-<version>.tar.sig    the centre's Ed25519 signature over its name, version, size, SHA-256
    dist/kinerja-gateway_<version>_all.deb    the first install: `apt install ./kinerja-gateway_<version>_all.deb`

The wheels in the artefact are exactly those of the lock file deploy/gateway/requirements.txt (every
download checked against its hash), for CPython 3.11 (Debian 12 and Raspberry Pi OS bookworm) on amd64
and arm64, so one artefact and one architecture-independent package serve every gateway, and a gateway
installs without reaching anything but the centre. Packages published only as source (pyzk) are
built into wheels here; they must be pure Python, or the build stops.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from gateway import release
from gateway.upgrade import SignedRelease, key_id, public_key_line, signed_statement

SOURCE_ROOT = Path(__file__).resolve().parent.parent
LOCK_FILE = SOURCE_ROOT / "deploy" / "gateway" / "requirements.txt"
TARGET_PYTHON = "3.11"
# manylinux tags a Debian 12 (glibc 2.36) box accepts, newest first; pip takes any of them.
MANYLINUX = ("manylinux_2_28", "manylinux_2_17", "manylinux2014")
ARCHITECTURES = {"amd64": "x86_64", "arm64": "aarch64"}
UNITS = ("kinerja-gateway.service", "kinerja-gateway-upgrade.service", "kinerja-gateway-upgrade.path")
_NOT_SOURCE = (".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "kinerja-demo", "var")
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "kinerja" / "wheels"


class BuildError(RuntimeError):
    """The release could not be built; the text says which step and why."""


# --- keys ------------------------------------------------------------------------------------------


def generate_signing_key(path: Path) -> str:
    """A new Ed25519 signing key (PEM, mode 0600); returns the public line for gateways to trust."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(pem)
    return public_line_of(path)


def _private_key(path: Path):  # noqa: ANN202 (cryptography's type, imported lazily)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise BuildError(f"{path}: not an Ed25519 private key")
    return key


def _public_raw(path: Path) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return _private_key(path).public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_line_of(signing_key: Path, comment: str = "kinerja-release") -> str:
    return public_key_line(_public_raw(signing_key), comment)


def sign(artefact: Path, version: str, signing_key: Path) -> SignedRelease:
    fields = {
        "name": release.ARTEFACT_NAME,
        "version": version,
        "artefact": artefact.name,
        "size": artefact.stat().st_size,
        "sha256": release.sha256_of(artefact),
        "key_id": key_id(_public_raw(signing_key)),
    }
    signature = _private_key(signing_key).sign(signed_statement(fields))
    return SignedRelease(**fields, signature=base64.b64encode(signature).decode())  # type: ignore[arg-type]


# --- the lock ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Locked:
    name: str  # normalised (PEP 503)
    version: str
    block: str  # the requirement with its hashes, as in the lock file


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path = LOCK_FILE) -> list[Locked]:
    """Every `name==version --hash=...` entry of a pip-compile lock file."""
    entries = []
    text = re.sub(r"\\\n", " ", path.read_text())
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)\s+(.*)$", line)
        if not match or "--hash=sha256:" not in match.group(3):
            raise BuildError(f"{path}: {line[:80]!r} is not a pinned requirement with hashes")
        entries.append(Locked(normalise(match.group(1)), match.group(2), line))
    return entries


def lock(output: Path = LOCK_FILE) -> None:
    """Regenerate the lock from pyproject.toml's `gateway` extra (needs pip-tools and the package index)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull  # the index itself, not a machine's local mirrors
    env["CUSTOM_COMPILE_COMMAND"] = "kinerja release lock"
    command = [sys.executable, "-m", "piptools", "compile", "--quiet", "--extra", "gateway", "--generate-hashes"]
    command += ["--strip-extras", "--allow-unsafe", "--no-emit-index-url", "--no-emit-find-links"]
    command += ["--output-file", str(output), str(SOURCE_ROOT / "pyproject.toml")]
    if subprocess.run(command, env=env).returncode != 0:
        raise BuildError("pip-compile failed (pip install pip-tools)")


# --- the wheelhouse ------------------------------------------------------------------------------------


def _pip(*args: str, cwd: Path | None = None) -> None:
    result = subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True, cwd=cwd)
    if result.returncode != 0:
        raise BuildError(f"pip {args[0]} failed:\n{result.stderr.strip()[-3000:]}")


def _wheel_project(wheel_name: str) -> str:
    return normalise(wheel_name.split("-")[0])


def _dist_project(file_name: str) -> str:
    """The project of a downloaded file: a wheel's first field; an sdist's name before its version."""
    if file_name.endswith(".whl"):
        return _wheel_project(file_name)
    stem = re.sub(r"\.(tar\.gz|tar\.bz2|zip)$", "", file_name)
    return normalise(stem.rsplit("-", 1)[0])


def _is_pure(wheel_name: str) -> bool:
    return wheel_name.endswith("-none-any.whl")


def _pure_wheel_of(entry: Locked, scratch: Path, destination: Path) -> bool:
    """Put the entry's pure-Python wheel in `destination` (built here if the index has only its source);
    False when the index has a compiled wheel, to be fetched per architecture."""
    files = [p for p in (scratch / "any").iterdir() if _dist_project(p.name) == entry.name]
    if not files:
        raise BuildError(f"{entry.name}: nothing downloaded")
    downloaded = files[0]
    if downloaded.name.endswith(".whl"):
        if not _is_pure(downloaded.name):
            return False
        shutil.copy2(downloaded, destination / downloaded.name)
        return True
    # Source only: build it here; it must come out pure Python.
    _pip("wheel", "--quiet", "--no-deps", "-w", str(scratch / "built"), str(downloaded))
    (built,) = [w for w in (scratch / "built").glob("*.whl") if _wheel_project(w.name) == entry.name]
    if not _is_pure(built.name):
        raise BuildError(f"{entry.name} is published only as source and builds {built.name}")
    shutil.move(built, destination / built.name)
    return True


def _download_binary(binary_lock: Path, machine: str, destination: Path) -> None:
    """The compiled wheels of `binary_lock` for one target architecture (CPython TARGET_PYTHON, manylinux)."""
    platforms = [arg for tag in MANYLINUX for arg in ("--platform", f"{tag}_{machine}")]
    abi = f"cp{TARGET_PYTHON.replace('.', '')}"
    _pip(
        "download", "--quiet", "--no-deps", "--require-hashes", "--only-binary=:all:",
        "--python-version", TARGET_PYTHON, "--implementation", "cp",
        "--abi", abi, "--abi", "abi3", "--abi", "none",
        *platforms, "-r", str(binary_lock), "-d", str(destination),
    )  # fmt: skip


def wheelhouse(lock_file: Path, destination: Path, cache: Path | None = DEFAULT_CACHE) -> list[Path]:
    """Every locked dependency as wheels for each target architecture, checked against the lock's hashes."""
    entries = read_lock(lock_file)
    lock_digest = hashlib.sha256(lock_file.read_bytes()).hexdigest()[:16]
    cached = cache / lock_digest if cache else None
    destination.mkdir(parents=True, exist_ok=True)
    if cached and (cached / "complete").exists():
        for wheel in cached.glob("*.whl"):
            shutil.copy2(wheel, destination / wheel.name)
        return sorted(destination.glob("*.whl"))
    with tempfile.TemporaryDirectory(prefix="kinerja-wheels-") as scratch_name:
        scratch = Path(scratch_name)
        # 1. What the index has for this machine: wheels where it has them, source otherwise.
        _pip("download", "--quiet", "--no-deps", "--require-hashes", "-r", str(lock_file), "-d", str(scratch / "any"))
        binary = [entry for entry in entries if not _pure_wheel_of(entry, scratch, destination)]
        # 2. The compiled ones once per target architecture.
        binary_lock = scratch / "binary.txt"
        binary_lock.write_text("\n".join(entry.block for entry in binary) + "\n")
        for machine in ARCHITECTURES.values():
            _download_binary(binary_lock, machine, destination)
    wheels = sorted(destination.glob("*.whl"))
    for entry in entries:
        have = [w.name for w in wheels if _wheel_project(w.name) == entry.name]
        pure = any(_is_pure(name) for name in have)
        for machine in ARCHITECTURES.values():
            if not pure and not any(machine in name for name in have):
                raise BuildError(f"{entry.name} {entry.version}: no wheel for {machine}")
    if cached:
        cached.mkdir(parents=True, exist_ok=True)
        for wheel in wheels:
            shutil.copy2(wheel, cached / wheel.name)
        (cached / "complete").write_text(lock_digest + "\n")
    return wheels


def project_version(source: Path) -> str:
    match = re.search(r'^__version__ = "([^"]+)"', (source / "wire" / "__init__.py").read_text(), re.M)
    if not match:
        raise BuildError(f"{source}/wire/__init__.py: no __version__")
    return release.check_version(match.group(1))


# --- the artefact and the package ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReleaseFiles:
    version: str
    artefact: Path
    signature: Path
    deb: Path | None


def _add_file(archive: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 0
    archive.addfile(info, io.BytesIO(data))


def build_artefact(
    source: Path, out_dir: Path, *, lock_file: Path = LOCK_FILE, cache: Path | None = DEFAULT_CACHE
) -> Path:
    version = project_version(source)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kinerja-release-") as scratch_name:
        scratch = Path(scratch_name)
        wheels = wheelhouse(lock_file, scratch / "wheels", cache)
        # From a clean copy: setuptools' build/ in a checkout can hold modules deleted since.
        clean = scratch / "source"
        shutil.copytree(source, clean, ignore=shutil.ignore_patterns(*_NOT_SOURCE))
        _pip("wheel", "--quiet", "--no-deps", "-w", str(scratch / "project"), str(clean))
        (project_wheel,) = (scratch / "project").glob("kinerja-*.whl")
        wheels.append(project_wheel)
        by_project: dict[str, list[Path]] = {}
        for wheel in wheels:
            by_project.setdefault(_wheel_project(wheel.name), []).append(wheel)
        members: dict[str, bytes] = {}
        for wheel in wheels:
            members[f"wheels/{wheel.name}"] = wheel.read_bytes()
        requirements = []
        for project, files in sorted(by_project.items()):
            pinned = files[0].name.split("-")[1]
            hashes = " ".join(f"--hash=sha256:{hashlib.sha256(f.read_bytes()).hexdigest()}" for f in files)
            requirements.append(f"{project}=={pinned} {hashes}")
        members[release.INSTALL_REQUIREMENTS] = ("\n".join(requirements) + "\n").encode()
        for folder in ("docs", "systemd"):
            for path in sorted((source / folder).rglob("*")):
                if path.is_file():
                    members[f"{folder}/{path.relative_to(source / folder)}"] = path.read_bytes()
        manifest = release.Manifest(
            name=release.ARTEFACT_NAME,
            version=version,
            python=TARGET_PYTHON,
            platforms=tuple(f"linux-{machine}" for machine in ARCHITECTURES.values()),
            files={name: hashlib.sha256(data).hexdigest() for name, data in members.items()},
        )
        artefact = out_dir / f"{release.ARTEFACT_NAME}-{version}.tar"
        with tarfile.open(artefact, "w", format=tarfile.PAX_FORMAT) as archive:
            _add_file(archive, release.MANIFEST, manifest.to_json())
            for name, data in sorted(members.items()):
                _add_file(archive, name, data)
    return artefact


def debian_version(version: str) -> str:
    """PEP 440 pre-releases sort before the release in Debian too: 0.2.0rc1 -> 0.2.0~rc1."""
    return re.sub(r"^([0-9.]+)((?:a|b|rc)[0-9]*)", r"\1~\2", version)


def build_deb(artefact: Path, signature: Path, signing_key: Path, source: Path, out_dir: Path) -> Path:
    """An architecture-independent package: the artefact, the installer, the units, the centre's key.
    Its postinst builds the venv offline from the artefact's wheels (for the box's own architecture)."""
    if shutil.which("dpkg-deb") is None:
        raise BuildError("dpkg-deb is needed to build the package (apt-get install dpkg)")
    version = release.read_manifest(artefact).version
    template = source / "deploy" / "gateway" / "debian"
    with tempfile.TemporaryDirectory(prefix="kinerja-deb-") as scratch_name:
        tree = Path(scratch_name) / "tree"
        share = tree / "usr/share/kinerja-gateway"
        share.mkdir(parents=True)
        shutil.copy2(artefact, share / artefact.name)
        shutil.copy2(signature, share / signature.name)
        lib = tree / "usr/lib/kinerja-gateway"
        lib.mkdir(parents=True)
        shutil.copy2(source / "gateway" / "release.py", lib / "release.py")
        units = tree / "lib/systemd/system"
        units.mkdir(parents=True)
        for unit in UNITS:
            shutil.copy2(source / "systemd" / unit, units / unit)
        keys = tree / "etc/kinerja"
        keys.mkdir(parents=True)
        (keys / "release-signing.pub").write_text(
            "# Releases signed by these keys are accepted by `kinerja gateway upgrade` (one per line).\n"
            + public_line_of(signing_key)
            + "\n"
        )
        (tree / "usr/bin").mkdir(parents=True)
        os.symlink("/opt/kinerja/current/venv/bin/kinerja", tree / "usr/bin/kinerja")
        debian = tree / "DEBIAN"
        debian.mkdir()
        substitutions = {"@VERSION@": debian_version(version), "@ARTEFACT@": artefact.name}
        for name in ("control", "postinst", "prerm", "postrm", "conffiles"):
            text = (template / name).read_text()
            for placeholder, value in substitutions.items():
                text = text.replace(placeholder, value)
            (debian / name).write_text(text)
        for path in tree.rglob("*"):
            if not path.is_symlink():
                path.chmod(0o755 if path.is_dir() else 0o644)
        for script in ("postinst", "prerm", "postrm"):
            (debian / script).chmod(0o755)
        out_dir.mkdir(parents=True, exist_ok=True)
        deb = out_dir / f"{release.ARTEFACT_NAME}_{debian_version(version)}_all.deb"
        result = subprocess.run(
            ["dpkg-deb", "--root-owner-group", "-Zgzip", "-z1", "--build", str(tree), str(deb)],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise BuildError(f"dpkg-deb failed: {result.stderr.strip()}")
    return deb


def build(
    source: Path, out_dir: Path, signing_key: Path, *, deb: bool = True, cache: Path | None = DEFAULT_CACHE
) -> ReleaseFiles:
    artefact = build_artefact(source, out_dir, cache=cache)
    signed = sign(artefact, release.read_manifest(artefact).version, signing_key)
    signature = artefact.with_name(artefact.name + ".sig")
    signature.write_bytes(signed.to_json())
    package = build_deb(artefact, signature, signing_key, source, out_dir) if deb else None
    (out_dir / "latest.json").write_text(
        json.dumps(
            {
                "version": signed.version,
                "artefact": artefact.name,
                "signature": signature.name,
                "deb": package.name if package else None,
            },
            indent=1,
        )
        + "\n"
    )
    return ReleaseFiles(signed.version, artefact, signature, package)
