"""The Redis side of 好差评: record a rating (once) and its case, and follow the case to closure.

Keys (all under the hall's hash tag, so they commit with the ticket keys):

    hall:{h}:rating:<ticket>     hash   level, json        (one per ticket: the guard)
    hall:{h}:ratings             zset   ticket id by rating time
    hall:{h}:case:<ticket>       hash   ver, json          a rectification case
    hall:{h}:cases               zset   ticket id by opening time (every case)
    hall:{h}:cases:open          zset   ticket id by deadline (cases not yet closed)

A rating is one ``commit.lua`` step: it is guarded on the rating hash's ``level``
being empty, so two pads or a pad and a phone racing to rate one ticket give one
rating and one ``rating.given`` event; the loser gets ``already_rated``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hall.config import HallConfig
from hall.errors import IllegalTransition, NotFound
from hall.events import EventType
from hall.text import as_str
from ticketing import ratings
from ticketing.calendars import hall_calendar
from ticketing.commit import Conflict, Txn, dumps, retrying
from ticketing.keys import HallKeys
from ticketing.model import Ticket
from ticketing.ratings import Case, Rating
from ticketing.store import TicketStore


@dataclass(frozen=True)
class RatingKeys:
    hall: str

    @property
    def prefix(self) -> str:
        return f"hall:{{{self.hall}}}"

    def rating(self, ticket_id: str) -> str:
        return f"{self.prefix}:rating:{ticket_id}"

    @property
    def ratings(self) -> str:
        return f"{self.prefix}:ratings"

    def case(self, ticket_id: str) -> str:
        return f"{self.prefix}:case:{ticket_id}"

    @property
    def cases(self) -> str:
        return f"{self.prefix}:cases"

    @property
    def open_cases(self) -> str:
        return f"{self.prefix}:cases:open"


class AlreadyRated(IllegalTransition):
    code = "already_rated"


class RatingStore:
    """Ratings and rectification cases, committed through ``ticketing.commit``."""

    def __init__(self, tickets: TicketStore) -> None:
        self.tickets = tickets
        self.redis = tickets.redis
        self.clock = tickets.clock

    def _cfg(self, hall_id: str) -> HallConfig:
        return self.tickets.hall(hall_id)

    async def rating_of(self, hall_id: str, ticket_id: str) -> Rating | None:
        raw = await self.redis.hget(RatingKeys(hall_id).rating(ticket_id), "json")
        return Rating.from_dict(json.loads(raw)) if raw is not None else None

    async def rate(self, hall_id: str, ticket: Ticket, level: str, comment: str,
                   source: str) -> tuple[Rating, Case | None]:
        """Record the one rating of a finished ticket, and open a case for a bad one."""
        cfg = self._cfg(hall_id)
        rk = RatingKeys(hall_id)
        if await self.redis.hexists(rk.rating(ticket.id), "level"):
            raise AlreadyRated(f"ticket {ticket.number} has already been rated")
        rating = ratings.rate(ticket, level, comment, self.clock(),
                              cfg.rules.rating_period_minutes, source)
        case = ratings.open_case(rating, cfg.rules.rectification_working_days, cfg.tz,
                                 hall_calendar(cfg))
        txn = Txn(HallKeys(hall_id))
        txn.guard(rk.rating(ticket.id), "level", "")
        txn.op("HSET", rk.rating(ticket.id), "level", rating.level.value,
               "json", dumps(rating.to_dict()))
        txn.op("ZADD", rk.ratings, rating.at, ticket.id)
        if case is not None:
            txn.op("HSET", rk.case(ticket.id), "ver", 1, "json", dumps(case.to_dict()))
            txn.op("ZADD", rk.cases, case.opened_at, ticket.id)
            txn.op("ZADD", rk.open_cases, case.deadline, ticket.id)
        # window/level/ticket_id/number at the top too: what screens and pads may show
        data: dict[str, Any] = {"ticket_id": ticket.id, "number": ticket.number,
                                "window": rating.window, "level": rating.level.value,
                                "rating": rating.to_dict(),
                                "case": case.to_dict() if case else None}
        try:
            await self.tickets.committer.commit(txn, EventType.RATING_GIVEN, data)
        except Conflict:
            raise AlreadyRated(f"ticket {ticket.number} has already been rated") from None
        return rating, case

    async def pending(self, hall_id: str, window: int) -> Ticket | None:
        """The last ticket finished at a window, if the window's pad may still offer it: unrated,
        within ``pad_rating_seconds`` of its finish, and no ticket called to the window since."""
        cfg = self._cfg(hall_id)
        if cfg.window(window) is None:
            raise NotFound(f"hall '{hall_id}' has no window {window}", code="unknown_window")
        ticket_id = await self.redis.get(HallKeys(hall_id).last_done(window))
        if ticket_id is None:
            return None
        ticket = await self.tickets.ticket(hall_id, as_str(ticket_id))
        if not ratings.rating_open(ticket, self.clock(), cfg.rules.rating_period_minutes):
            return None
        # At the window the next citizen must not rate the previous one's service: the pad
        # offers a ticket only for ``pad_rating_seconds`` after its finish and only until
        # the window's next call (the citizen's own link keeps the whole rating period).
        if ticket.done_at is None or self.clock() - ticket.done_at > cfg.rules.pad_rating_seconds:
            return None
        if (await self.tickets.window(hall_id, window)).current is not None:
            return None
        if await self.redis.hexists(RatingKeys(hall_id).rating(ticket.id), "level"):
            return None
        return ticket

    # ---- cases ---------------------------------------------------------------------

    async def case(self, hall_id: str, ticket_id: str) -> tuple[Case, str]:
        ver, raw = await self.redis.hmget(RatingKeys(hall_id).case(ticket_id), ["ver", "json"])
        if raw is None:
            raise NotFound("no rectification case for this ticket", code="unknown_case")
        return Case.from_dict(json.loads(raw)), as_str(ver)

    async def cases(self, hall_id: str, since: float = 0.0,
                    until: float = float("inf")) -> list[Case]:
        """Every case opened in [since, until], oldest first."""
        rk = RatingKeys(hall_id)
        return [Case.from_dict(d) for d in await self._records(rk.cases, rk.case, since, until)]

    async def handle(self, hall_id: str, ticket_id: str, by: str, *,
                     reasonable: bool | None, rectification: str | None,
                     reply: str | None) -> Case:
        """Apply the manager's step to a case atomically (version-guarded), with its event."""
        rk = RatingKeys(hall_id)

        async def attempt() -> Case:
            case, ver = await self.case(hall_id, ticket_id)
            now = self.clock()
            new = ratings.handle_case(case, now, by, reasonable=reasonable,
                                      rectification=rectification, reply=reply)
            txn = Txn(HallKeys(hall_id))
            txn.guard(rk.case(ticket_id), "ver", ver)
            txn.op("HSET", rk.case(ticket_id), "ver", int(ver) + 1,
                   "json", dumps(new.to_dict()))
            if new.closed_at is not None:
                txn.op("ZREM", rk.open_cases, ticket_id)
            await self.tickets.committer.commit(txn, EventType.RATING_CASE,
                                      {"case": new.to_dict(), "status": new.status(now).value})
            return new

        return await retrying(attempt)

    async def ratings_between(self, hall_id: str, since: float, until: float) -> list[Rating]:
        rk = RatingKeys(hall_id)
        return [Rating.from_dict(d)
                for d in await self._records(rk.ratings, rk.rating, since, until)]

    async def _records(self, index: str, key_of: Callable[[str], str], since: float,
                       until: float) -> list[dict[str, Any]]:
        """The JSON records whose ids an index holds with scores in [since, until]."""
        ids = await self.redis.zrangebyscore(index, since, until)
        if not ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for i in ids:
                pipe.hget(key_of(as_str(i)), "json")
            raws = await pipe.execute()
        return [json.loads(r) for r in raws if r is not None]
