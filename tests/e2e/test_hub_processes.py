"""The hub across real ``hall serve`` processes: restarts, two processes on one Redis, and
clients that misbehave (never read) while others keep being served."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
import redis
from playwright.sync_api import expect
from websockets.asyncio.client import connect

from hall.auth import Role
from tests.e2e.live import add_clerk, add_device, browser, clerk_session, next_event, ws_url
from tests.support import AppProcess
from ticketing.keys import HallKeys

RECORD_CALLS = """() => {
  window.__calls = [];
  window.addEventListener('hall:event', (e) => {
    if (e.detail.type === 'ticket.called') window.__calls.push(e.detail.data.ticket.number);
  });
}"""


@pytest.fixture
def two_apps(redis_url: str, tmp_path) -> Iterator[tuple[AppProcess, AppProcess]]:
    a = AppProcess(redis_url, log_path=tmp_path / "a.log").start()
    b = AppProcess(redis_url, log_path=tmp_path / "b.log").start()
    yield a, b
    a.stop()
    b.stop()


def _desk(base_url: str, redis_url: str, tickets: int) -> tuple[httpx.Client, list[str]]:
    """A clerk signed in at window 1 of district, and that many waiting tickets."""
    kiosk = {"Authorization": f"Bearer {add_device(redis_url, Role.KIOSK)}"}
    numbers = []
    for _ in range(tickets):
        r = httpx.post(f"{base_url}/api/halls/district/tickets", json={"matter": "QY-KB"},
                       headers=kiosk)
        assert r.status_code == 201, r.text
        numbers.append(r.json()["number"])
    clerk = clerk_session(base_url, add_clerk(redis_url, "S01"))
    assert clerk.post("/api/halls/district/windows/1/login").status_code == 200
    return clerk, numbers


def _call(clerk: httpx.Client) -> str:
    """Call the next ticket, then release the window (no-show) so it can call again."""
    called = clerk.post("/api/halls/district/windows/1/call-next")
    assert called.status_code == 200, called.text
    assert clerk.post("/api/halls/district/windows/1/no-show").status_code == 200
    number: str = called.json()["ticket"]["number"]
    return number


def test_board_gets_every_call_made_while_its_server_restarted(two_apps, redis_url, tmp_path):
    a, b = two_apps
    clerk, numbers = _desk(b.base_url, redis_url, 6)
    with browser() as br:
        board = br.new_page(viewport={"width": 1920, "height": 1080})
        board.goto(f"{a.base_url}/h/district/board")
        expect(board.locator("body")).to_have_attribute("data-connected", "1")
        board.evaluate(RECORD_CALLS)
        first = _call(clerk)
        expect(board.get_by_test_id("latest-call")).to_have_attribute("data-number", first)

        a.stop()  # the board's server goes away; calls go on through the other process
        expect(board.locator("body")).to_have_attribute("data-connected", "0")
        meanwhile = [_call(clerk) for _ in range(3)]
        restarted = AppProcess(redis_url, port=a.port, log_path=tmp_path / "a2.log").start()
        try:
            expect(board.locator("body")).to_have_attribute("data-connected", "1", timeout=15000)
            last = _call(clerk)
            expect(board.get_by_test_id("latest-call")).to_have_attribute("data-number", last)
            calls = board.evaluate("window.__calls")
            assert calls == [first, *meanwhile, last] == numbers[:5]
            assert board.locator("#calls li").count() == 4  # the earlier calls, newest first
        finally:
            restarted.stop()


async def test_a_call_through_one_process_reaches_a_board_on_the_other(two_apps, redis_url):
    a, b = two_apps
    clerk, numbers = await asyncio.to_thread(_desk, b.base_url, redis_url, 2)
    async with connect(ws_url(a.base_url, "/ws/halls/district")) as board:
        snap = json.loads(await board.recv())
        assert snap["type"] == "hub.snapshot"
        for expected in numbers:
            started = time.monotonic()
            await asyncio.to_thread(_call, clerk)
            event = await next_event(board, 5.0, "ticket.called")
            assert event["data"]["ticket"]["number"] == expected
            assert time.monotonic() - started < 2.0


def _never_reading_socket(port: int) -> socket.socket:
    """A websocket client that completes the handshake and then never reads a byte."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(b"GET /ws/halls/district HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 b"Sec-WebSocket-Version: 13\r\n\r\n")
    return sock


async def test_a_client_that_never_reads_is_dropped_and_others_are_served(redis_url, tmp_path):
    app = await asyncio.to_thread(AppProcess(redis_url, log_path=tmp_path / "app.log").start)
    slow = _never_reading_socket(app.port)
    try:
        async with connect(ws_url(app.base_url, "/ws/halls/district"), max_size=None) as good:
            json.loads(await good.recv())
            status = httpx.get(f"{app.base_url}/api/hub").json()
            assert status["clients"] == 2
            # Write many notices to the hall's stream, as any writer could, in bursts the
            # reading client keeps up with; the silent one's buffers and queue fill up.
            r = redis.Redis.from_url(redis_url)
            text = "通知" * 600
            notices, burst = 1500, 100
            seen = []
            for start in range(0, notices, burst):
                with r.pipeline(transaction=False) as pipe:
                    for i in range(start, start + burst):
                        pipe.xadd(HallKeys("district").events, {
                            "type": "hall.notice", "at": repr(time.time()),
                            "data": json.dumps({"action": "posted", "notice": {
                                "nid": str(i), "zh": text, "en": ""}}, ensure_ascii=False)})
                    pipe.execute()
                while len(seen) < start + burst:
                    event = await next_event(good, 20.0, "hall.notice")
                    seen.append(int(event["data"]["notice"]["nid"]))
            assert seen == list(range(notices))  # the reading client got all, in order
            status = httpx.get(f"{app.base_url}/api/hub").json()
            assert status["dropped_slow"] == 1
            assert status["clients"] == 1
            # and the hub still serves new clients
            async with connect(ws_url(app.base_url, "/ws/halls/district")) as fresh:
                assert json.loads(await fresh.recv())["type"] == "hub.snapshot"
    finally:
        slow.close()
        await asyncio.to_thread(app.stop)


async def test_many_bad_clients_do_not_disturb_a_board(redis_url, tmp_path):
    app = await asyncio.to_thread(AppProcess(redis_url, log_path=tmp_path / "app.log").start)
    try:
        clerk, numbers = await asyncio.to_thread(_desk, app.base_url, redis_url, 1)
        async with connect(ws_url(app.base_url, "/ws/halls/district")) as board:
            json.loads(await board.recv())
            codes = []
            for path, frame in [("/ws/halls/district", "garbage"),
                                ("/ws/halls/district", "x" * 200_000),
                                ("/ws/halls/district", b"\x00binary"),
                                ("/ws/halls/nowhere", None),
                                ("/ws/halls/district?last_id=1-2-3", None)]:
                async with connect(ws_url(app.base_url, path), max_size=None) as bad:
                    if frame is not None:
                        await bad.recv()
                        await bad.send(frame)
                    with pytest.raises(Exception):  # noqa: B017 - closed by the server
                        while True:
                            await asyncio.wait_for(bad.recv(), 5)
                    codes.append(bad.close_code)
            assert codes == [4400, 1009, 1003, 4404, 4400]
            await asyncio.to_thread(_call, clerk)
            event = await next_event(board, 5.0, "ticket.called")
            assert event["data"]["ticket"]["number"] == numbers[0]
    finally:
        await asyncio.to_thread(app.stop)


async def test_boards_joining_during_a_burst_see_every_event_after_their_snapshot_once(
        redis_url, tmp_path):
    app = await asyncio.to_thread(AppProcess(redis_url, log_path=tmp_path / "app.log").start)
    token = await asyncio.to_thread(add_device, redis_url, Role.KIOSK)
    kiosk = {"Authorization": f"Bearer {token}"}
    stream = HallKeys("district").events
    try:
        async with httpx.AsyncClient(base_url=app.base_url, headers=kiosk) as http:
            async def burst() -> None:
                for _ in range(150):
                    r = await http.post("/api/halls/district/tickets", json={"matter": "QY-KB"})
                    assert r.status_code == 201

            async def board(delay: float) -> tuple[str, list[str]]:
                await asyncio.sleep(delay)
                async with connect(ws_url(app.base_url, "/ws/halls/district")) as ws:
                    snap = json.loads(await ws.recv())
                    start, ids = snap["data"]["last_event_id"], []
                    while True:
                        try:
                            ids.append((await next_event(ws, 3.0))["id"])
                        except TimeoutError:
                            return start, ids

            writer = asyncio.create_task(burst())
            boards = await asyncio.gather(*(board(i * 0.05) for i in range(20)))
            await writer
        r = redis.Redis.from_url(redis_url, decode_responses=True)
        for start, ids in boards:
            expected = [entry_id for entry_id, _ in r.xrange(stream, min=f"({start}", max="+")]
            assert ids == expected  # no gap, no duplicate, in order
        assert len({start for start, _ in boards}) > 5  # they really joined mid-burst
    finally:
        await asyncio.to_thread(app.stop)


async def test_each_event_is_encoded_once_and_the_frame_shared_by_every_board(
        redis_url, tmp_path):
    app = await asyncio.to_thread(AppProcess(redis_url, log_path=tmp_path / "app.log").start)
    try:
        clerk, numbers = await asyncio.to_thread(_desk, app.base_url, redis_url, 2)
        url = ws_url(app.base_url, "/ws/halls/district")
        async with connect(url) as a, connect(url) as b, connect(url) as c:
            boards = [a, b, c]
            for board in boards:
                assert json.loads(await board.recv())["type"] == "hub.snapshot"
            deadline = time.monotonic() + 10
            while httpx.get(f"{app.base_url}/api/hub").json()["direct_clients"] < 3:
                assert time.monotonic() < deadline, "the boards never went direct"
                await asyncio.sleep(0.05)
            before = httpx.get(f"{app.base_url}/api/hub").json()
            for number in numbers:
                assert await asyncio.to_thread(_call, clerk) == number
                for board in boards:  # every board gets the call, as the same text
                    event = await next_event(board, 10.0, "ticket.called")
                    assert event["data"]["ticket"]["number"] == number
            for board in boards:
                await next_event(board, 10.0, "ticket.no_show")
            after = httpx.get(f"{app.base_url}/api/hub").json()
            encoded = after["frames_encoded"] - before["frames_encoded"]
            sent = after["frames_sent"] - before["frames_sent"]
            assert encoded >= 2 * len(numbers)  # called + no-show per call, at least
            assert sent == 3 * encoded  # one frame per event, written to all three
    finally:
        await asyncio.to_thread(app.stop)
