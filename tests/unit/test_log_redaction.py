"""No capability reaches a log line: every path shape that carries a ticket id or a token,
in both log formats (text and JSON), in messages and in the access record's path."""

from __future__ import annotations

import json
import logging

import pytest

from hall.logs import JsonFormatter, Redact

TICKET = "Zx9_-Qwerty1234567890ab"
TOKEN = "AbCdEfGh12345678-_tok3n"
SHAPES = [
    f"/api/halls/district/tickets/{TICKET}",
    f"/api/halls/district/tickets/{TICKET}/cancel",
    f"/api/halls/district/tickets/{TICKET}/rating",
    f"/api/halls/district/cases/{TICKET}",
    f"/h/district/t/{TICKET}",
    f"/h/district/t/{TICKET}/qr.svg",
    f"/h/district/t/{TICKET}?lang=en",
    f"/ws/halls/district/tickets/{TICKET}",
    f"/ws/halls/district/tickets/{TICKET}?last_id=1-0",
    f"/ws/halls/district/pads/3?device={TOKEN}",
    f"/h/district/kiosk?device={TOKEN}",
    f"/h/district/pad/2?lang=zh&device={TOKEN}",
    f"/api/me?token={TOKEN}",
    f"Authorization: Bearer {TOKEN}",
    f"cookie hall_session={TOKEN}",
]


def records(text: str) -> list[logging.LogRecord]:
    access = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1,
                               '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5", "GET", text, "1.1", 200), None)
    ws = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1,
                           '%s - "WebSocket %s" [accepted]', ("127.0.0.1:5", text), None)
    ours = logging.LogRecord("hall.access", logging.INFO, __file__, 1, "%s %s %s",
                             ("GET", text, 200), None)
    ours.path = text
    return [access, ws, ours]


@pytest.mark.parametrize("shape", SHAPES)
def test_every_secret_is_masked_in_both_formats(shape: str) -> None:
    for record in records(shape):
        assert Redact().filter(record)
        for line in (logging.Formatter("%(message)s").format(record),
                     JsonFormatter().format(record)):
            assert TICKET not in line and TOKEN not in line, line
            assert "…" in line
        if hasattr(record, "path"):
            assert TICKET not in json.loads(JsonFormatter().format(record))["path"]


def test_public_numbers_and_hall_ids_stay_readable() -> None:
    [record, *_] = records("/api/halls/district/windows/3/call-next?lang=en")
    Redact().filter(record)
    assert "/api/halls/district/windows/3/call-next?lang=en" in record.getMessage()
