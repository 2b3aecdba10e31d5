"""When a walk-in may take a ticket: during the hall's opening hours (hall/calendar.py).

Outside them the refusal (409 ``hall_closed``) names the next opening in the hall's local
time. Tickets taken before closing are still called and served: only issuing is refused.
"""

from __future__ import annotations

from hall.config import HallConfig
from hall.errors import IllegalTransition
from ticketing.calendars import hall_calendar


def require_open(cfg: HallConfig, now: float) -> None:
    cal = hall_calendar(cfg)
    if cal.is_open(now):
        return
    nxt = cal.next_opening(now)
    when = f"{nxt:%Y-%m-%d %H:%M}" if nxt else "a date not yet announced"
    zh = f"{nxt:%m月%d日 %H:%M}" if nxt else "另行通知"
    raise IllegalTransition(
        f"the hall is closed; it opens again {when} (大厅已下班，下次开放：{zh})",
        code="hall_closed")
