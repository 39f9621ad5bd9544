"""The queue of unit-months whose stored scores are out of date (server/services/scoring_queue.py).

One row per unit-month that something touched since it was last scored: a punch stored, an excuse,
an activity claim or a master-data change. ``version`` counts the touches, so a worker that scored the
unit-month clears the row only if nobody touched it again meanwhile. ``lease_until`` is a worker's
claim: short transactions take and release it (scoring holds no row lock the ingest would wait on), and
a worker killed mid-way leaves a lease that expires, so another worker takes the unit-month.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class StaleUnitMonth(Model):
    id = fields.BigIntField(primary_key=True)
    unit_code = fields.CharField(max_length=63)
    year = fields.SmallIntField()
    month = fields.SmallIntField()
    version = fields.BigIntField(default=1)
    marked_at = fields.DatetimeField()
    lease_until = fields.DatetimeField(null=True)
    leased_by = fields.CharField(max_length=127, null=True)

    class Meta:
        table = "stale_unit_month"
        unique_together = (("unit_code", "year", "month"),)
