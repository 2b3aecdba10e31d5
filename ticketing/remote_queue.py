"""Remote queueing ("save my spot", 远程取号): today's ticket from a phone, then "I am here".

During opening hours (the store refuses walk-in tickets outside them) a citizen takes a
ticket from the phone with a name and a mobile number (or ID number), under the same
checks as a booking (proof of work, rate limit per address) and a limit of one remote
ticket per identity, matter and day. The ticket is an ordinary phone-channel ticket in its
queue; the phone number is kept beside it (``hall:{h}:appt:remote:<ticket id>``, 2 days)
for the near-turn and called messages (``booking_notices``).

The holder says "I am here" (``here``) once in the hall. A remote ticket called before
that is marked a no-show at once (the window is free for the next citizen) and may
re-join within the hall's ``rejoin_minutes``, as any missed call.
"""

from __future__ import annotations

import json
from typing import Any

from hall.errors import Forbidden, IllegalTransition, NotFound
from hall.text import as_str
from ticketing import model
from ticketing.appointments import AppointmentKeys, AppointmentStore
from ticketing.estimate import Position
from ticketing.model import Channel, Ticket, TicketStatus, WindowState

TTL = 2 * 86400


def remote_key(hall_id: str, ticket_id: str) -> str:
    return f"{AppointmentKeys(hall_id).p}:appt:remote:{ticket_id}"


async def take(store: AppointmentStore, hall_id: str, matter: str, *, name: str,
               phone: str | None, id_number: str | None, lang: str = "zh"
               ) -> tuple[Ticket, Position]:
    cfg, cal, s = store.hall(hall_id)
    if not s.remote_queue:
        raise Forbidden("this hall does not give tickets to phones", code="remote_disabled")
    if cfg.matter(matter) is None:
        raise NotFound(f"hall '{hall_id}' has no matter '{matter}'", code="unknown_matter")
    _, norm_phone, _, key = store.identity_of(name, phone, id_number)
    today = cal.local(store.clock()).strftime("%Y%m%d")
    counter = f"{AppointmentKeys(hall_id).p}:remote:{today}:{key}:{matter}"
    if not await store.redis.set(counter, "1", nx=True, ex=TTL):
        raise IllegalTransition("you already took a ticket for this matter today",
                                code="identity_limit")
    try:
        ticket, position = await store.tickets.issue(hall_id, matter, Channel.PHONE)
    except Exception:
        await store.redis.delete(counter)
        raise
    await store.redis.set(remote_key(hall_id, ticket.id), json.dumps(
        {"phone": norm_phone, "present": False, "lang": lang}), ex=TTL)
    return ticket, position


async def remote_info(store: AppointmentStore, hall_id: str, ticket_id: str
                      ) -> dict[str, Any] | None:
    raw = await store.redis.get(remote_key(hall_id, ticket_id))
    return json.loads(as_str(raw)) if raw is not None else None


async def here(store: AppointmentStore, hall_id: str, ticket_id: str) -> Ticket:
    """The holder is in the hall now: a call will find them."""
    ticket = await store.tickets.ticket(hall_id, ticket_id)
    info = await remote_info(store, hall_id, ticket_id)
    if info is None:
        raise IllegalTransition("this is not a ticket taken from a phone", code="not_remote")
    if ticket.status is not TicketStatus.WAITING:
        raise IllegalTransition("this ticket is no longer waiting", code="illegal_transition")
    info["present"] = True
    await store.redis.set(remote_key(hall_id, ticket_id), json.dumps(info), ex=TTL)
    return ticket


async def absent_at_call(store: AppointmentStore, hall_id: str, ticket: dict[str, Any]
                         ) -> bool:
    """A remote ticket called before its holder said "I am here": a no-show now (True)."""
    info = await remote_info(store, hall_id, str(ticket.get("id")))
    if info is None or info.get("present") or not isinstance(ticket.get("window"), int):
        return False
    wanted = str(ticket["id"])

    async def still_ours(current: Ticket, window: WindowState) -> None:
        if current.id != wanted or current.status is not TicketStatus.CALLED:
            raise IllegalTransition("the window moved on", code="illegal_transition")

    try:
        await store.tickets._current_action(hall_id, int(ticket["window"]), model.no_show,
                                            check=still_ours)
    except IllegalTransition:
        return False  # the clerk was quicker (served or marked it); nothing to do
    return True
