"""Activity outputs: catalogue, the superior's decisions, and the merge with attendance."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest

from scoring import (
    OUTSIDE_PRESENCE,
    OVER_PRESENCE_SPAN,
    Activity,
    Catalogue,
    ClaimState,
    ClaimTransitionError,
    EmployeeMonth,
    InputError,
    PolicyError,
    build_month_plan,
    load_catalogue,
    score_month,
)
from tests.test_scoring_daily import MONDAY, NATIONAL, ZONES, punch

WIB = ZONES["WIB"]
CATALOGUE = Catalogue(
    (
        Activity("LETTER", "Draft an official letter", 30, "3360.001"),
        Activity("REPORT", "Write a monitoring report", 120, "3360.002"),
        Activity("VISIT", "Field visit to a beneficiary", 240, "3360.003"),
    )
)


def claim(cid: str, activity: str, day: date, clock: str, quantity: int = 1, approve: bool = True):
    hh, mm = (int(x) for x in clock.split(":"))
    made = CATALOGUE.claim(cid, activity, datetime.combine(day, time(hh, mm), WIB), quantity, evidence="doc.pdf")
    return made.approve() if approve else made


def test_claim_lifecycle():
    c = CATALOGUE.claim("c1", "LETTER", datetime(2025, 5, 5, 9, 0, tzinfo=WIB), 3)
    assert (c.minutes, c.output, c.state) == (90, "3360.001", ClaimState.SUBMITTED)
    assert c.approve().is_approved
    rejected = c.reject("  not part of your SKP ")
    assert rejected.state is ClaimState.REJECTED and rejected.reason == "not part of your SKP"
    with pytest.raises(ClaimTransitionError):
        c.reject(" ")
    with pytest.raises(ClaimTransitionError):
        rejected.approve()
    asked = c.request_correction("two letters, not three")
    with pytest.raises(ClaimTransitionError):
        asked.approve()
    again = asked.resubmit(quantity=2, evidence="letters.pdf", catalogue=CATALOGUE)
    assert (again.state, again.minutes, again.evidence) == (ClaimState.SUBMITTED, 60, "letters.pdf")
    with pytest.raises(ClaimTransitionError):
        c.approve().request_correction("late")


def test_catalogue_errors_and_file(tmp_path):
    with pytest.raises(InputError, match="NOPE"):
        CATALOGUE.claim("c", "NOPE", datetime(2025, 5, 5, 9, tzinfo=WIB))
    with pytest.raises(InputError, match="time zone"):
        CATALOGUE.claim("c", "LETTER", datetime(2025, 5, 5, 9))
    with pytest.raises(InputError, match="quantity"):
        CATALOGUE.claim("c", "LETTER", datetime(2025, 5, 5, 9, tzinfo=WIB), 0)
    path = tmp_path / "catalogue.toml"
    path.write_text('[activities.LETTER]\nname = "Letter"\nminutes = 30\noutput = "3360.001"\n')
    assert load_catalogue(path).activity("LETTER").standard_minutes == 30
    path.write_text('[activities.LETTER]\nname = "Letter"\nminutes = "half an hour"\n')
    with pytest.raises(PolicyError, match=r"activities\.LETTER\.minutes"):
        load_catalogue(path)


def merged(punch_clocks: list[str], claims, excuses=None, day: date = MONDAY):
    plan = build_month_plan(NATIONAL, day.year, day.month)
    punches = [punch(day, c) for c in punch_clocks]
    return score_month(plan, EmployeeMonth.from_punches("x", punches, claims=claims, excuses=excuses or {}))


def test_claims_inside_presence_are_effective():
    result = merged(
        ["07:30", "16:00"], [claim("a", "REPORT", MONDAY, "08:00"), claim("b", "LETTER", MONDAY, "13:00", 2)]
    )
    assert (result.claimed_minutes, result.approved_minutes, result.effective_minutes) == (180, 180, 180)
    assert all(o.flags == () for o in result.claims)


def test_claim_outside_presence_is_flagged():
    result = merged(["07:30", "12:00"], [claim("a", "REPORT", MONDAY, "13:00")])
    (outcome,) = result.claims
    assert OUTSIDE_PRESENCE in outcome.flags and outcome.effective_minutes == 120  # within the 270-minute span


def test_claims_cannot_exceed_presence_span():
    claims = [claim("a", "VISIT", MONDAY, "08:00"), claim("b", "VISIT", MONDAY, "09:00")]
    result = merged(["08:00", "12:00"], claims)  # present 240 minutes
    assert [o.effective_minutes for o in result.claims] == [240, 0]
    assert OVER_PRESENCE_SPAN in result.claims[1].flags and result.effective_minutes == 240


def test_claim_on_an_absent_day_counts_nothing():
    result = merged([], [claim("a", "REPORT", MONDAY, "09:00")])
    assert result.effective_minutes == 0 and set(result.claims[0].flags) == {OUTSIDE_PRESENCE, OVER_PRESENCE_SPAN}


@pytest.mark.parametrize("kind", ["official_travel", "work_from_home"])
def test_travel_and_wfh_count_as_presence(kind):
    claims = [claim("a", "VISIT", MONDAY, "08:00"), claim("b", "VISIT", MONDAY, "13:00")]
    result = merged([], claims, {MONDAY: kind})
    assert result.effective_minutes == 480 and all(o.flags == () for o in result.claims)


def test_leave_is_not_presence():
    result = merged([], [claim("a", "LETTER", MONDAY, "09:00")], {MONDAY: "annual_leave"})
    assert result.effective_minutes == 0 and OUTSIDE_PRESENCE in result.claims[0].flags


def test_only_approved_minutes_are_effective():
    pending = claim("a", "REPORT", MONDAY, "08:00", approve=False)
    rejected = claim("b", "REPORT", MONDAY, "10:00", approve=False).reject("duplicate")
    result = merged(["07:30", "16:00"], [pending, rejected, claim("c", "LETTER", MONDAY, "13:00")])
    assert (result.claimed_minutes, result.approved_minutes, result.effective_minutes) == (270, 30, 30)
    activities = result.explain()["performance"]["activities"]
    assert activities[1]["reason"] == "duplicate" and activities[1]["effective_minutes"] == 0


def test_weekend_work_with_punches_counts():
    saturday = date(2025, 5, 10)
    result = merged(["09:00", "12:00"], [claim("a", "REPORT", saturday, "09:30")], day=saturday)
    assert result.effective_minutes == 120 and result.claims[0].flags == ()
    saturday_entry = result.explain()["days"][saturday.day - 1]
    assert [p["at"][11:16] for p in saturday_entry["punches"]] == ["09:00", "12:00"] and "codes" not in saturday_entry


def test_claims_of_another_month_are_left_out():
    result = merged(["07:30", "16:00"], [claim("a", "REPORT", date(2025, 6, 2), "08:00")])
    assert result.claims == () and result.claimed_minutes == 0
