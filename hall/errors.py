"""Domain errors every package raises: a stable ``code`` for machines, a message for people.

They are translated to HTTP in one handler (``hall/http.py``): JSON for the API, a page
for people. A package adds its own codes by subclassing or by passing ``code=``; every
code needs a text in both languages of ``displays/messages/errors.*.json`` (pages show
that text, filled with ``params``; a test fails on a code without one).
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of the errors the domain raises; ``code`` is stable, the message is for people."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, code: str | None = None,
                 params: dict[str, str | int] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.params = dict(params or {})  # fill the catalogue's text for ``code`` on pages
        if code:
            self.code = code


class IllegalTransition(DomainError):
    status = 409
    code = "illegal_transition"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Invalid(DomainError):
    status = 422
    code = "invalid_field"
