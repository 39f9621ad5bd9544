"""`kinerja simulate zk|serial`: the simulators from the command line, for IT staff to rehearse a
deployment (and its bad days: every misbehaviour knob is an option)."""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path


def add_zk_knobs(parser: argparse.ArgumentParser) -> None:
    knobs = parser.add_argument_group("misbehaviour and shape")
    knobs.add_argument("--records", type=int, default=0, help="bulk history in the log (e.g. 100000), no events")
    knobs.add_argument("--capacity", type=int, default=100_000, help="records the log holds; full refuses punches")
    knobs.add_argument(
        "--record-size", type=int, choices=(8, 16, 40, 49), default=40, help="log record format (49: SpeedFace-class)"
    )
    knobs.add_argument(
        "--user-size", type=int, choices=(28, 72), help="user record format (default: 72 with 40/49-byte records)"
    )
    knobs.add_argument("--transport", choices=("both", "tcp", "udp"), default="both", help="udp: old firmware")
    knobs.add_argument("--no-live-events", action="store_true", help="refuse live-event registration")
    knobs.add_argument("--punch-every", type=float, default=0, help="someone punches every N seconds (0: never)")
    knobs.add_argument("--delay", type=float, default=0, help="every answer waits this many seconds")
    knobs.add_argument("--drop-after-chunks", type=int, help="close the connection after N chunks of a read")
    knobs.add_argument("--hang-after-chunks", type=int, help="stop answering after N chunks of a read")
    knobs.add_argument("--clock-offset", type=float, default=0, help="device clock is off by N seconds")
    knobs.add_argument("--duplicates", action="store_true", help="the log repeats every other record")
    knobs.add_argument("--garbage", type=int, default=0, help="N records stamped 2000-01-01 or years ahead")
    knobs.add_argument("--corrupt", type=int, default=0, help="N records stamped 30 February")
    knobs.add_argument("--clock-reset", action="store_true", help="flat clock battery: the clock restarts at 2000")
    knobs.add_argument("--full-log-stalls", type=int, default=0, help="while full, N reads of the log stall mid-read")
    knobs.add_argument("--silent-after-events", type=int, help="live events stop silently after N per connection")
    from gateway.simulators.zk_families import FAMILIES

    knobs.add_argument(
        "--family",
        choices=sorted(FAMILIES),
        default="generic",
        help="firmware family: its formats and faults (docs/devices.md, 'Firmware families')",
    )


def run_zk(args: argparse.Namespace) -> int:
    from gateway.simulators.zk import SimRecord
    from gateway.simulators.zk_families import FAMILIES

    family = FAMILIES[args.family]
    record_size = family.shape.get("record_size", args.record_size)
    user_size = args.user_size or family.shape.get("user_size") or (72 if record_size in (40, 49) else 28)
    simulator = family.make(
        serial=args.serial,
        host=args.host,
        port=args.port,
        comm_key=args.comm_key,
        record_size=record_size,
        user_size=user_size,
        tcp=args.transport != "udp",
        udp=args.transport != "tcp",
        record_capacity=max(args.capacity, args.records),
        live_events=not args.no_live_events,
        clock_offset=timedelta(seconds=args.clock_offset),
    )
    rng = random.Random(0)
    pins = [str(pin) for pin in range(1, args.users + 1)] or ["1"]
    for pin in pins[: args.users]:
        simulator.add_user(pin=pin, name=f"Pegawai {pin}")
    now = datetime.now().replace(microsecond=0)
    start = now - timedelta(seconds=args.records)
    simulator.load_records(
        SimRecord(pins[index % len(pins)], start + timedelta(seconds=index), index % 2) for index in range(args.records)
    )
    for _ in range(args.punches):
        moment = now - timedelta(minutes=rng.randrange(7 * 24 * 60))
        simulator.add_punch(rng.choice(pins), moment, state=rng.choice((0, 1)), verify=1)
    simulator.response_delay_s = args.delay
    simulator.drop_connection_after_chunks = args.drop_after_chunks
    simulator.hang_after_chunks = args.hang_after_chunks
    simulator.emit_duplicate_punches = args.duplicates
    simulator.garbage_records = args.garbage
    simulator.corrupt_records = args.corrupt
    simulator.full_log_stalls = args.full_log_stalls
    simulator.live_events_go_silent_after = args.silent_after_events
    if args.clock_reset:
        simulator.reset_clock()
    simulator.start()
    transports = {"both": "TCP and UDP", "tcp": "TCP", "udp": "UDP"}[args.transport]
    formats = f"{record_size}-byte records, {user_size}-byte users, firmware family {family.name}"
    print(
        f"ZK simulator {args.serial} on {args.host}:{simulator.port} ({transports}); {formats}; Ctrl-C stops it.",
        flush=True,
    )
    try:
        while True:
            if args.punch_every > 0:
                time.sleep(args.punch_every)
                stored = simulator.add_punch(rng.choice(pins), state=rng.choice((0, 1)))
                print(f"punch {stored}" if stored else "log full: punch not stored", flush=True)
            else:
                time.sleep(3600)
    finally:
        simulator.stop()


def add_serial_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", required=True, help="a serial profile in device_profiles/, e.g. giga-tms-tr320")
    parser.add_argument("--link", type=Path, required=True, help="the path the gateway opens (serial_path)")
    parser.add_argument("--users", type=int, default=10, help="PINs 1..N punch")
    parser.add_argument("--punch-every", type=float, default=5, help="someone punches every N seconds")
    parser.add_argument("--garble-every", type=int, default=0, help="every Nth line is garbled (0: none)")
    parser.add_argument("--unplug-every", type=float, default=0, help="pull the cable every N seconds for 3 s")


def run_serial(args: argparse.Namespace) -> int:
    from gateway.devices.serial_line import SerialLineFormat
    from gateway.profiles import load_profile
    from gateway.simulators.serial_terminal import SerialTerminalSimulator

    profile = load_profile(args.profile)
    if profile.protocol != "serial":
        raise ValueError(f"profile {args.profile} is a {profile.protocol} device, not a serial terminal")
    line_format = SerialLineFormat.from_table(profile.serial, profile.source)
    terminal = SerialTerminalSimulator(line_format, args.link, garble_every=args.garble_every).plug_in()
    print(f"serial terminal {profile.model} on {args.link}; Ctrl-C stops it.", flush=True)
    rng = random.Random(0)
    states = sorted(profile.state_map)
    plugged_since = time.monotonic()
    try:
        while True:
            time.sleep(max(args.punch_every, 0.1))
            if args.unplug_every and time.monotonic() - plugged_since > args.unplug_every:
                terminal.unplug()
                print("cable pulled", flush=True)
                time.sleep(3)
                terminal.plug_in()
                plugged_since = time.monotonic()
                print("cable plugged back", flush=True)
            line = terminal.punch(str(rng.randrange(1, args.users + 1)), state=rng.choice(states))
            sys.stdout.write(f"sent {line!r}\n")
            sys.stdout.flush()
    finally:
        terminal.unplug()
