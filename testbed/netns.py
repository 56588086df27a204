"""Network namespaces on loopback: where media may flow, and a link a run can cut and heal.

Inside the loopback-only namespace of a test run (scripts/loopback-only), ``child_netns()``
makes a network namespace joined to ours by a veth pair (ours ``10.77.N.1``, the child's
``10.77.N.2``). A process started with ``ns.command(...)`` runs in the child: everything it
says to us (signalling and media) crosses the veth, so ``ns.cut()`` (our end's link down)
takes away both at once, as a branch's failing uplink would, and ``ns.heal()`` brings them
back. Our side can serve the child on ``ns.host_addr``; ``forward_tcp`` relays such a port to a
server that listens on 127.0.0.1 only (the test hub).

Needs ``ip`` (iproute2) and root in the namespace (`unshare -nm` as root, or `-rnm`); refuses
to run outside a loopback-only namespace so that it never touches a real machine's network.
Shared by the reconnection tests (tests/support/netns.py adds their rule for missing tools),
`python -m bench reconnect` and `make demo` (``veth_netns``, on an address range no network
routes).

    with child_netns() as ns:
        async with forward_tcp(ns.host_addr, hub_port) as port:
            process = await asyncio.create_subprocess_exec(*ns.command("kiosk", "run", ...))
            ns.cut(); await asyncio.sleep(20); ns.heal()
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass

_counter = itertools.count(1)


@dataclass(frozen=True)
class ChildNetns:
    """A network namespace one veth link away from ours."""

    name: str
    ip: str  # the ``ip`` tool
    host_dev: str  # our end of the veth pair
    child_dev: str  # the child's end
    host_addr: str  # our address on the link
    child_addr: str  # the child's address on the link

    def command(self, *argv: str) -> list[str]:
        """``argv`` run inside the child namespace."""
        return [self.ip, "netns", "exec", self.name, *argv]

    def cut(self) -> None:
        """Take the link down: nothing passes either way (the child sees no carrier)."""
        _run(self.ip, "link", "set", self.host_dev, "down")

    def heal(self) -> None:
        """Bring the link back up (addresses and routes come back with it)."""
        _run(self.ip, "link", "set", self.host_dev, "up")


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=10)


class NetnsError(RuntimeError):
    """The child namespace cannot be made here; the message says what is missing."""


def interfaces() -> list[str]:
    """Network interfaces of *this process's* namespace (/sys/class/net may be stale)."""
    return sorted(name for _index, name in socket.if_nameindex())


def in_loopback_only_netns() -> bool:
    """Whether loopback is the only interface here: nothing sent can leave the machine."""
    return interfaces() == ["lo"]


def problem() -> str | None:
    """Why ``child_netns()`` cannot run here, or None."""
    if not in_loopback_only_netns():
        return (
            "a child network namespace is only made inside a loopback-only namespace "
            f"(run through scripts/loopback-only); interfaces here: {', '.join(interfaces())}"
        )
    if shutil.which("ip") is None:
        return "the ip tool is missing: apt-get install iproute2 (make test does this)"
    if os.geteuid() != 0:
        return "child network namespaces need root in the namespace"
    return None


@contextmanager
def child_netns() -> Iterator[ChildNetns]:
    """Make the child namespace and its veth link; remove both afterwards."""
    why = problem()  # never on a real machine's network
    if why is not None:
        raise NetnsError(why)
    n = next(_counter)
    with veth_netns(
        name=f"kiosk-cut-{os.getpid()}-{n}",
        host_dev=f"kc{n}h",
        child_dev=f"kc{n}k",
        host_addr=f"10.77.{n}.1",
        child_addr=f"10.77.{n}.2",
    ) as ns:
        yield ns


@contextmanager
def veth_netns(
    *, name: str, host_dev: str, child_dev: str, host_addr: str, child_addr: str, prefix: int = 24
) -> Iterator[ChildNetns]:
    """The namespace ``name`` joined to ours by a veth pair; both removed afterwards.

    No safety check: ``child_netns()`` is the one for tests. `make demo` uses this directly,
    on the benchmarking range 198.18.0.0/15 (RFC 2544), which no real network routes.
    """
    ip = shutil.which("ip") or "ip"
    ns = ChildNetns(name, ip, host_dev, child_dev, host_addr, child_addr)
    _run(ip, "netns", "add", ns.name)
    try:
        _run(ip, "link", "add", ns.host_dev, "type", "veth", "peer", "name", ns.child_dev)
        _run(ip, "link", "set", ns.child_dev, "netns", ns.name)
        _run(ip, "addr", "add", f"{ns.host_addr}/{prefix}", "dev", ns.host_dev)
        _run(ip, "link", "set", ns.host_dev, "up")
        inside = ns.command(ip)
        _run(*inside, "link", "set", "lo", "up")
        _run(*inside, "addr", "add", f"{ns.child_addr}/{prefix}", "dev", ns.child_dev)
        _run(*inside, "link", "set", ns.child_dev, "up")
        yield ns
    finally:
        # Deleting the namespace deletes its veth end, and with it ours.
        with contextlib.suppress(subprocess.SubprocessError):
            _run(ip, "netns", "del", ns.name)
        with contextlib.suppress(subprocess.SubprocessError):
            _run(ip, "link", "del", ns.host_dev)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


@asynccontextmanager
async def forward_tcp(
    listen_host: str, target_port: int, target_host: str = "127.0.0.1"
) -> AsyncIterator[int]:
    """Relay connections to ``listen_host``:(a free port) to the target; yields the port."""
    pipes: set[asyncio.Task[None]] = set()

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(target_host, target_port)
        except OSError:
            writer.close()
            return
        for task in (
            asyncio.create_task(_pipe(reader, up_writer)),
            asyncio.create_task(_pipe(up_reader, writer)),
        ):
            pipes.add(task)
            task.add_done_callback(pipes.discard)

    server = await asyncio.start_server(relay, listen_host, 0)
    port: int = server.sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        server.close()
        for task in list(pipes):
            task.cancel()
        await asyncio.gather(*pipes, return_exceptions=True)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 2)
