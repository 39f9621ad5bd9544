"""The JSON API under /api/v1, one module per resource; `add_routes(app)` is what the application factory calls.

A new resource is one new module here (its RouteTableDef, its operations declared with
`server.api.endpoint.endpoint`) and one line below.
"""

from __future__ import annotations

from aiohttp import web

from server.api import (
    activities,
    appraisal,
    areas,
    attendance,
    devices,
    employees,
    excuses,
    gateway_configs,
    gateway_enrolments,
    gateways,
    history,
    objections,
    openapi,
    payroll,
    pending_devices,
    punches,
    requests,
    skp,
    units,
    users,
)

# Registration order is resolution order; no two tables share a path.
ROUTES: tuple[web.RouteTableDef, ...] = (
    punches.routes,
    units.routes,
    gateways.routes,
    gateway_enrolments.routes,
    gateway_configs.routes,
    devices.routes,
    pending_devices.routes,
    employees.routes,
    attendance.routes,
    activities.routes,
    excuses.routes,
    users.routes,
    payroll.routes,
    skp.routes,
    requests.routes,
    objections.routes,
    history.routes,
    openapi.routes,
)


def add_routes(app: web.Application) -> None:
    for table in ROUTES:
        app.add_routes(table)
    appraisal.install(app)  # the yearly appraisal export (issue 17) and its access rules
    areas.install(app)  # routes, their access rules and the enrolment step the consumer runs
