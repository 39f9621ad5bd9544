"""Benchmark: punches pushed by ADMS terminals into the gateway's push endpoint, answered after the commit.

Measured in one run, on the same punches:
- baseline: the same batches committed straight into a fresh PunchQueue (`enqueue`, one transaction per
  batch, synchronous=FULL): the floor no push endpoint can beat, since it commits each upload the same way;
- push: `--devices` simulated terminals (gateway/simulators/push.py, one thread each, one HTTP request
  per batch with `Connection: close` as firmware does) upload `--punches` each in batches of
  `--batch-size` to a PushServer on 127.0.0.1, each batch acknowledged only after its commit.
Prints punches/s for both, the ratio push/baseline, the mean time per upload, and the process's peak
resident memory (VmHWM).

    .venv/bin/python bench/bench_push_upload.py [--devices 10 --punches 2000 --batch-size 100]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.config import parse_gateway_config
from gateway.push.frontend import PushFrontend
from gateway.queue import PunchQueue
from gateway.simulators.push import PushDeviceSimulator
from wire.zones import office_zone

WITA = office_zone("WITA")


def punches_for(device: int, count: int) -> list[tuple[str, datetime, int, int]]:
    start = datetime(2026, 11, 2, 6, 0) - timedelta(days=device)
    return [(str(i % 500 + 1), start + timedelta(seconds=7 * i), i % 2, 1) for i in range(count)]


def baseline(directory: Path, devices: int, count: int, batch_size: int) -> float:
    queue = PunchQueue(directory / "baseline.sqlite3")
    began = time.perf_counter()
    for device in range(devices):
        rows = [
            (pin, moment.replace(tzinfo=WITA), state, verify)
            for pin, moment, state, verify in punches_for(device, count)
        ]
        for first in range(0, count, batch_size):
            queue.enqueue(f"BENCH-{device:03d}", rows[first : first + batch_size])
    elapsed = time.perf_counter() - began
    queue.close()
    return elapsed


async def push(directory: Path, devices: int, count: int, batch_size: int) -> tuple[float, int]:
    config = parse_gateway_config(
        {
            "gateway_id": "gw-bench",
            "unit": "unit-bench",
            "timezone": "WITA",
            "state_dir": str(directory / "push"),
            "mqtt": {"url": "mqtt://127.0.0.1:1"},
            "push": {"host": "127.0.0.1", "port": 0},
            "devices": [
                {"name": f"d{i}", "profile": "zkteco-speedface-push", "serial_number": f"BENCH-{i:03d}"}
                for i in range(devices)
            ],
        }
    )
    queue = PunchQueue(config.queue_path)
    frontend = PushFrontend(config, queue, lambda: None)
    frontend.coordinators_for(config)
    await frontend.start()
    url = f"http://127.0.0.1:{frontend.server.port}"
    simulators = []
    for device in range(devices):
        simulator = PushDeviceSimulator(url, f"BENCH-{device:03d}", batch_size=batch_size, delay_s=3600,
                                        error_delay_s=0.2, zone=WITA)  # fmt: skip
        for pin, moment, state, verify in punches_for(device, count):
            simulator.add_punch(pin, moment, state, verify)
        simulators.append(simulator)
    began = time.perf_counter()
    for simulator in simulators:
        simulator.start()
    while any(s.position < count for s in simulators):
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - began
    for simulator in simulators:
        simulator.stop()
    uploads = sum(s.stats.uploads_ok for s in simulators)
    stored = queue.stats().queued
    await frontend.stop()
    queue.close()
    if stored != devices * count:
        raise SystemExit(f"push run stored {stored} punches, expected {devices * count}")
    return elapsed, uploads


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=10)
    parser.add_argument("--punches", type=int, default=2000, help="per device")
    parser.add_argument("--batch-size", type=int, default=100)
    args = parser.parse_args()
    total = args.devices * args.punches
    with tempfile.TemporaryDirectory(prefix="bench-push-") as tmp:
        directory = Path(tmp)
        base_s = baseline(directory, args.devices, args.punches, args.batch_size)
        push_s, uploads = asyncio.run(push(directory, args.devices, args.punches, args.batch_size))
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, Python {platform.python_version()}")
    print(f"{args.devices} devices x {args.punches} punches, batches of {args.batch_size}")
    print(f"baseline  direct PunchQueue.enqueue: {total / base_s:10.0f} punches/s ({base_s:.2f} s)")
    print(f"push      HTTP upload, OK after commit: {total / push_s:10.0f} punches/s ({push_s:.2f} s), "
          f"{uploads} uploads, {push_s / uploads * 1000 * args.devices:.1f} ms per upload per device")  # fmt: skip
    print(f"ratio     push / baseline: {base_s / push_s:.2f}")
    print(f"peak RSS  {peak_rss_mb():.0f} MB (benchmark process: endpoint, queue and simulators)")


if __name__ == "__main__":
    main()
