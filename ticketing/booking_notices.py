"""What booked citizens are told, and when: a reminder the day before, near turn, called.

Sent through ``ticketing.notify`` (once per reason, never delaying a call):

* **reminder**: from 24 h before the slot until 2 h before it, for bookings made earlier
  than 24 h before (``booking_rules.reminder_due``); by the no-show sweep, every minute;
* **near turn**: when a call leaves a checked-in citizen with ``near_turn_ahead`` people
  ahead in their queue;
* **called**: when their ticket is called (the first call; a recall is the same reason).

Only bookings with a mobile number are told; the message names the hall, never an ID.
The same observer marks a remote ticket called before its holder arrived as a no-show
(``remote_queue.absent_at_call``), with or without a notifier.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from hall.events import EventType
from hall.text import as_str
from ticketing import booking_rules as br
from ticketing import remote_queue
from ticketing.appointments import AppointmentKeys, AppointmentStore
from ticketing.keys import HallKeys
from ticketing.notify import Message, Notifier, reason

log = logging.getLogger("ticketing.booking_notices")


class BookingNotices:
    def __init__(self, store: AppointmentStore, notifier: Notifier | None) -> None:
        self.store = store
        self.notifier = notifier
        self._tasks: set[asyncio.Task[None]] = set()

    async def _send(self, message: Message) -> bool:
        """Queue a message (no notifier without an RQ queue: nothing is sent)."""
        return await self.notifier.send(message) if self.notifier is not None else False

    def observe(self, hall_id: str, event: EventType, data: dict[str, Any]) -> None:
        """Committed-event observer (in the process that committed it): never blocks."""
        if event is not EventType.TICKET_CALLED or not isinstance(data.get("ticket"), dict):
            return
        task = asyncio.get_running_loop().create_task(self._on_called(hall_id, data["ticket"]))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _phone_of(self, hall_id: str, ticket_id: str) -> tuple[str, str] | None:
        """(phone, language) of a checked-in booking's or a remote ticket's holder."""
        booking_id = await self.store.redis.get(AppointmentKeys(hall_id).ticket(ticket_id))
        if booking_id is not None:
            booking = await self.store.get(hall_id, as_str(booking_id))
            return (booking.phone, booking.lang) if booking.phone else None
        info = await remote_queue.remote_info(self.store, hall_id, ticket_id)
        if info is not None and info.get("phone"):
            return str(info["phone"]), str(info.get("lang") or "zh")
        return None

    async def _on_called(self, hall_id: str, ticket: dict[str, Any]) -> None:
        try:
            cfg, _, s = self.store.hall(hall_id)
            holder = await self._phone_of(hall_id, str(ticket.get("id")))
            if await remote_queue.absent_at_call(self.store, hall_id, ticket):
                if holder is not None:
                    minutes = int(cfg.rules.rejoin_minutes)
                    await self._send(Message(
                        hall_id, "missed", reason("missed", str(ticket["id"])), holder[0],
                        f"{ticket['number']}号已叫号，您尚未到场，已按过号处理；请在{minutes}分钟内"
                        "到大厅后在号票页面重新排队。",
                        f"Ticket {ticket['number']} was called before you arrived and missed its "
                        f"turn; re-join from the ticket page within {minutes} minutes.",
                        holder[1]))
            elif holder is not None:
                window = cfg.window(int(ticket.get("window") or 0))
                await self._send(Message(
                    hall_id, "called", reason("called", str(ticket["id"])), holder[0],
                    f"请{ticket['number']}号到{ticket.get('window')}号窗口办理"
                    f"（{window.name_zh if window else ''}）。",
                    f"Ticket {ticket['number']}: please go to window {ticket.get('window')}.",
                    holder[1]))
            ahead = s.near_turn_ahead
            if ahead <= 0:
                return
            nth = await self.store.redis.zrange(HallKeys(hall_id).queue(str(ticket["queue"])),
                                                ahead, ahead)
            if not nth:
                return
            ticket_id = as_str(nth[0])
            near = await self._phone_of(hall_id, ticket_id)
            if near is not None:
                number = (await self.store.tickets.ticket(hall_id, ticket_id)).number
                await self._send(Message(
                    hall_id, "near_turn", reason("near", ticket_id), near[0],
                    f"您的{number}号前面还有{ahead}人，请到叫号屏附近等候。",
                    f"Ticket {number}: {ahead} people ahead of you; please stay near the screens.",
                    near[1]))
        except Exception:  # a notice must never disturb a call
            log.exception("notifying after a call in hall %s failed", hall_id)

    async def reminders(self, hall_id: str) -> int:
        """Send the day-before reminders now due; how many were queued."""
        cfg, cal, _ = self.store.hall(hall_id)
        now = self.store.clock()
        sent = 0
        for offset in (0, 1, 2):
            day = (cal.local(now + offset * 86400)).strftime("%Y%m%d")
            for booking in await self.store.day_bookings(hall_id, day):
                if booking.status != "booked" or not booking.phone:
                    continue
                if not br.reminder_due(booking.slot_start, booking.created_at, now):
                    continue
                matter = cfg.matter(booking.matter)
                when = f"{cal.local(booking.slot_start):%m-%d %H:%M}"
                sent += await self._send(Message(
                    hall_id, "reminder", reason("reminder", booking.id), booking.phone,
                    f"您已预约{when}在{cfg.name_zh}办理{matter.name_zh if matter else ''}，"
                    f"预约码{booking.code}，请按时到取号机签到。",
                    f"Reminder: {matter.name_en if matter else ''} at {cfg.name_en}, {when}; "
                    f"booking code {booking.code}. Check in at the kiosk.", booking.lang))
        return sent
