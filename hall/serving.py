"""Run the app under uvicorn with a graceful, draining shutdown.

The process listens on TCP (``host:port``, shared by several processes with
``--reuse-port``) and, with ``--uds PATH``, on a Unix socket too: a proxy on the same
host reaches it there for a third of loopback TCP's CPU per websocket frame (the
sender's ``send`` does not run the receiver's TCP path; benchmarks/bench_ws.py).

On SIGTERM/SIGINT the process (1) stops taking new connections without dropping the ones
the kernel already queued (``stop_accepting``), (2) runs the app's
drain hooks (``hall.health``): ``/readyz`` turns 503 and the hub closes its
websockets with 1001 "going away", so boards reconnect through the proxy to another
process, then (3) lets uvicorn finish in-flight requests (up to ``GRACE_SECONDS``)
and runs the lifespan shutdown (components stop, Redis closes).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import gc
import os
import socket
import stat
import struct
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from hall import health

GRACE_SECONDS = 10
SOCKET_CLOSE_WAIT = 3.0  # time for the 1001 close handshakes before uvicorn's own 1012
ACCEPT_QUEUE_WAIT = 0.2  # time for the event loop to accept what the kernel had queued
# The collector's thresholds once start-up is frozen (Python's are 700, 10, 10). What a
# province's process keeps after start-up (2,000 boards' sockets, hub and tide state) is
# walked by every full collection: at 700 a young pass promoted the objects of requests
# and of pipelines over thousands of halls still in flight, and a full pass came every few
# seconds, holding the loop 70-230 ms of CPU (benchmarks/bench_province.py, RESULTS.md).
# A young pass every 20,000 allocations (about a millisecond) lets them die young, and a
# full pass waits for 100 middle ones.
GC_THRESHOLDS = (20_000, 10, 100)

_SO_ATTACH_FILTER = 26  # Linux, <asm-generic/socket.h>
_DROP_EVERY_PACKET = (ctypes.c_ubyte * 8)(*struct.pack("=HBBI", 0x06, 0, 0, 0))  # BPF "ret #0"


def refuse_new_handshakes(listener: socket.socket) -> bool:
    """Make a listening socket drop new connection attempts while it keeps the ones the
    kernel has already completed and queued for ``accept``.

    Closing a listener resets every connection still in its accept queue: a proxy that had
    already sent a POST on one answers 502 and rightly does not retry it. Dropped
    handshakes instead are retried by the client's kernel and, once the listener is closed,
    refused, which a proxy retries on the next app process (nothing was sent). Linux only;
    elsewhere (and for a non-TCP socket) returns False and the caller just closes.
    """
    if not sys.platform.startswith("linux") or listener.family not in (socket.AF_INET,
                                                                         socket.AF_INET6):
        return False
    program = struct.pack("@HL", 1, ctypes.addressof(_DROP_EVERY_PACKET))  # struct sock_fprog
    listener.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, program)
    return True


def stop_accepting(listener: socket.socket) -> bool:
    """Keep new connections from reaching ``listener``, keeping those already queued; True
    when the caller should let the loop accept the queued ones before closing it.

    TCP: new handshakes are dropped (``refuse_new_handshakes``). A Unix socket loses its
    file: a proxy's ``connect`` then fails at once (no such file) and goes to the next
    process, while the connections already queued stay to be accepted.
    """
    if listener.family == socket.AF_UNIX:
        path = listener.getsockname()
        if not isinstance(path, str) or not path:
            return False
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return True
    return refuse_new_handshakes(listener)


def unix_listener(path: str) -> socket.socket:
    """A stream socket bound at ``path`` for a proxy on the same host (``hall serve --uds``).

    A socket file left by a process that died is replaced; one a live process listens on
    is not (``OSError``), nor is any other file. The file is mode 0666, as uvicorn's own
    ``--uds`` makes it: the folder it is in decides who can connect.
    """
    if os.path.lexists(path):
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            raise OSError(errno.EEXIST, f"{path} exists and is not a socket")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(path)
            except (ConnectionRefusedError, FileNotFoundError):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)  # stale: nobody listens on it
            else:
                raise OSError(errno.EADDRINUSE, f"another process listens on {path}")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        os.chmod(path, 0o666)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


UNIX_PEER = "unix"  # the client address of a connection through the Unix socket


class TrustUnixPeer:
    """uvicorn's X-Forwarded-For handling, also trusting connections through the Unix socket.

    A Unix-socket connection has no client address, so uvicorn would trust no header on it
    and every citizen would share one address (one login throttle for all). Only what can
    reach the socket's folder (the proxy) connects there: its header is believed, as the
    proxy's is over TCP when its address is in FORWARDED_ALLOW_IPS.
    """

    def __init__(self, app: Starlette, trusted: list[str] | str) -> None:
        hosts = [h.strip() for h in trusted.split(",")] if isinstance(trusted, str) else trusted
        self.app = ProxyHeadersMiddleware(app, trusted_hosts=[*hosts, UNIX_PEER])  # type: ignore[arg-type]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan" and scope.get("client") is None:
            scope["client"] = (UNIX_PEER, 0)
        await self.app(scope, receive, send)  # type: ignore[arg-type]


def _is_websocket(connection: object) -> bool:
    return type(connection).__module__.startswith("uvicorn.protocols.websockets")


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: Starlette) -> None:
        super().__init__(config)
        self.hall_app = app

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        # What start-up made (modules, hall configs, routes, templates) lives as long as the
        # process. Frozen, it is left out of the collector's full passes, which otherwise
        # stall every request for tens of milliseconds now and then (the p99 of a busy hall).
        gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if any([stop_accepting(s) for server in self.servers for s in server.sockets]):
            await asyncio.sleep(ACCEPT_QUEUE_WAIT)  # the loop accepts what was queued
        for server in self.servers:
            server.close()  # no new connections while the sockets drain
        await health.drain(self.hall_app)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SOCKET_CLOSE_WAIT
        while (any(_is_websocket(c) for c in self.server_state.connections)
               and loop.time() < deadline):
            await asyncio.sleep(0.05)
        await super().shutdown(sockets)


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A listening address shared with the other processes that bind it the same way
    (``SO_REUSEPORT``): the kernel spreads new connections over them."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


class CoalescingTransport:
    """A transport whose HTTP response head leaves with the first body bytes.

    uvicorn writes a response's status line and headers, then its body, in two
    ``transport.write`` calls: two ``send`` syscalls and two TCP segments per response,
    which was a sixth of an issue's CPU (benchmarks/bench_throughput.py). A head (a
    write starting ``HTTP/`` and ending with the blank line) is held until the next write
    or, if none comes in this turn of the event loop (a streamed body, a 101 upgrade),
    written alone at the end of the turn. Everything else is delegated untouched.
    """

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._head: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._head is not None:
            head, self._head = self._head, None
            self._transport.write(head + bytes(data))
        elif data[:5] == b"HTTP/" and data[-4:] == b"\r\n\r\n":
            self._head = bytes(data)
            asyncio.get_running_loop().call_soon(self._flush)
        else:
            self._transport.write(data)

    def _flush(self) -> None:
        if self._head is not None:
            head, self._head = self._head, None
            if not self._transport.is_closing():
                self._transport.write(head)

    def writelines(self, lines: list[bytes]) -> None:
        self.write(b"".join(lines))

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> object:
        return getattr(self._transport, name)


class CoalescingHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol on a ``CoalescingTransport``; a websocket gets the
    connection's own transport (its frames are no HTTP heads, and the hub writes every
    event to thousands of them: no wrapper call per frame)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport))  # type: ignore[arg-type]

    def handle_websocket_upgrade(self) -> None:
        wrapper = self.transport
        if isinstance(wrapper, CoalescingTransport):
            wrapper._flush()
            self.transport = wrapper._transport
        super().handle_websocket_upgrade()


def serve(app: Starlette, host: str, port: int, log_level: str, json_logs: bool,
          reuse_port: bool = False, uds: str | None = None) -> None:
    """Serve until a signal. uvicorn logs through our root handler in both formats (its
    own log config would bypass the ``hall.logs.Redact`` filter and print tokens); the
    access line is uvicorn's in text logs and ``RequestLog``'s in JSON logs.

    X-Forwarded-For is trusted from the addresses in FORWARDED_ALLOW_IPS (uvicorn's
    variable; default 127.0.0.1), i.e. from the proxy, and on the Unix socket (``uds``).
    """
    options: dict[str, object] = {"log_config": None, "access_log": not json_logs}
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level,
                            timeout_graceful_shutdown=GRACE_SECONDS, proxy_headers=True,
                            # hall screens sit on the LAN: per-socket deflate costs ~60% more
                            # CPU per fan-out (benchmarks/bench_ws.py); frames are tiny
                            ws_per_message_deflate=False, ws_max_size=64 * 1024,
                            http=CoalescingHttpProtocol, **options)  # type: ignore[arg-type]
    sockets: list[socket.socket] | None = None
    if reuse_port or uds:
        sockets = [reuse_port_socket(host, port) if reuse_port else config.bind_socket()]
    if uds:
        assert sockets is not None
        sockets.append(unix_listener(uds))
        config.proxy_headers = False  # TrustUnixPeer does it, for both listeners
        config.app = TrustUnixPeer(app, config.forwarded_allow_ips)
    DrainingServer(config, app).run(sockets=sockets)
