"""Keys of what the application holds, in a module of their own so handlers can import them
without importing the application factory."""

from __future__ import annotations

from aiohttp import web

from server.consumer import PunchConsumer
from server.services.gateway_enrolment import EnrolmentSettings, FailureLimiter
from server.settings import ServerSettings

SETTINGS = web.AppKey("settings", ServerSettings)
CONSUMER = web.AppKey("consumer", PunchConsumer)
DIALECT = web.AppKey("dialect", str)
ENROLMENT = web.AppKey("gateway_enrolment_settings", EnrolmentSettings)
ENROL_LIMITER = web.AppKey("gateway_enrolment_limiter", FailureLimiter)
