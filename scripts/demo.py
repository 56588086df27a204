"""`make demo`: a hub on SQLite, one simulated kiosk that keeps queueing, and the console URL.

Uses only the two console scripts (`kiosk-hub`, `kiosk`), exactly as an operator would, so the
demo exercises the same entry points as production. Ctrl-C stops everything cleanly.

Environment: DEMO_HOST (default 127.0.0.1), DEMO_PORT (default 8080), DEMO_ICE_HOST (addresses
the kiosk offers for media; default: the machine's own, as in production), DEMO_NETCUT=0 (do not
give the kiosk its own network namespace).

Pulling the kiosk's network: as root with `ip` (iproute2) and the hub on loopback, the kiosk
runs in its own network namespace, one veth link away (198.18.77.0/30, the benchmarking range
no real network routes; removed at exit), reaching the hub through a small TCP forwarder. Type
`cut 5` and Enter to take that link down for 5 s and watch the call heal.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench.netcut import ChildNetns, forward_tcp, veth_netns

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
DB = VAR / "hub.sqlite3"
VAULT = VAR / "session"
BIN = Path(sys.executable).parent
ADVISER = "demo"
DEVICE = "demo-kiosk"


def _write_secret(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text + "\n")


def _hub(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "kiosk-hub"), *args, "--db", str(DB)],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )


def _ensure_adviser() -> str:
    """Create the demo adviser once; its password lives in var/demo-adviser.password."""
    pw_file = VAR / "demo-adviser.password"
    listed = _hub("adviser", "list")
    exists = listed.returncode == 0 and any(
        line.split("\t")[1:2] == [ADVISER] for line in listed.stdout.splitlines()
    )
    if exists and pw_file.exists():
        return pw_file.read_text().strip()
    password = secrets.token_urlsafe(12)
    _write_secret(pw_file, password)
    action = "passwd" if exists else "add"
    result = _hub("adviser", action, ADVISER, "--password-file", str(pw_file))
    if result.returncode != 0:
        sys.exit(f"demo: could not create the demo adviser: {result.stderr.strip()}")
    return password


def _device_token_file() -> Path:
    """(Re-)issue the demo kiosk's token each start: the hub keeps only its hash."""
    listed = _hub("device", "list")
    exists = listed.returncode == 0 and any(
        line.split("\t")[1:2] == [DEVICE] for line in listed.stdout.splitlines()
    )
    result = _hub("device", "add", DEVICE, *(["--replace"] if exists else []))
    if result.returncode != 0:
        sys.exit(f"demo: could not register the demo kiosk: {result.stderr.strip()}")
    token_file = VAR / "demo-kiosk.token"
    _write_secret(token_file, result.stdout.strip().splitlines()[-1])
    return token_file


def _wait_for_hub(url: str, hub: subprocess.Popen[bytes], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if hub.poll() is not None:
            sys.exit("demo: the hub exited during start-up (see its messages above)")
        try:
            with urllib.request.urlopen(url + "/api/csrf", timeout=1):  # noqa: S310 (our own URL)
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    sys.exit(f"demo: the hub did not answer on {url} within {timeout_s:.0f} s")


class _Forwarder:
    """bench.netcut.forward_tcp on its own thread: the namespaced kiosk's way to the hub."""

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


@contextlib.contextmanager
def _kiosk_network(host: str, port: str) -> Iterator[KioskNetwork]:
    why = _netcut_problem(host)
    if why is not None:
        print(f"demo: the kiosk shares this machine's network ({why}): no `cut`", flush=True)
        yield KioskNetwork(hub_url=f"ws://{host}:{port}")
        return
    with veth_netns(
        name="branch-kiosk-demo",
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


def _command(line: str, ns: ChildNetns | None) -> None:
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


def main() -> int:
    with contextlib.ExitStack() as stack:
        return _run(stack)


def _run(stack: contextlib.ExitStack) -> int:
    host = os.environ.get("DEMO_HOST", "127.0.0.1")
    port = os.environ.get("DEMO_PORT", "8080")
    VAR.mkdir(mode=0o700, exist_ok=True)
    password = _ensure_adviser()
    token_file = _device_token_file()
    url = f"http://{host}:{port}"

    # Own sessions: Ctrl-C reaches only this script, which stops kiosk first, then hub.
    hub = subprocess.Popen(
        [str(BIN / "kiosk-hub"), "serve", "--host", host, "--port", port, "--db", str(DB)],
        start_new_session=True,
    )
    _wait_for_hub(url, hub)
    net = stack.enter_context(_kiosk_network(host, port))
    kiosk_cmd = [
        *net.prefix,
        str(BIN / "kiosk"),
        "run",
        "--simulate",
        *[arg for addr in net.ice_hosts for arg in ("--ice-host", addr)],
        "--hub",
        net.hub_url,
        "--token-file",
        str(token_file),
        # The demo's session vault lives under ./var, not the machine's /run/kiosk/session.
        "--vault",
        str(VAULT),
    ]
    for addr in filter(None, os.environ.get("DEMO_ICE_HOST", "").split(",")):
        kiosk_cmd += ["--ice-host", addr]
    # With a screen, the kiosk opens its touch UI and a person plays the customer; without one
    # (a server, SSH) a simulated customer queues by itself and answers chat messages.
    windowed = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if not windowed:
        kiosk_cmd.append("--no-ui")
    kiosk = subprocess.Popen(kiosk_cmd, start_new_session=True)

    print(
        "\n"
        "  Branch Kiosk demo is running.\n"
        f"  Adviser console:  {url}/\n"
        f"  Name:             {ADVISER}\n"
        f"  Password:         {password}\n"
        + (
            "  The kiosk window is open: start a consultation there as the customer,\n"
            "  then accept it in the console.\n"
            if windowed
            else "  A simulated kiosk is waiting in the queue; accept it to start a call.\n"
        )
        + (
            "  Type `cut 5` and Enter to pull the kiosk's network for 5 s.\n"
            if net.ns is not None
            else ""
        )
        + "  Ctrl-C stops hub and kiosk.\n",
        flush=True,
    )

    stopping = False

    def _stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    reading = not sys.stdin.closed  # commands on stdin until it ends (EOF)
    while not stopping and hub.poll() is None and kiosk.poll() is None:
        if not reading:
            time.sleep(0.2)
            continue
        with contextlib.suppress(InterruptedError):
            readable, _, _ = select.select([sys.stdin], [], [], 0.2)
            if readable:
                line = sys.stdin.readline()
                reading = bool(line)
                _command(line, net.ns)
    for proc in (kiosk, hub):  # kiosk first, so it can say goodbye to the hub
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    # As root the kiosk mounted a tmpfs for its vault (wiped at its exit): take it down.
    if os.path.ismount(VAULT):
        subprocess.run(["umount", str(VAULT)], check=False)  # noqa: S607
    print("demo: stopped", flush=True)
    return 0 if stopping else 1


if __name__ == "__main__":
    raise SystemExit(main())
