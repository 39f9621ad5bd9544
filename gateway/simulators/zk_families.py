"""ZK firmware families as the field reports them: each a set of the simulator's knobs, with its source
and the device profile the gateway uses for it (docs/devices.md, "Firmware families").

    simulator = FAMILIES["wl20"].make(zone=WITA).start()
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.simulators.zk import ZKSimulator


@dataclass(frozen=True, slots=True)
class FirmwareFamily:
    name: str
    model: str  # what the field calls the device
    fault: str  # what this firmware does that others do not
    source: str  # where it is reported
    profile: str  # the device profile (device_profiles/<profile>.toml) for it
    shape: dict[str, Any] = field(default_factory=dict)  # ZKSimulator constructor arguments
    knobs: dict[str, Any] = field(default_factory=dict)  # attributes set on the simulator

    def make(self, **overrides: Any) -> ZKSimulator:
        """A simulator of this family (not started); `overrides` go to the constructor."""
        simulator = ZKSimulator(**{"serial": f"FAM-{self.name.upper()}", **self.shape, **overrides})
        for name, value in self.knobs.items():
            setattr(simulator, name, value)
        return simulator


FAMILIES: dict[str, FirmwareFamily] = {
    family.name: family
    for family in (
        FirmwareFamily(
            "generic",
            "ZKTeco K40 / MB-series, Ver 6.60",
            "none: 40-byte records, 72-byte users, 52-byte live events, buffered reads",
            "pyzk 0.9 and its test_machine.py",
            "zkteco-generic-tcp",
        ),
        FirmwareFamily(
            "wl20",
            "ZKTeco WL20",
            "answers CMD_GET_FREE_SIZES with one zero DWORD: no user or record count at all",
            "pyzk #76",
            "zkteco-wl20",
            shape={"platform": "ZLM60_TFT", "device_name": "WL20"},
            knobs={"count_misreport": "zero_dword"},
        ),
        FirmwareFamily(
            "short-sizes",
            "ZK boards answering a truncated CMD_GET_FREE_SIZES",
            "a free-sizes answer shorter than the 80 bytes that hold the record count (pyzk ignores it)",
            "pyzk #76 (an answer too short to read); pyzk base.py read_sizes() needs 80 bytes",
            "zkteco-wl20",
            knobs={"count_misreport": "short"},
        ),
        FirmwareFamily(
            "speedspace-h5l",
            "ZKTeco SpeedSpace-H5L[P], Ver 6.60 May 13 2020",
            "reports 0 records while the log holds punches: pyzk's get_attendance() returns nothing",
            "pyzk #170",
            "zkteco-speedface-v5l-tcp",
            shape={"platform": "ZAM180_TFT", "device_name": "SpeedSpace-H5L"},
            knobs={"count_misreport": "zero_records"},
        ),
        FirmwareFamily(
            "speedface-v5l",
            "ZKTeco SpeedFace-V5L, Ver 6.60 Jul 1 2020",
            "49-byte records and a record count of 0: pyzk returns nothing, or garbage after the first",
            "pyzk #126; php_zklib #39",
            "zkteco-speedface-v5l-tcp",
            shape={"platform": "ZAM170_TFT", "device_name": "SpeedFace-V5L", "record_size": 49},
            knobs={"count_misreport": "zero_records"},
        ),
        FirmwareFamily(
            "zem560",
            "ZKTeco MA300 / ZEM560 boards",
            "10-byte live events (u16 pin); 16-byte records, 28-byte users",
            "pyzk #164 (support added after 0.9 in #171)",
            "zkteco-zem560",
            shape={"platform": "ZEM560", "record_size": 16, "user_size": 28, "live_event_size": 10},
        ),
        FirmwareFamily(
            "zem300",
            "ZKTeco ZEM300 boards",
            "14-byte live events (u16 pin and four reserved bytes)",
            "pyzk #164",
            "zkteco-zem560",
            shape={"platform": "ZEM300", "record_size": 16, "user_size": 28, "live_event_size": 14},
        ),
        FirmwareFamily(
            "zem600-tft-8",
            "ZKTeco uFace, ZEM600_TFT Ver 8.0.0 (build 428-3852-28)",
            "37-byte live events: pyzk 0.9 raises on every punch ('user_id' referenced before assignment)",
            "pyzk #153 (support added after 0.9 in #154)",
            "zkteco-zem600-tft",
            shape={"platform": "ZEM600_TFT", "firmware": "Ver 8.0.0(build 428-3852-28)", "live_event_size": 37},
        ),
        FirmwareFamily(
            "zmm100",
            "ZMM100_TFT boards",
            "no answer to the buffered read (1503) of the log: users read, the log times out",
            "pyzk #79, #45; python_zklib #25 (the same device)",
            "zkteco-zmm100",
            shape={"platform": "ZMM100_TFT"},
            knobs={"buffered_attlog": False},
        ),
        FirmwareFamily(
            "one-client",
            "ZK terminals serving one SDK connection at a time",
            "a second TCP connection is reset while the first is open",
            "pyzk #57 (a K14 resetting the connection 'sometimes'), pyzk PR #95 ('another device connected')",
            "zkteco-generic-tcp",
            knobs={"single_client": "refuse_new"},
        ),
        FirmwareFamily(
            "face702",
            "ZKTeco Face702",
            "writes a whole chunked answer (PREPARE_DATA, DATA, ACK_OK) in one TCP write",
            "node-zklib #48 (random 'TIME OUT !! n PACKETS REMAIN' on 27,538 records)",
            "zkteco-generic-tcp",
            shape={"platform": "ZMM200_TFT", "device_name": "Face702"},
            knobs={"coalesce_packets": True},
        ),
    )
}
