"""A lean HTTP/1.1 keep-alive client on uvloop, so the load generator is not the bottleneck.

httpx costs more CPU per request than the server under test on this 2-core machine;
this client writes a prepared request and reads a Content-Length response, nothing more.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any


class HttpError(Exception):
    pass


class Connection:
    """One keep-alive connection; requests on it are sequential."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> Connection:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()

    async def request(self, method: str, path: str, body: Any = None,
                      token: str | None = None) -> tuple[int, Any]:
        """Send one request; return (status, decoded JSON body)."""
        assert self.reader is not None and self.writer is not None
        payload = b"" if body is None else json.dumps(body).encode()
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n"
        if token:
            head += f"Authorization: Bearer {token}\r\n"
        if body is not None:
            head += "Content-Type: application/json\r\n"
        head += f"Content-Length: {len(payload)}\r\n\r\n"
        self.writer.write(head.encode() + payload)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        status = int(raw[9:12])
        length = 0
        for line in raw.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
            elif name.lower() == b"transfer-encoding":
                raise HttpError("chunked responses are not supported")
        data = await self.reader.readexactly(length) if length else b""
        return status, json.loads(data) if data else None


@dataclass
class Timings:
    """Latencies (seconds) of one kind of request, and the wall time they were spread over."""

    latencies: list[float] = field(default_factory=list)
    errors: dict[int, int] = field(default_factory=dict)
    started: float = 0.0
    ended: float = 0.0

    def add(self, seconds: float) -> None:
        self.latencies.append(seconds)

    def error(self, status: int) -> None:
        self.errors[status] = self.errors.get(status, 0) + 1

    @property
    def rate(self) -> float:
        span = self.ended - self.started
        return len(self.latencies) / span if span > 0 else 0.0

    def pct(self, p: float) -> float:
        """The p-th percentile in milliseconds (nearest rank)."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
        return ordered[index] * 1000

    def summary(self) -> dict[str, Any]:
        return {"count": len(self.latencies), "per_s": round(self.rate, 1),
                "p50_ms": round(self.pct(50), 2), "p90_ms": round(self.pct(90), 2),
                "p99_ms": round(self.pct(99), 2), "max_ms": round(self.pct(100), 2),
                "errors": dict(self.errors)}


def now() -> float:
    return time.perf_counter()
