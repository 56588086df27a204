"""A stand-in for systemd's notification socket: a real AF_UNIX datagram socket to read
what the kiosk tells the service manager (READY=1, STATUS=..., STOPPING=1, WATCHDOG=1)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class NotifySocket:
    """A bound datagram socket; ``address`` goes into ``NOTIFY_SOCKET``."""

    def __init__(self, sock: socket.socket, address: str) -> None:
        self.sock = sock
        self.address = address
        self.seen: list[dict[str, str]] = []

    async def next(self) -> dict[str, str]:
        """The next datagram as ``{KEY: value}`` (wrap in ``asyncio.timeout``)."""
        data = await asyncio.get_running_loop().sock_recv(self.sock, 4096)
        fields = dict(line.split("=", 1) for line in data.decode().splitlines())
        self.seen.append(fields)
        return fields

    async def until(self, key: str, predicate: str = "") -> dict[str, str]:
        """Read datagrams until one has ``key`` (whose value starts with ``predicate``)."""
        while True:
            fields = await self.next()
            if key in fields and fields[key].startswith(predicate):
                return fields

    def pending(self) -> list[dict[str, str]]:
        """Every datagram already queued (without waiting)."""
        out: list[dict[str, str]] = []
        while True:
            try:
                data = self.sock.recv(4096)
            except BlockingIOError:
                return out
            out.append(dict(line.split("=", 1) for line in data.decode().splitlines()))


@contextmanager
def notify_socket(directory: Path, *, abstract: bool = False) -> Iterator[NotifySocket]:
    """Bind one in ``directory`` (a path) or, with ``abstract``, under an abstract name."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setblocking(False)
    if abstract:
        name = f"branch-kiosk-test-{id(sock)}-{directory.name}"
        sock.bind("\0" + name)
        address = "@" + name
    else:
        path = directory / "notify"
        assert len(str(path)) < 100, f"{path} is too long for an AF_UNIX address"
        sock.bind(str(path))
        address = str(path)
    try:
        yield NotifySocket(sock, address)
    finally:
        sock.close()
