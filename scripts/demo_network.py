"""The demo kiosk's own network namespace and the `cut SECONDS` command (`make demo`).

As root with `ip` and the hub on loopback, the kiosk runs one veth link away (198.18.77.0/30, the
benchmarking range no real network routes) and reaches the hub through a TCP forwarder; `cut`
takes that link down for a while so the call's healing can be watched.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from testbed.netns import ChildNetns, forward_tcp, veth_netns


class _Forwarder:
    """testbed.netns.forward_tcp on its own thread: the namespaced kiosk's way to the hub."""

    def __init__(self, listen_host: str, target_port: int, target_host: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._stopped: asyncio.Future[None] = self._loop.create_future()
        ready = threading.Event()
        self.port = 0

        async def serve() -> None:
            async with forward_tcp(listen_host, target_port, target_host) as port:
                self.port = port
                ready.set()
                await self._stopped

        self._thread = threading.Thread(
            target=self._loop.run_until_complete, args=(serve(),), daemon=True
        )
        self._thread.start()
        if not ready.wait(10):
            sys.exit("demo: the kiosk's TCP forwarder did not start")

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._stopped.set_result, None)
        self._thread.join(5)


def _netcut_problem(host: str) -> str | None:
    if os.environ.get("DEMO_NETCUT", "1") == "0":
        return "DEMO_NETCUT=0"
    if os.geteuid() != 0:
        return "it needs root"
    if shutil.which("ip") is None:
        return "it needs the ip tool (apt-get install iproute2)"
    if not ipaddress.ip_address(host).is_loopback:
        return "the hub is not on loopback (DEMO_HOST)"
    return None


@dataclass
class KioskNetwork:
    """Where the demo kiosk runs: its namespace (or None), command prefix, hub URL, ICE hosts."""

    hub_url: str
    ns: ChildNetns | None = None
    prefix: list[str] = field(default_factory=list)
    ice_hosts: list[str] = field(default_factory=list)
    no_cut: str | None = None  # why the kiosk is not in its own namespace


@contextlib.contextmanager
def kiosk_network(host: str, port: str) -> Iterator[KioskNetwork]:
    why = _netcut_problem(host)
    if why is not None:
        yield KioskNetwork(hub_url=f"ws://{host}:{port}", no_cut=why)
        return
    with veth_netns(
        name=f"branch-kiosk-demo-{os.getpid()}",  # namespace names are machine-wide
        host_dev="bkdemo0",
        child_dev="bkdemo1",
        host_addr="198.18.77.1",
        child_addr="198.18.77.2",
        prefix=30,
    ) as ns:
        forwarder = _Forwarder(ns.host_addr, int(port), host)
        try:
            yield KioskNetwork(
                hub_url=f"ws://{ns.host_addr}:{forwarder.port}",
                ns=ns,
                prefix=ns.command(),
                ice_hosts=[ns.child_addr],
            )
        finally:
            forwarder.close()


def _cut_later(ns: ChildNetns, seconds: float) -> None:
    def run() -> None:
        ns.cut()
        print(f"demo: the kiosk's network is down for {seconds:.0f} s", flush=True)
        time.sleep(seconds)
        ns.heal()
        print("demo: the kiosk's network is back", flush=True)

    threading.Thread(target=run, daemon=True).start()


def command(line: str, ns: ChildNetns | None) -> None:
    words = line.split()
    if not words:
        return
    if words[0] != "cut" or len(words) > 2:
        print("demo: commands: `cut [SECONDS]` (default 5)", flush=True)
        return
    if ns is None:
        print("demo: `cut` needs the kiosk in its own network namespace (see above)", flush=True)
        return
    try:
        seconds = float(words[1]) if len(words) == 2 else 5.0
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 600:
        print("demo: `cut SECONDS` takes 1 to 600 seconds", flush=True)
        return
    _cut_later(ns, seconds)
