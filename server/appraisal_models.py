"""The periodic appraisal (PermenPANRB 6/2022) as stored: the feedback dialogue on an employee's period,
the BerAKHLAK behaviour ratings, the rating and predicate, and the unit's organisation rating
(server/services/appraisal.py; the rules are scoring/_appraisal.py and its preset).

A period is the work plan's (scoring/_skp.py): ``"2026"`` for the year, ``"2026-Q1"`` for a quarter's
review. Nothing is overwritten silently: a feedback message is never edited, a behaviour rating or a
rating replaced before the unit's period is final keeps who set it and when.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class AppraisalFeedback(Model):
    """One message of the performance dialogue on ``nip``'s period: the superior's feedback or the
    employee's answer (``author_role`` "superior" or "employee"), oldest first."""

    id = fields.IntField(primary_key=True)
    nip = fields.CharField(max_length=18, db_index=True)
    year = fields.SmallIntField()
    period = fields.CharField(max_length=8)
    author_nip = fields.CharField(max_length=18)
    author_role = fields.CharField(max_length=16)
    body = fields.TextField()
    written_by = fields.CharField(max_length=64)
    written_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "appraisal_feedback"
        indexes = (("nip", "period"),)


class BehaviourRatingRecord(Model):
    """One rater's rating of one BerAKHLAK core value of ``nip`` for a period, with its evidence note.
    ``rater_role`` is the policy's: "superior", "peer", "subordinate"."""

    id = fields.IntField(primary_key=True)
    nip = fields.CharField(max_length=18, db_index=True)
    year = fields.SmallIntField()
    period = fields.CharField(max_length=8)
    rater_nip = fields.CharField(max_length=18)
    rater_role = fields.CharField(max_length=16)
    core_value = fields.CharField(max_length=32)
    rating = fields.CharField(max_length=24)
    note = fields.CharField(max_length=500, default="")
    recorded_by = fields.CharField(max_length=64)
    recorded_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "appraisal_behaviour"
        unique_together = (("nip", "period", "rater_nip", "core_value"),)


class AppraisalRating(Model):
    """``nip``'s rating for a period in ``unit_code`` (their unit then): the superior's work-result rating,
    the behaviour rating the feedback gave, the predicate the matrix gives them. ``final_at`` is set when
    the unit's period is finalised (its distribution within the organisation rating's bounds)."""

    id = fields.IntField(primary_key=True)
    nip = fields.CharField(max_length=18, db_index=True)
    unit_code = fields.CharField(max_length=63, db_index=True)
    year = fields.SmallIntField()
    period = fields.CharField(max_length=8)
    work_result = fields.CharField(max_length=24)
    behaviour = fields.CharField(max_length=24)
    behaviour_points = fields.CharField(max_length=8, default="")  # the mean points, e.g. "2.43"
    predicate = fields.CharField(max_length=24)
    policy = fields.CharField(max_length=100, default="")
    rated_by = fields.CharField(max_length=64)
    rated_at = fields.DatetimeField(auto_now=True)
    final_at = fields.DatetimeField(null=True)
    final_by = fields.CharField(max_length=64, null=True)

    class Meta:
        table = "appraisal_rating"
        unique_together = (("nip", "period"),)
        indexes = (("unit_code", "period"),)


class OrganisationRatingRecord(Model):
    """The unit's own performance rating for a year, set by the bureau: it bounds the distribution of its
    employees' predicates."""

    id = fields.IntField(primary_key=True)
    unit_code = fields.CharField(max_length=63)
    year = fields.SmallIntField()
    rating = fields.CharField(max_length=24)
    set_by = fields.CharField(max_length=64)
    set_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "organisation_rating"
        unique_together = (("unit_code", "year"),)
