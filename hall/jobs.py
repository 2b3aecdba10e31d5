"""RQ queue names, shared by whoever enqueues and by ``hall worker``."""

from __future__ import annotations

VOICE_QUEUE = "voice"
REPORTS_QUEUE = "reports"
QUEUES = (VOICE_QUEUE, REPORTS_QUEUE)
