"""The event hub: the streams of the watched halls, fanned out to a bounded queue per socket.

A process reads only the halls somebody watches: a hall joins a *batch* when its first
socket subscribes and leaves it when its last one goes. A batch is ONE task doing one
``XREAD BLOCK`` over up to ``BATCH_SIZE`` halls' ``hall:{<hall>}:events`` streams on one
connection, plus a wake stream of its own (``hub:wake:<process>:<n>``) that a subscribe
writes to so the blocked read starts again with the new hall in it. On a Redis Cluster a
command keeps to one slot, so there each watched hall has a batch of its own (no wake
stream: its hall is in it from the start). 20,000 halls and nobody watching: no task,
no connection. Every event read
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
that gets the same text; a socket whose view every socket of its kind has (public boards)
finds it by the view's name, one look-up per socket. A direct socket with more than
``WRITE_BUFFER_LIMIT`` bytes not yet taken by the kernel is the slow client of the direct
path: dropped with the same 4408. Other servers (the test client, wsproto) keep the
mailbox and a send per socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
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
BATCH_SIZE = 100  # watched halls per multi-stream read: a read costs ~12 µs of
# client CPU per stream to send and is sent again after every event of its halls
WAKE_TTL = 3600  # seconds a batch's wake stream lives after its last wake
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
    shared: dict[str, bytes | None] = field(default_factory=dict)  # frame by shared view

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

    def shared_frame(self, name: str, view: Callable[[Delivery], str | None]) -> bytes | None:
        """The frame of the view ``name`` that every socket of that kind shares (None: not
        for them): one dictionary look-up per socket after the first."""
        try:
            return self.shared[name]
        except KeyError:
            text = view(self)
            frame = self.shared[name] = None if text is None else self.frame(text)
            return frame


class DirectSocket:
    """A server websocket the hub writes shared frames to itself (websockets' broadcast)."""

    __slots__ = ("conn", "transport")

    def __init__(self, transport: asyncio.WriteTransport,
                 conn: Protocol | WebSocketCommonProtocol) -> None:
        self.transport = transport
        self.conn = conn  # its state says whether a frame may still be sent

    def is_open(self) -> bool:
        return self.conn.state is State.OPEN and not self.transport.is_closing()

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
                return DirectSocket(transport, legacy)
            conn = getattr(owner, "conn", None)
            if isinstance(conn, Protocol):
                if conn.side is not Side.SERVER or conn.extensions or transport is None:
                    return None
                return DirectSocket(transport, conn)
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
    shared: str | None = None  # the name of its view when every socket of its kind has it
    sent: tuple[int, int] = (0, 0)
    frames_sent: int = 0  # frames the hub wrote to this socket (direct only)

    def go_direct(self, direct: DirectSocket, view: Callable[[Delivery], str | None],
                  sent: tuple[int, int], shared: str | None = None) -> None:
        """From now on the hub writes this socket's frames; call only with an empty mailbox.
        ``shared`` names ``view`` when it is the same for every socket of its kind."""
        self.direct, self.view, self.sent, self.shared = direct, view, sent, shared

    def offer(self, delivery: Delivery) -> bool:
        """Hand over one event (mailbox, or written when direct); False: too slow, dropped."""
        direct, view = self.direct, self.view
        if direct is not None and view is not None:
            if delivery.key <= self.sent:
                return True
            self.sent = delivery.key
            if self.shared is not None:
                frame = delivery.shared_frame(self.shared, view)
            else:
                text = view(delivery)
                frame = None if text is None else delivery.frame(text)
            if frame is None:
                return True
            if direct.write(frame, WRITE_BUFFER_LIMIT):
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
    batch: ReadBatch | None = None
    subscribers: set[Subscriber] = field(default_factory=set)
    last_event_at: float | None = None  # the writer's time of the latest event read
    last_read_at: float | None = None  # our time when we read it


@dataclass(eq=False)
class ReadBatch:
    """One reader task for many watched halls: one multi-stream ``XREAD`` on one connection."""

    wake: str | None  # its wake stream; None on a cluster (one hall, no new ones)
    halls: dict[str, HallReader] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None
    wake_id: str = "0-0"


class Hub:
    """Per-process fan-out of the watched halls' event streams to their sockets."""

    def __init__(self, redis: Redis, halls: dict[str, HallConfig], queue_size: int = 512,
                 clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.halls = halls
        self.queue_size = queue_size
        self.clock = clock
        self.readers: dict[str, HallReader] = {}
        self.batches: list[ReadBatch] = []
        self.dropped_slow = 0
        self.delivered = 0
        self.frames_encoded = 0  # frames built by the hub for direct sockets
        self.frames_sent = 0  # frames the hub wrote to direct sockets
        self._lock = asyncio.Lock()
        self._closing = False
        self._token = secrets.token_hex(6)
        self._made = 0
        self._cluster = isinstance(redis, RedisCluster)

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
        """Every batch's reader is running (the app's ``hub`` ready check)."""
        return all(b.task is None or not b.task.done() for b in self.batches)

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
            "readers": len(self.batches),
            "halls": {h: {"clients": len(r.subscribers), "last_id": r.last_id}
                      for h, r in self.readers.items()},
        }

    # ---- subscribing --------------------------------------------------------------

    async def subscribe(self, hall: str) -> Subscriber:
        """Register a mailbox; the hall is read from a known position on return."""
        sub = Subscriber(hall, asyncio.Queue(maxsize=self.queue_size))
        await self._watch(hall, sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        """The hall's batch forgets it at its next read once nobody watches it."""
        reader = self.readers.get(sub.hall)
        if reader is not None:
            reader.subscribers.discard(sub)

    async def _watch(self, hall: str, sub: Subscriber) -> None:
        async with self._lock:
            reader = self.readers.get(hall)
            if reader is None or reader.batch is None or reader.batch.task is None \
                    or reader.batch.task.done():
                start = await self.last_id(hall)
                if reader is None:
                    reader = HallReader(hall, start)
                    self.readers[hall] = reader
                else:
                    reader.last_id = start
                reader.subscribers.add(sub)  # before the batch can look: it keeps the hall
                await self._place(reader)
            else:
                reader.subscribers.add(sub)  # no await since the batch read it: nothing missed

    async def _place(self, reader: HallReader) -> None:
        """Put a newly watched hall in a batch with room (waking it), or in a new one."""
        self.batches = [b for b in self.batches if b.task is None or not b.task.done()]
        batch = next((b for b in self.batches
                      if b.wake is not None and len(b.halls) < BATCH_SIZE), None)
        if batch is None:
            self._made += 1
            wake = None if self._cluster else f"hub:wake:{self._token}:{self._made}"
            batch = ReadBatch(wake)
            batch.halls[reader.hall] = reader
            reader.batch = batch
            batch.task = asyncio.create_task(self._run(batch), name=f"hub-reader-{self._made}")
            self.batches.append(batch)
            return
        batch.halls[reader.hall] = reader
        reader.batch = batch
        assert batch.wake is not None
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xadd(batch.wake, {"w": "1"}, maxlen=10, approximate=True)
            pipe.expire(batch.wake, WAKE_TTL)
            await pipe.execute()

    # ---- the reader loop ----------------------------------------------------------

    def _watched(self, batch: ReadBatch) -> dict[str, HallReader]:
        """The batch's halls somebody still watches (by stream key); it forgets the others."""
        for hall in [h for h, r in batch.halls.items() if not r.subscribers]:
            reader = batch.halls.pop(hall)
            if self.readers.get(hall) is reader:
                del self.readers[hall]
        return {HallKeys(h).events: r for h, r in batch.halls.items()}

    async def _run(self, batch: ReadBatch) -> None:
        failures = 0
        while not self._closing:
            readers = self._watched(batch)
            if not readers:  # nobody watches: the next subscribe makes a new batch
                batch.wake = None
                self.batches = [b for b in self.batches if b is not batch]
                return
            streams: dict[Any, Any] = {key: r.last_id for key, r in readers.items()}
            if batch.wake is not None:
                streams[batch.wake] = batch.wake_id
            try:
                raw: Any = await self.redis.xread(streams, count=READ_COUNT, block=BLOCK_MS)
                failures = 0
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                failures += 1
                log.warning("hub reader of %d halls: %s; retrying", len(readers), exc)
                await asyncio.sleep(min(2.0, 0.1 * failures))
                continue
            except Exception:  # never let a batch's reader die: its sockets rely on it
                failures += 1
                log.exception("hub reader of %d halls failed; retrying", len(readers))
                await asyncio.sleep(min(2.0, 0.1 * failures))
                continue
            for key, entries in raw or []:
                name = as_str(key)
                if name == batch.wake:
                    batch.wake_id = as_str(entries[-1][0])
                    continue
                reader = readers.get(name)
                if reader is None or not entries:
                    continue
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
        tasks = [b.task for b in self.batches if b.task is not None]
        for task in tasks:
            task.cancel()
        if tasks:  # a task cancelled inside a redis.asyncio command can stay stuck: bounded
            await asyncio.wait(tasks, timeout=1.0)
        wakes = [b.wake for b in self.batches if b.wake is not None]
        if wakes:
            with contextlib.suppress(RedisError, OSError):
                await self.redis.delete(*wakes)


HUB: Key[Hub] = Key("displays.hub")
