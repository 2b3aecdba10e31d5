"""A stopping app process keeps the connections the kernel already queued for it and
refuses new ones only by closing (which a proxy retries elsewhere), never by resetting a
connection a proxy may have sent a request on (hall/serving.py)."""

from __future__ import annotations

import errno
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
