"""`kinerja gateway enrol <centre-url> <code>`: trade the one-time code a unit administrator gave for this
gateway's identity, and write its config so that nobody edits a file by hand.

The centre (server/services/gateway_enrolment.py) answers `POST <centre>/api/v1/enrol` with the gateway id, unit,
office zone, broker address, the CA certificate when it has one, a broker login of the gateway's own and
the devices the administrator entered. Written here:

- `gateway.toml` (0644: no secret in it), checked with the gateway's own config parser before it is put
  in place, so a config the gateway would refuse is never left behind;
- the broker password in `gateway.mqtt-password` beside it, 0600 and, when run as root, owned by the
  service user (`kinerja-gateway`) who alone needs to read it;
- `ca.pem` when the centre sent one.

Every file is written to a temporary name and renamed, so a crash leaves the old file or the new one. An
existing enrolment is kept unless `--force` is given, and that is checked before the code is sent: a
refusal here never spends the code. A re-enrolment drops the configuration the centre sent the previous
one (`centre-config.json` in the state directory): the gateway starts on the devices of the new code.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import ssl
import subprocess
import tomllib
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.centre_config import CENTRE_CONFIG
from gateway.config import ConfigError, GatewayConfig, parse_gateway_config

ENROL_PATH = "/api/v1/enrol"
DEFAULT_CONFIG = Path("/etc/kinerja/gateway.toml")
DEFAULT_STATE_DIR = Path("/var/lib/kinerja-gateway")
SERVICE_USER = "kinerja-gateway"
SERVICE_UNIT = "kinerja-gateway.service"
SECRET_NAME = "gateway.mqtt-password"
CA_NAME = "ca.pem"
TIMEOUT_S = 30.0


class EnrolError(RuntimeError):
    """Enrolment did not happen; the text (Indonesian first) says why and what to do."""


@dataclass(frozen=True, slots=True)
class Enrolled:
    config_path: Path
    secret_path: Path
    ca_path: Path | None
    config: GatewayConfig
    login: str  # "dynsec" or "static"


def fetch_identity(
    centre_url: str, code: str, *, centre_ca: Path | None = None, timeout_s: float = TIMEOUT_S
) -> dict[str, Any]:
    """The centre's answer to the code, or EnrolError with the centre's reason."""
    if not centre_url.startswith(("https://", "http://")):
        raise EnrolError(
            f"alamat pusat harus diawali https:// (the centre's address must start with https://): {centre_url!r}"
        )
    request = urllib.request.Request(
        centre_url.rstrip("/") + ENROL_PATH,
        data=json.dumps({"code": code}).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        method="POST",
    )
    context = ssl.create_default_context(cafile=str(centre_ca)) if centre_ca else None
    try:
        with urllib.request.urlopen(request, timeout=timeout_s, context=context) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        reason = _reason(exc)
        raise EnrolError(f"pusat menolak pendaftaran ({exc.code}): {reason}") from None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        why = getattr(exc, "reason", exc)
        raise EnrolError(f"pusat tidak dapat dihubungi di {centre_url} (the centre cannot be reached): {why}") from None
    except ValueError:
        raise EnrolError(f"jawaban pusat bukan JSON (the centre's answer is not JSON): {centre_url}") from None
    if not isinstance(body, dict) or not isinstance(body.get("mqtt"), dict):
        raise EnrolError("jawaban pusat tidak lengkap (the centre's answer is incomplete)")
    return body


def _reason(exc: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(exc.read()).get("reason") or exc.reason)
    except (ValueError, AttributeError, OSError):
        return str(exc.reason)


def check_not_enrolled(config_path: Path, force: bool) -> None:
    secret = config_path.with_name(SECRET_NAME)
    existing = [p for p in (config_path, secret) if p.exists()]
    if existing and not force:
        names = ", ".join(str(p) for p in existing)
        raise EnrolError(
            f"gateway ini sudah terdaftar ({names}); pakai --force untuk mendaftar ulang dengan kode baru"
            f" (already enrolled; --force replaces it)"
        )


def render_config(identity: dict[str, Any], state_dir: Path, secret_path: Path, ca_path: Path | None) -> str:
    """gateway.toml from the identity. Strings are written as JSON strings, which TOML reads alike."""
    mqtt = identity["mqtt"]

    def text(value: Any) -> str:
        return json.dumps(str(value))

    lines = [
        "# Written by `kinerja gateway enrol`: this gateway's identity from the centre.",
        f"gateway_id = {text(identity['gateway_id'])}",
        f"unit = {text(identity['unit'])}",
        f"timezone = {text(identity.get('timezone', 'WIB'))}",
        f"state_dir = {text(state_dir)}",
        "",
        "[mqtt]",
        f"url = {text(mqtt['url'])}",
        f"username = {text(mqtt['username'])}",
        f"password_file = {text(secret_path)}",
    ]
    if ca_path is not None:
        lines.append(f"ca_file = {text(ca_path)}")
    for device in identity.get("devices") or []:
        lines += ["", "[[devices]]"]
        for key, value in device.items():
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if number and key.endswith("_s"):
                value = float(value)  # the config's durations are floats; TOML keeps 5 and 5.0 apart
            rendered = repr(value) if number else text(value)
            lines.append(f"{key} = {rendered}")
    return "\n".join(lines) + "\n"


def _service_user() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        return None


def _write(path: Path, content: str, mode: int, owner: pwd.struct_passwd | None = None) -> Path:
    """Write beside the target under a temporary name with its final mode (and owner); the caller renames."""
    temporary = path.with_name(f".{path.name}.enrol-{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "w") as out:
        out.write(content)
        out.flush()
        os.fsync(out.fileno())
    os.chmod(temporary, mode)  # whatever the umask took away
    if owner is not None:
        os.chown(temporary, owner.pw_uid, owner.pw_gid)
    return temporary


def enrol(
    centre_url: str,
    code: str,
    *,
    config_path: Path = DEFAULT_CONFIG,
    state_dir: Path = DEFAULT_STATE_DIR,
    force: bool = False,
    centre_ca: Path | None = None,
) -> Enrolled:
    check_not_enrolled(config_path, force)
    config_path.parent.mkdir(parents=True, exist_ok=True)
    identity = fetch_identity(centre_url, code, centre_ca=centre_ca)
    mqtt = identity["mqtt"]
    owner = _service_user()
    secret_path = config_path.with_name(SECRET_NAME)
    ca_path = config_path.with_name(CA_NAME) if mqtt.get("ca_pem") else None
    written: list[tuple[Path, Path]] = []
    try:
        written.append((_write(secret_path, str(mqtt["password"]) + "\n", 0o600, owner), secret_path))
        if ca_path is not None:
            written.append((_write(ca_path, str(mqtt["ca_pem"]), 0o644), ca_path))
        text = render_config(identity, state_dir, secret_path, ca_path)
        # Checked by the gateway's own parser against the files just written, before anything is renamed.
        raw = tomllib.loads(render_config(identity, state_dir, written[0][0], written[1][0] if ca_path else None))
        try:
            config = parse_gateway_config(raw, str(config_path))
        except ConfigError as exc:
            raise EnrolError(
                f"konfigurasi dari pusat tidak dapat dipakai (the centre's config is unusable): {exc}"
            ) from None
        written.append((_write(config_path, text, 0o644), config_path))
        for temporary, final in written:
            os.replace(temporary, final)
    finally:
        for temporary, _ in written:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
    config = parse_gateway_config(tomllib.loads(text), str(config_path))
    # A configuration the centre sent the previous enrolment would override the devices of this one.
    with contextlib.suppress(FileNotFoundError):
        (state_dir / CENTRE_CONFIG).unlink()
    if not state_dir.exists():
        state_dir.mkdir(parents=True, mode=0o700)
        if owner is not None:
            os.chown(state_dir, owner.pw_uid, owner.pw_gid)
    return Enrolled(config_path, secret_path, ca_path, config, str(mqtt.get("login", "dynsec")))


def start_service() -> str | None:
    """Start (or restart, on re-enrolment) the service when systemd runs this box; None when it does not."""
    systemctl = shutil.which("systemctl")
    if systemctl is None or os.geteuid() != 0 or not Path("/run/systemd/system").is_dir():
        return None
    done = subprocess.run([systemctl, "enable", "--now", SERVICE_UNIT], capture_output=True, text=True, check=False)
    if done.returncode == 0:
        subprocess.run([systemctl, "restart", SERVICE_UNIT], capture_output=True, text=True, check=False)
        return f"layanan {SERVICE_UNIT} dijalankan (started)"
    return f"layanan {SERVICE_UNIT} gagal dijalankan: {done.stderr.strip()}"


def next_steps(result: Enrolled, started: str | None) -> str:
    config = result.config
    lines = [
        f"Gateway {config.gateway_id} (unit {config.unit}) terdaftar.",
        f"  konfigurasi: {result.config_path}",
        f"  kata sandi broker: {result.secret_path} (0600)",
    ]
    if result.ca_path is not None:
        lines.append(f"  sertifikat CA: {result.ca_path}")
    lines.append(f"  perangkat: {', '.join(d.name for d in config.devices)}")
    if result.login == "static":
        lines.append(
            "Catatan: broker pusat tanpa plugin dynamic security; administrator pusat menambahkan login gateway ini"
            " ke berkas sandi broker (baris di GET /api/v1/gateways/<id>/enrolment) sebelum gateway dapat terhubung."
        )
    lines.append("Langkah berikutnya:")
    lines.append(f"  1. periksa perangkat: sudo -u {SERVICE_USER} kinerja gateway doctor --config {result.config_path}")
    if started:
        lines.append(f"  2. {started}; lihat: systemctl status {SERVICE_UNIT}")
    else:
        lines.append(f"  2. jalankan: sudo systemctl enable --now {SERVICE_UNIT}")
        lines.append(f"     (atau tanpa systemd: kinerja gateway run --config {result.config_path})")
    return "\n".join(lines)
