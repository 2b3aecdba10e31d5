"""The event hub: one stream reader per hall per process, fanned out to a bounded queue per socket.

Each app process runs at most ONE reader task per hall (started when the hall's first
socket subscribes), doing ``XREAD BLOCK`` on ``hall:{<hall>}:events``. Every event read
is offered to every subscriber of that hall with ``put_nowait``. A subscriber is
registered before its catch-up ``XRANGE``, so it can miss nothing; what it gets twice
(replayed and fanned out) is dropped by stream id. A subscriber whose queue is full is
a slow client: it is dropped (``CLOSE_TOO_SLOW``) and the others carry on.

Subscribers filter and project events themselves (``displays.views``); projections are
cached per event, so a thousand public boards serialise each event once. Once a socket has
caught up (snapshot or replay sent, mailbox empty) and it is a websockets connection of the
server (uvicorn's ``websockets`` protocol, no compression), it goes *direct*: the hub writes
the event's frame to its transport itself, as ``websockets.broadcast`` does, and the frame
(header and UTF-8 payload) is built once per event per process and shared by every socket
that gets the same text. A direct socket with more than ``WRITE_BUFFER_LIMIT`` bytes not yet
taken by the kernel is the slow client of the direct path: dropped with the same 4408.
Other servers (the test client, wsproto) keep the mailbox and a send per socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from websockets.frames import Frame, Opcode
from websockets.legacy.protocol import WebSocketCommonProtocol
from websockets.protocol import Protocol, Side, State

from hall.config import HallConfig
from hall.events import Event
from hall.services import Key
from hall.text import as_str
from ticketing.keys import HallKeys
from ticketing.queries import waiting_counts

log = logging.getLogger("displays.hub")

CLOSE_TOO_SLOW = 4408  # the client did not read its events fast enough
READ_COUNT = 500
BLOCK_MS = 1000
WRITE_BUFFER_LIMIT = 1 << 20  # bytes queued on a direct socket before it counts as too slow


def parse_id(entry_id: str) -> tuple[int, int] | None:
    """A stream id as a comparable pair, or None when it is not one ('1700000000000-3')."""
    ms, sep, seq = entry_id.partition("-")
    if not ms.isdigit() or len(ms) > 15 or (sep and (not seq.isdigit() or len(seq) > 15)):
        return None
    return int(ms), int(seq or 0)



def decode_entries(raw: list[Any]) -> list[Event]:
    """XRANGE / XREAD entries → events; an entry that is not a valid event is skipped."""
    events = []
    for entry_id, fields in raw:
        try:
            decoded = {as_str(k): as_str(v) for k, v in fields.items()}
            events.append(Event.from_fields(as_str(entry_id), decoded))
        except (KeyError, ValueError):
            log.warning("skipping malformed stream entry %s", as_str(entry_id))
    return events


@dataclass
class Delivery:
    """One event on its way to many sockets, with its projections cached by view name.

    ``waiting`` carries the queues' waiting counts when the event changed them.
    """

    event: Event
    key: tuple[int, int]
    waiting: dict[str, int] | None = None
    cache: dict[str, str | None] = field(default_factory=dict)
    frames: dict[str, bytes] = field(default_factory=dict)

    def view(self, name: str,
             make: Callable[[Event, dict[str, int] | None], str | None]) -> str | None:
        if name not in self.cache:
            self.cache[name] = make(self.event, self.waiting)
        return self.cache[name]

    def frame(self, text: str) -> bytes:
        """``text`` as one server text frame, built once for every socket sending it."""
        frame = self.frames.get(text)
        if frame is None:
            frame = Frame(Opcode.TEXT, text.encode()).serialize(mask=False)
            self.frames[text] = frame
        return frame


def _legacy_open(protocol: WebSocketCommonProtocol) -> bool:
    return protocol.state is State.OPEN


def _sansio_open(conn: Protocol, transport: asyncio.WriteTransport) -> bool:
    return conn.state is State.OPEN and not transport.is_closing()


class DirectSocket:
    """A server websocket the hub writes shared frames to itself (websockets' broadcast)."""

    def __init__(self, transport: asyncio.WriteTransport, is_open: Callable[[], bool]) -> None:
        self.transport = transport
        self.is_open = is_open

    @staticmethod
    def of(send: object) -> DirectSocket | None:
        """The connection behind an ASGI ``send`` when it is a websockets server connection
        without extensions (uvicorn's ``websockets-sansio``, its default with websockets
        installed, or its legacy ``websockets``); else None.

        Middleware wraps the server's ``send`` (``asgi_send``, a method of the protocol) in
        closures; they are followed through their cells, a few levels deep."""
        todo, seen = [send], 0
        while todo and seen < 32:
            fn = todo.pop()
            seen += 1
            owner = getattr(fn, "__self__", None)
            transport = getattr(owner, "transport", None)
            if isinstance(owner, WebSocketCommonProtocol):
                legacy = owner
                if legacy.is_client or legacy.extensions or transport is None:
                    return None
                return DirectSocket(transport, functools.partial(_legacy_open, legacy))
            conn = getattr(owner, "conn", None)
            if isinstance(conn, Protocol):
                if conn.side is not Side.SERVER or conn.extensions or transport is None:
                    return None
                return DirectSocket(transport, functools.partial(_sansio_open, conn, transport))
            for cell in getattr(fn, "__closure__", None) or ():
                with contextlib.suppress(ValueError):  # an empty cell
                    if callable(cell.cell_contents):
                        todo.append(cell.cell_contents)
        return None

    def write(self, frame: bytes, limit: int) -> bool:
        """Queue ``frame`` on the transport; False (nothing written) when over ``limit``."""
        if not self.is_open():
            return True  # closing: the socket's own task sees it and ends
        if self.transport.get_write_buffer_size() > limit:
            return False
        self.transport.write(frame)
        return True


@dataclass(eq=False)
class Subscriber:
    """One socket's mailbox. ``dropped`` is set when the hub gives up on it."""

    hall: str
    queue: asyncio.Queue[Delivery]
    dropped: asyncio.Event = field(default_factory=asyncio.Event)
    close_code: int = 1000
    close_reason: str = ""
    direct: DirectSocket | None = None
    view: Callable[[Delivery], str | None] | None = None
    sent: tuple[int, int] = (0, 0)
    frames_sent: int = 0  # frames the hub wrote to this socket (direct only)

    def go_direct(self, direct: DirectSocket, view: Callable[[Delivery], str | None],
                  sent: tuple[int, int]) -> None:
        """From now on the hub writes this socket's frames; call only with an empty mailbox."""
        self.direct, self.view, self.sent = direct, view, sent

    def offer(self, delivery: Delivery) -> bool:
        """Hand over one event (mailbox, or written when direct); False: too slow, dropped."""
        if self.direct is not None and self.view is not None:
            if delivery.key <= self.sent:
                return True
            self.sent = delivery.key
            text = self.view(delivery)
            if text is None:
                return True
            if self.direct.write(delivery.frame(text), WRITE_BUFFER_LIMIT):
                self.frames_sent += 1
                return True
        else:
            try:
                self.queue.put_nowait(delivery)
                return True
            except asyncio.QueueFull:
                pass
        self.close_code = CLOSE_TOO_SLOW
        self.close_reason = "too slow: events were not read in time"
        self.dropped.set()
        return False


@dataclass
class HallReader:
    hall: str
    last_id: str
    task: asyncio.Task[None] | None = None
    subscribers: set[Subscriber] = field(default_factory=set)
    last_event_at: float | None = None  # the writer's time of the latest event read
    last_read_at: float | None = None  # our time when we read it


class Hub:
    """Per-process fan-out of every hall's event stream to its sockets."""

    def __init__(self, redis: Redis, halls: dict[str, HallConfig], queue_size: int = 512,
                 clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.halls = halls
        self.queue_size = queue_size
        self.clock = clock
        self.readers: dict[str, HallReader] = {}
        self.dropped_slow = 0
        self.delivered = 0
        self.frames_encoded = 0  # frames built by the hub for direct sockets
        self.frames_sent = 0  # frames the hub wrote to direct sockets
        self._lock = asyncio.Lock()
        self._closing = False

    # ---- metrics the production side exports ---------------------------------------

    @property
    def clients(self) -> int:
        return sum(len(r.subscribers) for r in self.readers.values())

    @property
    def lag_seconds(self) -> float:
        """Worst delay, over halls, between an event being written and this hub reading it."""
        lags = [r.last_read_at - r.last_event_at for r in self.readers.values()
                if r.last_read_at is not None and r.last_event_at is not None]
        return max(lags, default=0.0)

    def readers_alive(self) -> bool:
        """Every hall's stream reader is running (the app's ``hub`` ready check)."""
        return all(r.task is None or not r.task.done() for r in self.readers.values())

    def status(self) -> dict[str, Any]:
        return {
            "clients": self.clients,
            "lag_seconds": round(self.lag_seconds, 4),
            "dropped_slow": self.dropped_slow,
            "delivered": self.delivered,
            "direct_clients": sum(1 for r in self.readers.values() for s in r.subscribers
                                  if s.direct is not None),
            "frames_encoded": self.frames_encoded,
            "frames_sent": self.frames_sent,
            "halls": {h: {"clients": len(r.subscribers), "last_id": r.last_id}
                      for h, r in self.readers.items()},
        }

    # ---- subscribing --------------------------------------------------------------

    async def subscribe(self, hall: str) -> Subscriber:
        """Register a mailbox; the hall's reader is running from a known position on return."""
        reader = await self._reader(hall)
        sub = Subscriber(hall, asyncio.Queue(maxsize=self.queue_size))
        reader.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        reader = self.readers.get(sub.hall)
        if reader is not None:
            reader.subscribers.discard(sub)

    async def _reader(self, hall: str) -> HallReader:
        async with self._lock:
            reader = self.readers.get(hall)
            if reader is None or reader.task is None or reader.task.done():
                last = await self.redis.xrevrange(HallKeys(hall).events, count=1)
                start = as_str(last[0][0]) if last else "0-0"
                if reader is None:
                    reader = HallReader(hall, start)
                    self.readers[hall] = reader
                else:
                    reader.last_id = start
                reader.task = asyncio.create_task(self._run(reader), name=f"hub-reader-{hall}")
            return reader

    # ---- the reader loop ----------------------------------------------------------

    async def _run(self, reader: HallReader) -> None:
        stream = HallKeys(reader.hall).events
        failures = 0
        while not self._closing:
            try:
                raw: Any = await self.redis.xread({stream: reader.last_id}, count=READ_COUNT,
                                             block=BLOCK_MS)
                failures = 0
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                failures += 1
                log.warning("hub reader for %s: %s; retrying", reader.hall, exc)
                await asyncio.sleep(min(2.0, 0.1 * failures))
                continue
            except Exception:  # never let the hall's only reader die: its sockets rely on it
                failures += 1
                log.exception("hub reader for %s failed; retrying", reader.hall)
                await asyncio.sleep(min(2.0, 0.1 * failures))
                continue
            if not raw:
                continue
            entries = raw[0][1]
            reader.last_id = as_str(entries[-1][0])
            events = decode_entries(entries)
            waiting = None
            if any(e.type.value.startswith("ticket.") for e in events):
                waiting = await self._waiting(reader.hall)
            self.fan_out(reader, events, waiting)

    async def _waiting(self, hall: str) -> dict[str, int] | None:
        """The waiting count of each queue of a hall, now."""
        cfg = self.halls.get(hall)
        if cfg is None:
            return None
        try:
            return await waiting_counts(self.redis, cfg)
        except (RedisError, OSError):
            return None

    def fan_out(self, reader: HallReader, events: list[Event],
                waiting: dict[str, int] | None = None) -> None:
        """Offer each event to every subscriber, synchronously; drop those that are full.

        ``waiting`` (the queues' counts after the batch) rides on the batch's last ticket event.
        """
        last_ticket = next((e for e in reversed(events) if e.type.value.startswith("ticket.")),
                           None)
        for event in events:
            key = parse_id(event.id)
            if key is None:
                continue
            extra = waiting if event is last_ticket else None
            self._offer_all(reader, Delivery(event, key, waiting=extra))
            reader.last_event_at = event.at
        if events:
            reader.last_read_at = self.clock()

    def _offer_all(self, reader: HallReader, delivery: Delivery) -> None:
        for sub in list(reader.subscribers):
            try:
                before = sub.frames_sent
                ok = sub.offer(delivery)
                self.frames_sent += sub.frames_sent - before
            except Exception:  # one socket's view must not stop the hall's fan-out
                log.exception("dropping a client of hall %s: its view failed", reader.hall)
                sub.close_code, sub.close_reason = 1011, "server error"
                sub.dropped.set()
                reader.subscribers.discard(sub)
                continue
            if ok:
                self.delivered += 1
            else:
                reader.subscribers.discard(sub)
                self.dropped_slow += 1
                log.warning("dropping a slow client of hall %s", reader.hall)
        self.frames_encoded += len(delivery.frames)

    # ---- catch-up -----------------------------------------------------------------

    async def events_after(self, hall: str, after: str, limit: int) -> list[Event] | None:
        """Events with id > ``after``, oldest first; None if more than ``limit`` or trimmed."""
        stream = HallKeys(hall).events
        raw: Any = await self.redis.xrange(stream, min=f"({after}", max="+", count=limit + 1)
        if len(raw) > limit:
            return None
        if after != "0-0":
            first = await self.redis.xrange(stream, count=1)
            if first and (parse_id(as_str(first[0][0])) or (0, 0)) > (parse_id(after) or (0, 0)):
                return None  # the stream was trimmed past the client's position
        return decode_entries(raw)

    async def last_id(self, hall: str) -> str:
        last = await self.redis.xrevrange(HallKeys(hall).events, count=1)
        return as_str(last[0][0]) if last else "0-0"

    # ---- life cycle ---------------------------------------------------------------

    async def stop(self) -> None:
        self._closing = True
        for reader in self.readers.values():
            for sub in reader.subscribers:
                sub.close_code = 1001
                sub.close_reason = "server going away; reconnect with last_id"
                sub.dropped.set()
            if reader.task is not None:
                reader.task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reader.task


HUB: Key[Hub] = Key("displays.hub")
