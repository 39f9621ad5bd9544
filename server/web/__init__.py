"""The personnel bureau's side: web pages, the JSON API's registry/results endpoints, exports.

`install(app)` is the one hook the application factory calls: it adds the accounts' models, the
authentication middleware, the page error pages, the routes and the static files.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from server.auth import LOGIN_THROTTLE, LoginThrottle, authenticate

STATIC = Path(__file__).parent / "static"


def install(app: web.Application) -> None:
    from server.openapi import refuse_undocumented_fields
    from server.openapi import routes as openapi_routes
    from server.text import refuse_unstorable_text
    from server.web.access import authorize
    from server.web.activity_routes import routes as activity_routes
    from server.web.api_v1 import routes as api_routes
    from server.web.errors import html_errors
    from server.web.excuse_routes import routes as excuse_routes
    from server.web.pages import routes as page_routes
    from server.web.payroll_pages import routes as payroll_pages
    from server.web.payroll_routes import routes as payroll_routes
    from server.web.user_routes import routes as user_routes

    app.middlewares.append(html_errors)
    app.middlewares.append(authenticate)
    app.middlewares.append(refuse_unstorable_text)  # before the access checks and handlers query the database
    app.middlewares.append(refuse_undocumented_fields)
    app.middlewares.append(authorize)
    app[LOGIN_THROTTLE] = LoginThrottle()
    app.add_routes(page_routes)
    app.add_routes(api_routes)
    app.add_routes(activity_routes)
    app.add_routes(excuse_routes)
    app.add_routes(user_routes)
    app.add_routes(payroll_routes)
    app.add_routes(payroll_pages)
    app.add_routes(openapi_routes)
    app.router.add_static("/static/", STATIC, name="static", append_version=True)
