"""Websocket endpoints: a snapshot or a replay, then live events, for screens, citizens and pads.

    /ws/halls/{hall}                 public screens (board, window display, kiosk, clerk)
    /ws/halls/{hall}/tickets/{id}    one citizen's ticket (its unguessable id is the key)
    /ws/halls/{hall}/pads/{window}   the rating pad of one window (?device=<pad token>)

Every socket takes ``?last_id=<stream id>``: with it the server replays the events after
that id (XRANGE) and goes live with no gap and no duplicate; without it (or when the id is
too old) it sends a ``hub.snapshot`` first. Messages are JSON: stream events
``{id, type, at, data}`` (public ticket events also carry ``waiting``, the queues' counts,
when they changed) and hub messages ``{type: "hub.snapshot" | "hub.waiting" | "pong"}``.
Clients may send ``{"type": "ping"}``; anything else closes the socket with a code below.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from displays import notices, views
from displays.hub import HUB, Delivery, DirectSocket, Hub, Subscriber, parse_id
from displays.hub_views import HubStatus
from hall.auth import Role
from hall.config import HallConfig
from hall.errors import NotFound
from hall.events import Event
from hall.http import api
from hall.services import services
from ticketing.routes import ticket_view
from ticketing.store import STORE, TicketStore

CLOSE_BINARY = 1003  # binary frames are not part of the protocol
CLOSE_TOO_BIG = 1009
CLOSE_BAD_REQUEST = 4400  # garbage frame or bad parameter
CLOSE_FORBIDDEN = 4403
CLOSE_UNKNOWN = 4404  # unknown hall, ticket or window
MAX_FRAME = 4096
REPLAY_LIMIT = 5000


class Refused(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass
class Channel:
    """How one socket sees the hall: its first message and its view of each event."""

    hall: HallConfig
    snapshot: Callable[[], Any]
    view: Callable[[Delivery], str | None]
    waiting: bool = True
    shared: str | None = None  # the name of ``view`` when every such socket of the hall has it


def _hub(ws: WebSocket) -> Hub:
    return services(ws).get(HUB)


def _store(ws: WebSocket) -> TicketStore:
    return services(ws).get(STORE)


def _cfg(ws: WebSocket) -> HallConfig:
    cfg = _store(ws).halls.get(ws.path_params["hall"])
    if cfg is None:
        raise Refused(CLOSE_UNKNOWN, "unknown hall")
    return cfg


async def public_snapshot(store: TicketStore, cfg: HallConfig) -> dict[str, Any]:
    """The hall as a public screen may see it, with the id of the last event it includes."""
    state = await store.public_state(cfg.id)
    state["notices"] = await notices.current(store.redis, cfg)
    return state


def _public_channel(ws: WebSocket, cfg: HallConfig) -> Channel:
    make = views.public_view(cfg)
    return Channel(cfg, lambda: public_snapshot(_store(ws), cfg),
                   lambda d: d.view("public", make), shared="public")


async def _ticket_channel(ws: WebSocket, cfg: HallConfig) -> Channel:
    ticket_id = ws.path_params["ticket"]
    store = _store(ws)
    try:
        await store.ticket(cfg.id, ticket_id)
    except NotFound:
        raise Refused(CLOSE_UNKNOWN, "unknown ticket") from None
    make = views.public_view(cfg)

    async def snapshot() -> dict[str, Any]:
        last = await _hub(ws).last_id(cfg.id)
        ticket = await store.ticket(cfg.id, ticket_id)
        position = await store.position(cfg.id, ticket)
        return {"hall": cfg.id, "last_event_id": last,
                "ticket": ticket_view(ticket, position, staff=False)}

    def view(d: Delivery) -> str | None:
        own = views.citizen_event(cfg, d.event, ticket_id)
        return own if own is not None else d.view("public", make)

    return Channel(cfg, snapshot, view)


async def _pad_channel(ws: WebSocket, cfg: HallConfig) -> Channel:
    raw = ws.path_params["window"]
    if not str(raw).isdigit() or cfg.window(int(raw)) is None:
        raise Refused(CLOSE_UNKNOWN, "unknown window")
    number = int(raw)
    who = await services(ws).auth.resolve(ws.query_params.get("device"), sessions=False)
    if who is None or who.role is not Role.PAD or not who.may_see_hall(cfg.id) \
            or who.window != number:
        raise Refused(CLOSE_FORBIDDEN, "this socket needs the pad device token of the window")
    make = views.public_view(cfg)
    store = _store(ws)

    async def snapshot() -> dict[str, Any]:
        snap = await public_snapshot(store, cfg)
        window = next(w for w in snap["windows"] if w["number"] == number)
        return {"hall": cfg.id, "last_event_id": snap["last_event_id"], "window": window}

    def view(d: Delivery) -> str | None:
        return d.view("public", make) if views.window_of(d.event) == number else None

    return Channel(cfg, snapshot, view, waiting=False)


async def _serve(ws: WebSocket, channel_for: Callable[[WebSocket, HallConfig], Any]) -> None:
    await ws.accept()
    try:
        cfg = _cfg(ws)
        last_id = ws.query_params.get("last_id") or None
        if last_id is not None and parse_id(last_id) is None:
            raise Refused(CLOSE_BAD_REQUEST, "last_id is not a stream id")
        channel = channel_for(ws, cfg)
        if asyncio.iscoroutine(channel):
            channel = await channel
    except Refused as refused:
        await ws.close(refused.code, refused.reason)
        return
    hub = _hub(ws)
    sub = await hub.subscribe(cfg.id)
    try:
        sent = await _start(ws, hub, channel, last_id)
        code, reason = await _live(ws, sub, channel, sent)
    except (WebSocketDisconnect, OSError, RuntimeError):
        return  # the client went away while we were sending
    finally:
        hub.unsubscribe(sub)
    if code is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(code, reason), timeout=1.0)


async def _start(ws: WebSocket, hub: Hub, channel: Channel, last_id: str | None) -> tuple[int, int]:
    """Replay after ``last_id`` or send a snapshot; returns the id of the last event covered."""
    cfg = channel.hall
    replay: list[Event] | None = None
    if last_id is not None:
        current = parse_id(await hub.last_id(cfg.id)) or (0, 0)
        if (parse_id(last_id) or (0, 0)) <= current:
            replay = await hub.events_after(cfg.id, last_id, REPLAY_LIMIT)
    if replay is None:
        snap = await channel.snapshot()
        await ws.send_text(views.dumps({"type": "hub.snapshot", "data": snap}))
        sent = parse_id(snap["last_event_id"]) or (0, 0)
    else:
        sent = parse_id(last_id or "0-0") or (0, 0)
        for event in replay:
            key = parse_id(event.id) or sent
            text = channel.view(Delivery(event, key))
            sent = key
            if text is not None:
                await ws.send_text(text)
        if channel.waiting:
            counts = await _store(ws).waiting_counts(cfg.id)
            await ws.send_text(views.dumps({"type": "hub.waiting", "data": counts}))
    return sent


async def _live(ws: WebSocket, sub: Subscriber, channel: Channel,
                sent: tuple[int, int]) -> tuple[int | None, str]:
    """Pump events and read frames until the client leaves, misbehaves, or is dropped."""
    pump = asyncio.create_task(_pump(ws, sub, channel, sent))
    listen = asyncio.create_task(_listen(ws))
    dropped = asyncio.create_task(sub.dropped.wait())
    done, pending = await asyncio.wait({pump, listen, dropped},
                                       return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    for task in pending:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    if dropped in done:
        return sub.close_code, sub.close_reason
    finished = done.pop()
    exc = finished.exception()
    if isinstance(exc, WebSocketDisconnect):
        raise exc
    if exc is not None:
        if isinstance(exc, Refused):
            return exc.code, exc.reason
        return 1011, "server error"
    result: Any = finished.result()  # only the listener returns: (code, reason)
    return result if isinstance(result, tuple) else (None, "")


async def _pump(ws: WebSocket, sub: Subscriber, channel: Channel, sent: tuple[int, int]) -> None:
    """Send the mailbox's events; once it is empty, hand a direct socket over to the hub."""
    direct = DirectSocket.of(ws._send)  # the server's connection behind Starlette's send
    while True:
        if direct is not None and sub.queue.empty():
            sub.go_direct(direct, channel.view, sent, channel.shared)
            await asyncio.get_running_loop().create_future()  # the hub writes from now on
        delivery: Delivery = await sub.queue.get()
        if delivery.key <= sent:
            continue  # already covered by the snapshot or the replay
        sent = delivery.key
        text = channel.view(delivery)
        if text is not None:
            await ws.send_text(text)


async def _listen(ws: WebSocket) -> tuple[int | None, str]:
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        text = message.get("text")
        if text is None:
            raise Refused(CLOSE_BINARY, "binary frames are not accepted")
        if len(text) > MAX_FRAME:
            raise Refused(CLOSE_TOO_BIG, f"messages are limited to {MAX_FRAME} characters")
        try:
            frame = json.loads(text)
        except ValueError:
            raise Refused(CLOSE_BAD_REQUEST, "frames must be JSON") from None
        if not isinstance(frame, dict) or frame.get("type") != "ping":
            raise Refused(CLOSE_BAD_REQUEST, 'the only accepted frame is {"type": "ping"}')
        await ws.send_text('{"type":"pong"}')


async def hall_socket(ws: WebSocket) -> None:
    await _serve(ws, _public_channel)


async def ticket_socket(ws: WebSocket) -> None:
    await _serve(ws, _ticket_channel)


async def pad_socket(ws: WebSocket) -> None:
    await _serve(ws, _pad_channel)


@api("GET", "/api/hub", "This process's event hub: sockets, lag, slow clients dropped",
     "anyone", tag="halls", response=HubStatus)
async def hub_status(request: Request) -> JSONResponse:
    return JSONResponse(services(request).get(HUB).status())


routes = [
    hub_status,
    WebSocketRoute("/ws/halls/{hall}", hall_socket),
    WebSocketRoute("/ws/halls/{hall}/tickets/{ticket}", ticket_socket),
    WebSocketRoute("/ws/halls/{hall}/pads/{window}", pad_socket),
]
