"""Structured logs: one JSON object a line, with the hall and ticket when there is one.

``HALL_LOG_FORMAT=json`` switches every logger of the process (ours, uvicorn's, RQ's)
to ``JsonFormatter``. The hall of the request being served is kept in a context
variable by ``RequestLog`` (an ASGI middleware that also writes one access line per
request), so lines logged while serving a hall's request carry ``hall`` too.
"""

from __future__ import annotations

import json
import logging
import re
import time
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

current_hall: ContextVar[str | None] = ContextVar("current_hall", default=None)
FIELDS = ("hall", "ticket", "queue", "window", "event", "method", "path", "status",
          "duration_ms", "client")
HALL_IN_PATH = re.compile(r"^/(?:api/halls|ws/halls|h)/([A-Za-z0-9_-]+)")
# Capabilities that must never reach a log, in any path shape (API, page, QR code,
# websocket): a citizen's ticket id after /tickets/, /t/ or /cases/; a token, code or
# password in a query string; a bearer token or a session cookie quoted in a message.
SECRETS = re.compile(
    r"(/(?:tickets|t|cases)/"
    r"|[?&;](?:device|token|ticket|code|password|secret|session)="
    r"|\bBearer\s+|\bhall_session=)"
    r"[A-Za-z0-9_\-.~%]{8,}")


def redact(text: str) -> str:
    """``text`` with every ticket id and token replaced by "…"."""
    return SECRETS.sub(r"\1…", text)


class Redact(logging.Filter):
    """Mask ticket ids and tokens in every record's message and path."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        path = getattr(record, "path", None)
        if isinstance(path, str):
            record.path = redact(path)
        return True
access = logging.getLogger("hall.access")


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", hall?, ticket?, …}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in FIELDS:
            value = getattr(record, key, None)
            if value is not None:
                out[key] = value
        if "hall" not in out and (hall := current_hall.get()):
            out["hall"] = hall
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def configure_logging(fmt: str, level: str = "info") -> None:
    """Send every logger of the process to stderr, as JSON lines or plain text."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter("%(message)s"))
    handler.addFilter(Redact())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "rq.worker"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True


class RequestLog:
    """Remember the request's hall for log lines; write one access line per HTTP request."""

    def __init__(self, app: ASGIApp, enabled: bool = True) -> None:
        self.app = app
        self.enabled = enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        match = HALL_IN_PATH.match(scope.get("path", ""))
        token = current_hall.set(match.group(1) if match else None)
        if not self.enabled or scope["type"] != "http":  # no access line: send as it is
            try:
                await self.app(scope, receive, send)
            finally:
                current_hall.reset(token)
            return
        started = time.perf_counter()
        status = 0

        async def send_logged(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_logged)
        finally:
            client = scope.get("client")
            access.info("%s %s %s", scope.get("method"), scope.get("path"), status, extra={
                "method": scope.get("method"), "path": scope.get("path"), "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                "client": client[0] if client else None})
            current_hall.reset(token)
