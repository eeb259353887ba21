"""`devtools.support.wait_until_listening`, which the tests, the benchmark and the load run start
servers by: it waits through a server that accepts but answers late, and ends by its deadline."""

from __future__ import annotations

import threading
import time

from devtools.support import free_port, wait_until_listening
from tests.support import peers

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


class WaitUntilListeningTests:
    def test_waits_through_polls_that_time_out_until_the_server_answers(self):
        ready = threading.Event()  # the server's workers booted

        def late(connection, peer) -> None:
            peer.request_head(connection)
            if ready.wait(10):
                connection.sendall(ANSWER)

        with peers() as start:
            peer = start(late)
            threading.Timer(2.5, ready.set).start()  # ready once the first poll (2 s) has timed out
            assert wait_until_listening(f"{peer.origin()}/healthz", seconds=10)
            assert peer.accepted >= 2

    def test_ends_by_its_deadline_when_nothing_answers(self):
        def silent(connection, peer) -> None:
            peer.request_head(connection)
            peer.stopping.wait(30)

        with peers() as start:
            peer = start(silent)
            started = time.monotonic()
            assert not wait_until_listening(f"{peer.origin()}/healthz", seconds=0.5)
            assert time.monotonic() - started < 1.5  # not a whole poll (2 s) past the deadline

    def test_says_no_when_nothing_listens(self):
        port = free_port()
        assert not wait_until_listening(f"http://127.0.0.1:{port}/", seconds=0.5)
