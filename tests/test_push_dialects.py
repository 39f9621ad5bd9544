"""Push dialects, in raw HTTP written from ZKTeco's protocol documents, not from our code:

- "Attendance PUSH Communication Protocol" (PUSH SDK, software version 2.4.x): the handshake
  `GET /iclock/cdata?SN=<serial>&options=all&pushver=<version>`, whose reply lists the options the
  server sets, ServerVer and PushProtVer among them; punches as `POST /iclock/cdata?SN=...&table=ATTLOG`.
- "Security PUSH Communication Protocol" (PUSH protocol version 3.1.2), for access-control firmware:
  `POST /iclock/registry?SN=...` to register, `GET /iclock/rtdata?SN=...&type=time` for the time, and
  real-time events as `POST /iclock/cdata?SN=...&table=rtlog`, one event per line of tab-separated
  pairs, as in its example: `time=2017-01-10 11:49:32\tpin=1001\tcardno=0\teventaddr=1\tevent=0\t
  inoutstatus=0\tverifytype=15\tindex=7`. Event 0 is "Normal Verify Open"; 27 an unregistered person.

Each dialect ends as punches in the durable queue, and (last test) through the real gateway, Mosquitto
and the server in PostgreSQL.
"""

from __future__ import annotations

import asyncio

import aiohttp

from gateway.config import parse_gateway_config
from gateway.push import protocol
from gateway.service import Gateway
from server.models import Punch
from tests.conftest import unique_slug
from tests.helpers import running_server
from tests.test_push_gateway import push_config, push_gateway, queued, yesterday


def rtlog_line(pin: str, moment: str, *, event: int = 0, inout: int = 0, verify: int = 15, index: int = 1) -> str:
    return (
        f"time={moment}\tpin={pin}\tcardno=0\teventaddr=1\tevent={event}\tinoutstatus={inout}"
        f"\tverifytype={verify}\tindex={index}\r\n"
    )


def stamp(hour: int, minute: int) -> str:
    return f"{yesterday(hour, minute):%Y-%m-%d %H:%M:%S}"


async def test_the_handshake_names_the_server_and_protocol_versions(tmp_path):
    handshake = {"SN": "SPD-0001", "options": "all", "pushver": "2.4.1"}
    async with push_gateway(push_config(tmp_path)) as (_frontend, _queue, url), aiohttp.ClientSession() as http:
        r = await http.get(f"{url}/iclock/cdata", params=handshake)
        options = protocol.parse_options(await r.text())
    assert r.status == 200
    assert options["ServerVer"] and options["PushProtVer"] == "2.4.1"


async def test_lower_case_keys_and_table_names_are_read_like_the_documented_ones(tmp_path):
    async with push_gateway(push_config(tmp_path)) as (_frontend, queue, url), aiohttp.ClientSession() as http:
        body = f"1001\t{stamp(7, 28)}\t0\t15\t0\t0\n"
        async with http.post(f"{url}/iclock/cdata?sn=SPD-0001&table=attlog&stamp=9", data=body) as answer:
            assert (answer.status, await answer.text()) == (200, "OK: 1")
        async with http.get(f"{url}/iclock/getrequest?sn=SPD-0001") as answer:
            assert answer.status == 200
    assert [(row[0], row[1]) for row in queued(queue)] == [("SPD-0001", "1001")]


async def test_security_push_firmware_registers_asks_the_time_and_its_rtlog_punches_are_queued(tmp_path):
    async with push_gateway(push_config(tmp_path)) as (frontend, queue, url), aiohttp.ClientSession() as http:
        async with http.post(f"{url}/iclock/registry?SN=SPD-0001", data="DeviceType=acc,~DeviceName=SpeedFace") as r:
            registry = protocol.parse_options(await r.text())
        assert r.status == 200 and registry["RegistryCode"]
        async with http.get(f"{url}/iclock/rtdata?SN=SPD-0001&type=time") as r:
            assert r.status == 200 and (await r.text()).startswith("DateTime=")
        events = (
            rtlog_line("1001", stamp(7, 28), index=1)
            + rtlog_line("1002", stamp(7, 31), verify=1, index=2)
            + rtlog_line("0", stamp(7, 32), event=27, index=3)  # someone the terminal does not know
            + rtlog_line("1001", stamp(16, 5), inout=1, index=4)
        )
        async with http.post(f"{url}/iclock/cdata?SN=SPD-0001&table=rtlog", data=events) as r:
            assert (r.status, await r.text()) == (200, "OK: 3")
        counters = frontend.server.counters
    rows = queued(queue)
    assert [(pin, state) for _device, pin, _time, state in rows] == [("1001", 0), ("1002", 0), ("1001", 1)]
    assert counters.access_events == 1 and counters.quarantined_bodies == 0


async def test_a_table_the_gateway_does_not_use_is_acknowledged_and_counted_never_refused(tmp_path):
    async with push_gateway(push_config(tmp_path)) as (frontend, _queue, url), aiohttp.ClientSession() as http:
        for _ in range(3):  # a refused upload would come again after every ErrorDelay, for ever
            async with http.post(f"{url}/iclock/cdata?SN=SPD-0001&table=rtstate", data="door=1") as r:
                assert (r.status, await r.text()) == (200, "OK")
            async with http.post(f"{url}/iclock/cdata?SN=SPD-0001&table=tabledata", data="user x") as r:
                assert (r.status, await r.text()) == (200, "OK")
        counters = frontend.server.counters
    assert counters.ignored_uploads == 3 and counters.unknown_tables == {"TABLEDATA": 3}


async def test_security_push_punches_reach_the_database_through_the_real_gateway(mosquitto, postgres_url, tmp_path):
    unit = unique_slug("unit")
    base = push_config(tmp_path)
    config = parse_gateway_config(
        {
            "gateway_id": unique_slug("gw"),
            "unit": unit,
            "timezone": "WITA",
            "state_dir": str(tmp_path / "state"),
            "mqtt": {"url": f"mqtt://{mosquitto.host}:{mosquitto.port}?protocol=5"},
            "push": {"host": "127.0.0.1", "port": 0},
            "devices": [{"name": "hall", "profile": "zkteco-speedface-push", "serial_number": "SPD-0001"}],
        }
    )
    assert base.devices[0].serial_number == "SPD-0001"
    async with running_server(postgres_url, mosquitto, units=(unit,)):
        gateway = Gateway(config)
        await gateway.start()
        try:
            assert gateway.push is not None
            url = f"http://127.0.0.1:{gateway.push.server.port}"
            async with aiohttp.ClientSession() as http:
                lines = "".join(rtlog_line(str(1000 + n), stamp(7, n), index=n) for n in range(20))
                async with http.post(f"{url}/iclock/cdata?sn=SPD-0001&table=rtlog", data=lines) as r:
                    assert r.status == 200
                async with http.post(
                    f"{url}/iclock/cdata?sn=SPD-0001&table=attlog", data=f"2001\t{stamp(8, 0)}\t0\t1\n"
                ) as r:
                    assert r.status == 200
            deadline = asyncio.get_running_loop().time() + 20
            while await Punch.filter(unit_code=unit).count() < 21 and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.2)
        finally:
            await gateway.stop()
        assert await Punch.filter(unit_code=unit, device_serial="SPD-0001").count() == 21
