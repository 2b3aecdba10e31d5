"""Run the app under uvicorn with a graceful, draining shutdown.

On SIGTERM/SIGINT the process (1) stops accepting connections, (2) runs the app's
drain hooks (``hall.health``): ``/readyz`` turns 503 and the hub closes its
websockets with 1001 "going away", so boards reconnect through the proxy to another
process, then (3) lets uvicorn finish in-flight requests (up to ``GRACE_SECONDS``)
and runs the lifespan shutdown (components stop, Redis closes).
"""

from __future__ import annotations

import asyncio
import gc
import socket

import uvicorn
from starlette.applications import Starlette

from hall import health

GRACE_SECONDS = 10
SOCKET_CLOSE_WAIT = 3.0  # time for the 1001 close handshakes before uvicorn's own 1012


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

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()  # no new connections while the sockets drain
        await health.drain(self.hall_app)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SOCKET_CLOSE_WAIT
        while (any(_is_websocket(c) for c in self.server_state.connections)
               and loop.time() < deadline):
            await asyncio.sleep(0.05)
        await super().shutdown(sockets)


def serve(app: Starlette, host: str, port: int, log_level: str, json_logs: bool) -> None:
    """Serve until a signal. uvicorn logs through our root handler in both formats (its
    own log config would bypass the ``hall.logs.Redact`` filter and print tokens); the
    access line is uvicorn's in text logs and ``RequestLog``'s in JSON logs.

    X-Forwarded-For is trusted from the addresses in FORWARDED_ALLOW_IPS (uvicorn's
    variable; default 127.0.0.1), i.e. from the proxy.
    """
    options: dict[str, object] = {"log_config": None, "access_log": not json_logs}
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level,
                            timeout_graceful_shutdown=GRACE_SECONDS, proxy_headers=True,
                            # hall screens sit on the LAN: per-socket deflate costs ~60% more
                            # CPU per fan-out (benchmarks/bench_ws.py); frames are tiny
                            ws_per_message_deflate=False, ws_max_size=64 * 1024,
                            **options)  # type: ignore[arg-type]
    DrainingServer(config, app).run()
