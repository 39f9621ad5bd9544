"""The personnel bureau's HTML pages: templates, static files, forms; `add_routes(app)` adds them.

The pages call server/services (and server/access for who may see what), never server/api.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from server.pages import (
    accounts,
    activities,
    appraisal,
    areas,
    device_admin,
    enrolment,
    excuses,
    fleet,
    gateway_config,
    gateway_enrolment,
    master_data,
    objections,
    pages,
    payroll,
    requests,
    skp,
)

STATIC = Path(__file__).parent / "static"

ROUTES: tuple[web.RouteTableDef, ...] = (
    pages.routes,
    activities.routes,
    accounts.routes,
    excuses.routes,
    payroll.routes,
    gateway_enrolment.routes,
    master_data.routes,
    areas.routes,
    enrolment.routes,
    device_admin.routes,
    fleet.routes,
    gateway_config.routes,
    requests.routes,
    objections.routes,
    appraisal.routes,
    skp.routes,
)


def add_routes(app: web.Application) -> None:
    for table in ROUTES:
        app.add_routes(table)
    app.middlewares.append(requests.count_queue)  # after authenticate: the reader is known
    app.middlewares.append(objections.count_objections)
    app.router.add_static("/static/", STATIC, name="static", append_version=True)
