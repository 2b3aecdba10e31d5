"""Notifications to citizens (reminders, near turn, called) through ONE outbound interface.

* ``Notifier.send`` (in the app) enqueues a message on the RQ queue ``notify`` at most
  once per *reason* (``SET NX`` on ``hall:{h}:notify:sent:<reason>``, kept 3 days), so a
  retry, a second process or a recall never sends it twice. It never waits for delivery:
  a call is never delayed by a gateway.
* ``deliver`` (the RQ job, in ``hall worker``) hands the message to the gateway:
  ``HALL_NOTIFY_URL`` set → a **signed webhook** (POST JSON; header
  ``X-Hall-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" with
  HALL_NOTIFY_SECRET>``) to the hall's SMS or WeChat gateway; not set → the **log
  gateway** (a log line, for development). A failed POST is retried inside the job after
  1, 3 and 9 s (``RETRY_DELAYS``); after the last failure the message goes to the hall's
  dead-letter list (``hall:{h}:notify:dead``, newest first, 500 kept), which managers read
  at ``GET /api/halls/{hall}/notifications/dead``.

Messages carry the phone number (the gateway needs it) and never an ID number; the
dead-letter list and the logs keep the phone masked.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from typing import Any

from redis.asyncio import Redis
from rq import Queue

from hall.identity import mask_phone
from hall.jobs import NOTIFY_QUEUE
from hall.redis_conn import jobs_client, sync_client
from hall.settings import Settings
from ticketing.keys import HallKeys

log = logging.getLogger("ticketing.notify")
SENT_TTL = 3 * 86400
DEAD_KEPT = 500
RETRY_DELAYS = (1.0, 3.0, 9.0)
TIMEOUT = 5.0


@dataclass(frozen=True)
class Message:
    hall: str
    kind: str  # reminder, near_turn, called
    reason: str  # what makes it unique, built by ``reason``: 'called:<digest of the ticket>' …
    phone: str
    text_zh: str
    text_en: str
    lang: str = "zh"

    def body(self) -> dict[str, Any]:
        return {"hall": self.hall, "kind": self.kind, "reason": self.reason, "to": self.phone,
                "text": self.text_en if self.lang == "en" else self.text_zh,
                "text_zh": self.text_zh, "text_en": self.text_en}


def reason(kind: str, secret: str) -> str:
    """A message's unique reason for what a ``secret`` id names (a ticket, a booking).

    Reasons are key names, go to the SMS gateway and into the managers' dead-letter list:
    they carry a digest of the id, never the id itself (a ticket's id is the capability to
    cancel and rate it)."""
    return f"{kind}:{hashlib.sha256(secret.encode()).hexdigest()[:24]}"


def sent_key(hall: str, reason: str) -> str:
    return f"{HallKeys(hall).prefix}:notify:sent:{reason}"


def dead_key(hall: str) -> str:
    return f"{HallKeys(hall).prefix}:notify:dead"


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The signature header's value; the receiver recomputes it to trust the message."""
    digest = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: bytes, header: str, body: bytes, now: float, tolerance: float = 300) -> bool:
    """What a gateway checks: a known signature, no older than ``tolerance`` seconds."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    if not parts.get("t", "").isdigit() or abs(now - int(parts["t"])) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, int(parts["t"]), body), header)


class Notifier:
    """The app's side: enqueue once per reason, never wait."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings

    async def send(self, message: Message) -> bool:
        """Queue ``message`` unless one was already sent for its reason; True if queued."""
        first = await self.redis.set(sent_key(message.hall, message.reason), "1", nx=True,
                                     ex=SENT_TTL)
        if not first:
            return False
        await asyncio.to_thread(self._enqueue, message)
        return True

    def _enqueue(self, message: Message) -> None:
        # RQ is synchronous: a short-lived connection in a thread, off the event loop
        connection = jobs_client(self.settings)
        try:
            Queue(NOTIFY_QUEUE, connection=connection).enqueue(
                deliver, asdict(message), job_timeout=120, result_ttl=3600, failure_ttl=86400)
        finally:
            connection.close()


def deliver(raw: dict[str, Any]) -> str:
    """RQ job: send one message through the configured gateway; dead-letter it on failure."""
    message = Message(**raw)
    settings = Settings.from_env()
    url = settings.notify_url
    if not url:
        log.info("notification (log gateway) %s to %s: %s", message.kind,
                 mask_phone(message.phone), message.text_zh)
        return "logged"
    secret = (settings.notify_secret or "").encode()
    body = json.dumps(message.body(), ensure_ascii=False).encode()
    error = ""
    for attempt, delay in enumerate((0.0, *RETRY_DELAYS)):
        if delay:
            time.sleep(delay)
        try:
            _post(url, body, secret)
            return f"sent after {attempt + 1} attempt(s)"
        except (urllib.error.URLError, OSError, ValueError) as exc:
            error = str(exc)
            log.warning("notification %s to %s failed (attempt %d): %s", message.reason,
                        mask_phone(message.phone), attempt + 1, error)
    _dead(settings, message, error)
    return "dead-lettered"


def _post(url: str, body: bytes, secret: bytes) -> None:
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json",
        "X-Hall-Signature": sign(secret, int(time.time()), body)})
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        if not 200 <= response.status < 300:
            raise ValueError(f"gateway answered {response.status}")


def _dead(settings: Settings, message: Message, error: str) -> None:
    entry = {"at": time.time(), "kind": message.kind, "reason": message.reason,
             "to": mask_phone(message.phone), "error": error[:200]}
    connection = sync_client(settings)
    try:
        connection.lpush(dead_key(message.hall), json.dumps(entry, ensure_ascii=False))
        connection.ltrim(dead_key(message.hall), 0, DEAD_KEPT - 1)
    finally:
        connection.close()


async def dead_letters(redis: Redis, hall: str, count: int = 100) -> list[dict[str, Any]]:
    raw = await redis.lrange(dead_key(hall), 0, count - 1)
    return [json.loads(r) for r in raw]
