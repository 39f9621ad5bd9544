"""Users and templates on push devices, over real HTTP: an enrolment at the terminal is uploaded as
firmware does (BIODATA on unified-template firmware, FP lines in OPERLOG on the others) and read by the
gateway; sync_users writes users and templates with DATA UPDATE USERINFO / BIODATA / FINGERTMP / DATA FP
commands and deletes with DATA DELETE. Template bytes never reach a quarantine, a log or an error."""

from __future__ import annotations

import base64
import logging
import sqlite3

import aiohttp

from gateway.commands import CommandHandler
from gateway.devices.base import DeviceTemplate
from gateway.push import templates
from gateway.simulators.push import PushDeviceSimulator
from tests.test_push_gateway import FAST, _no_reload, command, eventually, push_config, push_gateway, running
from wire.contract import CommandAction


def _wire(template: DeviceTemplate) -> dict[str, object]:
    return {
        "modality": template.modality, "index": template.index, "format": template.format_key,
        "data": base64.b64encode(template.data).decode(),
    }  # fmt: skip


async def test_an_enrolment_on_a_push_device_is_uploaded_and_copied_to_another(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    config = push_config(tmp_path)
    async with push_gateway(config) as (frontend, _queue, url):
        hall, _annex = frontend.devices
        seen: list[DeviceTemplate] = []
        hall.on_template = seen.append
        handler = CommandHandler(lambda: frontend.devices, _no_reload)  # type: ignore[arg-type,return-value]
        face_unit = PushDeviceSimulator(url, "SPD-0001", biodata=True, **FAST)
        old_board = PushDeviceSimulator(url, "OLD-0001", legacy=True, **FAST)
        async with running(face_unit, old_board):
            finger = face_unit.enrol("1001", "fingerprint", 6)
            face = face_unit.enrol("1001", "face", 0)
            await eventually(lambda: len(seen) == 2, "both templates uploaded")
            wanted = [{"pin": "1001", "name": "Ani", "templates": [_wire(t) for t in seen]}]
            synced = await command(handler, CommandAction.SYNC_USERS, device="annex", users=wanted)

            assert synced.ok, synced
            assert old_board.templates_of("1001") == {("fingerprint", 6): finger}  # written with DATA FP
            assert synced.results["annex"]["enrol_on_site"] == [{"pin": "1001", "modality": "face", "index": 0}]
            texts = [text for _id, text, _code in old_board.stats.commands]
            assert [text.split(" PIN=")[0] for text in texts] == ["DATA USER", "DATA FP"]

            # The employee leaves: a complete list without them deletes them and their templates.
            gone = await command(handler, CommandAction.SYNC_USERS, device="annex", users=[])
            assert gone.ok and gone.results["annex"]["users_deleted"] == 1
            assert "1001" not in old_board.users and old_board.templates_of("1001") == {}

    assert {(t.pin, t.modality, t.index, t.format_key) for t in seen} == {
        ("1001", "fingerprint", 6, "fingerprint:ZKFinger:10"),
        ("1001", "face", 0, "face:ZKFace-VL:39"),
    }
    assert {t.data for t in seen} == {finger, face}
    assert hall.known_users["1001"].pin == "1001" and hall.traffic.templates_uploaded == 2
    for data in (finger, face):
        assert base64.b64encode(data).decode()[:40] not in caplog.text


async def test_biodata_commands_write_faces_and_a_template_of_another_version_is_refused(tmp_path):
    config = push_config(tmp_path)
    async with push_gateway(config) as (frontend, _queue, url):
        handler = CommandHandler(lambda: frontend.devices, _no_reload)  # type: ignore[arg-type,return-value]
        device = PushDeviceSimulator(url, "SPD-0001", biodata=True, **FAST)
        face = DeviceTemplate("7", "face", 0, b"\x05" * 2000, "face:ZKFace-VL:39")
        other = DeviceTemplate("8", "fingerprint", 1, b"\x06" * 1200, "fingerprint:ZKFinger:12")
        finger = DeviceTemplate("8", "fingerprint", 0, b"\x07" * 1200, "fingerprint:ZKFinger:10")
        users = [
            {"pin": "7", "name": "Siti", "templates": [_wire(face)]},
            {"pin": "8", "name": "Budi", "templates": [_wire(other), _wire(finger)]},
        ]
        async with running(device):
            synced = await command(handler, CommandAction.SYNC_USERS, device="hall", users=users)
            after_sync = {pin: device.templates_of(pin) for pin in ("7", "8")}
            forget_face = [{"pin": "7", "templates": []}, users[1]]
            erased = await command(handler, CommandAction.SYNC_USERS, device="hall", users=forget_face)

    assert synced.ok, synced
    assert after_sync["7"] == {("face", 0): face.data}
    assert after_sync["8"] == {("fingerprint", 0): finger.data}  # ZKFinger 12 was not sent
    assert synced.results["hall"]["enrol_on_site"] == [{"pin": "8", "modality": "fingerprint", "index": 1}]
    verbs = {templates.command_verb(text) for _id, text, _code in device.stats.commands}
    assert {"DATA UPDATE USERINFO", "DATA UPDATE BIODATA", "DATA DELETE BIODATA"} <= verbs
    assert erased.ok and erased.results["hall"]["templates_deleted"] == 1 and device.templates_of("7") == {}


async def test_unreadable_template_lines_are_quarantined_without_the_template(tmp_path):
    config = push_config(tmp_path)
    secret = base64.b64encode(b"\x01\x02" * 600).decode()
    body = (
        f"BIODATA Pin=1\tNo=0\tIndex=0\tValid=1\tDuress=0\tType=1\tMajorVer=10\tMinorVer=0\tFormat=0\tTmp={secret}\n"
        f"BIODATA Pin=\tNo=0\tType=1\tTmp={secret}\n"  # no PIN
        f"BIODATA Pin=2\tNo=0\tType=1\tTmp=not base64!{secret[:30]}\n"
        f"BIODATA Pin=3\tNo=0\tType=4\tMajorVer=1\tTmp={secret}\n"  # an iris: acknowledged, not kept
    )
    async with push_gateway(config) as (frontend, _queue, url):
        hall = frontend.devices[0]
        async with aiohttp.ClientSession() as session:
            answer = await session.post(f"{url}/iclock/cdata?SN=SPD-0001&table=BIODATA&Stamp=1", data=body.encode())
            reply = await answer.text()
        quarantine = frontend.store.path
    assert answer.status == 200 and reply == "OK: 2"
    assert set(hall.known_templates) == {("1", "fingerprint", 0)}
    with sqlite3.connect(quarantine) as db:
        rows = db.execute("SELECT reason, raw FROM quarantine").fetchall()
    assert (
        len(rows) == 1 and "line 2" in rows[0][0] and "line 3: BIODATA line whose template is not base64" in rows[0][0]
    )
    assert secret[:30] not in rows[0][1].decode() and "Tmp=<withheld>" in rows[0][1].decode()


def test_redact_withholds_every_template_value_and_nothing_else():
    line = "FP PIN=1\tFID=0\tSize=4\tValid=1\tTMP=QUJDRA==\nBIODATA Pin=1\tTmp=RUZHSA==\n"
    withheld = "FP PIN=1\tFID=0\tSize=4\tValid=1\tTMP=<withheld>\nBIODATA Pin=1\tTmp=<withheld>\n"
    assert templates.redact(line) == withheld
    assert templates.redact_body(b"\xff\t" + line.encode()) == b"\xff\t" + withheld.encode()


async def test_a_template_the_device_refuses_is_reported_without_its_bytes(tmp_path):
    config = push_config(tmp_path)
    async with push_gateway(config) as (frontend, _queue, url):
        handler = CommandHandler(lambda: frontend.devices, _no_reload)  # type: ignore[arg-type,return-value]
        newer = PushDeviceSimulator(url, "SPD-0001", biodata=True, face_version=40, **FAST)  # profile says 39
        face = DeviceTemplate("7", "face", 0, b"\x05" * 2000, "face:ZKFace-VL:39")
        async with running(newer):
            result = await command(
                handler, CommandAction.SYNC_USERS, device="hall", users=[{"pin": "7", "templates": [_wire(face)]}]
            )
    hall = result.results["hall"]
    assert not result.ok and hall["ok"] is False and hall["error"].startswith("1 perintah gagal")
    assert [(f["pin"], f["command"]) for f in hall["failed"]] == [("7", "DATA UPDATE BIODATA")]
    assert "return code -1" in hall["failed"][0]["error"]
    assert base64.b64encode(face.data).decode()[:24] not in repr(result)
    assert newer.templates_of("7") == {} and ("7", "face", 0) not in frontend.devices[0].known_templates
