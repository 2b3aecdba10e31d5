"""A stopping app process keeps the connections the kernel already queued for it and
refuses new ones only by closing (which a proxy retries elsewhere), never by resetting a
connection a proxy may have sent a request on (hall/serving.py)."""

from __future__ import annotations

import errno
import os
import socket
import sys
import time

import pytest

from hall.serving import refuse_new_handshakes

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux socket filter")


def _listener() -> socket.socket:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    return listener


def test_queued_connection_survives_and_new_ones_are_refused_after_close():
    listener = _listener()
    address = listener.getsockname()
    queued = socket.create_connection(address, timeout=5)  # completed by the kernel, not accepted
    queued.sendall(b"POST")

    assert refuse_new_handshakes(listener)
    late = socket.socket()
    late.setblocking(False)
    assert late.connect_ex(address) == errno.EINPROGRESS  # its handshake is dropped, not done

    accepted, _ = listener.accept()  # the queued connection is still there, request and all
    assert accepted.recv(4) == b"POST"
    listener.close()
    accepted.sendall(b"201")
    assert queued.recv(3) == b"201"

    # the late client's retransmitted handshake meets the closed port: refused, which a
    # proxy retries on the next app process because nothing was sent
    deadline = time.monotonic() + 10
    outcome = 0
    while time.monotonic() < deadline:
        outcome = late.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if outcome:
            break
        time.sleep(0.05)
    assert outcome == errno.ECONNREFUSED
    for s in (late, accepted, queued):
        s.close()


def test_unix_socket_is_left_to_close():
    with socket.socket(socket.AF_UNIX) as unix:
        assert refuse_new_handshakes(unix) is False


def test_a_stopping_unix_socket_keeps_its_queue_and_new_connections_fail_at_once(tmp_path):
    from hall.serving import stop_accepting, unix_listener

    path = str(tmp_path / "app.sock")
    listener = unix_listener(path)
    listener.listen(8)
    queued = socket.socket(socket.AF_UNIX)
    queued.connect(path)  # in the accept queue, not accepted yet
    queued.sendall(b"POST")

    assert stop_accepting(listener)
    late = socket.socket(socket.AF_UNIX)
    with pytest.raises(FileNotFoundError):  # a proxy goes to the next process at once
        late.connect(path)
    accepted, _ = listener.accept()
    assert accepted.recv(4) == b"POST"
    for s in (late, accepted, queued, listener):
        s.close()


def test_a_unix_socket_replaces_a_dead_process_file_but_not_a_live_one(tmp_path):
    from hall.serving import unix_listener

    path = str(tmp_path / "app.sock")
    live = unix_listener(path)
    live.listen(8)
    with pytest.raises(OSError, match="another process listens"):
        unix_listener(path)
    live.close()  # the file stays, as after a SIGKILL
    again = unix_listener(path)
    assert oct(os.stat(path).st_mode & 0o777) == oct(0o666)  # the folder decides who connects
    again.close()
    (tmp_path / "plain").write_text("x")
    with pytest.raises(OSError, match="not a socket"):
        unix_listener(str(tmp_path / "plain"))


def test_reuse_port_lets_processes_share_a_port_and_spreads_connections():
    from hall.serving import reuse_port_socket

    first = reuse_port_socket("127.0.0.1", 0)
    port = first.getsockname()[1]
    second = reuse_port_socket("127.0.0.1", port)  # a second process's bind, same port
    for s in (first, second):
        s.listen(64)
        s.setblocking(False)
    clients = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(40)]
    accepted = [0, 0]
    deadline = time.monotonic() + 15
    while sum(accepted) < len(clients) and time.monotonic() < deadline:
        for i, s in enumerate((first, second)):
            try:
                conn, _ = s.accept()
                conn.close()
                accepted[i] += 1
            except BlockingIOError:
                pass
    assert sum(accepted) == 40
    # the kernel spread them by address hash: all 40 on one side is a 2 × 2^-40 chance
    assert min(accepted) > 0
    for c in clients:
        c.close()
    first.close()
    second.close()


class _Recorder:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str) -> str:
        return f"info {name}"


def test_a_response_head_leaves_with_its_body_and_alone_at_the_end_of_the_turn():
    import asyncio

    from hall.serving import CoalescingTransport

    async def run() -> list[bytes]:
        real = _Recorder()
        t = CoalescingTransport(real)  # type: ignore[arg-type]
        t.write(b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n")
        assert real.writes == []
        t.write(b"{}")
        assert real.writes == [b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n{}"]
        t.write(b"HTTP/1.1 101 Switching Protocols\r\n\r\n")  # nothing follows this turn
        await asyncio.sleep(0)
        assert real.writes[-1] == b"HTTP/1.1 101 Switching Protocols\r\n\r\n"
        t.write(b"\x81\x02hi")  # anything else goes straight through
        t.write(b"HTTP/1.1 200 OK\r\n\r\n")
        t.close()  # a held head is written before the close
        assert real.closed and real.writes[-1] == b"HTTP/1.1 200 OK\r\n\r\n"
        assert t.get_extra_info("peername") == "info peername"  # delegated
        return real.writes

    assert len(asyncio.run(run())) == 4
