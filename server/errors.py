"""Domain errors: what services raise when a request cannot be served, with the reason in English (the API's
words; the pages translate it through the gettext catalogues, where a msgid exists for it).

One HTTP edge maps them: `json_error` (used by the app's json_errors middleware) gives the API's JSON body,
`page_message` gives a page its text. No handler parses another handler's HTTP error.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    """A refusal with a reason the caller can act on."""

    status: ClassVar[int] = 400
    error: ClassVar[str] = "bad_request"

    def __init__(self, reason: str, *, retry_after: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        # Seconds after which trying again may succeed: the answer's Retry-After header (429, 503).
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "reason": self.reason}

    def headers(self) -> dict[str, str]:
        return {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}


class Invalid(DomainError, ValueError):
    """Bad input: a value out of range, of the wrong kind, or missing (400)."""


class NotFound(DomainError, LookupError):
    """No such record, or one outside the caller's scope: the same answer for both, so a refusal does not reveal
    what exists (404)."""

    status = 404
    error = "not_found"


class Refused(DomainError):
    """The caller may not do this, whatever the input (403)."""

    status = 403
    error = "forbidden"


class Unavailable(DomainError):
    """A part the request needs (the broker) is not there or did not answer (503)."""

    status = 503
    error = "unavailable"


class TooMany(DomainError):
    """Too many attempts from this caller for now; `retry_after` says when to try again (429)."""

    status = 429
    error = "too_many_requests"


class Conflict(DomainError):
    """A well-formed request the current state or the rules refuse (409)."""

    status = 409
    error = "conflict"


def page_message(exc: DomainError) -> str:
    """The reason as a page carries it (a redirect's ?error=, an error page's message): English, translated into
    the reader's language by the template at render time (i18n.translate_text), so never translated twice."""
    return exc.reason
