"""The systemd units name the paths the package really installs, and the ones the gateway really uses.

The Debian package is built by the project's own builder (kinerja/release.py `build_deb`) around a small
artefact (a stub `kinerja` wheel, the checkout's docs and units), unpacked into a directory standing for a
fresh box's /, and the release installed there by the package's own installer (`release.py install`, as
its postinst runs it) with pip. Then `systemd-analyze verify --root` checks every unit against that tree
(an ExecStart that names a file the release does not have fails it), and the paths systemd is told about
(config, state directory, upgrade request, writable paths, documentation, service user) are compared with
the constants the gateway, enrolment, upgrader and maintainer scripts use."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import tarfile
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest

from gateway import enrol, release, upgrade
from kinerja import cli
from kinerja.release import UNITS, _add_file, build_deb, generate_signing_key, sign
from tests.conftest import IN_CI
from wire import __version__

SOURCE_ROOT = Path(__file__).resolve().parent.parent


def require(tool: str) -> None:
    if shutil.which(tool):
        return
    if IN_CI:
        pytest.fail(f"{tool} must be installed under CI=true")
    pytest.skip(f"{tool} is not installed")


def stub_wheel(directory: Path, version: str) -> Path:
    """A wheel named like the project, with the project's own console scripts (nothing else in it)."""
    scripts = tomllib.loads((SOURCE_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    info = f"kinerja-{version}.dist-info"
    files = {
        "kinerja_unit_stub/__init__.py": b"def main():\n    return 0\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: kinerja\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{info}/entry_points.txt": (
            "[console_scripts]\n" + "".join(f"{name} = kinerja_unit_stub:main\n" for name in scripts)
        ).encode(),
    }
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = directory / f"kinerja-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return wheel


def small_artefact(directory: Path, version: str) -> Path:
    """An artefact in the release format, as `build_artefact` lays it out, with the stub wheel."""
    wheel = stub_wheel(directory, version)
    data = wheel.read_bytes()
    members = {
        f"wheels/{wheel.name}": data,
        release.INSTALL_REQUIREMENTS: f"kinerja=={version} --hash=sha256:{hashlib.sha256(data).hexdigest()}\n".encode(),
    }
    for folder in ("docs", "systemd"):
        for path in sorted((SOURCE_ROOT / folder).rglob("*")):
            if path.is_file():
                members[f"{folder}/{path.relative_to(SOURCE_ROOT / folder)}"] = path.read_bytes()
    python = subprocess.run(
        [release.base_python(), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    manifest = release.Manifest(
        name=release.ARTEFACT_NAME, version=version, python=python, platforms=("linux-x86_64",),
        files={name: hashlib.sha256(body).hexdigest() for name, body in members.items()},
    )  # fmt: skip
    artefact = directory / f"{release.ARTEFACT_NAME}-{version}.tar"
    with tarfile.open(artefact, "w", format=tarfile.PAX_FORMAT) as archive:
        _add_file(archive, release.MANIFEST, manifest.to_json())
        for name, body in sorted(members.items()):
            _add_file(archive, name, body)
    return artefact


@dataclass
class Installed:
    root: Path  # stands for the box's /
    control: Path  # the package's maintainer scripts

    def path(self, absolute: str | PurePosixPath, hops: int = 0) -> Path:
        """Where an absolute path of the box is in this tree, following links as the box would."""
        assert hops < 40, f"{absolute}: a loop of links"
        parts = PurePosixPath(absolute).parts[1:]
        box = PurePosixPath("/")
        for index, part in enumerate(parts):
            box = box / part
            here = self.root / str(box).lstrip("/")
            if here.is_symlink():
                target = PurePosixPath(os.readlink(here))
                resolved = PurePosixPath(os.path.normpath(target if target.is_absolute() else box.parent / target))
                return self.path(resolved.joinpath(*parts[index + 1 :]), hops + 1)
        return self.root / str(box).lstrip("/")


def units_of(installed: Installed) -> dict[str, dict[str, list[str]]]:
    """Every unit the package installs, as {directive: [values]} (sections merged; names are unique here)."""
    parsed = {}
    for unit in sorted((installed.root / "lib/systemd/system").iterdir()):
        directives: dict[str, list[str]] = {}
        for line in unit.read_text().splitlines():
            if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
                key, _, value = line.partition("=")
                directives.setdefault(key.strip(), []).append(value.strip())
        parsed[unit.name] = directives
    return parsed


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    require("dpkg-deb")
    work = tmp_path_factory.mktemp("package")
    key = work / "release.key"
    generate_signing_key(key)
    artefact = small_artefact(work, __version__)
    signature = artefact.with_name(artefact.name + ".sig")
    signature.write_bytes(sign(artefact, __version__, key).to_json())
    deb = build_deb(artefact, signature, key, SOURCE_ROOT, work / "dist")
    root = work / "root"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    control = work / "control"
    subprocess.run(["dpkg-deb", "-e", str(deb), str(control)], check=True)
    # What postinst does on the box, with / moved to `root`: the package's own installer, its own artefact.
    postinst = (control / "postinst").read_text()
    match = re.search(r"release\.py install \"\$ARTEFACT\" --root (\S+)", postinst)
    assert match, "postinst no longer installs the release with release.py"
    done = subprocess.run(
        [
            release.base_python(), str(root / "usr/lib/kinerja-gateway/release.py"), "install",
            str(root / "usr/share/kinerja-gateway" / artefact.name), "--root", str(root / match.group(1).lstrip("/")),
            "--python", release.base_python(), "--switch-if-newer",
        ],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return Installed(root, control)


def test_systemd_analyze_accepts_the_units_against_the_installed_tree(installed):
    require("systemd-analyze")
    # systemd's own units (targets the ours are ordered against) as a fresh box has them.
    shutil.copytree("/usr/lib/systemd/system", installed.root / "usr/lib/systemd/system", dirs_exist_ok=True)
    units = units_of(installed)
    assert set(units) == set(UNITS)
    for name in UNITS:
        result = subprocess.run(
            ["systemd-analyze", "verify", "--man=no", f"--root={installed.root}", f"/lib/systemd/system/{name}"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"
        assert "kinerja" not in result.stderr, result.stderr


def test_every_exec_start_names_an_installed_program_and_a_command_it_has(installed):
    for name, directives in units_of(installed).items():
        for line in directives.get("ExecStart", []):
            program, *argv = shlex.split(line)
            assert installed.path(program).is_file() and os.access(installed.path(program), os.X_OK), (name, program)
            assert program == str(release.DEFAULT_ROOT / "current" / "venv" / "bin" / "kinerja")
            # The arguments are ones the CLI takes (argparse exits on anything else).
            assert cli._parser().parse_args(argv) is not None, (name, argv)
    # The package's /usr/bin/kinerja leads to the same program.
    assert installed.path("/usr/bin/kinerja") == installed.path(str(release.DEFAULT_ROOT / "current/venv/bin/kinerja"))


def test_the_gateway_unit_runs_the_config_enrolment_writes_in_the_state_directory_it_is_given(installed):
    unit = units_of(installed)["kinerja-gateway.service"]
    argv = shlex.split(unit["ExecStart"][0])
    config = Path(argv[argv.index("--config") + 1])
    assert config == enrol.DEFAULT_CONFIG == upgrade.GATEWAY_CONFIG
    assert unit["ConditionPathExists"] == [str(enrol.DEFAULT_CONFIG)]
    assert unit["ConfigurationDirectory"] == [enrol.DEFAULT_CONFIG.parent.name]  # /etc/<it>
    assert Path("/etc") / unit["ConfigurationDirectory"][0] == upgrade.TRUSTED_KEYS.parent
    # StateDirectory=X is /var/lib/X: where enrolment points the gateway and the upgrader looks.
    (state,) = unit["StateDirectory"]
    assert Path("/var/lib") / state == enrol.DEFAULT_STATE_DIR == upgrade.DEFAULT_STATE_DIR
    assert unit["User"] == [enrol.SERVICE_USER] and unit["Group"] == [enrol.SERVICE_USER]
    assert unit["ProtectSystem"] == ["strict"]  # so the state directory is the only place it may write
    postinst = (installed.control / "postinst").read_text()
    assert f"adduser --system --group --home {enrol.DEFAULT_STATE_DIR}" in postinst
    assert f"{enrol.SERVICE_USER} {enrol.DEFAULT_STATE_DIR}" in postinst  # the directory made for that user


def test_the_upgrade_units_watch_and_write_where_the_upgrader_does(installed):
    units = units_of(installed)
    path_unit = units["kinerja-gateway-upgrade.path"]
    assert path_unit["PathExists"] == [str(upgrade.DEFAULT_STATE_DIR / upgrade.UPGRADE_REQUEST)]
    assert path_unit["Unit"] == ["kinerja-gateway-upgrade.service"]
    service = units["kinerja-gateway-upgrade.service"]
    writable = [Path(p) for line in service["ReadWritePaths"] for p in line.split()]
    assert sorted(writable) == sorted([release.DEFAULT_ROOT, upgrade.DEFAULT_STATE_DIR])
    # The release root holds the journal and the releases; the package created it there.
    assert installed.path(str(release.DEFAULT_ROOT / "current")).is_dir()
    assert (installed.path(str(release.DEFAULT_ROOT / "current")) / release.INSTALLED_MARKER).is_file()
    assert upgrade.GATEWAY_UNIT in units


def test_documentation_and_conffiles_are_in_the_package(installed):
    for name, directives in units_of(installed).items():
        for line in directives.get("Documentation", []):
            for link in line.split():
                assert link.startswith("file://"), link
                assert installed.path(link.removeprefix("file://")).is_file(), (name, link)
    for conffile in (installed.control / "conffiles").read_text().split():
        assert installed.path(conffile).is_file(), conffile
    assert str(upgrade.TRUSTED_KEYS) in (installed.control / "conffiles").read_text()


def test_the_maintainer_scripts_name_the_units_and_files_the_package_has(installed):
    units = set(units_of(installed))
    for script in ("postinst", "prerm"):
        text = (installed.control / script).read_text()
        named = set(re.findall(r"kinerja-gateway[\w.-]*\.(?:service|path)", text))
        assert named == units, (script, named ^ units)
    purge = (installed.control / "postrm").read_text()
    for written in (enrol.DEFAULT_CONFIG, enrol.DEFAULT_CONFIG.with_name(enrol.SECRET_NAME),
                    enrol.DEFAULT_CONFIG.with_name(enrol.CA_NAME), enrol.DEFAULT_STATE_DIR):  # fmt: skip
        assert str(written) in purge, written
    artefact = re.search(r"ARTEFACT=(\S+)", (installed.control / "postinst").read_text())
    assert artefact is not None
    assert installed.path(artefact.group(1).replace("@ARTEFACT@", "")).exists()


def test_a_unit_naming_a_path_the_release_lacks_is_refused(installed):
    """The check can fail: the same unit with the program moved is refused by systemd-analyze."""
    require("systemd-analyze")
    shutil.copytree("/usr/lib/systemd/system", installed.root / "usr/lib/systemd/system", dirs_exist_ok=True)
    broken = installed.root / "lib/systemd/system/kinerja-gateway-moved.service"
    text = (installed.root / "lib/systemd/system/kinerja-gateway.service").read_text()
    broken.write_text(text.replace("/opt/kinerja/current/venv/bin/kinerja", "/opt/kinerja/venv/bin/kinerja"))
    try:
        result = subprocess.run(
            ["systemd-analyze", "verify", "--man=no", f"--root={installed.root}", f"/lib/systemd/system/{broken.name}"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode != 0 and "is not executable" in result.stderr, result.stderr
    finally:
        broken.unlink()
