"""The demo's unit that carries the whole performance cycle (issue 17, "Done when"), seeded in process by the
demo's own seeding: every employee of the head office has an agreed plan whose RHK hang under the head's
(the head's under the unit's targets), realisation above 0 from approved claims, feedback with their answer,
the seven behaviour ratings and a predicate, the predicates within the unit's distribution rule; the yearly
SIASN export holds a row per employee; the ministry's node of the organisation page shows the unit's figures."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, date
from fractions import Fraction

import pytest

from kinerja.demo import (
    DEMO_ADMIN_NIP,
    DEMO_MINISTRY,
    DEMO_UNIT,
    DEMO_UNITS,
    DEMO_ZONE,
    employees_of,
    month_history,
    previous_month_start,
    seed_activities,
    seed_appraisal,
    seed_registry,
    seed_skp,
)
from server.activity_models import ActivityClaimRecord
from server.appraisal_models import AppraisalFeedback, BehaviourRatingRecord
from server.models import Punch
from server.results_models import MonthlyScore
from server.services.accounts import Role, UserAccount
from server.services.appraisal import unit_appraisal
from server.services.month import unit_month
from server.services.organisation import flatten, organisation
from server.services.skp import agreed_version, links_of, period_of, realisation, work_plan
from tests.test_requests import principal
from tests.test_skp import page
from tests.web_seed import _HASH, World, web_world

TODAY = date(2026, 12, 3)  # a fixed day: last month and this month so far in the fourth quarter
QUARTER, YEAR = "2026-Q4", "2026"


@pytest.fixture
async def world(db_url):
    async with web_world(db_url, score_worker=False) as w:  # the stored results are the test's own
        await seed_registry(TODAY)
        await UserAccount.create(username="demo", display_name="demo", password_hash=_HASH, role=Role.BUREAU_ADMIN,
                                 employee_nip=DEMO_ADMIN_NIP)  # fmt: skip
        history = month_history(TODAY)
        serial = {spec.code: (spec.serial, spec.gateway_id) for spec in DEMO_UNITS}
        await Punch.bulk_create([
            Punch(device_serial=serial[unit][0], pin=pin, punched_at=moment.replace(tzinfo=DEMO_ZONE).astimezone(UTC),
                  utc_offset_minutes=420, state=state, verify=1, unit_code=unit, gateway_id=serial[unit][1],
                  batch_id=uuid.uuid4().hex[:16])
            for unit, pin, moment, state in history if unit == DEMO_UNIT
        ], batch_size=500)  # fmt: skip
        await seed_activities(history)
        await seed_appraisal(TODAY)
        await seed_skp(TODAY)
        for month in (previous_month_start(TODAY), TODAY.replace(day=1)):  # stored, as the scoring workers do
            await unit_month(DEMO_UNIT, month, explained=False)
        yield w


async def test_every_employee_of_the_demo_unit_carries_plan_realisation_feedback_behaviour_and_predicate(
    world: World,
):
    staff = employees_of(DEMO_UNIT)
    head = next(e for e in staff if e.supervisor is None)
    assert len(staff) == 8 and all(e.supervisor == head.nip for e in staff if e is not head)
    head_row = await agreed_version(head.nip, 2026)
    assert head_row is not None
    head_plan = await work_plan(head_row)
    head_codes = {r.code for r in head_plan.results}
    assert {r.parent for r in head_plan.results} == {"3360.001", "3360.003"}  # the unit's RKAKL outputs
    for employee in staff:
        row = await agreed_version(employee.nip, 2026)
        assert row is not None and row.state == "agreed", employee.name
        plan = await work_plan(row)
        if employee is not head:
            assert plan.superior_nip == head.nip and {r.parent for r in plan.results} <= head_codes, employee.name
        found = await realisation(row, period_of(2026, row.review, QUARTER))
        assert found.measurement.achievement > 0 and found.minutes > 0, employee.name
        realised = {i.indicator.code: i.realised for r in found.measurement.results for i in r.indicators}
        links = await links_of(row)  # activity -> (RHK, indicator): what the approved claims realise, by hand
        approved = await ActivityClaimRecord.filter(nip=employee.nip, state="approved", activity__in=list(links))
        by_hand: dict[str, int] = {}
        for c in approved:
            by_hand[links[c.activity][1]] = by_hand.get(links[c.activity][1], 0) + c.quantity
        assert realised == by_hand and all(realised.values()), (employee.name, realised, by_hand)
        thread = await AppraisalFeedback.filter(nip=employee.nip, period=YEAR).order_by("id")
        assert [m.author_role for m in thread] == ["superior", "employee"], employee.name
        behaviour = await BehaviourRatingRecord.filter(nip=employee.nip, period=YEAR)
        assert len(behaviour) == 7 and all(b.note and b.rater_role == "superior" for b in behaviour), employee.name
    view = await unit_appraisal(await principal("biro"), DEMO_UNIT, YEAR)
    assert view.rated == len(view.members) == 8 and view.problems == [], [p.text for p in view.problems]
    assert view.check is not None and view.check.ok


async def test_the_yearly_export_holds_every_employee_of_the_demo_unit(world: World):
    response = await world.client.get("/api/v1/exports/skp.csv", params={"year": "2026", "unit": DEMO_UNIT},
                                      headers=world.auth(Role.BUREAU_ADMIN))  # fmt: skip
    assert response.status == 200
    rows = list(csv.reader(io.StringIO((await response.read()).decode("utf-8-sig"))))
    header, body = rows[0], rows[1:]
    assert header[1] == "NIP" and header[9] == "Predikat Kinerja"
    nips = {row[1].lstrip("'") for row in body}
    assert nips == {e.nip for e in employees_of(DEMO_UNIT)} and len(body) == 8
    assert all(row[9] and row[10] == "Belum final" for row in body), body


async def test_the_ministry_page_rolls_up_the_demo_units_figures(world: World):
    _, roots = await organisation(await principal("biro"), 2026, QUARTER)
    units = {n.code: n for n in flatten(roots)}
    ministry, unit = units[DEMO_MINISTRY[0]], units[DEMO_UNIT]
    assert unit.measured == 8 and unit.achievement is not None and unit.achievement > 0
    # The other demo units have claims but no plans, results or ratings here: the ministry's figures are the
    # unit's, its minutes the three units'.
    lines = unit.employees
    assert unit.achievement == sum((e.achievement for e in lines), Fraction(0)) / 8
    assert (ministry.measured, ministry.achievement) == (8, unit.achievement)
    assert unit.minutes == sum(e.minutes for e in lines) > 0
    assert ministry.minutes == sum(units[spec.code].minutes for spec in DEMO_UNITS)
    stored = await MonthlyScore.filter(unit_code=DEMO_UNIT, year=2026, month__in=[11, 12]).count()
    assert unit.discipline.months == stored == 16  # 8 employees, 2 months
    assert unit.discipline.late == sum(e.discipline.late for e in lines) and unit.discipline.late > 0
    for figure in ("months", "late", "early", "absent", "deduction_bp"):
        assert getattr(ministry.discipline, figure) == sum(
            getattr(units[s.code].discipline, figure) for s in DEMO_UNITS
        )
    _, roots = await organisation(await principal("biro"), 2026, YEAR)
    units = {n.code: n for n in flatten(roots)}
    ministry, unit = units[DEMO_MINISTRY[0]], units[DEMO_UNIT]
    assert ministry.predicates == unit.predicates == {
        "sangat_baik": 2, "baik": 5, "butuh_perbaikan": 1, "kurang": 0, "sangat_kurang": 0,
    }  # fmt: skip
    assert unit.distribution is not None and unit.distribution.ok and ministry.breaking == []
    status, _, text = await page(world, Role.BUREAU_ADMIN, f"/kinerja/organisasi?year=2026&period={YEAR}")
    assert status == 200
    row = text[text.index(f'data-unit="{DEMO_MINISTRY[0]}"') :]
    row = row[: row.index("</tr>")]
    assert "8 pegawai" in row and '<li data-predicate="baik">Baik <b>5</b></li>' in row, row
    assert f"{float(unit.achievement) * 100:.2f}".replace(".", ",") + "%" in row, row
