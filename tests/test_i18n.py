"""The pages speak Indonesian (or wholly English), in local time and Indonesian formats.

- The catalogues are complete: every message the code and templates mark (extracted here with Babel, as
  `pybabel extract -F babel.cfg` does) has a translation in id and en, and no stale one.
- Every page, rendered in Indonesian for each role that may open it, asked the catalogue for nothing it
  lacks and carries no English word of our own messages (the scoring's English explanations included).
- Every time shown names its zone; the office's zone is the one used (WITA for an office in Makassar).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from server import i18n
from server.auth import SESSION_COOKIE
from server.i18n import Formats
from server.services.accounts import Role
from tests.web_seed import BUDI, CITRA, WIB, World, last_working_day, seed_month, session_cookie, web_world

ROOT = Path(__file__).resolve().parents[1]
LOCALE = ROOT / "server" / "pages" / "locale"
DAY = last_working_day(datetime.now(WIB).date())
MONTH = DAY.strftime("%Y-%m")


def extracted_messages() -> set[str]:
    method_map = [("server/**.py", "python"), ("server/pages/templates/**.html", "jinja2")]
    keywords = {"_": None, "N_": None, "gettext": None, "translate": (2,)}
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map=method_map, keywords=keywords
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def catalogue(language: str) -> dict[str, str]:
    with (LOCALE / language / "LC_MESSAGES" / "messages.po").open("rb") as source:
        return {m.id: (m.string if not m.fuzzy else "") for m in read_po(source) if m.id}


@pytest.mark.parametrize("language", ["id", "en"])
def test_every_marked_message_is_translated(language: str):
    marked = extracted_messages()
    assert len(marked) > 150
    translated = catalogue(language)
    untranslated = sorted(m for m in marked if not translated.get(m))
    assert not untranslated, f"{language}: no translation for {untranslated[:10]} (run pybabel update, translate)"
    stale = sorted(set(translated) - marked)
    assert not stale, f"{language}: translations of messages nothing uses any more: {stale[:10]}"
    for message, text in translated.items():  # a translation keeps every placeholder of its message
        assert set(re.findall(r"\{(\w+)\}", message)) == set(re.findall(r"\{(\w+)\}", text)), message


def test_the_catalogues_are_compiled_from_the_po_files_without_a_build_step(tmp_path):
    assert not list(LOCALE.glob("*/LC_MESSAGES/*.mo")), "no compiled .mo in the tree: they are built at first use"
    i18n.translations.cache_clear()
    assert i18n.translate("id", "Monthly recap") == "Rekap bulanan"
    assert i18n.translate("en", "Monthly recap") == "Monthly recap"
    assert i18n.translate_text("id", "choose at least one claim") == "pilih paling sedikit satu klaim"
    assert (
        i18n.translate_text("id", "start: expected HH:MM, got '25:99'") == "mulai: gunakan bentuk JJ:MM, bukan '25:99'"
    )


def test_indonesian_formats():
    fmt = Formats("id")
    day = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
    assert fmt.date(day.date()) == "2 Desember 2026"
    assert fmt.month(day.date()) == "Desember 2026"
    assert fmt.percent(690) == "6,90%"
    assert fmt.rupiah(4595150) == "Rp 4.595.150"
    assert fmt.clock(day, timezone(timedelta(hours=8), "WITA")) == "11:00 WITA"
    assert Formats("en").percent(690) == "6.90%"


class VisibleText(HTMLParser):
    """The text a reader sees: no markup, no <script>/<style>, with the title and alt/aria labels."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._hidden += 1
        for name, value in attrs:
            if name in ("aria-label", "alt", "title", "placeholder") and value:
                self.parts.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = VisibleText()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def english_words() -> set[str]:
    """Words of our English messages that no Indonesian translation uses: one of them on an Indonesian
    page is English that slipped through (`late`, `minutes`, `occurrence`, `deduction`...)."""

    def words(text: str) -> set[str]:
        return {w.lower() for w in re.findall(r"[A-Za-z]{4,}", re.sub(r"\{\w+\}", " ", text))}

    translated = catalogue("id")
    indonesian = set().union(*(words(t) for t in translated.values()))
    english = set().union(*(words(m) for m in translated))
    return english - indonesian - {"kinerja"}


@pytest.fixture
async def world(db_url):
    async with web_world(db_url) as w:
        from server.models import Office

        # dir-1's office is in Makassar: its times are read in WITA; dir-2 has no office (WIB).
        await Office.create(code="mks", name="Kantor Makassar", unit_id="dir-1", zone="WITA")
        await seed_month(DAY)
        await seed_devices()
        yield w


async def seed_devices() -> None:
    """An area of dir-1 with its device and Budi on it, synced once (the gateway's answer recorded), a clock
    sync answered, and a device waiting to be adopted: the device-management pages with something on them."""
    from server.area_models import Area, AreaDevice, AreaMember, DeviceSyncCommand
    from server.models import GatewayCommand, PendingDevice

    area = await Area.create(code="gedung", name="Gedung Utama", unit_code="dir-1")
    await AreaDevice.create(area=area, device_serial="DEV-DIR1")
    await AreaMember.create(area=area, employee_nip=BUDI, pin="2")
    answered = datetime.now(UTC)
    result = {
        "ok": True,
        "in_sync": False,
        "users_added": 1,
        "users_updated": 0,
        "users_deleted": 0,
        "templates_written": 0,
        "templates_deleted": 0,
        "enrol_on_site": [],
        "enrol_on_site_count": 1,
    }
    await GatewayCommand.create(command_id="c-sync", gateway_id="gw-dir1", unit_code="dir-1", action="sync_users",
                                args={"device": "lobby", "complete": True, "users": [{"pin": "2", "name": "Budi"}]},
                                status="ok", detail="1 users synchronised", results={"lobby": result},
                                answered_at=answered)  # fmt: skip
    await DeviceSyncCommand.create(command_id="c-sync", device_serial="DEV-DIR1", area_code="gedung", part="users",
                                   users=1)  # fmt: skip
    await GatewayCommand.create(command_id="c-clock", gateway_id="gw-dir1", unit_code="dir-1", action="sync_clock",
                                args={"device": "lobby"}, status="ok", detail="clocks synchronised",
                                results={"lobby": {"ok": True, "corrected_s": 2.5}}, answered_at=answered)  # fmt: skip
    await PendingDevice.create(serial="DEV-NEW", gateway_id="gw-dir1", unit_code="dir-1", name="pintu-samping",
                               first_seen_at=answered, last_seen_at=answered)  # fmt: skip


async def get(world: World, role: Role | None, path: str, status: int = 200) -> str:
    cookies = {SESSION_COOKIE: (await session_cookie(world, role))[0]} if role else {}
    response = await world.client.get(path, cookies=cookies)
    assert response.status == status, (role, path, response.status)
    return await response.text()


async def claims(world: World) -> None:
    """Budi claims three activities; Ani approves one and sends one back for correction."""
    budi, ani = world.auth(Role.EMPLOYEE), world.auth(Role.SUPERVISOR)
    ids = []
    for start in ("09:00", "20:00", "10:30"):
        body = {"activity": "SURAT", "date": DAY.isoformat(), "start": start, "quantity": 1, "evidence": "ND-1"}
        response = await world.client.post("/api/v1/activities", json=body, headers=budi)
        assert response.status == 201, await response.text()
        ids.append((await response.json())["claim_id"])
    decisions = "/api/v1/activities/decisions"
    await world.client.post(decisions, json={"claim_ids": [ids[0]], "decision": "approve"}, headers=ani)
    await world.client.post(
        decisions, json={"claim_ids": [ids[2]], "decision": "correct", "reason": "Lampirkan nomor surat"}, headers=ani
    )


PAGES = [
    (None, "/login", 200),
    (Role.BUREAU_ADMIN, "/dashboard", 200),
    (Role.BUREAU_ADMIN, f"/recap?month={MONTH}", 200),
    (Role.BUREAU_ADMIN, f"/charts?month={MONTH}", 200),
    (Role.BUREAU_ADMIN, "/devices", 200),
    (Role.UNIT_ADMIN, "/gateways/enrol", 200),
    (Role.BUREAU_ADMIN, "/accounts", 200),
    (Role.BUREAU_ADMIN, f"/employees/{BUDI}/month?month={MONTH}", 200),
    (Role.BUREAU_ADMIN, f"/employees/{CITRA}/month", 200),
    (Role.BUREAU_ADMIN, "/recap?month=nope", 400),
    (Role.BUREAU_ADMIN, "/employees/000/month", 404),
    (Role.UNIT_ADMIN, "/accounts?error=no+such+account+in+your+scope", 200),
    (Role.SUPERVISOR, "/dashboard", 200),
    (Role.SUPERVISOR, "/approvals?error=choose+at+least+one+claim", 200),
    (Role.SUPERVISOR, "/requests/queue?decided=approved", 200),
    (Role.SUPERVISOR, "/objections/queue?decided=upheld", 200),
    (Role.EMPLOYEE, "/objections?filed=1&error=this+objection+is+not+waiting+for+your+decision", 200),
    (Role.EMPLOYEE, "/requests?error=too+late%3A+a+request+for+2026-10-30+had+to+be+filed+by+2026-11-22", 200),
    (Role.EMPLOYEE, f"/employees/{BUDI}/month?month={MONTH}", 200),
    (Role.EMPLOYEE, "/activities?error=start%3A+expected+HH%3AMM%2C+got+%2725%3A99%27", 200),
    (Role.EMPLOYEE, "/recap", 403),
    (Role.OPERATIONS, "/devices?sent=sync_clock&to=gw-dir1", 200),
    (Role.OPERATIONS, "/charts", 403),
    (Role.BUREAU_ADMIN, "/areas", 200),
    (Role.BUREAU_ADMIN, "/areas/gedung", 200),
    (Role.OPERATIONS, "/areas/gedung/devices/DEV-DIR1", 200),
    (Role.BUREAU_ADMIN, f"/employees/{BUDI}/devices", 200),
    (Role.BUREAU_ADMIN, "/devices/pending", 200),
    (Role.OPERATIONS, "/devices/commands", 200),
    (Role.BUREAU_ADMIN, "/devices/commands?device=lobby&status=ok", 200),
    (Role.BUREAU_ADMIN, "/kinerja/penilaian", 200),
    (Role.SUPERVISOR, f"/kinerja/penilaian/pegawai/{BUDI}?saved=rating", 200),
    (
        Role.EMPLOYEE,
        f"/kinerja/penilaian/pegawai/{BUDI}?period=2026-Q2&error=Please+write+the+feedback+or+the+answer.",
        200,
    ),
    (Role.BUREAU_ADMIN, "/kinerja/penilaian/unit/dir-1?saved=organisation", 200),
    (Role.EMPLOYEE, "/kinerja/skp?error=the+plan+has+no+RHK+yet", 200),
    (Role.SUPERVISOR, "/kinerja/skp/tim?agreed=1", 200),
    (Role.BUREAU_ADMIN, "/kinerja/organisasi", 200),
    (Role.UNIT_ADMIN, "/kinerja/sasaran?saved=1&error=target+T1+already+exists+for+2026", 200),
]


async def test_no_indonesian_page_carries_an_untranslated_message(world: World):
    await claims(world)
    english = english_words()
    i18n.MISSING.clear()
    for role, path, status in PAGES:
        html = await get(world, role, path, status)
        text = visible_text(html)
        assert 'lang="id"' in html
        words = re.sub(r"\w+(?:-\w+)+", " ", text)  # identifiers (national-common, dir-1) are codes, not words
        slipped = sorted({w.lower() for w in re.findall(r"[A-Za-z]{4,}", words)} & english)
        assert not slipped, (role, path, slipped, text[:3000])
        assert not i18n.MISSING, (role, path, sorted(i18n.MISSING))
    # A refused command form answers in Indonesian.
    cookie, csrf = await session_cookie(world, Role.OPERATIONS)
    refused = await world.client.post(
        "/devices/gw-dir1/commands",
        data={"csrf_token": csrf, "action": "format_disk"},
        cookies={SESSION_COOKIE: cookie},
    )
    assert refused.status == 400 and "perintah: harus sync_clock atau write_user" in await refused.text()
    assert not i18n.MISSING, sorted(i18n.MISSING)
    # The reasons carried back to a form are in Indonesian too.
    assert "pilih paling sedikit satu klaim" in await get(
        world, Role.SUPERVISOR, "/approvals?error=choose+at+least+one+claim"
    )


async def test_the_same_pages_read_wholly_in_english(world: World):
    await claims(world)
    indonesian = {
        "hadir",
        "terlambat",
        "potongan",
        "nilai",
        "bulan",
        "menit",
        "kejadian",
        "jumlah",
        "belum",
        "hari",
        "libur",
    }
    for role, path, status in PAGES:
        sep = "&" if "?" in path else "?"
        text = visible_text(await get(world, role, f"{path}{sep}lang=en", status))
        found = {w.lower() for w in re.findall(r"[A-Za-z]+", text)} & indonesian
        assert not found, (role, path, found)


async def test_the_month_explains_itself_in_indonesian_with_the_right_figures(world: World):
    html = await get(world, Role.EMPLOYEE, f"/employees/{BUDI}/month?month={MONTH}")
    text = visible_text(html)
    # Budi came at 08:15 WIB, 09:15 on his Makassar office's clock: TL4 there.
    assert "TL4: terlambat 91 menit atau lebih, 1,50% per kejadian" in text
    assert "not yet" not in text and "belum berlalu" not in text.replace("Belum berlalu", "")
    score = re.search(r'id="score">([^<]+)<', html)
    deduction = re.search(r'id="deduction">([^<]+)<', html)
    assert score and deduction and "," in score.group(1)
    # The deduction line names the deduction and the score by what they are (the score is not "deduction").
    line = next(li for li in re.findall(r"<li>(.*?)</li>", html) if li.startswith("Potongan tunjangan"))
    assert line == f"Potongan tunjangan: 100% − nilai {score.group(1)} = {deduction.group(1)}."
    assert f"{Formats('id').month(DAY)}" in text  # "Desember 2026", not 2026-12


async def test_every_time_shown_names_its_zone_and_it_is_the_offices(world: World):
    # A claim for 2 a.m. on the office's clock is listed on that day, at that hour, in WITA.
    wita = timezone(timedelta(hours=8), "WITA")
    body = {"activity": "RAPAT", "date": DAY.isoformat(), "start": "02:00", "quantity": 1, "evidence": "x"}
    assert (await world.client.post("/api/v1/activities", json=body, headers=world.auth(Role.EMPLOYEE))).status == 201
    activities = visible_text(await get(world, Role.EMPLOYEE, "/activities"))
    assert f"{Formats('id').short_date(DAY)} 02:00 WITA" in activities
    devices = visible_text(await get(world, Role.OPERATIONS, "/devices"))
    assert "UTC" not in devices and "WITA" in devices
    # An audit entry's moments (an enrolment code's expiry, kept in UTC) are read on the unit's office clock.
    from server.services.payroll import record_audit

    expiry = datetime(2026, 12, 4, 7, 20, tzinfo=UTC)
    await record_audit("biro", "bureau_admin", "gateway.enrolment_code", "gw-x", "dir-1",
                       {"expires_at": expiry.isoformat(), "devices": 1})  # fmt: skip
    audit = visible_text(await get(world, Role.BUREAU_ADMIN, "/audit"))
    assert "berlaku sampai: 4 Des 2026 15:20 WITA" in audit and "Kode pendaftaran gateway diterbitkan" in audit
    assert "+00:00" not in audit and "expires_at" not in audit.replace("gateway.enrolment_code", "")
    for role, path, status in PAGES:
        text = visible_text(await get(world, role, path, status))
        assert "UTC" not in text, (role, path)
        for found in re.finditer(r"(?<!')\b\d{1,2}:\d{2}(?::\d{2})?\b", text):  # not a value echoed back
            after = text[found.end() : found.end() + 40]
            assert re.match(r"(?:[–-]\d{1,2}:\d{2})?\s*(?:WIB|WITA|WIT)\b", after) or "Jam dalam WI" in text, (
                role,
                path,
                text[max(0, found.start() - 60) : found.end() + 40],
            )
    assert wita.tzname(None) == "WITA"
