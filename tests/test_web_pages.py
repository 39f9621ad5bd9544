"""Pages and their API twins on a seeded ministry: the month, the recap, today, activities, charts,
languages. Numbers come from the scoring library through the server's results."""

from __future__ import annotations

import re
from datetime import date, datetime

import pytest
from babel.dates import format_date

from server.auth import SESSION_COOKIE
from server.services.accounts import Role
from tests.web_seed import (
    ANI,
    BUDI,
    CITRA,
    WIB,
    World,
    add_punch,
    last_working_day,
    seed_month,
    session_cookie,
    settle,
    web_world,
)

DAY = last_working_day(datetime.now(WIB).date())
MONTH = DAY.strftime("%Y-%m")


@pytest.fixture
async def world(db_url):
    async with web_world(db_url) as w:
        await seed_month(DAY)
        await settle()  # the scoring workers' part: the recap and the charts read stored results only
        yield w


async def page(world: World, role: Role, path: str) -> str:
    cookie, _ = await session_cookie(world, role)
    response = await world.client.get(path, cookies={SESSION_COOKIE: cookie})
    assert response.status == 200, (path, response.status)
    return await response.text()


async def test_employee_month_shows_bands_punches_and_the_explanation(world: World):
    english = {**world.auth(Role.EMPLOYEE), "Accept-Language": "en"}  # the explanation's words; Indonesian by default
    body = await (await world.client.get(f"/api/v1/employees/{BUDI}/month", params={"month": MONTH},
                                         headers=english)).json()  # fmt: skip
    day = next(d for d in body["days"] if d["date"] == DAY.isoformat())
    assert day["codes"] == ["TL2", "PSW1"]
    assert day["minutes_late"] == 45 and day["minutes_early"] == 20
    assert day["punches"][0] == "08:15:00" and day["category"] == "TL"
    assert "TL2: late 31 to 60 minutes" in day["rule"] and "PSW1: left early" in day["rule"]
    # Indonesian by default, the rule in the same words as the page; the codes stay the machine's field.
    indonesian = await (await world.client.get(f"/api/v1/employees/{BUDI}/month", params={"month": MONTH},
                                               headers=world.auth(Role.EMPLOYEE))).json()  # fmt: skip
    rule = next(d for d in indonesian["days"] if d["date"] == DAY.isoformat())["rule"]
    assert "TL2: terlambat 31 sampai 60 menit" in rule and "per kejadian" in rule and "late" not in rule, rule
    assert {d["kind"] for d in indonesian["days"]} == {d["kind"] for d in body["days"]}
    assert body["counts"]["TL2"] >= 1 and body["counts"]["PSW1"] >= 1
    assert any(line.startswith("Score:") for line in body["explanation"])
    html = await page(world, Role.EMPLOYEE, f"/employees/{BUDI}/month?month={MONTH}")
    assert f'data-date="{DAY.isoformat()}" data-category="TL"' in html
    assert "08:15:00" in html
    # An administrator's page carries the excuse form once, in the body; the title is the name and month.
    admin_html = await page(world, Role.BUREAU_ADMIN, f"/employees/{BUDI}/month?month={MONTH}")
    title = re.search(r"<title>(.*?)</title>", admin_html, re.DOTALL)
    in_words = format_date(date.fromisoformat(f"{MONTH}-01"), "MMMM y", locale="id")  # "November 2026"
    assert title is not None and "<" not in title.group(1) and in_words in title.group(1), title
    assert MONTH not in title.group(1)  # the month in words only, not also as 2026-11
    assert admin_html.count('id="excuse-form"') == 1


async def test_recap_rows_sort_and_scope(world: World):
    rows = (await (await world.client.get("/api/v1/results", params={"month": MONTH},
                                          headers=world.auth(Role.BUREAU_ADMIN))).json())["items"]  # fmt: skip
    by_nip = {r["nip"]: r for r in rows}
    assert set(by_nip) == {ANI, BUDI, CITRA}
    assert by_nip[BUDI]["TL2"] >= 1 and by_nip[BUDI]["PSW1"] >= 1
    assert by_nip[ANI]["TL2"] == 0
    late = await (await world.client.get("/api/v1/results", params={"month": MONTH, "category": "TL2"},
                                         headers=world.auth(Role.BUREAU_ADMIN))).json()  # fmt: skip
    assert [r["nip"] for r in late["items"]] == [BUDI]
    html = await page(world, Role.BUREAU_ADMIN, f"/recap?month={MONTH}&sort=name&dir=desc")
    order = re.findall(r'<tr data-nip="(\d+)">', html)
    assert order == [CITRA, BUDI, ANI]  # Citra, Budi, Ani: names descending
    assert 'id="export-xlsx"' in html
    html = await page(world, Role.UNIT_ADMIN, f"/recap?month={MONTH}")
    assert re.findall(r'<tr data-nip="(\d+)">', html) == [CITRA]


async def test_today_counts_present_late_and_not_yet_in(world: World):
    today = datetime.now(WIB)
    await add_punch("dir-1", "1", today.replace(hour=7, minute=0, second=0, microsecond=0))
    await add_punch("dir-2", "1", today.replace(hour=9, minute=5, second=0, microsecond=0), device="DEV-DIR2")
    body = await (await world.client.get("/api/v1/today", headers=world.auth(Role.BUREAU_ADMIN))).json()
    status = {e["nip"]: e["status"] for e in body["employees"]}
    if today.weekday() < 5:
        assert status[ANI] == "present" and status[CITRA] == "late"
        assert status[BUDI] in ("not_yet_in", "absent")
    html = await page(world, Role.BUREAU_ADMIN, "/dashboard")
    assert "DEV-DIR1" in html  # clock drift warning for the device 300 s off
    assert 'data-unit="dir-1"' in html and 'data-unit="dir-2"' in html
    # The tree rolls up: the ministry's row counts all three employees, indented children below it.
    tree = re.findall(
        r'<tr data-unit="([a-z0-9-]+)"><td style="padding-left: ([0-9.]+)em">.*?</td><td[^>]*>(\d+)</td>', html
    )
    assert tree == [("kemen", "0.5", "3"), ("dj-a", "2.0", "3"), ("dir-1", "3.5", "2"), ("dir-2", "3.5", "1")]
    supervisor_view = await page(world, Role.SUPERVISOR, "/dashboard")
    assert 'data-unit="dir-2"' not in supervisor_view and CITRA not in supervisor_view


async def test_activities_entry_flags_and_bulk_decisions(world: World):
    client = world.client
    budi, ani = world.auth(Role.EMPLOYEE), world.auth(Role.SUPERVISOR)
    inside = {"activity": "SURAT", "date": DAY.isoformat(), "start": "09:00", "quantity": 2, "evidence": "ND-12"}
    outside = {**inside, "start": "20:00", "activity": "RAPAT", "quantity": 1}
    first = await (await client.post("/api/v1/activities", json=inside, headers=budi)).json()
    second = await (await client.post("/api/v1/activities", json=outside, headers=budi)).json()
    assert first["minutes"] == 60  # two letters at the catalogue's 30 minutes
    bad = await client.post("/api/v1/activities", json={**inside, "activity": "NOPE"}, headers=budi)
    assert bad.status == 404 and "catalogue" in (await bad.json())["reason"]  # no such activity
    queue = await (await client.get("/api/v1/activities", params={"status": "submitted"}, headers=ani)).json()
    flags = {c["claim_id"]: c["flags"] for c in queue["items"]}
    assert flags == {first["claim_id"]: [], second["claim_id"]: ["outside_presence"]}
    html = await page(world, Role.SUPERVISOR, "/approvals")
    assert "di luar jam hadir" in html  # the flag, in Indonesian
    # Employees decide nothing; supervisors decide only their subordinates' claims; rejections need reasons.
    decisions = "/api/v1/activities/decisions"
    assert (await client.post(decisions, json={"claim_ids": [first["claim_id"]], "decision": "approve"},
                              headers=budi)).status == 403  # fmt: skip
    no_reason = await client.post(
        decisions, json={"claim_ids": [second["claim_id"]], "decision": "reject"}, headers=ani
    )
    assert no_reason.status == 409  # well formed, but the rule wants a reason
    ok = await client.post(decisions, json={"claim_ids": [first["claim_id"]], "decision": "approve"}, headers=ani)
    assert (await ok.json()) == {"decided": 1}
    rejected = await client.post(
        decisions, json={"claim_ids": [second["claim_id"]], "decision": "reject", "reason": "Tidak ada undangan"},
        headers=ani,
    )  # fmt: skip
    assert rejected.status == 200
    again = await client.post(decisions, json={"claim_ids": [first["claim_id"]], "decision": "approve"}, headers=ani)
    assert again.status == 409  # already decided
    mine = await (await client.get("/api/v1/activities", headers=budi)).json()
    assert {c["state"] for c in mine["items"]} == {"approved", "rejected"}
    # A correction request goes back to the employee, who resubmits with a changed quantity.
    third = await (await client.post("/api/v1/activities", json={**inside, "start": "13:00"}, headers=budi)).json()
    asked = await client.post(decisions, json={"claim_ids": [third["claim_id"]], "decision": "correct",
                                               "reason": "Jumlah surat?"}, headers=ani)  # fmt: skip
    assert asked.status == 200
    resubmit = f"/api/v1/activities/{third['claim_id']}/resubmit"
    assert (await client.post(resubmit, json={"quantity": 1}, headers=ani)).status == 404  # not Ani's claim
    again = await (await client.post(resubmit, json={"quantity": 1, "evidence": "ND-13"}, headers=budi)).json()
    assert (again["state"], again["minutes"]) == ("submitted", 30)
    await client.post(decisions, json={"claim_ids": [third["claim_id"]], "decision": "reject", "reason": "x"},
                      headers=ani)  # fmt: skip
    month = await (await client.get(f"/api/v1/employees/{BUDI}/month", params={"month": MONTH}, headers=budi)).json()
    assert month["activity_minutes"] == 60
    citra = world.auth(Role.UNIT_ADMIN)
    assert (await (await client.get("/api/v1/activities", headers=citra)).json())["total"] == 0


async def test_the_bureau_reads_every_units_approval_queue_but_decides_nothing(world: World):
    from server.activity_models import ActivityClaimRecord

    start = datetime(DAY.year, DAY.month, DAY.day, 9, tzinfo=WIB)
    for claim_id, nip, unit in (("c-budi", BUDI, "dir-1"), ("c-citra", CITRA, "dir-2")):
        await ActivityClaimRecord.create(claim_id=claim_id, nip=nip, unit_code=unit, activity="SURAT",
                                         activity_name="Menyusun konsep surat dinas", start=start, quantity=1,
                                         minutes=30)  # fmt: skip
    html = await page(world, Role.BUREAU_ADMIN, "/approvals")
    assert 'data-claim="c-budi"' in html and 'data-claim="c-citra"' in html  # every unit
    assert 'data-unit="dir-2"' in html and "2 klaim menunggu keputusan." in html
    assert "diputuskan oleh atasan langsung pegawai" in html
    assert 'id="approvals"' not in html and 'name="claim_id"' not in html  # nothing to decide with
    supervisor = await page(world, Role.SUPERVISOR, "/approvals")
    assert 'data-claim="c-budi"' in supervisor and 'data-claim="c-citra"' not in supervisor  # Ani's team only
    assert 'name="claim_id"' in supervisor and 'id="read-only"' not in supervisor
    cookie, csrf = await session_cookie(world, Role.BUREAU_ADMIN)
    refused = await world.client.post(
        "/approvals", data={"claim_id": "c-budi", "decision": "approve", "csrf_token": csrf},
        cookies={SESSION_COOKIE: cookie}, allow_redirects=False,
    )  # fmt: skip
    assert refused.status == 403
    assert (await ActivityClaimRecord.get(claim_id="c-budi")).state == "submitted"


async def test_charts_and_languages(world: World):
    html = await page(world, Role.BUREAU_ADMIN, f"/charts?month={MONTH}")
    assert html.count('<figure class="chart') >= 2 and "dir-1" in html
    assert "Terlambat, pulang cepat, dan tanpa keterangan per unit" in html
    english = await page(world, Role.BUREAU_ADMIN, f"/recap?month={MONTH}&lang=en")
    assert "Monthly recap" in english
    assert "Rekap bulanan" in await page(world, Role.BUREAU_ADMIN, f"/recap?month={MONTH}&lang=id")


async def test_the_charts_count_what_the_recap_counts(world: World):
    """Per unit, per weekday and day by day the charts add up to the recap's TL, PSW and TK (days still to
    come counted in neither), drawn as SVG in the page itself."""
    rows = (await (await world.client.get("/api/v1/results", params={"month": MONTH},
                                          headers=world.auth(Role.BUREAU_ADMIN))).json())["items"]  # fmt: skip
    expected: dict[str, dict[str, int]] = {}
    for row in rows:
        unit = expected.setdefault(row["unit"], {"late": 0, "early": 0, "absent": 0})
        unit["late"] += sum(row[c] for c in ("TL1", "TL2", "TL3", "TL4"))
        unit["early"] += sum(row[c] for c in ("PSW1", "PSW2", "PSW3", "PSW4"))
        unit["absent"] += row["TK"]
    html = await page(world, Role.BUREAU_ADMIN, f"/charts?month={MONTH}")
    bars = re.findall(r'data-series="(\w+)" data-value="(\d+)" data-unit="([\w-]+)"', html)
    drawn = {(unit, series): int(value) for series, value, unit in bars}
    for unit, counts in expected.items():
        for series, count in counts.items():
            assert drawn[(unit, series)] == count, (unit, series)
    weekday = re.search(r'<svg id="by-weekday".*?</svg>', html, re.DOTALL)
    assert weekday is not None
    per_weekday = re.findall(r'data-series="(\w+)" data-value="(\d+)"', weekday.group(0))
    for series in ("late", "early", "absent"):
        total = sum(counts[series] for counts in expected.values())
        assert sum(int(v) for s, v in per_weekday if s == series) == total, series
    by_day = dict(re.findall(r'<g data-date="([\d-]+)" data-total="(\d+)">', html))
    assert int(by_day[DAY.isoformat()]) >= 2  # Budi's TL2 and PSW1 on that day
    assert sum(map(int, by_day.values())) == sum(sum(c.values()) for c in expected.values())


async def test_bad_input_on_pages_and_api_is_a_4xx_with_a_reason(world: World):
    admin = world.auth(Role.BUREAU_ADMIN)
    for path, params in (
        ("/api/v1/results", {"month": "2026-13"}),
        ("/api/v1/results", {"month": "soon"}),
        ("/api/v1/results", {"limit": "0"}),
        ("/api/v1/results", {"category": "TL9"}),
        ("/api/v1/today", {"status": "asleep"}),
        ("/api/v1/activities", {"status": "maybe"}),
        (f"/api/v1/employees/{BUDI}/month", {"month": "99999-01"}),
    ):
        response = await world.client.get(path, params=params, headers=admin)
        assert response.status == 400, (path, params)
        assert (await response.json())["reason"]
    html = await world.client.get(
        "/recap?month=nope", cookies={SESSION_COOKIE: (await session_cookie(world, Role.BUREAU_ADMIN))[0]}
    )
    # The reason, in Indonesian (the value the reader typed kept as it was).
    assert html.status == 400 and "bulan: gunakan bentuk TTTT-BB, bukan &#39;nope&#39;" in await html.text()


async def test_excused_days_are_scored_as_the_policy_says_and_shown_as_on_leave(world: World):
    admin, citra_admin = world.auth(Role.BUREAU_ADMIN), world.auth(Role.UNIT_ADMIN)
    today = datetime.now(WIB).date()
    leave = {"nip": BUDI, "kind": "annual_leave", "first_day": DAY.isoformat(), "last_day": today.isoformat()}
    refused = await world.client.post("/api/v1/excuses", json=leave, headers=citra_admin)
    assert refused.status == 404  # Budi is outside the dir-2 administrator's scope
    assert (await world.client.post("/api/v1/excuses", json={**leave, "kind": "holiday"}, headers=admin)).status == 400
    created = await world.client.post("/api/v1/excuses", json=leave, headers=admin)
    assert created.status == 201
    month = await (await world.client.get(f"/api/v1/employees/{BUDI}/month", params={"month": MONTH},
                                          headers=admin)).json()  # fmt: skip
    day = next(d for d in month["days"] if d["date"] == DAY.isoformat())
    assert day["codes"] == ["CT"] and day["category"] == "excused"  # annual leave, not TL2 + PSW1
    mine = await (await world.client.get("/api/v1/excuses", headers=world.auth(Role.EMPLOYEE))).json()
    assert [e["kind"] for e in mine["items"]] == ["annual_leave"]
    assert (await (await world.client.get("/api/v1/excuses", headers=citra_admin)).json())["total"] == 0
    if today.weekday() < 5 and DAY.month == today.month:
        body = await (await world.client.get("/api/v1/today", headers=admin)).json()
        assert {e["nip"]: e["status"] for e in body["employees"]}[BUDI] == "on_leave"


async def test_an_administrator_records_leave_on_the_month_page(world: World):
    cookie, csrf = await session_cookie(world, Role.UNIT_ADMIN)
    month = await world.client.get(f"/employees/{CITRA}/month?month={MONTH}", cookies={SESSION_COOKIE: cookie})
    assert 'id="excuse-form"' in await month.text()
    form = {"csrf_token": csrf, "kind": "official_travel", "first_day": DAY.isoformat(), "last_day": DAY.isoformat()}
    saved = await world.client.post(f"/employees/{CITRA}/excuses", data=form, cookies={SESSION_COOKIE: cookie},
                                    allow_redirects=False)  # fmt: skip
    assert saved.status == 303 and "recorded=1" in saved.headers["Location"]
    body = await (await world.client.get(f"/api/v1/employees/{CITRA}/month", params={"month": MONTH},
                                         headers=world.auth(Role.UNIT_ADMIN))).json()  # fmt: skip
    assert next(d for d in body["days"] if d["date"] == DAY.isoformat())["codes"] == ["DL"]
    # Outside the administrator's unit: refused; without the CSRF token: refused.
    other = await world.client.post(f"/employees/{BUDI}/excuses", data=form, cookies={SESSION_COOKIE: cookie},
                                    allow_redirects=False)  # fmt: skip
    assert other.status == 404
    forged = await world.client.post(f"/employees/{CITRA}/excuses", data={**form, "csrf_token": "x"},
                                     cookies={SESSION_COOKIE: cookie}, allow_redirects=False)  # fmt: skip
    assert forged.status == 403
    employee_cookie, _ = await session_cookie(world, Role.EMPLOYEE)
    own = await world.client.get(f"/employees/{BUDI}/month", cookies={SESSION_COOKIE: employee_cookie})
    assert 'id="excuse-form"' not in await own.text()


async def test_the_policy_in_force_is_served_to_every_role(world: World):
    for role in Role:
        body = await (await world.client.get("/api/v1/policy", params={"unit": "dir-1"},
                                             headers=world.auth(role))).json()  # fmt: skip
        assert body["time_zone"] == "WIB" and body["hours"]["mon"] == "07:30-16:00"
        assert {b["code"] for b in body["bands"]} >= {"TL1", "TL4", "PSW4"}
        assert "annual_leave" in {e["kind"] for e in body["excuses"]}


HOSTILE = ["", "'", "2026-00", "9999-12", "../../etc", "%00", "<script>", "x" * 300, "-1", "2026-1"]


async def test_pages_answer_hostile_input_with_4xx_never_5xx(world: World):
    pages = ["/dashboard", "/recap", "/charts", "/devices", f"/employees/{BUDI}/month", "/activities", "/approvals"]
    for role in (Role.BUREAU_ADMIN, Role.SUPERVISOR):
        cookie, csrf = await session_cookie(world, role)
        cookies = {SESSION_COOKIE: cookie}
        for path in pages:
            for value in HOSTILE:
                params = {"month": value, "unit": value, "sort": value, "dir": value, "lang": value}
                response = await world.client.get(path, params=params, cookies=cookies, allow_redirects=False)
                assert response.status < 500, (role, path, value, response.status)
                assert "<script>" not in await response.text() or value != "<script>"
        for path, form in (
            ("/activities", {"activity": "'", "date": "x", "start": "25:99", "quantity": "lots"}),
            ("/approvals", {"claim_id": "nope", "decision": "approve"}),
            ("/approvals", {"decision": "maybe"}),
            (f"/employees/{BUDI}/excuses", {"kind": "annual_leave", "first_day": "x", "last_day": "y"}),
            ("/devices/gw-dir1/commands", {"action": "format_disk"}),
            ("/devices/gw-dir1/commands", {"action": "write_user", "pin": "abc", "name": ""}),
        ):
            response = await world.client.post(path, data={**form, "csrf_token": csrf}, cookies=cookies,
                                               allow_redirects=False)  # fmt: skip
            assert response.status < 500, (role, path, form, response.status)


async def test_device_management_pages_answer_hostile_input_with_4xx_never_5xx(world: World):
    from server.area_models import Area, AreaDevice

    area = await Area.create(code="gedung", name="Gedung", unit_code="dir-1")
    await AreaDevice.create(area=area, device_serial="DEV-DIR1")
    cookie, csrf = await session_cookie(world, Role.BUREAU_ADMIN)
    cookies = {SESSION_COOKIE: cookie}
    for value in HOSTILE:
        params = {"gateway": value, "device": value, "status": value, "done": value, "sent": value, "area": value}
        paths = ["/areas", "/areas/gedung", "/areas/gedung/devices/DEV-DIR1", "/devices/pending", "/devices/commands"]
        paths += [f"/employees/{BUDI}/devices", f"/areas/{value}", f"/employees/{value}/devices"]
        for path in paths:
            response = await world.client.get(path, params=params, cookies=cookies, allow_redirects=False)
            assert response.status < 500, (path, value, response.status)
            assert "<script>" not in await response.text(), (path, value)
        for path, form in (
            ("/areas", {"unit": value, "code": value, "name": value}),
            ("/areas/gedung/devices", {"serial": value}),
            ("/areas/gedung/members", {"nip": value}),
            ("/areas/gedung/sync", {"serial": value}),
            (f"/devices/pending/{value or 'x'}/adopt", {"office": value, "area": value}),
            ("/devices/commands", {"action": value, "serial": value}),
            ("/devices/commands", {"action": "sync_clock", "serial": value}),
            (f"/employees/{BUDI}/devices/areas", {"area": value}),
        ):
            response = await world.client.post(path, data={**form, "csrf_token": csrf}, cookies=cookies,
                                               allow_redirects=False)  # fmt: skip
            assert response.status < 500, (path, form, response.status)
            assert response.status != 303 or path == "/areas/gedung/sync", (path, form)  # nothing was accepted
    assert await Area.all().count() == 1


async def test_the_calendar_marks_today_weekends_holidays_and_leave_with_a_legend(world: World):
    from scoring import DayKind, Policy, plan_day

    today = datetime.now(WIB).date()
    leave = {"nip": BUDI, "kind": "annual_leave", "first_day": DAY.isoformat(), "last_day": DAY.isoformat()}
    assert (await world.client.post("/api/v1/excuses", json=leave, headers=world.auth(Role.BUREAU_ADMIN))).status == 201
    html = await page(world, Role.EMPLOYEE, f"/employees/{BUDI}/month?month={today:%Y-%m}")
    categories = dict(re.findall(r'data-date="([\d-]+)" data-category="(\w+)"', html))
    policy = Policy()
    for day, category in categories.items():
        kind = plan_day(policy, datetime.fromisoformat(day).date()).kind
        if kind is DayKind.WEEKEND:
            assert category == "weekend", day
        elif kind in (DayKind.HOLIDAY, DayKind.JOINT_LEAVE):
            assert category == str(kind), day  # upcoming holidays too, named
    if DAY.month == today.month:
        assert categories[DAY.isoformat()] == "excused"
    assert len(re.findall(r"<details class=\"day [^\"]* today\"", html)) == 1
    assert re.search(rf"<details class=\"day [^\"]* today\" data-date=\"{today.isoformat()}\"", html)
    assert 'id="legend"' in html and html.count('class="swatch') >= 9


async def test_the_agency_name_and_logo_are_a_setting(world: World, monkeypatch):
    plain = await (await world.client.get("/login")).text()
    assert "Kementerian Sosial" not in plain and 'rel="icon" href="/static/favicon.svg"' in plain
    monkeypatch.setenv("KINERJA_AGENCY_NAME", "Kementerian Sosial RI")
    monkeypatch.setenv("KINERJA_AGENCY_LOGO", "/static/favicon.svg")
    html = await (await world.client.get("/login")).text()
    assert "<title>Masuk · Kementerian Sosial RI</title>" in html
    assert '<img src="/static/favicon.svg" alt="" class="logo">' in html
    icon = await world.client.get("/static/favicon.svg")
    assert icon.status == 200 and "svg" in icon.headers["Content-Type"]
    css = await world.client.get("/static/kinerja.css")
    assert css.status == 200 and "@media print" in await css.text() and ":focus-visible" in await css.text()
