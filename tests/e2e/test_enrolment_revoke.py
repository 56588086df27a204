"""Revoke mid-call, with real processes: the call ends, the kiosk wipes and stays out.

`kiosk-hub serve` with a hub secret and device tokens off (the production default); the kiosk
enrolled with a one-time code (testbed/enrolled.py) runs as `kiosk run` with its
certificate and no token. An aiortc adviser (tests/support/adviser.py) takes its call and
sends a document whose name and content carry a canary, so the session vault holds customer
content when the administrator runs `kiosk-hub device revoke` (docs/enrolment.md, "Revocation
and the fleet view"). Needs root for the vault's tmpfs and the loopback-only namespace.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from protocol import channel, messages
from testbed.enrolled import EnrolledKiosk, enrol
from testbed.stack import BIN, Stack, wait_until
from tests.support.adviser import AdviserPeer
from tests.support.at_rest import everything_in
from tests.support.call import ConsoleSignalling, answer, from_kiosk
from tests.support.console_relay import push_document
from tests.support.hub import connect_adviser, http_session
from tests.support.requirements import require

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(120),
    pytest.mark.usefixtures("loopback_only_netns"),  # the adviser's aiortc peer: 127.0.0.1
]
EXIT_REJECTED = 3  # `kiosk run`: the hub refused the credentials (systemd does not restart)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    require(os.geteuid() == 0, "the kiosk mounts its vault's tmpfs: run the test as root")
    s = Stack(tmp_path / "stack", device_tokens=False)
    s.workdir.mkdir(parents=True)
    secret = s.workdir / "hub-secret"
    subprocess.run(
        [str(BIN / "kiosk-hub"), "secret", "create", str(secret)], check=True, capture_output=True
    )
    # A short heartbeat: the hub re-checks a live kiosk's certificate at each one.
    s.start_hub("--secret-file", str(secret), "--heartbeat", "1")
    try:
        yield s
    finally:
        s.stop()


def start_kiosk(stack: Stack, kiosk: EnrolledKiosk, log: Path) -> subprocess.Popen[bytes]:
    """`kiosk run` with the enrolled identity only: no token, no hub URL (both in there)."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                str(BIN / "kiosk"), "run", "--simulate", "--no-ui",
                "--identity-dir", str(kiosk.identity_dir),
                "--ice-host", "127.0.0.1",
                "--stats-file", str(stack.stats_file),
                "--vault", str(stack.workdir / "vault"),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip


def wipe_reports(log: Path) -> list[tuple[int, dict[str, Any]]]:
    """The kiosk's wipe reports (`session wiped: {...}`) with where each is in the log."""
    text = log.read_text(errors="replace")
    found = re.finditer(r"session wiped: (\{.*\})", text)
    return [(m.start(), json.loads(m.group(1))) for m in found]


def vault_files(vault: Path) -> list[Path]:
    """The files in the vault; the vault must be the kiosk's tmpfs."""
    assert os.path.ismount(vault), "the kiosk mounts a tmpfs at its vault"
    return [p for p in vault.rglob("*") if p.is_file()]


async def run(*args: str) -> tuple[int, str]:
    """A command line tool's exit status and output, without blocking the call's loop."""
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    async with asyncio.timeout(30):
        out, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(errors="replace")


async def send_document(
    http: Any, url: str, adviser: AdviserPeer, cid: str, name: str, body: bytes
) -> None:
    """The console's push of a document: sealed into the relay, offered on the data channel."""
    await push_document(http, url, adviser, cid, name, body)
    digest = hashlib.sha256(body).hexdigest()
    done = await from_kiosk(adviser, channel.FileDone)
    assert (done.id, done.sha256) == ("push-canary01", digest)


async def test_revoke_mid_call_ends_the_call_wipes_and_keeps_the_kiosk_out(stack: Stack) -> None:
    canary = "CANARY-" + secrets.token_hex(8)
    enrolled = enrol(stack, stack.workdir / "hub-secret", "kiosk-7")
    log = stack.workdir / "kiosk.log"
    kiosk = start_kiosk(stack, enrolled, log)
    stack.kiosk = kiosk  # stopped with the stack whatever happens
    vault = stack.workdir / "vault"
    hub = SimpleNamespace(url=stack.url, ws_url=f"ws://127.0.0.1:{stack.port}")
    async with http_session() as http:
        peer = await connect_adviser(http, hub, stack.adviser, stack.password)  # type: ignore[arg-type]
        console = ConsoleSignalling(peer)
        adviser = AdviserPeer()
        try:
            async with asyncio.timeout(30):
                while not (queue := await console.next_of(messages.Queue, within=30)).entries:
                    pass
            (entry,) = queue.entries
            assert entry.device == "kiosk-7"
            cid = entry.consultation_id
            await peer.send(messages.Accept(consultation_id=cid))
            await console.next_of(messages.Accepted)
            await peer.send(messages.SasCommit(consultation_id=cid, commitment=adviser.commitment))
            await answer(peer, adviser, await console.next_of(messages.Offer, within=20))
            verified = await adviser.wait_checked(20)
            assert verified is not None, adviser.verification_error
            await adviser.wait_chat(1)  # the simulated customer greets: the call is up

            # The customer receives a document: now the session vault holds customer content.
            body = b"%PDF-1.4\n" + (canary.encode() + b" ") * 2000 + b"\n%%EOF\n"
            await send_document(http, stack.url, adviser, cid, f"{canary}.pdf", body)
            assert vault_files(vault)
            assert canary.encode() not in everything_in(vault)  # sealed at rest, names too
            wipes_before = len(wipe_reports(log))

            # The administrator retires the device in the middle of the call.
            status, said = await run(
                str(BIN / "kiosk-hub"), "device", "revoke", "kiosk-7", "--db", str(stack.db)
            )
            assert status == 0, said

            # The adviser is told the consultation is over, and the kiosk hangs up its side.
            ended = await console.next_of(messages.Ended, within=15)
            assert (ended.consultation_id, ended.reason) == (cid, "peer_gone")
            await wait_until(lambda: adviser.bye_received, 15, "the kiosk's bye")
            await wait_until(lambda: kiosk.poll() is not None, 20, "the revoked kiosk to stop")
        finally:
            await adviser.close(bye=False)
            await console.close()

    # Stopped for good with its documented exit code, saying what to do.
    assert kiosk.returncode == EXIT_REJECTED
    text = log.read_text(errors="replace")
    assert "the hub revoked this kiosk's certificate" in text
    (call,) = stack.kiosk_calls()
    assert call["verified"] and call["end_reason"]
    # The session's content was wiped when the call ended, not only at exit, and verified;
    # the vault's tmpfs was remounted and is empty.
    (at, session), *rest = wipe_reports(log)[wipes_before:]
    assert session["trigger"] != "shutdown" and session["files"] >= 1, session
    assert text.index("call ended") < at
    assert all(w["verified"] and w["remounted"] for w in [session] + [w for _, w in rest])
    assert vault_files(vault) == []

    # Started again (a technician power-cycles it), the hub refuses the revoked certificate.
    again_log = stack.workdir / "kiosk-again.log"
    again = start_kiosk(stack, enrolled, again_log)
    stack.kiosk = again
    await wait_until(lambda: again.poll() is not None, 30, "the restarted kiosk's refusal")
    assert again.returncode == EXIT_REJECTED
    again_text = again_log.read_text(errors="replace")
    assert "the hub refused this kiosk's certificate" in again_text
    assert "connected to the hub" not in again_text

    # The canary is nowhere: no log line, no stats line, the hub's database, the vault.
    stack.stop()
    assert canary.encode() not in everything_in(stack.workdir)
