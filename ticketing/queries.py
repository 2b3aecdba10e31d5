"""Read-only reads of a hall's live state: tickets, windows, waiting counts, positions, snapshot.

Nothing here writes. ``TicketQueries`` is the read side of the ticket store (the store
extends it with issuing and actions); ``waiting_counts`` is the one reader of how many
tickets wait in each queue, for screens, the tide, metrics and the snapshot alike.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from redis.asyncio import Redis

from hall.calendar import local_day
from hall.config import HallConfig
from hall.errors import NotFound
from hall.text import as_str
from ticketing import estimate, public
from ticketing.commit import Clock
from ticketing.estimate import RECENT_SERVICES, Position
from ticketing.keys import HallKeys
from ticketing.model import Ticket, TicketStatus, WindowState
from ticketing.record_archive import RecordArchive, RecordLine
from ticketing.records import ticket_from, window_from

RECENT_CALLS = 20  # latest calls kept for the boards


def read_waiting(pipe: Any, cfg: HallConfig) -> None:
    """Queue, on a pipeline, the reads ``waiting_from`` decodes (one ZCARD per queue)."""
    keys = HallKeys(cfg.id)
    for q in cfg.queues:
        pipe.zcard(keys.queue(q.letter))


def waiting_from(cfg: HallConfig, replies: list[Any]) -> dict[str, int]:
    """Queue letter → tickets waiting, from the replies of ``read_waiting``."""
    return {q.letter: int(c) for q, c in zip(cfg.queues, replies, strict=True)}


async def waiting_counts(redis: Redis, cfg: HallConfig) -> dict[str, int]:
    """How many tickets wait in each queue of a hall now (tickets sent to one window excluded)."""
    async with redis.pipeline(transaction=False) as pipe:
        read_waiting(pipe, cfg)
        replies = await pipe.execute()
    return waiting_from(cfg, replies)


class TicketQueries:
    """Reads of tickets and windows of every hall, kept in one Redis."""

    def __init__(self, redis: Redis, halls: dict[str, HallConfig], clock: Clock) -> None:
        self.redis = redis
        self.halls = halls
        self.clock = clock
        # closed days' records moved to the data folder (ticketing.record_archive); the app
        # points it at HALL_DATA, a store built directly has none (archived days read empty)
        self.archive = RecordArchive(redis, None)

    def hall(self, hall_id: str) -> HallConfig:
        """A hall's configuration, or NotFound ``unknown_hall``."""
        cfg = self.halls.get(hall_id)
        if cfg is None:
            raise NotFound(f"no hall '{hall_id}'", code="unknown_hall")
        return cfg

    def require_window(self, cfg: HallConfig, number: int) -> None:
        """NotFound ``unknown_window`` unless the hall has this window."""
        if cfg.window(number) is None:
            raise NotFound(f"hall '{cfg.id}' has no window {number}", code="unknown_window")

    async def ticket(self, hall_id: str, ticket_id: str) -> Ticket:
        """A ticket, live or archived (an archived day's ticket reads as it was, read-only:
        ``read_ticket``, which guarded commits use, sees live records only)."""
        try:
            ticket, _ = await self.read_ticket(HallKeys(hall_id), ticket_id)
        except NotFound:
            line = await self.archived_ticket(hall_id, ticket_id)
            if line is None:
                raise
            return ticket_from(line.fields["json"])
        return ticket

    async def archived_ticket(self, hall_id: str, ticket_id: str) -> RecordLine | None:
        """A ticket's record from the archive, among the days its retention still keeps."""
        cfg = self.halls.get(hall_id)
        if cfg is None or self.archive.root is None:
            return None
        today = datetime.strptime(local_day(self.clock(), cfg.tz), "%Y%m%d").date()
        days = [(today - timedelta(days=k)).strftime("%Y%m%d")
                for k in range(1, cfg.rules.record_retention_days + 1)]
        return await self.archive.ticket(hall_id, ticket_id, days)

    async def window(self, hall_id: str, number: int) -> WindowState:
        self.require_window(self.hall(hall_id), number)
        window, _ = await self.read_window(HallKeys(hall_id), number)
        return window

    async def windows(self, hall_id: str) -> list[WindowState]:
        """Every configured window of a hall, in configuration order."""
        cfg = self.hall(hall_id)
        keys = HallKeys(hall_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            for w in cfg.windows:
                pipe.hget(keys.window(w.number), "json")
            raw = await pipe.execute()
        return [window_from(w.number, r) for w, r in zip(cfg.windows, raw, strict=True)]

    async def ticket_by_number(self, hall_id: str, number: str) -> Ticket:
        """Today's ticket with this number (e.g. "A012"), or NotFound ``unknown_ticket``."""
        cfg = self.hall(hall_id)
        keys = HallKeys(hall_id)
        ticket_id = await self.redis.hget(keys.day_numbers(local_day(self.clock(), cfg.tz)), number)
        if ticket_id is None:
            raise NotFound(f"no ticket {number} today", code="unknown_ticket")
        return await self.ticket(hall_id, as_str(ticket_id))

    async def read_ticket(self, keys: HallKeys, ticket_id: str) -> tuple[Ticket, str]:
        """A ticket and its record version (for a guarded commit)."""
        ver, raw = await self.redis.hmget(keys.ticket(ticket_id), ["ver", "json"])
        if raw is None:
            raise NotFound("no such ticket", code="unknown_ticket")
        return ticket_from(raw), as_str(ver)

    async def read_window(self, keys: HallKeys, number: int) -> tuple[WindowState, str]:
        """A window and its record version ("" when never written)."""
        ver, raw = await self.redis.hmget(keys.window(number), ["ver", "json"])
        return window_from(number, raw), as_str(ver) if ver is not None else ""

    async def clerk_window(self, hall_ids: tuple[str, ...], clerk: str
                           ) -> tuple[str, int] | None:
        """(hall, window number) where ``clerk`` is logged in now, or None."""
        for hall_id in hall_ids:
            if hall_id not in self.halls:
                continue
            for window in await self.windows(hall_id):
                if window.clerk == clerk:
                    return hall_id, window.number
        return None

    async def waiting_counts(self, hall_id: str) -> dict[str, int]:
        return await waiting_counts(self.redis, self.hall(hall_id))

    # ---- position and estimated wait ---------------------------------------------

    async def position(self, hall_id: str, ticket: Ticket) -> Position | None:
        """A waiting ticket's place and estimated wait; None when it is not waiting."""
        if ticket.status is not TicketStatus.WAITING:
            return None
        cfg = self.hall(hall_id)
        keys = HallKeys(hall_id)
        if ticket.target_window is not None:
            rank = await self.redis.zrank(keys.direct(ticket.target_window), ticket.id)
        else:
            rank = await self.redis.zrank(keys.queue(ticket.queue), ticket.id)
        ahead = rank if isinstance(rank, int) else 0
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.lrange(keys.service_times(ticket.queue), 0, RECENT_SERVICES - 1)
            for w in cfg.windows:
                pipe.hget(keys.window(w.number), "json")
            recent, *windows_raw = await pipe.execute()
        windows = [window_from(w.number, raw) for w, raw in zip(cfg.windows, windows_raw,
                                                                strict=True)]
        return estimate.position(cfg, ticket.queue, ahead, [float(x) for x in recent], windows,
                                 ticket.target_window)

    # ---- snapshot for screens -----------------------------------------------------

    async def current_tickets(self, hall_id: str, windows: list[dict[str, Any]]
                              ) -> dict[str, tuple[str, str]]:
        """Ticket id → (number, status) of the tickets at these windows (one round trip)."""
        ids = [str(w["current"]) for w in windows if w.get("current")]
        if not ids:
            return {}
        keys = HallKeys(hall_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            for i in ids:
                pipe.hget(keys.ticket(i), "json")
            raws = await pipe.execute()
        tickets = [ticket_from(r) for r in raws if r is not None]
        return {t.id: (t.number, t.status.value) for t in tickets}

    async def public_state(self, hall_id: str) -> dict[str, Any]:
        """The hall as anyone may see it (``ticketing.public.public_hall`` of the snapshot)."""
        snap = await self.snapshot(hall_id)
        current = await self.current_tickets(hall_id, snap["windows"])
        cfg = self.hall(hall_id)
        return public.public_hall(cfg, snap, current, local_day(self.clock(), cfg.tz))

    async def snapshot(self, hall_id: str) -> dict[str, Any]:
        """Hall state (full records: staff only) and the id of the last event it includes,
        read in one transaction. Public surfaces send ``ticketing.public`` projections."""
        cfg = self.hall(hall_id)
        keys = HallKeys(hall_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xrevrange(keys.events, count=1)
            for w in cfg.windows:
                pipe.hget(keys.window(w.number), "json")
            read_waiting(pipe, cfg)
            pipe.lrange(keys.recent_calls, 0, RECENT_CALLS - 1)
            raw = await pipe.execute()
        last, rest = raw[0], raw[1:]
        windows_raw, rest = rest[: len(cfg.windows)], rest[len(cfg.windows):]
        counts, calls = rest[: len(cfg.queues)], rest[-1]
        return {
            "hall": hall_id,
            "last_event_id": as_str(last[0][0]) if last else "0-0",
            "windows": [window_from(w.number, r).to_dict()
                        for w, r in zip(cfg.windows, windows_raw, strict=True)],
            "waiting": waiting_from(cfg, counts),
            "recent_calls": [json.loads(c) for c in calls],
        }
