"""A loopback TCP proxy in front of PostgreSQL that counts round trips and can add network latency.

A round trip is a burst of client bytes sent after the server last spoke (or the connection's first burst): the
client waits for the server between two of them, so that is what a network's latency multiplies. A pipeline's
queued statements leave in one burst and count once. With `latency`, the proxy holds each server burst for that
long before passing it on: every round trip then costs about `latency` more, as it would across a real network.
"""

from __future__ import annotations

import selectors
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

_CHUNK = 1 << 16


class RoundTripProxy:
    """Forward loopback connections to `host`:`port`, counting round trips (see the module's docstring)."""

    def __init__(self, host: str, port: int, *, latency: float = 0.0) -> None:
        self.target = (host, port)
        self.latency = latency
        self._lock = threading.Lock()
        self._round_trips = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._closed = False
        self._threads: list[threading.Thread] = []
        accept = threading.Thread(target=self._accept, name="roundtrip-proxy", daemon=True)
        accept.start()
        self._threads.append(accept)

    @property
    def round_trips(self) -> int:
        """Round trips counted so far, over every connection."""
        with self._lock:
            return self._round_trips

    def url(self, url: str) -> str:
        """Return `url` (a ``postgresql://`` URL of the target) pointed at this proxy instead."""
        parts = urlsplit(url)
        user = parts.netloc.rpartition("@")[0]
        netloc = f"{user}@127.0.0.1:{self.port}" if user else f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._pump, args=(client,), name="roundtrip-pump", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _pump(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(self.target)
        except OSError:
            client.close()
            return
        for sock in (client, server):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = {client: server, server: client}
        server_spoke = True  # the connection's first client burst is a round trip
        with selectors.DefaultSelector() as sel:
            sel.register(client, selectors.EVENT_READ)
            sel.register(server, selectors.EVENT_READ)
            while not self._closed:
                for key, _ in sel.select(timeout=0.5):
                    sock = client if key.fileobj is client else server
                    try:
                        data = sock.recv(_CHUNK)
                    except OSError:
                        data = b""
                    if not data:
                        client.close()
                        server.close()
                        return
                    if sock is client and server_spoke:
                        server_spoke = False
                        with self._lock:
                            self._round_trips += 1
                    elif sock is server and not server_spoke:
                        server_spoke = True
                        if self.latency:
                            time.sleep(self.latency)
                    try:
                        peer[sock].sendall(data)
                    except OSError:
                        client.close()
                        server.close()
                        return

    def close(self) -> None:
        """Stop accepting and end every forwarded connection."""
        self._closed = True
        self._listener.close()


@contextmanager
def counting(url: str, *, latency: float = 0.0) -> Iterator[RoundTripProxy]:
    """A :class:`RoundTripProxy` in front of the server `url` names, closed at the end."""
    parts = urlsplit(url)
    proxy = RoundTripProxy(parts.hostname or "127.0.0.1", parts.port or 5432, latency=latency)
    try:
        yield proxy
    finally:
        proxy.close()
