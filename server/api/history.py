"""An employee's dated history (unit, office, position, grade, supervisor, status, each row from its date) as
API: the rows the master-data pages show (server/services/history.py history_of). Read only here: changes
are made in the pages, which check and date them."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.access import PERSONNEL
from server.api.endpoint import Path, endpoint
from server.api.fields import OBJECT, EmployeeNip, page_of
from server.auth import request_scope, require_role
from server.errors import NotFound
from server.history_models import EmployeeAssignment
from server.i18n import N_
from server.models import Employee
from server.services.history import history_of

routes = web.RouteTableDef()


class EmployeePath(Path):
    nip: EmployeeNip


def assignment_json(row: EmployeeAssignment) -> dict[str, Any]:
    return {
        "valid_from": row.valid_from.isoformat(),
        "unit": row.unit_code,
        "office": row.office_code,
        "position": row.position,
        "grade": row.grade,
        "supervisor_nip": row.supervisor_nip,
        "status": row.status,
        "action": row.action,
        "reason": row.reason,
        "recorded_by": row.recorded_by,
        "recorded_at": row.recorded_at.isoformat() if row.recorded_at else None,
    }


@endpoint(
    routes,
    "GET",
    "/api/v1/employees/{nip}/history",
    "an employee's dated history, oldest first",
    path=EmployeePath,
    response=page_of(OBJECT),
    errors=(404,),
)
async def api_history(request: web.Request, path: EmployeePath) -> web.Response:
    """The employee's rows, each in force from valid_from until the next one's."""
    require_role(request, *PERSONNEL)
    employee = await Employee.get_or_none(nip=path.nip)
    if employee is None or not (await request_scope(request)).sees_employee(employee.nip, employee.unit_id):  # type: ignore[attr-defined]
        raise NotFound(N_("no such employee in your scope"))
    items = [assignment_json(row) for row in await history_of(employee.nip)]
    return web.json_response({"total": len(items), "items": items})
