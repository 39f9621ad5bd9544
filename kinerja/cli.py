"""The `kinerja` command: demo, server, gateway and simulators."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    level = logging.DEBUG if args.verbose else (logging.WARNING if args.command == "demo" else logging.INFO)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        return 130
    except (ValueError, OSError, TimeoutError) as exc:
        # Config and connection problems are the user's to fix: say what, without a traceback.
        print(f"kinerja: {exc}", file=sys.stderr)
        return 1


class OptionsHelp(argparse.HelpFormatter):
    """Every option's help ends with its default, where it has one worth saying."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "default" in text
            or default is None
            or default is False  # a flag: off unless given
            or default == argparse.SUPPRESS
            or isinstance(action, argparse._HelpAction | argparse._SubParsersAction)
        ):
            return text
        return f"{text} (default: %(default)s)"


def _all_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found.extend(_all_parsers(child))
    return found


def _parser() -> argparse.ArgumentParser:
    parser = _commands()
    for each in _all_parsers(parser):
        each.formatter_class = OptionsHelp
    return parser


def _commands() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kinerja", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command")
    for add in (
        _add_demo_parser, _add_server_parser, _add_gateway_parser,
        _add_release_parser, _add_trial_parser, _add_simulate_parser,
    ):  # fmt: skip
        add(commands)
    return parser


def _add_demo_parser(commands: argparse._SubParsersAction) -> None:
    """kinerja demo"""
    demo = commands.add_parser("demo", help="run device, gateway, broker and server on this machine")
    demo.add_argument("--once", action="store_true", help="exit after printing the attendance table")
    demo.add_argument("--state-dir", type=Path, default=Path("kinerja-demo"), help="where the demo keeps its files")
    demo.add_argument("--http-port", type=int, default=8080, help="server port (0: any free port)")
    demo.add_argument("--db-url", help="database instead of the demo's SQLite file")
    demo.add_argument("--mqtt-url", help="broker instead of the in-process one, e.g. mqtt://127.0.0.1:1883")
    demo.set_defaults(run=_run_demo)


def _add_server_parser(commands: argparse._SubParsersAction) -> None:
    """kinerja server run | migrate | create-user"""
    server = commands.add_parser("server", help="the central service").add_subparsers(dest="action", required=True)
    server_run = server.add_parser("run", help="serve the API and consume punches (settings from KINERJA_* env)")
    server_run.add_argument("--host", help="HTTP bind address (KINERJA_HTTP_HOST)")
    server_run.add_argument("--port", type=int, help="HTTP port (KINERJA_HTTP_PORT)")
    server_run.set_defaults(run=_run_server)
    migrate = server.add_parser("migrate", help="create or update the database schema (KINERJA_DB_URL)")
    migrate.set_defaults(run=_run_migrate)
    score = server.add_parser(
        "score-month", help="the month-end run: score every unit's month and store the results (KINERJA_DB_URL)"
    )
    score.add_argument("month", help="the month, YYYY-MM")
    score.add_argument(
        "--queued-only", action="store_true", help="work through the month's marks already queued, mark none"
    )
    score.set_defaults(run=_run_score_month)
    partitions = server.add_parser(
        "partitions",
        help="PostgreSQL's monthly partitions (punch, audit, claims, corrected punches): list, create ahead,"
        " archive (KINERJA_DB_URL)",
    ).add_subparsers(dest="partition_action", required=True)
    listing = partitions.add_parser("list", help="a table's partitions with their estimated rows, and its archive")
    ensure = partitions.add_parser(
        "ensure", help="create this month's, the last one's and the coming months' of every partitioned table"
    )
    ensure.add_argument("--ahead", type=int, default=3, help="months ahead of this one")
    detach = partitions.add_parser("detach", help="take an old month out of a table into archive.<table>_YYYY_MM")
    detach.add_argument("month", help="the month, YYYY-MM (before last month)")
    attach = partitions.add_parser("attach", help="put an archived month back into its table")
    attach.add_argument("month", help="the month, YYYY-MM")
    for action in (listing, detach, attach):
        action.add_argument(
            "--table",
            default="punch",
            # Checked against server/partitions.py's TABLES when the command runs (not imported here: the
            # parser is built on every command).
            help="the partitioned table: punch (default), audit_entry, activity_claim, corrected_punch",
        )
    for action in partitions.choices.values():
        action.set_defaults(run=_run_partitions)
    create_user = server.add_parser("create-user", help="create a user account (e.g. the first bureau admin)")
    create_user.add_argument("username", help="the login name: 1-64 letters, digits, '.', '_' or '-'")
    create_user.add_argument(
        "--role",
        required=True,
        choices=["bureau_admin", "unit_admin", "supervisor", "employee", "operations"],
        help="what the account may see and do (required; employee is the least)",
    )
    create_user.add_argument("--unit", help="unit code (unit_admin; operations: limits to that subtree)")
    create_user.add_argument("--nip", help="the employee's NIP (supervisor, employee)")
    create_user.add_argument("--name", help="display name")
    create_user.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    create_user.add_argument("--api-token", metavar="LABEL", help="also issue an API token with this label")
    create_user.set_defaults(run=_run_create_user)
    rotate = server.add_parser(
        "rotate-biometric-key",
        help="seal every biometric template under a new key (KINERJA_BIOMETRIC_KEY_FILE; the first run creates it)",
    )
    rotate.set_defaults(run=_run_rotate_biometric_key)


def _add_gateway_parser(commands: argparse._SubParsersAction) -> None:
    """kinerja gateway run | doctor | upgrade | enrol"""
    gateway = commands.add_parser("gateway", help="the office gateway").add_subparsers(dest="action", required=True)
    gateway_run = gateway.add_parser("run", help="poll devices and relay punches")
    gateway_run.add_argument("--config", type=Path, required=True, help="gateway TOML file")
    gateway_run.set_defaults(run=_run_gateway)
    doctor = gateway.add_parser("doctor", help="connect to every configured device and report what it found")
    doctor.add_argument("--config", type=Path, required=True, help="gateway TOML file")
    doctor.set_defaults(run=_run_gateway_doctor)
    _add_upgrade_parser(gateway)
    _add_enrol_parser(gateway)


def _add_enrol_parser(gateway: argparse._SubParsersAction) -> None:
    from gateway.enrol import DEFAULT_CONFIG, DEFAULT_STATE_DIR

    enrol = gateway.add_parser(
        "enrol", help="fetch this gateway's identity from the centre with a one-time code and write its config"
    )
    enrol.add_argument("centre_url", help="the centre's address, e.g. https://kinerja.example.go.id")
    enrol.add_argument("code", help="the one-time enrolment code from the unit administrator")
    enrol.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="where to write gateway.toml")
    enrol.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR, help="the gateway's state directory")
    enrol.add_argument("--force", action="store_true", help="replace an existing enrolment")
    enrol.add_argument("--centre-ca", type=Path, help="CA certificate of the centre's HTTPS (default: the system's)")
    enrol.add_argument("--no-start", action="store_true", help="do not start the service afterwards")
    enrol.set_defaults(run=_run_gateway_enrol)


def _run_gateway_enrol(args: argparse.Namespace) -> int:
    from gateway.enrol import EnrolError, enrol, next_steps, start_service

    try:
        result = enrol(
            args.centre_url,
            args.code,
            config_path=args.config,
            state_dir=args.state_dir,
            force=args.force,
            centre_ca=args.centre_ca,
        )
    except (EnrolError, OSError) as exc:
        print(f"kinerja: pendaftaran gagal: {exc}", file=sys.stderr)
        return 1
    started = None if args.no_start else start_service()
    print(next_steps(result, started))
    return 0


def _add_release_parser(commands: argparse._SubParsersAction) -> None:
    """kinerja release keygen | build | lock"""
    release = commands.add_parser("release", help="gateway releases, built and signed at the centre")
    _add_release_parsers(release.add_subparsers(dest="action", required=True))


def _add_trial_parser(commands: argparse._SubParsersAction) -> None:
    """kinerja trial"""
    trial = commands.add_parser("trial", help="the field trial: three offices, faults on purpose, numbers checked")
    trial.add_argument("--short", action="store_true", help="a dozen employees per office (the CI version)")
    trial.add_argument("--workdir", type=Path, help="where the trial's temporary files go")
    trial.set_defaults(run=_run_trial)


def _add_simulate_parser(commands: argparse._SubParsersAction) -> None:
    """kinerja simulate zk | serial | push"""
    simulate = commands.add_parser("simulate", help="device simulators").add_subparsers(dest="device", required=True)
    zk = simulate.add_parser("zk", help="a ZK-protocol device on TCP and UDP")
    zk.add_argument("--host", default="127.0.0.1", help="address to listen on")
    zk.add_argument("--port", type=int, default=4370, help="TCP and UDP port (ZK devices use 4370)")
    zk.add_argument("--serial", default="SIM-ZK-0001", help="the serial number the device reports")
    zk.add_argument("--comm-key", type=int, default=0, help="the device's communication password (0: none)")
    zk.add_argument("--users", type=int, default=10, help="users enrolled, PINs 1..N")
    zk.add_argument("--punches", type=int, default=20, help="punches in the log, over the last days")
    from gateway.simulators.command import add_serial_arguments, add_zk_knobs, run_serial, run_zk

    add_zk_knobs(zk)
    zk.set_defaults(run=run_zk)
    serial = simulate.add_parser("serial", help="a serial attendance terminal on a pseudo-terminal")
    add_serial_arguments(serial)
    serial.set_defaults(run=run_serial)
    push = simulate.add_parser("push", help="a push-protocol (ADMS / iclock) device that calls a gateway")
    push.add_argument("--server", required=True, help="the gateway's push endpoint, e.g. http://127.0.0.1:8081")
    push.add_argument("--serial", default="SIM-PUSH-0001", help="the serial number the device sends (SN=)")
    push.add_argument("--users", type=int, default=10, help="users enrolled, PINs 1..N")
    push.add_argument("--punches", type=int, default=20, help="punches in the log, over the last days")
    push.add_argument("--batch-size", type=int, default=100, help="punch lines per upload")
    push.add_argument("--legacy", action="store_true", help="older PUSH 2.x firmware (Stamp, DATA USER)")
    push.add_argument("--punch-every", type=float, default=0, help="add a punch every N seconds (0: never)")
    push.set_defaults(run=_run_simulate_push)


def _add_upgrade_parser(gateway: argparse._SubParsersAction) -> None:
    from gateway.upgrade import GATEWAY_CONFIG, GATEWAY_UNIT, TRUSTED_KEYS

    upgrade = gateway.add_parser(
        "upgrade", help="install a signed release from the centre, switch to it, roll back if it does not come up"
    )
    upgrade.add_argument("url", nargs="?", help="the artefact at the centre; its signature is at URL.sig")
    upgrade.add_argument("--signature-url", help="where the signature is, if not at URL.sig")
    upgrade.add_argument("--version", dest="expected_version", help="refuse any other version")
    upgrade.add_argument(
        "--pending",
        action="store_true",
        help="(the upgrade service) finish an interrupted switch, then the centre's request",
    )
    upgrade.add_argument("--root", type=Path, default=Path("/opt/kinerja"), help="where releases are installed")
    upgrade.add_argument("--config", type=Path, default=GATEWAY_CONFIG, help="the gateway's config (its state_dir)")
    upgrade.add_argument("--keys", type=Path, default=TRUSTED_KEYS, help="the centre's trusted public keys")
    upgrade.add_argument("--ca-file", help="CA certificate for an https:// centre")
    upgrade.add_argument("--unit", default=GATEWAY_UNIT, help="the gateway's systemd unit")
    upgrade.add_argument("--health-timeout", type=float, default=180, help="seconds for the new version to come up")
    upgrade.add_argument("--settle", type=float, default=20, help="seconds it must then keep running")
    upgrade.add_argument(
        "--no-require-uplink", action="store_true", help="healthy without a broker connection (offline site)"
    )
    upgrade.set_defaults(run=_run_gateway_upgrade)


def _add_release_parsers(actions: argparse._SubParsersAction) -> None:
    keygen = actions.add_parser("keygen", help="a new Ed25519 signing key; prints the line gateways trust")
    keygen.add_argument("key_file", type=Path, help="where to write the private key (keep it off the gateways)")
    keygen.set_defaults(run=_run_release_keygen)
    lock = actions.add_parser("lock", help="re-pin deploy/gateway/requirements.txt (needs pip-tools)")
    lock.set_defaults(run=_run_release_lock)
    build = actions.add_parser("build", help="the signed artefact and the Debian package for gateways")
    build.add_argument("--signing-key", type=Path, required=True, help="from `kinerja release keygen`")
    build.add_argument("--out", type=Path, default=Path("dist"), help="where the files go")
    build.add_argument("--source", type=Path, help="source checkout (default: this one)")
    build.add_argument("--no-deb", action="store_true", help="only the artefact and its signature")
    build.set_defaults(run=_run_release_build)


def _run_gateway_upgrade(args: argparse.Namespace) -> int:
    from gateway.upgrade import SystemdService, Upgrader, load_trusted_keys, state_dir_of

    if not args.pending and not args.url:
        raise ValueError("give the artefact's URL at the centre, or --pending")
    upgrader = Upgrader(
        root=args.root,
        state_dir=state_dir_of(args.config),
        trusted_keys=load_trusted_keys(args.keys),
        service=SystemdService(args.unit),
        health_timeout_s=args.health_timeout,
        settle_s=args.settle,
        require_uplink=not args.no_require_uplink,
        ca_file=args.ca_file,
    )
    if args.pending:
        outcome = upgrader.run_pending()
        if outcome is None:
            print("nothing to do")
            return 0
    else:
        outcome = upgrader.upgrade(args.url, signature_url=args.signature_url, expected_version=args.expected_version)
    print(f"{outcome.status}: {outcome.detail}")
    return 0 if outcome.ok else 1


def _run_release_keygen(args: argparse.Namespace) -> int:
    from kinerja.release import generate_signing_key

    line = generate_signing_key(args.key_file)
    print(f"signing key written to {args.key_file} (keep it secret); gateways trust:\n{line}")
    return 0


def _run_release_lock(args: argparse.Namespace) -> int:
    from kinerja.release import LOCK_FILE, BuildError, lock

    try:
        lock(LOCK_FILE)
    except BuildError as exc:
        raise ValueError(str(exc)) from None
    print(f"pinned {LOCK_FILE}")
    return 0


def _run_release_build(args: argparse.Namespace) -> int:
    from kinerja.release import SOURCE_ROOT, BuildError, build

    try:
        files = build(args.source or SOURCE_ROOT, args.out, args.signing_key, deb=not args.no_deb)
    except BuildError as exc:
        raise ValueError(str(exc)) from None
    for path in (files.artefact, files.signature, files.deb):
        if path:
            print(path)
    return 0


def _run_demo(args: argparse.Namespace) -> int:
    from kinerja.demo import run_demo
    from wire.mqtt import MqttSettings

    mqtt = MqttSettings.from_url(args.mqtt_url) if args.mqtt_url else None
    return asyncio.run(
        run_demo(once=args.once, state_dir=args.state_dir, http_port=args.http_port, db_url=args.db_url, mqtt=mqtt)
    )


def _run_server(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from aiohttp import web

    from server.app import create_app
    from server.settings import ServerSettings

    settings = ServerSettings.from_env()
    settings = replace(settings, http_host=args.host or settings.http_host, http_port=args.port or settings.http_port)
    web.run_app(create_app(settings), host=settings.http_host, port=settings.http_port, print=None)
    return 0


def _run_migrate(args: argparse.Namespace) -> int:
    from server.db import close_database, open_database
    from server.settings import ServerSettings

    async def migrate() -> None:
        context = await open_database(ServerSettings.from_env().db_url, create_schema=True)
        await close_database(context)

    asyncio.run(migrate())
    print("schema is up to date")
    return 0


def _run_score_month(args: argparse.Namespace) -> int:
    from server.db import close_database, dialect_of, open_database
    from server.services.month import parse_month
    from server.services.scoring_queue import score_whole_month
    from server.settings import ServerSettings

    try:
        month = parse_month(args.month)
    except ValueError as exc:
        print(f"kinerja: bulan tidak sah / invalid month: {exc}", file=sys.stderr)
        return 2
    db_url = ServerSettings.from_env().db_url

    async def score() -> int:
        context = await open_database(db_url, create_schema=True)
        try:
            return await score_whole_month(dialect_of(db_url), month, mark=not args.queued_only)
        finally:
            await close_database(context)

    scored = asyncio.run(score())
    print(f"{month:%Y-%m}: {scored} unit-months scored by this process; no unit of the month is left stale")
    return 0


def _run_partitions(args: argparse.Namespace) -> int:
    from server.db import dialect_of
    from server.services.month import parse_month
    from server.settings import ServerSettings

    db_url = ServerSettings.from_env().db_url
    if dialect_of(db_url) != "postgres":
        print("SQLite: tabel biasa, tanpa partisi / plain tables, no partitions: nothing to do")
        return 0 if args.partition_action in ("list", "ensure") else 2
    month = None
    if args.partition_action in ("detach", "attach"):
        try:
            month = parse_month(args.month)
        except ValueError as exc:
            print(f"kinerja: bulan tidak sah / invalid month: {exc}", file=sys.stderr)
            return 2
    from server.partitions import PartitionError

    try:
        lines = asyncio.run(_partitions(db_url, args, month))
    except PartitionError as exc:
        print(f"kinerja: {exc}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


async def _partitions(db_url: str, args: argparse.Namespace, month: object) -> list[str]:
    from tortoise.transactions import in_transaction

    from server import partitions as parts
    from server.db import close_database, open_database

    context = await open_database(db_url, create_schema=True)
    try:
        async with in_transaction("postgres") as tx:
            if args.partition_action == "ensure":
                created = await parts.ensure_ahead(tx, ahead=args.ahead)
                return [f"created {name}" for name in created] or ["every scheduled month has its partition"]
            if args.partition_action == "detach":
                return [f"detached: {await parts.detach_month(tx, month, table=args.table)}"]  # type: ignore[arg-type]
            if args.partition_action == "attach":
                return [f"attached: {await parts.attach_month(tx, month, table=args.table)}"]  # type: ignore[arg-type]
            lines = [
                f"{p.name}\t{'default' if p.month is None else f'{p.month:%Y-%m}'}\t~{max(p.rows, 0)} rows"
                for p in await parts.partitions(tx, args.table)
            ]
            archived = await parts.archived_months(tx, args.table)
            return lines + [f"{parts.ARCHIVE_SCHEMA}.{name}\tarchived" for name in archived]
    finally:
        await close_database(context)


def _run_rotate_biometric_key(args: argparse.Namespace) -> int:
    from server.services.biometric_keys import BiometricKeyError
    from server.services.biometric_store import rotate_configured_key
    from server.settings import ServerSettings

    settings = ServerSettings.from_env()
    try:
        print(asyncio.run(rotate_configured_key(settings.db_url, settings.biometric_key_file)))
    except BiometricKeyError as exc:
        print(f"kinerja: {exc}", file=sys.stderr)
        return 2
    return 0


def _run_create_user(args: argparse.Namespace) -> int:
    import getpass

    from server.db import close_database, open_database
    from server.services.accounts import AccountError, create_user, issue_api_token
    from server.settings import ServerSettings

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"password for {args.username}: ")
        if getpass.getpass("again: ") != password:
            raise ValueError("the two passwords differ")

    async def create() -> str | None:
        context = await open_database(ServerSettings.from_env().db_url, create_schema=True)
        try:
            user = await create_user(
                args.username, password, args.role, display_name=args.name, unit_code=args.unit, employee_nip=args.nip
            )
            return await issue_api_token(user, args.api_token) if args.api_token else None
        finally:
            await close_database(context)

    try:
        token = asyncio.run(create())
    except AccountError as exc:
        raise ValueError(str(exc)) from None
    print(f"created {args.role} account {args.username!r}")
    if token:
        print(f"API token (shown once): {token}")
    return 0


def _run_trial(args: argparse.Namespace) -> int:
    from kinerja.trial.run import main as trial_main

    return trial_main(short=args.short, workdir=args.workdir)


def _run_gateway(args: argparse.Namespace) -> int:
    from gateway.config import load_gateway_config
    from gateway.service import Gateway

    config = load_gateway_config(args.config)
    asyncio.run(Gateway(config).run_forever())
    return 0


def _run_gateway_doctor(args: argparse.Namespace) -> int:
    from gateway.doctor import doctor_command

    return doctor_command(args.config)


def _run_simulate_push(args: argparse.Namespace) -> int:
    import random
    import time

    from gateway.simulators.push import PushDeviceSimulator

    device = PushDeviceSimulator(args.server, args.serial, batch_size=args.batch_size, legacy=args.legacy)
    rng = random.Random(0)
    for pin in range(1, args.users + 1):
        device.add_user(str(pin), f"Pegawai {pin}")
    now = datetime.now().replace(microsecond=0)
    moments = sorted(now - timedelta(minutes=rng.randrange(7 * 24 * 60)) for _ in range(args.punches))
    for moment in moments:
        device.add_punch(str(rng.randrange(1, args.users + 1)), moment, status=rng.choice((0, 1)), verify=1)
    device.start()
    print(f"push simulator {args.serial} calling {args.server}/iclock/; Ctrl-C stops it.")
    try:
        while True:
            if args.punch_every > 0:
                time.sleep(args.punch_every)
                device.add_punch(str(rng.randrange(1, args.users + 1)), status=rng.choice((0, 1)))
            else:
                time.sleep(3600)
    finally:
        device.stop()
        print(f"{device.position} of {len(device.records)} punches acknowledged; last error: {device.stats.last_error}")


if __name__ == "__main__":
    sys.exit(main())
