"""A hall board as a websocket client that reconnects with its last event id, like the page."""

from __future__ import annotations

import json
import threading
import time

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.sync.client import connect


class Board(threading.Thread):
    """Follows /ws/halls/<hall>; records every call it sees and every close code it got."""

    def __init__(self, base_ws_url: str, hall: str = "district") -> None:
        super().__init__(daemon=True)
        self.url = f"{base_ws_url}/ws/halls/{hall}"
        self.last_id: str | None = None
        self.calls: list[str] = []
        self.audio: dict[str, str] = {}  # ticket number -> audio URL of its announcement
        self.closes: list[int | None] = []
        self.connects = 0
        self.ready = threading.Event()
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            url = self.url + (f"?last_id={self.last_id}" if self.last_id else "")
            try:
                with connect(url, open_timeout=5, close_timeout=1) as ws:
                    self.connects += 1
                    while not self.halt.is_set():
                        try:
                            raw = ws.recv(timeout=0.3)
                        except TimeoutError:
                            continue
                        self._take(json.loads(raw))
            except ConnectionClosed as exc:
                self.closes.append(exc.rcvd.code if exc.rcvd else None)
                time.sleep(0.1)
            except (OSError, InvalidHandshake, InvalidStatus):
                time.sleep(0.2)

    def _take(self, message: dict) -> None:  # type: ignore[type-arg]
        kind = message.get("type")
        if kind == "hub.snapshot":
            if self.last_id is None:
                self.last_id = message["data"]["last_event_id"]
            self.ready.set()
        elif "id" in message:
            self.last_id = message["id"]
            if kind == "ticket.called":
                self.calls.append(message["data"]["ticket"]["number"])
            elif kind == "voice.announce":
                self.audio[message["data"]["number"]] = message["data"]["audio"]
        self.ready.set()

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=5)
