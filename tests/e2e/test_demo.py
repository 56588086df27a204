"""`make demo` as a person at the terminal sees it: scripts/demo.py, a call, Ctrl-C.

The demo runs as a subprocess (hub, kiosk, as root the kiosk in its own network namespace) with
its own var directory; an aiortc adviser (tests/support/adviser.py) logs in, takes the call,
compares the four words and hangs up as the console does (``bye``, then ``end``). The terminal
must stay readable: the banner after start-up, the words, no access log, no pygame greeting,
no warning on these normal paths.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from appliance.call.ice import restore_host_addresses, use_host_addresses
from protocol import channel, messages
from testbed.stack import free_port
from tests.support.adviser import AdviserPeer
from tests.support.call import ConsoleSignalling, answer
from tests.support.hub import connect_adviser, http_session
from tests.support.netns import require_loopback_only_netns

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parent.parent.parent
BANNER_END = "  Ctrl-C stops hub and kiosk."


@dataclass
class DemoHub:
    """The demo's hub, addressed like tests.support.hub.RunningHub (for connect_adviser)."""

    url: str
    ws_url: str


class Terminal:
    """The demo's stdout and stderr, read as they come."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None and process.stderr is not None
        self.out: list[str] = []
        self.err: list[str] = []
        self._new = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._read(process.stdout, self.out)),
            asyncio.create_task(self._read(process.stderr, self.err)),
        ]

    async def _read(self, stream: asyncio.StreamReader, into: list[str]) -> None:
        while line := await stream.readline():
            into.append(line.decode().rstrip("\n"))
            self._new.set()

    async def wait_line(
        self, predicate: Callable[[str], bool], *, after: int = -1, within: float = 60
    ) -> int:
        """The index of the first stdout line after ``after`` for which ``predicate`` holds."""
        async with asyncio.timeout(within):
            while True:
                for index in range(after + 1, len(self.out)):
                    if predicate(self.out[index]):
                        return index
                self._new.clear()
                await self._new.wait()

    async def finish(self) -> None:
        """Wait for the end of both streams."""
        await asyncio.gather(*self._tasks)

    async def abandon(self) -> None:
        """Stop reading (the streams may never end: a child of the demo may hold them)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def stop(process: asyncio.subprocess.Process, terminal: Terminal) -> None:
    """After a failure: Ctrl-C first (the demo stops hub and kiosk), then kill."""
    if process.returncode is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        async with asyncio.timeout(30):
            await process.wait()
    except TimeoutError:
        process.kill()
        await process.wait()
    await terminal.abandon()
    transport = getattr(process, "_transport", None)
    if transport is not None:
        transport.close()  # the pipes, even if a child still holds their other ends


@pytest.mark.parametrize("netcut", [True, False], ids=["own-netns", "DEMO_NETCUT=0"])
async def test_demo_banner_words_and_a_quiet_stop(tmp_path: Path, netcut: bool) -> None:
    require_loopback_only_netns()
    var = tmp_path / "var"
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DISPLAY", "WAYLAND_DISPLAY", "DEMO_VERBOSE", "DEMO_NETCUT")
    }
    # Without its own namespace (not root) the kiosk needs loopback for its media.
    env.update(DEMO_VAR=str(var), DEMO_PORT=str(port), DEMO_ICE_HOST="127.0.0.1")
    if not netcut:
        env["DEMO_NETCUT"] = "0"
    # The demo gives the kiosk its own namespace only as root with `ip` (else it says why).
    netcut = netcut and os.geteuid() == 0 and shutil.which("ip") is not None
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "scripts.demo",  # as `make demo` runs it: from the source tree, where testbed/ is
        cwd=ROOT,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    terminal = Terminal(process)
    try:
        await terminal.wait_line(lambda line: line == BANNER_END, within=90)
        # As root the kiosk is one veth link away (scripts/demo.py): the adviser meets it there.
        previous = use_host_addresses(["198.18.77.1" if netcut else "127.0.0.1"])
        try:
            password = (var / "demo-adviser.password").read_text().strip()
            hub = DemoHub(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}")
            code, ended = await adviser_takes_and_ends_a_call(hub, password, terminal)
        finally:
            restore_host_addresses(previous)
        # Back in the queue: the call's lines (and any warning about its end) are out.
        await terminal.wait_line(lambda line: line.startswith("kiosk: kiosk ready"), after=ended)
        process.send_signal(signal.SIGINT)  # Ctrl-C
        async with asyncio.timeout(60):
            await terminal.finish()
            assert await process.wait() == 0
    finally:
        await stop(process, terminal)
    out, err = terminal.out, terminal.err
    text = "\n".join(out + err)
    # The banner is the first thing on the screen: no start-up lines scroll it away.
    first = next(line for line in out if line.strip())
    assert first == "  Branch Kiosk demo is running.", out[:5]
    assert f"  Adviser console:  http://127.0.0.1:{port}/" in out
    assert "  Name:             demo" in out
    assert f"  Password:         {password}   (also in {var / 'demo-adviser.password'})" in out
    assert any("demo.log" in line and "DEMO_VERBOSE=1" in line for line in out)
    assert any(("`cut 5`" if netcut else "no `cut`") in line for line in out)
    # The kiosk's four words, on a line of their own, equal to the adviser's, during the call.
    assert f"    {code}" in out[:ended]
    # Readable: no greeting, no access log, no routine log lines, no warning.
    assert "pygame" not in text
    log = (var / "demo.log").read_text()
    assert "pygame" not in log  # not just out of sight: the kiosk does not greet at all
    assert "hub.access" not in text and '"GET ' not in text
    assert not [line for line in out + err if re.search(r"\b(INFO|WARNING|ERROR)\b", line)]
    assert "Traceback" not in text
    assert out[-1] == "demo: stopped"
    # Signing is set up: the trustee's key stays private, the banner says how to verify.
    verify = f"kiosk-verify signed.pdf --ca {var / 'ca.pem'} --trustee-key {var / 'trustee.key'}"
    assert any(verify in line for line in out), out
    assert (var / "trustee.key").stat().st_mode & 0o777 == 0o600
    assert (var / "ca.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert (var / "demo-contract.pdf").read_bytes().startswith(b"%PDF-")
    # The routine lines went to the log the banner names.
    assert "hub.access" in log and "INFO appliance.runner.kiosk" in log
    assert password not in log


async def adviser_takes_and_ends_a_call(
    hub: DemoHub, password: str, terminal: Terminal
) -> tuple[str, int]:
    """Accept the demo kiosk, check the four words, hang up as the console does.

    Returns the code and the index of the terminal's "call ended" line.
    """
    async with http_session() as http:
        console = ConsoleSignalling(await connect_adviser(http, hub, "demo", password))  # type: ignore[arg-type]
        adviser: AdviserPeer | None = None
        try:
            async with asyncio.timeout(30):
                while not (queue := await console.next_of(messages.Queue)).entries:
                    pass
            cid = queue.entries[0].consultation_id
            await console.peer.send(messages.Accept(consultation_id=cid))
            await console.next_of(messages.Accepted)
            adviser = AdviserPeer()
            await console.peer.send(
                messages.SasCommit(consultation_id=cid, commitment=adviser.commitment)
            )
            await answer(console.peer, adviser, await console.next_of(messages.Offer, within=30))
            verified = await adviser.wait_checked(30)
            assert verified is not None, adviser.verification_error
            # The console's hang-up: bye on the data channel, then end to the hub. (The kiosk
            # reads the adviser's reveal before this bye: its words are out before it ends.)
            adviser.send(channel.Bye())
            await console.peer.send(messages.End(consultation_id=cid, reason="hangup"))
            ended = await terminal.wait_line(lambda line: line == "kiosk: call ended (hangup)")
            return verified.code, ended
        finally:
            if adviser is not None:
                await adviser.close(bye=False)
            await console.close()
