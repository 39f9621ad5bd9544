"""Work plans (SKP) under PermenPANRB 6/2022 as stored (issue 17): the organisation's targets per unit and
year, each employee's plan per year in numbered versions, the plan's RHK with their indicators and the
catalogue activities that realise an indicator. The rules (the cascade, realisation, roll-up) are the
scoring library's (scoring/_skp.py); server/services/skp.py stores, scopes and calls them.

A version is never changed once agreed: a change after agreement is a new version (a draft until the
superior agrees it), so every agreed version stays readable.
"""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class ReviewPeriod(StrEnum):
    """How often realisation is reviewed within the plan's year (the agency's policy says)."""

    QUARTERLY = "quarterly"
    MONTHLY = "monthly"


class OrganisationTargetRecord(Model):
    """An RKAKL output or organisational goal of a unit for a year, at the top of the unit's cascade,
    entered by the bureau or the unit administrator. `kind` is scoring.OrganisationTarget's kind."""

    id = fields.IntField(primary_key=True)
    unit_code = fields.CharField(max_length=63, db_index=True)
    year = fields.SmallIntField()
    code = fields.CharField(max_length=32)
    text = fields.CharField(max_length=500)
    kind = fields.CharField(max_length=24, default="rkakl_output")
    created_by = fields.CharField(max_length=64)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "skp_organisation_target"
        unique_together = (("unit_code", "year", "code"),)


class WorkPlanRecord(Model):
    """One version of an employee's yearly plan. `state` is scoring.PlanState (draft, agreed). The newest
    version of a (nip, year) is the plan as it is now, `superseded_at` is set on the older ones.
    `superior_nip` is the superior at drafting: the plan's RHK hang under that superior's plan, or,
    where it is empty, under the unit's organisation targets (the unit head)."""

    id = fields.IntField(primary_key=True)
    nip = fields.CharField(max_length=18, db_index=True)
    unit_code = fields.CharField(max_length=63, db_index=True)
    year = fields.SmallIntField()
    version = fields.SmallIntField(default=1)
    state = fields.CharField(max_length=16, default="draft")
    review = fields.CharField(max_length=16, default=ReviewPeriod.QUARTERLY.value)
    superior_nip = fields.CharField(max_length=18, null=True)
    submitted_at = fields.DatetimeField(null=True)
    agreed_by = fields.CharField(max_length=64, null=True)
    agreed_at = fields.DatetimeField(null=True)
    superseded_at = fields.DatetimeField(null=True)
    created_by = fields.CharField(max_length=64)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "skp_work_plan"
        unique_together = (("nip", "year", "version"),)


class PlannedResultRecord(Model):
    """An RHK of one plan version. `parent_code` is the superior's RHK code (or the organisation target's
    code for a unit head) it hangs under."""

    id = fields.IntField(primary_key=True)
    plan: fields.ForeignKeyRelation[WorkPlanRecord] = fields.ForeignKeyField(
        "models.WorkPlanRecord", related_name="results", on_delete=fields.CASCADE
    )
    code = fields.CharField(max_length=16)
    text = fields.CharField(max_length=500)
    parent_code = fields.CharField(max_length=32, null=True)
    position = fields.SmallIntField(default=0)

    class Meta:
        table = "skp_planned_result"
        unique_together = (("plan", "code"),)


class IndicatorRecord(Model):
    """An indicator of an RHK: `aspect` is scoring.IndicatorAspect, `target` a whole quantity of `unit`."""

    id = fields.IntField(primary_key=True)
    result: fields.ForeignKeyRelation[PlannedResultRecord] = fields.ForeignKeyField(
        "models.PlannedResultRecord", related_name="indicators", on_delete=fields.CASCADE
    )
    code = fields.CharField(max_length=16)
    text = fields.CharField(max_length=500)
    aspect = fields.CharField(max_length=16, default="kuantitas")
    target = fields.IntField()
    unit = fields.CharField(max_length=64, default="")
    higher_is_better = fields.BooleanField(default=True)

    class Meta:
        table = "skp_indicator"
        unique_together = (("result", "code"),)


class ActivityLinkRecord(Model):
    """A catalogue activity whose approved claims realise one indicator of the plan version, chosen by the
    employee on the plan (one indicator per activity and plan)."""

    id = fields.IntField(primary_key=True)
    plan: fields.ForeignKeyRelation[WorkPlanRecord] = fields.ForeignKeyField(
        "models.WorkPlanRecord", related_name="links", on_delete=fields.CASCADE
    )
    activity = fields.CharField(max_length=64)
    rhk_code = fields.CharField(max_length=16)
    indicator_code = fields.CharField(max_length=16)

    class Meta:
        table = "skp_activity_link"
        unique_together = (("plan", "activity"),)
