"""The fault-injecting proxy itself, in front of a real redis-server: each mode does what it says."""

from __future__ import annotations

import socket
import time

import pytest

from tests.faultproxy import fault_proxy
from tests.servers import LOOPBACK, RedisServer


def _ping(port: int, timeout: float = 1.0) -> bytes:
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(64)


def test_modes(redis: RedisServer) -> None:
    with fault_proxy(redis.port) as proxy:
        assert _ping(proxy.port) == b"+PONG\r\n"

        proxy.delay(0.3)
        started = time.monotonic()
        assert _ping(proxy.port) == b"+PONG\r\n"
        assert time.monotonic() - started >= 0.55  # both directions delayed

        proxy.heal()
        held = socket.create_connection((LOOPBACK, proxy.port), timeout=1.0)
        held.sendall(b"PING\r\n")
        assert held.recv(64) == b"+PONG\r\n"
        proxy.blackhole()  # the open connection goes silent, and is never closed
        held.sendall(b"PING\r\n")
        with pytest.raises(TimeoutError):
            held.recv(64)
        with pytest.raises(TimeoutError):  # new connections too
            _ping(proxy.port, timeout=0.3)

        proxy.heal()  # new connections pass again; the blackholed one stays dead
        assert _ping(proxy.port) == b"+PONG\r\n"
        held.sendall(b"PING\r\n")
        with pytest.raises(TimeoutError):
            held.recv(64)
        held.close()

        live = socket.create_connection((LOOPBACK, proxy.port), timeout=1.0)
        live.sendall(b"PING\r\n")
        assert live.recv(64) == b"+PONG\r\n"
        proxy.drop()
        with pytest.raises(ConnectionResetError):  # RST, not a quiet close (that would read b"")
            live.recv(64)
        live.close()

        proxy.refuse()
        with pytest.raises(ConnectionRefusedError):
            _ping(proxy.port)
        proxy.heal()
        assert _ping(proxy.port) == b"+PONG\r\n"
