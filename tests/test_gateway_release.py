"""Gateway releases end to end: the lock, the signed artefact, the Debian package installed on a fresh
Debian 12 made here with debootstrap (and its gateway reporting to a broker), and upgrades from the
centre: a release not signed by the centre is refused before install; a release that does not come up
is rolled back by itself; a good one is taken, also when the centre asks over the command topic."""

from __future__ import annotations

import functools
import io
import json
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from packaging.requirements import Requirement
from paho.mqtt.enums import CallbackAPIVersion

from gateway import release
from gateway.simulators.zk import ZKSimulator
from gateway.upgrade import (
    JOURNAL,
    UPGRADE_REQUEST,
    UPGRADE_RESULT,
    SignedRelease,
    UpgradeError,
    Upgrader,
    load_trusted_keys,
    read_health_marker,
)
from kinerja.processes import KINERJA, gateway_toml, wait_until
from kinerja.release import (
    _NOT_SOURCE,
    LOCK_FILE,
    SOURCE_ROOT,
    ReleaseFiles,
    build,
    generate_signing_key,
    normalise,
    read_lock,
)
from tests.conftest import IN_CI, unique_slug
from tests.debian_chroot import fresh_debian, missing_tools, popen_in, run_in
from tests.edge_broker import private_mosquitto
from wire.contract import Command, CommandAction, CommandResult, TopicKind, topic_for
from wire.embedded import free_port

pytestmark = pytest.mark.timeout(600)


def require(condition: bool, why: str) -> None:
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{why}; under CI=true this is a failure, not a skip")
    pytest.skip(why)


@pytest.fixture(scope="module")
def signing_key(tmp_path_factory) -> Path:
    key = tmp_path_factory.mktemp("keys") / "release.key"
    generate_signing_key(key)
    return key


@pytest.fixture(scope="module")
def first_release(tmp_path_factory, signing_key) -> ReleaseFiles:
    """This checkout, built as the centre builds it: artefact, signature and Debian package."""
    require(shutil.which("dpkg-deb") is not None, "dpkg-deb is not installed")
    return build(SOURCE_ROOT, tmp_path_factory.mktemp("dist"), signing_key)


def source_copy(destination: Path, version: str, broken: bool = False) -> Path:
    """This checkout as another version; `broken`: its gateway exits at once, whatever the config."""
    shutil.copytree(SOURCE_ROOT, destination, ignore=shutil.ignore_patterns(*_NOT_SOURCE))
    init = destination / "wire" / "__init__.py"
    init.write_text(init.read_text().replace(f'__version__ = "{release_version()}"', f'__version__ = "{version}"'))
    if broken:
        cli = destination / "kinerja" / "cli.py"
        start = "def _run_gateway(args: argparse.Namespace) -> int:\n"
        assert start in cli.read_text()
        cli.write_text(cli.read_text().replace(start, start + '    raise SystemExit("broken on purpose")\n'))
    return destination


def release_version() -> str:
    from wire import __version__

    return __version__


# --- the lock and the artefact ----------------------------------------------------------------------


def test_the_lock_pins_every_gateway_dependency_with_hashes():
    import tomllib

    project = tomllib.loads((SOURCE_ROOT / "pyproject.toml").read_text())["project"]
    wanted = [Requirement(text) for text in [*project["dependencies"], *project["optional-dependencies"]["gateway"]]]
    locked = {entry.name: entry for entry in read_lock(LOCK_FILE)}
    for requirement in wanted:
        entry = locked.get(normalise(requirement.name))
        assert entry is not None, f"{requirement.name} is not in {LOCK_FILE.name}: run `kinerja release lock`"
        assert requirement.specifier.contains(entry.version, prereleases=True), (requirement, entry.version)
    assert all("--hash=sha256:" in entry.block for entry in locked.values())
    assert {"pyzk", "paho-mqtt", "cryptography", "cffi", "aiohttp"} <= set(locked)


def test_the_artefact_is_signed_and_installs_offline_on_amd64_and_arm64(first_release, signing_key, tmp_path):
    manifest = release.read_manifest(first_release.artefact)
    assert manifest.version == release_version() == first_release.version
    signed = SignedRelease.from_json(first_release.signature.read_bytes())
    keys = tmp_path / "trusted.pub"
    keys.write_text(run([KINERJA, "release", "keygen", str(tmp_path / "other.key")]).stdout.splitlines()[-1] + "\n")
    from kinerja.release import public_line_of

    keys.write_text(keys.read_text() + public_line_of(signing_key) + "\n")  # two keys: rotation
    signed.verify(load_trusted_keys(keys))
    unpacked = tmp_path / "unpacked"
    release.unpack(first_release.artefact, unpacked)

    # pip, offline, with the artefact's hashes, resolves the whole set for each target from the wheels in it.
    def platforms(machine: str) -> list[str]:
        return [
            arg
            for tag in ("manylinux_2_28", "manylinux_2_17", "manylinux2014")
            for arg in ("--platform", f"{tag}_{machine}")
        ]

    for machine in ("x86_64", "aarch64"):
        result = run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--dry-run",
                "--quiet",
                "--no-index",
                "--require-hashes",
                "--only-binary=:all:",
                "--target",
                str(tmp_path / f"target-{machine}"),
                "--python-version",
                "3.11",
                "--implementation",
                "cp",
                *platforms(machine),
                "--report",
                "-",
                "--find-links",
                str(unpacked / "wheels"),
                "-r",
                str(unpacked / release.INSTALL_REQUIREMENTS),
            ],
            env={"PIP_CONFIG_FILE": "/dev/null"},
        )
        chosen = {
            item["metadata"]["name"].lower(): item["download_info"]["url"]
            for item in json.loads(result.stdout)["install"]
        }
        assert machine in chosen["cryptography"] and machine in chosen["aiohttp"], chosen
        assert {"kinerja", "pyzk", "paho-mqtt", "pyserial"} <= set(chosen)


def test_an_artefact_with_unsafe_or_unlisted_contents_is_not_unpacked(first_release, tmp_path):
    def forged(extra_name: str, link: bool = False) -> Path:
        path = tmp_path / f"forged-{len(list(tmp_path.iterdir()))}.tar"
        with tarfile.open(first_release.artefact) as source, tarfile.open(path, "w") as out:
            for member in source.getmembers():
                out.addfile(member, source.extractfile(member))
            info = tarfile.TarInfo(extra_name)
            if link:
                info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
                out.addfile(info)
            else:
                info.size = 4
                out.addfile(info, io.BytesIO(b"evil"))
        return path

    for artefact, reason in [
        (forged("../../etc/cron.d/evil"), "unsafe path"),
        (forged("wheels/extra.whl"), "not listed"),
        (forged("docs/link", link=True), "not a regular file"),
    ]:
        with pytest.raises(release.ReleaseError, match=reason):
            release.unpack(artefact, tmp_path / "out")
    assert not (tmp_path.parent / "etc").exists()


# --- the Debian package on a fresh Debian 12 ---------------------------------------------------------


def test_the_package_installs_on_a_fresh_debian_12_and_its_gateway_reports(first_release, tmp_path):
    missing = missing_tools()
    require(not missing, f"cannot make a Debian system here: missing {', '.join(missing)}")
    assert first_release.deb is not None
    with fresh_debian(tmp_path / "debian") as root, ZKSimulator(serial="DEB-0001") as device:
        shutil.copy2(first_release.deb, root / "root" / first_release.deb.name)
        # What the technician types (docs/deploy-gateway.md); dependencies come from Debian's archive.
        installed = run_in(root, "apt-get", "install", "-y", "-q", f"/root/{first_release.deb.name}")
        assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]

        version = first_release.version
        assert (root / "opt/kinerja/current").resolve() == (root / "opt/kinerja/releases" / version).resolve()
        assert "dialout" in run_in(root, "id", "-nG", "kinerja-gateway").stdout.split()
        state = root / "var/lib/kinerja-gateway"
        assert state.stat().st_mode & 0o777 == 0o700
        assert run_in(root, "stat", "-c", "%U", "/var/lib/kinerja-gateway").stdout.strip() == "kinerja-gateway"
        for wanted in (
            "multi-user.target.wants/kinerja-gateway.service",
            "paths.target.wants/kinerja-gateway-upgrade.path",
        ):
            assert (root / "etc/systemd/system" / wanted).is_symlink(), wanted
        keys = load_trusted_keys(root / "etc/kinerja/release-signing.pub")
        assert SignedRelease.from_json(first_release.signature.read_bytes()).key_id in keys
        units = [
            f"/lib/systemd/system/{name}"
            for name in ("kinerja-gateway.service", "kinerja-gateway-upgrade.service", "kinerja-gateway-upgrade.path")
        ]
        verified = run_in(root, "systemd-analyze", "verify", "--man=no", *units)
        assert verified.returncode == 0 and "kinerja" not in verified.stderr, verified.stdout + verified.stderr
        help_text = run_in(root, "kinerja", "gateway", "--help", user="kinerja-gateway")
        assert help_text.returncode == 0 and "upgrade" in help_text.stdout, help_text.stderr

        # The installed gateway, as its own user, reads a device and publishes to a broker.
        unit, gateway_id = unique_slug("unit"), unique_slug("gw")
        device.add_punch("7", device.device_time().replace(microsecond=0), state=0, verify=1)
        with private_mosquitto(tmp_path / "broker") as broker:
            (root / "etc/kinerja/gateway.toml").write_text(
                gateway_toml(
                    gateway_id=gateway_id,
                    unit=unit,
                    state_dir=Path("/var/lib/kinerja-gateway"),
                    mqtt=broker.settings,
                    devices=[("door", device.port)],
                )
            )
            listener = Listener(broker.port, f"kinerja/v1/{unit}/{gateway_id}/#")
            gateway = popen_in(
                root,
                "/opt/kinerja/current/venv/bin/kinerja",
                "gateway",
                "run",
                "--config",
                "/etc/kinerja/gateway.toml",
                user="kinerja-gateway",
                log=tmp_path / "gateway.log",
            )
            try:
                wait_until(
                    lambda: listener.has(TopicKind.PUNCHES), 30, f"a punch batch ({_tail(tmp_path / 'gateway.log')})"
                )
                assert listener.has(TopicKind.STATUS)
            finally:
                gateway.terminate()
                gateway.wait(20)
                listener.close()
        marker = read_health_marker(state)
        assert marker is not None and marker["version"] == version

        removed = run_in(root, "apt-get", "purge", "-y", "-q", "kinerja-gateway")
        assert removed.returncode == 0, removed.stderr
        assert not (root / "opt/kinerja").exists() and not state.exists()


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-2000:] if path.exists() else "no log"


class Listener:
    def __init__(self, port: int, topic_filter: str) -> None:
        self.topics: list[str] = []
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=unique_slug("listener"))
        self.client.on_connect = lambda c, u, f, r, p: c.subscribe(topic_filter, 1)
        self.client.on_message = lambda c, u, m: self.topics.append(m.topic)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def has(self, kind: TopicKind) -> bool:
        return any(topic.endswith(f"/{kind.value}") for topic in self.topics)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def run(command: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    base = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
    result = subprocess.run(command, capture_output=True, text=True, env={**base, **(env or {})}, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result


# --- upgrades -------------------------------------------------------------------------------------------


@pytest.fixture
def centre(tmp_path) -> Iterator[tuple[Path, str]]:
    """The centre's release directory served over HTTP on loopback: (directory, base URL)."""
    directory = tmp_path / "centre"
    directory.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield directory, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def publish(directory: Path, files: ReleaseFiles, *, as_name: str | None = None) -> None:
    shutil.copy2(files.artefact, directory / (as_name or files.artefact.name))
    shutil.copy2(files.signature, directory / ((as_name or files.artefact.name) + ".sig"))


def trusted_keys_for(signing_key: Path, tmp_path: Path) -> dict[str, bytes]:
    from kinerja.release import public_line_of

    path = tmp_path / "release-signing.pub"
    path.write_text(public_line_of(signing_key) + "\n")
    return load_trusted_keys(path)


class NoService:
    """For refusals: nothing may be restarted."""

    def restart(self) -> None:
        raise AssertionError("a refused release must not restart anything")

    def main_pid(self) -> int | None:
        return None


def test_a_release_not_signed_by_the_centre_is_refused_before_anything_is_installed(
    first_release, signing_key, centre, tmp_path
):
    directory, base = centre
    root, state = tmp_path / "opt-kinerja", tmp_path / "state"
    state.mkdir()
    upgrader = Upgrader(root, state, trusted_keys_for(signing_key, tmp_path), NoService())
    name = first_release.artefact.name

    # 1. The artefact was changed after signing (one byte, same size).
    tampered = bytearray(first_release.artefact.read_bytes())
    tampered[-2000] ^= 0xFF
    (directory / name).write_bytes(bytes(tampered))
    shutil.copy2(first_release.signature, directory / f"{name}.sig")
    outcome = upgrader.upgrade(f"{base}/{name}")
    assert outcome.status == "refused" and "not the one signed" in outcome.detail

    # 2. Signed by a key this gateway does not trust.
    intruder_key = tmp_path / "intruder.key"
    generate_signing_key(intruder_key)
    from kinerja.release import sign

    shutil.copy2(first_release.artefact, directory / name)
    (directory / f"{name}.sig").write_bytes(sign(directory / name, first_release.version, intruder_key).to_json())
    outcome = upgrader.upgrade(f"{base}/{name}")
    assert outcome.status == "refused" and "does not trust" in outcome.detail

    # 3. A genuine signature whose version was edited: the signature covers it.
    body = json.loads(first_release.signature.read_bytes())
    body["version"] = "9.9.9"
    (directory / f"{name}.sig").write_text(json.dumps(body))
    outcome = upgrader.upgrade(f"{base}/{name}")
    assert outcome.status == "refused" and "does not verify" in outcome.detail

    # 4. Through the command a technician or the upgrade service runs: exit 1 and the reason.
    (directory / f"{name}.sig").write_bytes(sign(directory / name, first_release.version, intruder_key).to_json())
    keys = tmp_path / "release-signing.pub"
    config = tmp_path / "gateway.toml"
    config.write_text(f'state_dir = "{state}"\n')
    result = subprocess.run(
        [
            KINERJA,
            "gateway",
            "upgrade",
            f"{base}/{name}",
            "--root",
            str(root),
            "--keys",
            str(keys),
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1 and "does not trust" in result.stdout, result.stdout + result.stderr

    assert release.installed_versions(root) == [] and release.current(root) is None
    assert not (root / "downloads").exists()
    assert json.loads((state / UPGRADE_RESULT).read_text())["status"] == "refused"
    with pytest.raises(UpgradeError, match="no trusted release keys"):
        load_trusted_keys(tmp_path / "none.pub")


class Supervisor:
    """What systemd does for kinerja-gateway.service in these tests (no systemd here):
    run `current`'s gateway, start it again whenever it exits (Restart=always)."""

    def __init__(self, root: Path, config: Path, log: Path, restart_s: float = 0.5) -> None:
        self.root, self.config, self.log, self.restart_s = root, config, log, restart_s
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            with self._lock, self.log.open("ab") as out:
                executable = self.root / "current" / "venv" / "bin" / "kinerja"
                self.process = subprocess.Popen(
                    [str(executable), "gateway", "run", "--config", str(self.config)], stdout=out, stderr=out
                )
                self.starts += 1
            self.process.wait()
            self._stopping.wait(self.restart_s)

    def restart(self) -> None:
        with self._lock:
            if self.process and self.process.poll() is None:
                self.process.terminate()

    def main_pid(self) -> int | None:
        process = self.process
        return process.pid if process and process.poll() is None else None

    def close(self) -> None:
        self._stopping.set()
        self.restart()
        self._thread.join(20)
        if self.process and self.process.poll() is None:
            self.process.kill()


def test_a_release_that_does_not_come_up_is_rolled_back_and_a_good_one_is_taken(
    first_release, signing_key, centre, tmp_path
):
    directory, base = centre
    version = first_release.version
    root, state = tmp_path / "opt-kinerja", tmp_path / "state"
    with ThreadPoolExecutor(3) as pool:  # the builds and the first install are mostly pip subprocesses
        broken_build = pool.submit(
            build,
            source_copy(tmp_path / "src-broken", f"{version}.1", broken=True),
            tmp_path / "dist-broken",
            signing_key,
            deb=False,
        )
        good_build = pool.submit(
            build, source_copy(tmp_path / "src-good", f"{version}.2"), tmp_path / "dist-good", signing_key, deb=False
        )
        first = pool.submit(release.install, first_release.artefact, root)
        broken, good = broken_build.result(), good_build.result()
        release.switch(root, first.result())  # as the package's postinst does
    publish(directory, broken)
    publish(directory, good)
    unit, gateway_id = unique_slug("unit"), unique_slug("gw")
    with private_mosquitto(tmp_path / "broker") as broker:
        config = tmp_path / "gateway.toml"
        config.write_text(
            gateway_toml(
                gateway_id=gateway_id, unit=unit, state_dir=state, mqtt=broker.settings, devices=[("door", free_port())]
            )
        )
        service = Supervisor(root, config, tmp_path / "gateway.log")
        upgrader = Upgrader(
            root, state, trusted_keys_for(signing_key, tmp_path), service, health_timeout_s=6, settle_s=1.5, poll_s=0.2
        )
        try:
            wait_until(lambda: (read_health_marker(state) or {}).get("uplink"), 20, "the first release up")
            assert read_health_marker(state)["version"] == version  # type: ignore[index]

            # The centre asks over the command topic; the gateway only leaves the request.
            answer = ask(
                broker.port, unit, gateway_id, {"version": broken.version, "url": f"{base}/{broken.artefact.name}"}
            )
            assert answer.ok, answer.detail
            assert json.loads((state / UPGRADE_REQUEST).read_text())["version"] == broken.version
            refused = ask(broker.port, unit, gateway_id, {"version": "1.0", "url": "file:///etc/passwd"})
            assert not refused.ok and "http://" in refused.detail

            # What kinerja-gateway-upgrade.service then does: the broken release exits at every start.
            starts_before = service.starts
            outcome = upgrader.run_pending()
            assert outcome is not None and outcome.status == "rolled_back", outcome
            assert f"{broken.version} did not come up healthy" in outcome.detail
            assert service.starts >= starts_before + 3  # it was really started, and failed, again and again
            assert release.current_version(root) == version
            assert release.installed_versions(root) == [version]
            wait_until(lambda: (read_health_marker(state) or {}).get("version") == version, 20, "back on the first")
            assert read_health_marker(state)["pid"] == service.main_pid()  # type: ignore[index]
            assert json.loads((state / UPGRADE_RESULT).read_text())["status"] == "rolled_back"
            assert not (state / UPGRADE_REQUEST).exists()

            # A good release: switched, running and connected, the old one kept for a later rollback.
            outcome = upgrader.upgrade(f"{base}/{good.artefact.name}", expected_version=good.version)
            assert outcome.status == "upgraded", outcome
            assert release.current_version(root) == good.version
            marker = read_health_marker(state)
            assert marker is not None and marker["version"] == good.version and marker["uplink"]
            assert marker["pid"] == service.main_pid()
            assert release.installed_versions(root) == [version, good.version]
            again = upgrader.upgrade(f"{base}/{good.artefact.name}")
            assert again.status == "unchanged"

            # A power cut right after a switch: at boot the upgrade service judges the release again.
            journal = {"state": "switching", "version": good.version, "previous": version, "at": 0}
            (root / JOURNAL).write_text(json.dumps(journal))
            resumed = upgrader.resume()
            assert resumed is not None and resumed.status == "upgraded", resumed
            assert not (root / JOURNAL).exists() and upgrader.resume() is None
        finally:
            service.close()
    assert "broken on purpose" in (tmp_path / "gateway.log").read_text()


def ask(port: int, unit: str, gateway_id: str, args: dict[str, object]) -> CommandResult:
    """Send the `upgrade` command as the centre does and wait for the gateway's result."""
    results: list[CommandResult] = []
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=unique_slug("centre"))
    client.on_message = lambda c, u, m: results.append(CommandResult.from_json(m.payload))
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        client.subscribe(topic_for(unit, gateway_id, TopicKind.COMMAND_RESULTS), 1)
        time.sleep(0.3)
        command = Command(unique_slug("cmd"), CommandAction.UPGRADE, args)
        client.publish(topic_for(unit, gateway_id, TopicKind.COMMANDS), command.to_json(), qos=1)
        wait_until(lambda: bool(results), 15, "the gateway's answer to the upgrade command")
    finally:
        client.disconnect()
        client.loop_stop()
    return results[0]
