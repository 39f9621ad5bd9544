"""The appraisal per PermenPANRB 6/2022: the predicate matrix and each distribution rule as tables,
behaviour from BerAKHLAK feedback, work plans that cascade, output against targets and the roll-up,
every figure worked out by hand."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

import scoring
from scoring import (
    BehaviourFeedback,
    CascadeError,
    Claim,
    ClaimState,
    CoreValue,
    Indicator,
    IndicatorAspect,
    InputError,
    OrganisationRating,
    OrganisationTarget,
    OutputRecord,
    PlannedResult,
    PolicyError,
    Predicate,
    Rating,
    WorkPlan,
    appraisal_performance_bp,
    build_cascade,
    check_distribution,
    load_appraisal_policy,
    measure_plan,
    parse_appraisal_text,
    predicate,
    roll_up,
    score_behaviour,
)

POLICY = load_appraisal_policy("permenpanrb-6-2022")
PRESET_TEXT = (Path(scoring.__file__).parent / "presets" / "appraisal" / "permenpanrb-6-2022.toml").read_text()
ABOVE, AS, BELOW = Rating.ABOVE, Rating.AS_EXPECTED, Rating.BELOW
SB, B, BP, K, SK = (Predicate.SANGAT_BAIK, Predicate.BAIK, Predicate.BUTUH_PERBAIKAN, Predicate.KURANG,
                    Predicate.SANGAT_KURANG)  # fmt: skip


@pytest.mark.parametrize(
    ("work", "behaviour", "expected"),
    [
        (ABOVE, ABOVE, SB),
        (ABOVE, AS, B),
        (AS, AS, B),
        (AS, ABOVE, B),
        (BELOW, AS, BP),
        (BELOW, ABOVE, BP),
        (ABOVE, BELOW, K),
        (AS, BELOW, K),
        (BELOW, BELOW, SK),
    ],
)
def test_the_predicate_matrix(work, behaviour, expected):
    assert predicate(POLICY, work, behaviour) is expected
    assert predicate(POLICY, work.value, behaviour.value) is expected  # the stored strings work too


def test_predicate_labels_are_the_regulations_words():
    assert [p.label for p in Predicate] == ["Sangat Baik", "Baik", "Butuh Perbaikan", "Kurang/Misconduct",
                                            "Sangat Kurang"]  # fmt: skip
    assert ABOVE.label == "Di Atas Ekspektasi" and len(CoreValue) == 7


def unit(**counts: int) -> list[Predicate]:
    return [Predicate(name) for name, n in counts.items() for _ in range(n)]


@pytest.mark.parametrize(
    ("rating", "predicates", "violations"),
    [
        # Istimewa: at most 70 % Sangat Baik
        ("istimewa", unit(sangat_baik=7, baik=3), []),
        ("istimewa", unit(sangat_baik=8, baik=2), ["at most 70% Sangat Baik: 8 of 10; allowed at most 7 of 10"]),
        # Baik: at most 70 % Baik, and some Butuh Perbaikan and/or Kurang
        ("baik", unit(baik=7, sangat_baik=2, butuh_perbaikan=1), []),
        ("baik", unit(baik=7, sangat_baik=2, kurang=1), []),
        ("baik", unit(baik=7, sangat_baik=3),
         ["at least 1 employee(s) Butuh Perbaikan and/or Kurang/Misconduct: 0 of 10; allowed at least 1 of 10"]),
        ("baik", unit(baik=8, butuh_perbaikan=2), ["at most 70% Baik: 8 of 10; allowed at most 7 of 10"]),
        # Butuh Perbaikan: at least 60 % Butuh Perbaikan, at most 10 % Sangat Baik
        ("butuh_perbaikan", unit(butuh_perbaikan=6, sangat_baik=1, baik=3), []),
        ("butuh_perbaikan", unit(butuh_perbaikan=5, baik=5),
         ["at least 60% Butuh Perbaikan: 5 of 10; allowed at least 6 of 10"]),
        ("butuh_perbaikan", unit(butuh_perbaikan=6, sangat_baik=2, baik=2),
         ["at most 10% Sangat Baik: 2 of 10; allowed at most 1 of 10"]),
        # Kurang: at least 60 % Kurang, at least 10 % Butuh Perbaikan, at most 10 % Sangat Baik
        ("kurang", unit(kurang=6, butuh_perbaikan=1, sangat_baik=1, baik=2), []),
        ("kurang", unit(kurang=7, baik=3), ["at least 10% Butuh Perbaikan: 0 of 10; allowed at least 1 of 10"]),
        # Sangat Kurang: at least 60 % Sangat Kurang, at least 10 % Kurang and/or Butuh Perbaikan, no Sangat Baik
        ("sangat_kurang", unit(sangat_kurang=6, kurang=1, baik=3), []),
        ("sangat_kurang", unit(sangat_kurang=6, butuh_perbaikan=1, baik=2, sangat_baik=1),
         ["none Sangat Baik: 1 of 10; allowed at most 0 of 10"]),
        ("sangat_kurang", unit(sangat_kurang=5, baik=5), [
            "at least 60% Sangat Kurang: 5 of 10; allowed at least 6 of 10",
            "at least 10% Butuh Perbaikan and/or Kurang/Misconduct: 0 of 10; allowed at least 1 of 10",
        ]),
    ],
)  # fmt: skip
def test_each_distribution_rule(rating, predicates, violations):
    check = check_distribution(POLICY, OrganisationRating(rating), predicates)
    assert [v.describe() for v in check.violations] == violations
    assert check.ok is (not violations) and check.explain()["violations"] == violations


def test_a_small_unit_needs_a_whole_employee_for_a_share():
    # 10 % of 3 employees is 0.3: one employee Butuh Perbaikan is needed; 2 of 3 Kurang (66.7 %) is at least 60 %
    assert check_distribution(POLICY, OrganisationRating.KURANG, unit(kurang=2, butuh_perbaikan=1)).ok
    check = check_distribution(POLICY, OrganisationRating.KURANG, unit(kurang=2, baik=1))
    assert [v.allowed for v in check.violations] == ["at least 1 of 3"]
    assert check.explain()["counts"] == {"sangat_baik": 0, "baik": 1, "butuh_perbaikan": 0, "kurang": 2,
                                         "sangat_kurang": 0}  # fmt: skip


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (('di_bawah_ekspektasi = "sangat_kurang"', ""), "matrix"),
        (('di_bawah_ekspektasi = "sangat_kurang"', 'di_bawah_ekspektasi = "buruk"'),
         "matrix.di_bawah_ekspektasi.di_bawah_ekspektasi"),
        (("istimewa = [", "luar_biasa = ["), "distribution.luar_biasa"),
        (('{ predicates = ["sangat_baik"], at_most = 70 },', '{ predicates = ["sangat_baik"], most = 70 },'),
         "distribution.istimewa[0].most"),
        (("raters = { superior = 100 }", "raters = { superior = 60, peer = 20 }"), "behaviour.raters"),
        (("as_from = 80", "as_from = 120"), "work_result.as_from"),
    ],
)  # fmt: skip
def test_a_wrong_appraisal_file_names_the_key(change, key):
    with pytest.raises(PolicyError) as err:
        parse_appraisal_text(PRESET_TEXT.replace(*change), source="agency.toml")
    assert err.value.key == key


# --- behaviour ------------------------------------------------------------------------------------------------


def ratings(role: str, *given: Rating, rater: str = "198001012005011001") -> list[BehaviourFeedback]:
    return [BehaviourFeedback(rater, role, value, rating, f"{role} on {value}") for value, rating in
            zip(CoreValue, given, strict=True)]  # fmt: skip


def test_behaviour_from_the_superiors_ratings_of_the_seven_values():
    as_expected = score_behaviour(POLICY, ratings("superior", *[AS] * 7))
    assert (as_expected.points, as_expected.rating) == (2, AS)
    # 4 above and 3 as expected: 18 / 7 = 2.57 >= 2.5
    four_above = score_behaviour(POLICY, ratings("superior", ABOVE, ABOVE, ABOVE, ABOVE, AS, AS, AS))
    assert (four_above.points, four_above.rating) == (Fraction(18, 7), ABOVE)
    assert (
        four_above.explain()["points_mean"] == "2.57" and four_above.explain()["rating_label"] == "Di Atas Ekspektasi"
    )
    # 3 above, 4 as: 17 / 7 = 2.43: as expected; 4 below, 3 as: 10 / 7 = 1.43 < 1.5: below
    assert score_behaviour(POLICY, ratings("superior", ABOVE, ABOVE, ABOVE, AS, AS, AS, AS)).rating is AS
    assert score_behaviour(POLICY, ratings("superior", BELOW, BELOW, BELOW, BELOW, AS, AS, AS)).rating is BELOW


WEIGHED = parse_appraisal_text(
    PRESET_TEXT.replace("raters = { superior = 100 }", "raters = { superior = 60, peer = 20, subordinate = 20 }")
)


def test_peer_and_subordinate_feedback_weighed_as_the_policy_says():
    feedback = ratings("superior", *[AS] * 7)
    feedback += ratings("peer", *[ABOVE] * 7, rater="199001012015012001")
    feedback += ratings("peer", *[AS] * 7, rater="199101012016011002")  # two peers: their mean, 2.5
    feedback += ratings("subordinate", *[ABOVE] * 6, BELOW)
    score = score_behaviour(WEIGHED, feedback)
    # each of the first six: 60 % x 2 + 20 % x 2.5 + 20 % x 3 = 2.3; kolaboratif: 1.2 + 0.5 + 0.2 = 1.9
    assert [v.points for v in score.values] == [Fraction(23, 10)] * 6 + [Fraction(19, 10)]
    assert score.points == Fraction(23 * 6 + 19, 70) and score.rating is AS
    # without any subordinate input, the superior and peers share 100 %: 75 % and 25 %
    alone = score_behaviour(WEIGHED, [f for f in feedback if f.role != "subordinate"])
    assert alone.values[0].points == Fraction(3, 4) * 2 + Fraction(1, 4) * Fraction(5, 2)
    assert [(r, w) for r, _, w in alone.values[0].by_role] == [("superior", 7500), ("peer", 2500)]


def test_behaviour_needs_the_superior_and_known_roles():
    with pytest.raises(InputError, match="superior has not rated berorientasi_pelayanan"):
        score_behaviour(WEIGHED, ratings("peer", *[AS] * 7))
    with pytest.raises(InputError, match="rater role 'public'"):
        score_behaviour(POLICY, ratings("public", *[AS] * 7))


# --- work plans that cascade ----------------------------------------------------------------------------------

HEAD, STAFF_A, STAFF_B = "197001011995031001", "198501012010012002", "199001012015011003"
TARGETS = (OrganisationTarget("RO-1", "Layanan rehabilitasi sosial bagi 1.200 penerima manfaat"),)


def head_plan(text: str = "Terlaksananya rehabilitasi sosial di balai") -> WorkPlan:
    return WorkPlan(HEAD, "2025", None, (
        PlannedResult("H1", text, (Indicator("H1a", "penerima manfaat dilayani", 1200, "orang"),), "RO-1"),
    ))  # fmt: skip


def staff_plan(nip: str = STAFF_A, parent: str | None = "H1") -> WorkPlan:
    return WorkPlan(nip, "2025", HEAD, (
        PlannedResult("A1", "Asesmen penerima manfaat", (
            Indicator("A1a", "laporan asesmen", 12, "laporan"),
            Indicator("A1b", "hari penyelesaian", 10, "hari", IndicatorAspect.TIME, higher_is_better=False),
        ), parent),
        PlannedResult("A2", "Rencana intervensi", (Indicator("A2a", "rencana disetujui", 4, "dokumen"),), parent),
    ))  # fmt: skip


def test_the_cascade_from_the_organisation_target_to_the_staff():
    cascade = build_cascade([head_plan(), staff_plan()], TARGETS)
    assert cascade.chain((STAFF_A, "A1")) == [TARGETS[0].text, "Terlaksananya rehabilitasi sosial di balai",
                                              "Asesmen penerima manfaat"]  # fmt: skip
    assert cascade.children((HEAD, "H1")) == [(STAFF_A, "A1"), (STAFF_A, "A2")]
    assert cascade.children(TARGETS[0]) == [(HEAD, "H1")]


def test_a_superiors_change_reaches_the_childrens_view():
    changed = build_cascade([head_plan("Rehabilitasi sosial berbasis keluarga"), staff_plan()], TARGETS)
    assert changed.chain((STAFF_A, "A2"))[1] == "Rehabilitasi sosial berbasis keluarga"


@pytest.mark.parametrize(
    ("plans", "problem"),
    [
        ([head_plan(), staff_plan(parent=None)], "RHK 'A1' tidak diintervensi RHK atasan"),
        ([head_plan(), staff_plan(parent="H9")], "RHK 'A1' menginduk ke 'H9' yang tidak ada"),
        ([staff_plan()], f"rencana atasan {HEAD} tidak ada"),
        ([WorkPlan(HEAD, "2025", None, (PlannedResult("H1", "x", (Indicator("i", "y", 1),)),)), staff_plan()],
         "RHK 'H1' tidak diintervensi sasaran organisasi"),
        ([head_plan(), head_plan()], "dua rencana SKP"),
        ([head_plan(), WorkPlan(STAFF_B, "2025", HEAD, (PlannedResult("B1", "x", (), "H1"),))], "tanpa indikator"),
        ([head_plan(), WorkPlan(STAFF_B, "2025", HEAD, (PlannedResult("B1", "x", (Indicator("i", "y", 0),), "H1"),))],
         "target 0"),
        ([WorkPlan(STAFF_A, "2025", STAFF_B, ()), WorkPlan(STAFF_B, "2025", STAFF_A, ())], "rantai atasan berputar"),
    ],
)  # fmt: skip
def test_plans_that_do_not_cascade_are_refused(plans, problem):
    with pytest.raises(CascadeError) as err:
        build_cascade(plans, TARGETS)
    assert any(problem in p for p in err.value.problems), err.value.problems


# --- output against the plan ----------------------------------------------------------------------------------


def test_output_measured_against_the_targets():
    outputs = [
        OutputRecord("A1", "A1a", 5, "asesmen-jan.pdf"),
        OutputRecord("A1", "A1a", 4, "asesmen-feb.pdf"),
        OutputRecord("A1", "A1b", 8),
        OutputRecord("A2", "A2a", 6),
    ]
    m = measure_plan(POLICY, staff_plan(), outputs)
    # A1a: 9 / 12 = 75 %; A1b (less is better): 10 / 8 = 125 %, counted at most 120 %; A1 = 97.5 %
    # A2a: 6 / 4 = 150 %, at most 120 %; plan = (97.5 % + 120 %) / 2 = 108.75 %: under 110 %, as expected
    assert [i.achievement for i in m.results[0].indicators] == [Fraction(3, 4), Fraction(6, 5)]
    assert m.results[0].achievement == Fraction(39, 40) and m.achievement_bp == 10_875
    assert m.suggested_rating is AS
    explained = m.explain()
    assert explained["achievement"] == "108.75%" and explained["results"][0]["indicators"][0]["realised"] == 9
    assert explained["results"][0]["indicators"][0]["evidence"] == ["asesmen-jan.pdf", "asesmen-feb.pdf"]
    with pytest.raises(InputError, match="not in the plan: A3/x"):
        measure_plan(POLICY, staff_plan(), [OutputRecord("A3", "x", 1)])


def test_approved_claims_of_linked_activities_realise_indicators():
    claims = [
        Claim("c1", "ASESMEN", 0, 2, 120, state=ClaimState.APPROVED, evidence="a.pdf"),
        Claim("c2", "ASESMEN", 0, 3, 180, state=ClaimState.REJECTED),
        Claim("c3", "RAPAT", 0, 1, 60, state=ClaimState.APPROVED),  # not linked to any RHK
        Claim("c4", "RENCANA", 0, 1, 60, state=ClaimState.APPROVED),
    ]
    outputs = scoring.outputs_from_claims(claims, {"ASESMEN": ("A1", "A1a"), "RENCANA": ("A2", "A2a")})
    assert [(o.rhk, o.indicator, o.quantity, o.source) for o in outputs] == [("A1", "A1a", 2, "claim c1"),
                                                                              ("A2", "A2a", 1, "claim c4")]  # fmt: skip
    m = measure_plan(POLICY, staff_plan(), outputs)
    # A1a 2/12; A1b nothing recorded: 0 (not the best time); A2a 1/4: plan = (1/12 + 1/4) / 2 = 1/6
    assert m.achievement == Fraction(1, 6) and m.achievement_bp == 1667
    assert m.suggested_rating is BELOW


def test_the_roll_up_from_staff_to_the_organisation_target():
    staff_b = WorkPlan(STAFF_B, "2025", HEAD, (PlannedResult("B1", "Pendampingan", (Indicator("B1a", "kasus", 10),),
                                                             "H1"),))  # fmt: skip
    cascade = build_cascade([head_plan(), staff_plan(), staff_b], TARGETS)
    measured = [
        measure_plan(
            POLICY,
            staff_plan(),
            [OutputRecord("A1", "A1a", 12), OutputRecord("A1", "A1b", 10), OutputRecord("A2", "A2a", 2)],
        ),  # A1 100 %, A2 50 %
        measure_plan(POLICY, staff_b, [OutputRecord("B1", "B1a", 9)]),  # B1 90 %
    ]
    rolled = roll_up(cascade, measured)
    # H1 has no measurement of its own: the mean of A1, A2, B1 = (100 + 50 + 90) / 3 = 80 %
    assert rolled[(HEAD, "H1")].own is None and rolled[(HEAD, "H1")].rolled == Fraction(4, 5)
    assert rolled["RO-1"].rolled == Fraction(4, 5) and rolled[(STAFF_A, "A2")].rolled == Fraction(1, 2)
    # once the head's own indicator is measured (1,080 of 1,200: 90 %), that is the head's figure
    measured.append(measure_plan(POLICY, head_plan(), [OutputRecord("H1", "H1a", 1080)]))
    rolled = roll_up(cascade, measured)
    assert rolled[(HEAD, "H1")].rolled == Fraction(9, 10) and rolled[(HEAD, "H1")].children_mean == Fraction(4, 5)


def test_the_allowance_can_take_its_performance_from_the_plan():
    m = measure_plan(POLICY, staff_plan(), [OutputRecord("A1", "A1a", 9), OutputRecord("A1", "A1b", 10),
                                            OutputRecord("A2", "A2a", 2)])  # fmt: skip
    # A1 = (75 % + 100 %) / 2 = 87.5 %, A2 = 50 %: plan 68.75 %
    assert m.achievement_bp == 6875 and appraisal_performance_bp(m) == 6875
    behaviour = score_behaviour(POLICY, ratings("superior", *[AS] * 7))
    # Surabaya's 80 / 20: 80 % x 68.75 % + 20 % x 100 % = 75 %
    assert appraisal_performance_bp(m, behaviour) == 7500
    below = score_behaviour(POLICY, ratings("superior", *[BELOW] * 7))  # 1 point of the 2 expected: 50 %
    assert appraisal_performance_bp(m, below, work_weight_bp=7000) == 6313  # 48.125 % + 15 % = 63.125 % -> 63.13 %


def test_the_appraisal_example_of_the_docs_runs_on_public_names_only():
    text = (Path(__file__).resolve().parents[1] / "docs" / "scoring.md").read_text(encoding="utf-8")
    code = text.split("\n## Appraisal (PermenPANRB 6/2022)\n", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    assert "build_cascade" in code and "scoring._" not in code
    exec(compile(code, "docs/scoring.md", "exec"), {})


def test_a_change_after_agreement_is_a_new_version():
    draft = staff_plan()
    assert draft.state is scoring.PlanState.DRAFT
    edited = scoring.revise_plan(draft, draft.results[:1])
    assert (edited.version, edited.state, len(edited.results)) == (1, scoring.PlanState.DRAFT, 1)
    agreed = scoring.agree_plan(edited)
    revised = scoring.revise_plan(agreed, draft.results)
    assert (agreed.version, agreed.state) == (1, scoring.PlanState.AGREED)
    assert (revised.version, revised.state, len(revised.results)) == (2, scoring.PlanState.DRAFT, 2)
