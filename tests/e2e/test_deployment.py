"""compose.yaml started as local processes: redis, two apps, a worker, nginx in front.

A journey through the proxy (issue, call, a board on each app process sees the call and
gets its audio); one app killed under load (boards reconnect through the proxy, no call
missed, no request lost beyond those in flight); one app stopped gently (sockets closed
with 1001 "going away", no request lost at all).
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests.e2e.boards import Board
from tests.e2e.deployment import PASSWORD, Deployment, wait_until
from tests.e2e.test_health_metrics import metric
from tests.support import ROOT

HALL = "district"


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    d = Deployment(tmp_path).start()
    try:
        yield d
    finally:
        d.stop()


def boards_on_every_app(d: Deployment, at_least: int = 2) -> list[Board]:
    """Open boards through the proxy until every app process serves at least one."""
    boards: list[Board] = []
    for _ in range(12):
        board = Board(d.ws_url)
        board.start()
        assert board.ready.wait(10), "board got no snapshot"
        boards.append(board)
        counts = [metric(httpx.get(f"{p.url}/metrics").text, "hall_websocket_clients",
                         hall=HALL) for p in d.app_procs]
        if len(boards) >= at_least and all(c >= 1 for c in counts):
            return boards
    raise AssertionError(f"nginx never spread boards over the apps: {counts}")


def stream_calls(d: Deployment) -> list[str]:
    client = redis.Redis(port=d.redis_port, password=PASSWORD)
    entries = client.xrange(f"hall:{{{HALL}}}:events")
    return [json.loads(f[b"data"])["ticket"]["number"] for _, f in entries
            if f[b"type"] == b"ticket.called"]


def test_journey_through_the_proxy(deployment: Deployment):
    d = deployment
    links, kiosk_token = d.credentials()
    boards = boards_on_every_app(d)
    kiosk = {"Authorization": f"Bearer {kiosk_token}"}
    issued = httpx.post(f"{d.url}/api/halls/{HALL}/tickets", json={"matter": "QY-KB"},
                        headers=kiosk)
    assert issued.status_code == 201, issued.text
    number = issued.json()["number"]
    clerk = d.login(f"{HALL}-S01", links)
    assert httpx.post(f"{d.url}/api/halls/{HALL}/windows/1/login",
                      headers=clerk).status_code == 200
    called = httpx.post(f"{d.url}/api/halls/{HALL}/windows/1/call-next", headers=clerk)
    assert called.json()["ticket"]["number"] == number
    for board in boards:
        wait_until(lambda b=board: number in b.calls, 10, "the call on every board")
    # the worker synthesised the announcement; every board got its audio, via nginx
    for board in boards:
        wait_until(lambda b=board: number in b.audio, 60, "the announcement on every board")
    audio = httpx.get(f"{d.url}{boards[0].audio[number]}")
    assert audio.status_code == 200 and audio.content[:4] == b"RIFF"
    # static files come from nginx itself (its `expires` header), the rest from the apps
    static = httpx.get(f"{d.url}/static/hall.css")
    assert static.status_code == 200 and "max-age=3600" in static.headers["cache-control"]
    assert static.content == (ROOT / "displays" / "static" / "hall.css").read_bytes()
    assert httpx.get(f"{d.url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{d.url}/metrics").status_code == 404  # scraped per process only
    # counted once, by the process that committed it
    pages = [httpx.get(f"{p.url}/metrics").text for p in d.app_procs]
    assert sum(metric(p, "hall_tickets_issued_total", hall=HALL, queue="A") for p in pages) == 1
    assert sum(metric(p, "hall_tickets_called_total", hall=HALL, queue="A") for p in pages) == 1
    # structured logs: one JSON object a line, the issue line names hall and ticket
    lines = [json.loads(line) for p in d.app_procs
             for line in p.log.read_text().splitlines() if line.startswith("{")]
    assert any(x.get("event") == "ticket.issued" and x.get("hall") == HALL
               and x.get("ticket") == number for x in lines), lines[-5:]
    assert any(x.get("logger") == "hall.access" and x.get("status") == 201 for x in lines)
    for board in boards:
        board.stop()


class Load:
    """Kiosks issuing and clerks calling through the proxy, recording every outcome."""

    def __init__(self, d: Deployment, kiosk: dict[str, str], clerks: dict[int, dict[str, str]]
                 ) -> None:
        self.d = d
        self.kiosk = kiosk
        self.clerks = clerks
        self.halt = threading.Event()
        self.acknowledged: list[str] = []  # ticket numbers the kiosk was given
        self.failures: list[str] = []
        self.threads = [threading.Thread(target=self._issue, daemon=True) for _ in range(2)]
        self.threads += [threading.Thread(target=self._clerk, args=(w,), daemon=True)
                         for w in clerks]

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.halt.set()
        for t in self.threads:
            t.join(timeout=10)

    def wait_for_more(self, count: int, what: str, timeout: float = 30.0) -> None:
        """Until ``count`` more tickets were acknowledged (the load is really flowing)."""
        target = len(self.acknowledged) + count
        wait_until(lambda: len(self.acknowledged) >= target, timeout, what)

    def _post(self, client: httpx.Client, path: str, **kw: object) -> httpx.Response | None:
        try:
            r = client.post(f"{self.d.url}{path}", **kw)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            self.failures.append(f"{path}: {exc!r}")
            return None
        if r.status_code >= 500:
            self.failures.append(f"{path}: {r.status_code} {r.text[:100]}")
        return r

    def _issue(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self.halt.is_set():
                r = self._post(client, f"/api/halls/{HALL}/tickets", json={"matter": "QY-KB"},
                               headers=self.kiosk)
                if r is not None and r.status_code == 201:
                    self.acknowledged.append(r.json()["number"])
                time.sleep(0.02)

    def _clerk(self, window: int) -> None:
        base = f"/api/halls/{HALL}/windows/{window}"
        headers = self.clerks[window]
        with httpx.Client(timeout=10) as client:
            while not self.halt.is_set():
                r = self._post(client, f"{base}/call-next", headers=headers)
                if r is not None and r.status_code == 200 and r.json().get("ticket"):
                    self._post(client, f"{base}/start", headers=headers)
                    self._post(client, f"{base}/finish", headers=headers)
                else:
                    time.sleep(0.05)


def _staff(d: Deployment) -> tuple[dict[str, str], dict[int, dict[str, str]]]:
    links, kiosk_token = d.credentials()
    clerks = {}
    for window, staff in ((1, "S01"), (2, "S02")):
        headers = d.login(f"{HALL}-{staff}", links)
        r = httpx.post(f"{d.url}/api/halls/{HALL}/windows/{window}/login", headers=headers)
        assert r.status_code == 200, r.text
        clerks[window] = headers
    return {"Authorization": f"Bearer {kiosk_token}"}, clerks


def _check_no_call_missed(d: Deployment, boards: list[Board]) -> list[str]:
    expected = stream_calls(d)
    assert expected, "the load made calls"
    for board in boards:
        wait_until(lambda b=board: set(expected) <= set(b.calls), 15,
                   f"board caught up ({len(set(expected) - set(board.calls))} missing)")
    return expected


def test_kill_one_app_under_load(deployment: Deployment):
    d = deployment
    kiosk, clerks = _staff(d)
    boards = boards_on_every_app(d, at_least=4)
    victim = d.app_procs[0]
    with Load(d, kiosk, clerks) as load:
        load.wait_for_more(20, "the load got going")
        victim.signal(signal.SIGKILL)
        load.wait_for_more(40, "tickets kept coming through the other app")
    expected = _check_no_call_missed(d, boards)
    assert any(b.connects > 1 for b in boards), "the killed app's boards reconnected"
    # at most one request per load thread was in flight when the process died
    assert len(load.failures) <= len(load.threads), load.failures
    client = redis.Redis(port=d.redis_port, password=PASSWORD)
    numbers = client.hkeys(f"hall:{{{HALL}}}:day:" + _today(client) + ":numbers")
    assert set(load.acknowledged) <= {n.decode() for n in numbers}
    assert len(expected) == len(set(expected)), "no ticket called twice"
    for board in boards:
        board.stop()


def test_gentle_stop_drains(deployment: Deployment):
    _gentle_stop(deployment)


def test_boards_through_unix_sockets_and_a_gentle_stop(tmp_path: Path):
    """``hall serve --uds``: nginx reaches each app on its Unix socket only. Boards on both
    apps get every call, the apps see the citizen's address (nginx's X-Forwarded-For is
    trusted on the socket), and a process stopped gently loses no request: its socket file
    goes first, so nginx sends new connections to the other."""
    # a host's own processes, not compose's containers: uvicorn's default trust (loopback)
    d = Deployment(tmp_path, unix_sockets=True,
                   extra_env={"FORWARDED_ALLOW_IPS": "127.0.0.1"}).start()
    try:
        conf = (tmp_path / "nginx.conf").read_text()
        upstreams = re.findall(r"^\s*server (\S+) max_fails", conf, flags=re.M)
        assert upstreams == [f"unix:{d.socket_path(n)}" for n in (1, 2)], upstreams
        _gentle_stop(d)
        assert not d.socket_path(2).exists(), "the stopped app's socket file is gone"
        lines = [json.loads(line) for line in d.app_procs[0].log.read_text().splitlines()
                 if line.startswith("{")]
        clients = {x.get("client") for x in lines if x.get("logger") == "hall.access"
                   and x.get("path", "").startswith("/api/halls/")}  # all through nginx
        assert clients == {"127.0.0.1"}, clients
    finally:
        d.stop()


def _gentle_stop(d: Deployment) -> None:
    kiosk, clerks = _staff(d)
    boards = boards_on_every_app(d, at_least=4)
    leaving = d.app_procs[1]
    with Load(d, kiosk, clerks) as load:
        load.wait_for_more(20, "the load got going")
        leaving.signal(signal.SIGTERM)
        assert leaving.process is not None
        try:
            leaving.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            raise AssertionError("no exit 30 s after SIGTERM: "
                                 + leaving.log.read_text()[-3000:]) from None
        load.wait_for_more(20, "tickets kept coming after the drain")
    _check_no_call_missed(d, boards)
    assert 1001 in [code for b in boards for code in b.closes], [b.closes for b in boards]
    assert load.failures == []
    log = leaving.log.read_text()
    assert "draining" in log
    for board in boards:
        board.stop()


def _today(client: redis.Redis) -> str:
    keys = client.keys(f"hall:{{{HALL}}}:day:*:numbers")
    assert len(keys) == 1
    return keys[0].decode().split(":day:")[1].split(":")[0]
