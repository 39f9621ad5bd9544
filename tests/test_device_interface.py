"""One declared interface for every device coordinator: polled and push alike, checked member by member."""

from __future__ import annotations

import inspect
import tomllib
from dataclasses import replace
from datetime import UTC, timedelta, timezone

import pytest

from gateway.config import parse_gateway_config
from gateway.coordinator import DeviceCoordinator
from gateway.device_interface import Capability, Coordinator, device_zone
from gateway.push.device import PushDeviceCoordinator
from gateway.queue import PunchQueue

WITA = timezone(timedelta(hours=8), "WITA")
CONFIG = """
gateway_id = "gw-interface"
unit = "unit-a"
timezone = "WITA"
state_dir = "{state}"

[mqtt]
url = "mqtt://127.0.0.1:1883"

[[devices]]
name = "door"
profile = "zkteco-generic-tcp"
host = "127.0.0.1"
port = 4370

[[devices]]
name = "lobby"
profile = "zkteco-speedface-push"
serial_number = "PUSH0001"
"""


@pytest.fixture
def coordinators(tmp_path):
    config = parse_gateway_config(tomllib.loads(CONFIG.format(state=tmp_path)), str(tmp_path / "gateway.toml"))
    queue = PunchQueue(tmp_path / "queue.sqlite3")
    polled, push = config.devices
    made = [DeviceCoordinator(polled, queue, config.zone), PushDeviceCoordinator(push, queue, config.zone)]
    yield made
    for coordinator in made:
        coordinator.close()
    queue.close()


def _members() -> dict[str, object]:
    names = {n for n in vars(Coordinator) if not n.startswith("_")} | set(Coordinator.__annotations__)
    return {name: getattr(Coordinator, name, None) for name in sorted(names)}


@pytest.mark.parametrize("kind", [DeviceCoordinator, PushDeviceCoordinator], ids=lambda k: k.__name__)
def test_every_coordinator_offers_the_whole_interface_with_its_signatures(kind, coordinators):
    (coordinator,) = [c for c in coordinators if type(c) is kind]
    for name, declared in _members().items():
        assert hasattr(coordinator, name), f"{kind.__name__} lacks {name}"
        if inspect.isfunction(declared):
            offered = getattr(kind, name)
            assert inspect.iscoroutinefunction(offered) == inspect.iscoroutinefunction(declared), name
            assert list(inspect.signature(offered).parameters) == list(inspect.signature(declared).parameters), name


def test_capabilities_are_data_from_the_profile(coordinators):
    polled, push = coordinators
    assert isinstance(polled.capabilities, frozenset) and isinstance(push.capabilities, frozenset)
    assert Capability.READ_LOG_WHOLE in polled.capabilities and Capability.REUPLOAD_RANGE not in polled.capabilities
    assert Capability.REUPLOAD_RANGE in push.capabilities and Capability.READ_LOG_WHOLE not in push.capabilities
    assert Capability.SET_CLOCK in polled.capabilities
    polled.config = replace(polled.config, profile=replace(polled.config.profile, clock_may_set=False))
    assert Capability.SET_CLOCK not in polled.capabilities


def test_the_device_zone_is_decided_in_one_place(coordinators):
    for coordinator in coordinators:
        assert coordinator.device_zone == device_zone(coordinator.config, WITA) == WITA  # the office's
        utc = replace(coordinator.config, profile=replace(coordinator.config.profile, clock_zone="UTC"))
        assert device_zone(utc, WITA) == UTC
