"""RQ queue names, shared by whoever enqueues and by ``hall worker``."""

from __future__ import annotations

VOICE_QUEUE = "voice"
REPORTS_QUEUE = "reports"
NOTIFY_QUEUE = "notify"  # messages to citizens (ticketing/notify.py)
QUEUES = (VOICE_QUEUE, REPORTS_QUEUE, NOTIFY_QUEUE)
