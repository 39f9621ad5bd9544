"""Activity outputs: catalogue, the superior's decisions, and the merge with attendance."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time

import pytest

from scoring import (
    OUTSIDE_PRESENCE,
    OVER_PRESENCE_SPAN,
    OVER_QUANTITY_LIMIT,
    Activity,
    Catalogue,
    ClaimState,
    ClaimTransitionError,
    EmployeeMonth,
    InputError,
    PolicyError,
    QuantityLimit,
    build_month_plan,
    check_claim,
    load_catalogue,
    parse_policy_text,
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
    result = merged(["08:00", "12:00"], claims)  # present 240 minutes, plus the preset's 30-minute margin
    assert [o.effective_minutes for o in result.claims] == [240, 30]
    assert OVER_PRESENCE_SPAN in result.claims[1].flags and result.effective_minutes == 270


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


# --- the policy's sanity limits (presence span plus margin, quantity per claim and per day) -------------------

LIMITED = parse_policy_text(
    """
[policy]
extends = "national-common"
name = "limited"
effective_from = 2025-01-01
[performance]
presence_margin_minutes = 60
max_quantity_per_claim = 5
max_quantity_per_day = 8
[performance.activities.VISIT]
max_quantity_per_claim = 1
max_quantity_per_day = 2
[performance.activities.REPORT]
max_quantity_per_claim = false
""",
    source="limited.toml",
).for_unit(None)


def test_the_limits_are_policy_data():
    rules = NATIONAL.performance
    assert (rules.presence_margin_minutes, rules.quantity_limit) == (30, QuantityLimit(per_claim=20, per_day=40))
    limited = LIMITED.performance
    assert limited.presence_margin_minutes == 60 and limited.limit_for("LETTER") == QuantityLimit(5, 8)
    assert limited.limit_for("VISIT") == QuantityLimit(1, 2)
    assert limited.limit_for("REPORT") == QuantityLimit(None, None)  # its own table: what it leaves out is no limit


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ("max_quantity_per_claim = 0", "performance.max_quantity_per_claim"),
        ('max_quantity_per_day = "many"', "performance.max_quantity_per_day"),
        ("presence_margin_minutes = -5", "performance.presence_margin_minutes"),
        ("[performance.activities.VISIT]\nmax_per_claim = 1", "performance.activities.VISIT.max_per_claim"),
    ],
)
def test_a_wrong_limit_names_its_key(body, key):
    with pytest.raises(PolicyError, match=key.replace(".", r"\.")):
        parse_policy_text(
            f'[policy]\nextends = "national-common"\nname = "x"\neffective_from = 2025-01-01\n[performance]\n{body}\n'
        )


def limited_month(punch_clocks: list[str], claims, open_from: date | None = None):
    plan = build_month_plan(LIMITED, MONDAY.year, MONDAY.month, open_from=open_from)
    punches = [punch(MONDAY, c) for c in punch_clocks]
    return score_month(plan, EmployeeMonth.from_punches("x", punches, claims=claims))


@pytest.mark.parametrize(
    ("claims", "effective", "flagged"),
    [
        # within every limit
        ([("LETTER", "08:00", 5)], [150], []),
        # over the default 5 per claim: 5 of the 6 count
        ([("LETTER", "08:00", 6)], [150], [0]),
        # over the default 8 per day: the second claim counts 3 of its 5
        ([("LETTER", "08:00", 5), ("LETTER", "11:00", 5)], [150, 90], [1]),
        # the per-day count is per activity: another activity has its own
        ([("LETTER", "08:00", 5), ("REPORT", "11:00", 1)], [150, 120], []),
        # VISIT's own limit: one per claim, two a day
        ([("VISIT", "08:00", 1), ("VISIT", "12:00", 1), ("VISIT", "13:00", 1)], [240, 240, 0], [2]),
        # REPORT: no limit per claim, 8 a day from the default? no: its own table has no per-day limit either
        ([("REPORT", "08:00", 3)], [360], []),
    ],
)
def test_quantity_limits_in_scoring(claims, effective, flagged):
    made = [claim(f"c{n}", act, MONDAY, at, qty) for n, (act, at, qty) in enumerate(claims)]
    result = limited_month(["07:00", "23:00"], made)  # present all day: only the quantity limits bite
    assert [o.effective_minutes for o in result.claims] == effective
    assert [n for n, o in enumerate(result.claims) if OVER_QUANTITY_LIMIT in o.flags] == flagged


@pytest.mark.parametrize(
    ("punch_clocks", "effective"),
    [
        (["08:00", "12:00"], [240, 60]),  # 240 minutes present + the 60-minute margin
        (["08:00", "10:00"], [180, 0]),  # 120 + 60: the first claim is cut too
        ([], [0, 0]),  # no presence at all: no margin either
    ],
)
def test_presence_margin_in_scoring(punch_clocks, effective):
    made = [claim("a", "VISIT", MONDAY, "08:00"), claim("b", "REPORT", MONDAY, "12:00", 2)]
    result = limited_month(punch_clocks, made)
    assert [o.effective_minutes for o in result.claims] == effective


def test_a_day_not_over_yet_is_not_held_against_presence():
    # Monday morning: arrived at 07:30, still at work; the claim for 13:00 is filed ahead of the afternoon
    made = [claim("a", "REPORT", MONDAY, "13:00")]
    plan_today = build_month_plan(LIMITED, MONDAY.year, MONDAY.month, {MONDAY: "not yet"}, open_from=MONDAY)
    today = score_month(plan_today, EmployeeMonth.from_punches("x", [punch(MONDAY, "07:30")], claims=made))
    assert today.claims[0].flags == () and today.claims[0].effective_minutes == 120
    # once the day is over (the same punches: the departure was never recorded), the flag and the cut come
    plan_after = build_month_plan(LIMITED, MONDAY.year, MONDAY.month, {MONDAY: "not yet"})
    after = score_month(plan_after, EmployeeMonth.from_punches("x", [punch(MONDAY, "07:30")], claims=made))
    assert set(after.claims[0].flags) == {OUTSIDE_PRESENCE, OVER_PRESENCE_SPAN}


@pytest.mark.parametrize(
    ("new", "same_day", "presence", "breach"),
    [
        (("LETTER", 5), [], 480, None),
        (("LETTER", 6), [], 480, ("per_claim", 5, 6)),
        (("LETTER", 4), [("LETTER", 5)], 480, ("per_day", 8, 9)),
        (("LETTER", 4), [("REPORT", 1)], 480, None),
        (("VISIT", 2), [], None, ("per_claim", 1, 2)),
        (("VISIT", 1), [("VISIT", 1), ("VISIT", 1)], None, ("per_day", 2, 3)),
        # presence: 240 minutes + 60 margin = 300; a report (120) after a visit (240) makes 360
        (("REPORT", 1), [("VISIT", 1)], 240, ("presence", 300, 360)),
        (("LETTER", 2), [("VISIT", 1)], 240, None),  # 240 + 60 = 300, exactly the room
        (("LETTER", 1), [], 0, ("presence", 0, 30)),  # nobody was there: no margin to claim in
        (("REPORT", 3), [], None, None),  # travel or WFH: no presence limit
    ],
)
def test_check_claim_table(new, same_day, presence, breach):
    def made(n, act, qty):
        return claim(f"c{n}", act, MONDAY, "08:00", qty, approve=False)

    others = [made(n, act, qty) for n, (act, qty) in enumerate(same_day)]
    found = check_claim(LIMITED.performance, made(99, *new), others, presence)
    assert (None if found is None else tuple(found)) == breach


def test_check_claim_without_the_presence_cap():
    uncapped = replace(LIMITED.performance, cap_claims_to_presence=False)
    assert check_claim(uncapped, claim("a", "REPORT", MONDAY, "08:00", 3, approve=False), [], 0) is None
