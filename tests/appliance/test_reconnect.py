"""Reconnection through the real hub with an aiortc adviser (docs/reconnection.md).

The media path dies while signalling stays up (noticed by ``beat``), the hub restarts mid-call,
a resumed adviser that cannot prove the continuity secret is refused, and the kiosk's whole
network goes away for 2 s, 20 s and 90 s (``kiosk run`` in a child network namespace whose
link is cut: testbed/netns.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import av
import pytest

from appliance.call.connection import DEAD_AFTER_S, CallError
from appliance.call.ice import use_host_addresses
from appliance.config.vault import VaultSettings
from appliance.custody.session import SessionCustody
from appliance.custody.vault import ArtifactKind
from appliance.runner.simulated_customer import AUTO_REPLY, GREETING
from protocol import channel, messages
from testbed.stack import free_port
from tests.support.adviser import AdviserPeer, AdviserResume
from tests.support.call import (
    PASSWORD,
    ConsoleSignalling,
    accept_first,
    answer,
    kiosk_config,
    running_kiosk,
    take_verified_call,
)
from tests.support.hub import RunningHub, connect_adviser, http_session, running_hub
from tests.support.netns import ChildNetns, child_netns, forward_tcp

pytestmark = [pytest.mark.usefixtures("loopback_only_netns"), pytest.mark.timeout(120)]


async def resumed_adviser(
    console: ConsoleSignalling,
    cid: str,
    secret: bytes,
    *,
    share_screen: bool = False,
    prove: bool = True,
) -> AdviserPeer:
    """Answer the kiosk's next offer with a new peer connection that proves ``secret``."""
    offer = await console.next_of(messages.Offer, within=30)
    assert offer.consultation_id == cid
    adviser = AdviserPeer(resume=AdviserResume(cid, secret), share_screen=share_screen, prove=prove)
    await answer(console.peer, adviser, offer)
    return adviser


async def test_dead_media_path_is_noticed_by_beat_and_heals_with_history(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    screen: list[av.VideoFrame] = []
    screen_seen = asyncio.Event()

    class ScreenWatcher:
        def changed(self) -> None: ...
        def video_frame(self, frame: av.VideoFrame) -> None: ...
        def chat_received(self, text: str) -> None: ...
        def channel_opened(self) -> None: ...
        def screen_frame(self, frame: av.VideoFrame) -> None:
            screen.append(frame)
            screen_seen.set()

    async with running_hub(tmp_path, heartbeat_s=2) as hub, http_session() as http:
        token = hub.add_device("kiosk-1")
        hub.add_adviser("ann", PASSWORD)
        vault = VaultSettings(path=tmp_path / "vault", size_bytes=16 * 1024 * 1024)
        custody = SessionCustody(vault, production=False, privileged=False)
        async with running_kiosk(kiosk_config(hub, token), custody) as kiosk:
            kiosk.add_observer(ScreenWatcher())
            async with asyncio.timeout(10):
                await kiosk.wait_state("queueing")
            console, first, cid, secret = await take_verified_call(http, hub, kiosk)
            first_call = kiosk.call
            exchange = kiosk.exchange  # made when the adviser was verified
            assert exchange is not None
            try:
                first.freeze()  # packets stop both ways; the signalling stays up
                async with asyncio.timeout(15):
                    await kiosk.wait_state("reconnecting")
                assert kiosk.reconnecting
                # Same consultation, a new peer connection, no commitment asked for.
                second = await resumed_adviser(console, cid, secret, share_screen=True)
                try:
                    async with asyncio.timeout(20):
                        await kiosk.wait_state("in_call")
                        proof = await second.wait_checked(10)
                        assert proof is not None, second.verification_error
                        await kiosk.wait_for(
                            lambda: kiosk.call is not None and kiosk.call.verification is not None
                        )
                        history = await second.wait_history(3, 10)
                        await second.probe.wait_video(5)
                        # The adviser's "screen" arrives on the second, receive-only video.
                        await screen_seen.wait()
                    assert [(h.author, h.text) for h in history] == [
                        ("kiosk", GREETING),
                        ("adviser", "How can I help?"),
                        ("kiosk", AUTO_REPLY),
                    ]
                    assert history[1].id == "adv-1"
                    assert kiosk.call is not first_call
                    assert kiosk.exchange is exchange  # the session's exchange lives on
                    # The same four words: the resumed call is as verified as the first.
                    assert kiosk.verification_code is not None
                    # Chat goes on in the healed call.
                    kiosk.send_chat("still there?")
                    await asyncio.wait_for(second.wait_chat(1), 10)
                    assert second.chat_in[-1].text == "still there?"
                    # The adviser hangs up: bye, and the session ends and wipes.
                    await second.close()
                    async with asyncio.timeout(10):
                        await kiosk.wait_for(lambda: kiosk.exchange is None)
                        await kiosk.wait_state("queueing")
                finally:
                    await second.close()
            finally:
                await first.close(bye=False)
                await console.close()
        # Secrets and chat never reach a log line.
        for secret_text in (secret.hex(), GREETING, "How can I help?", "still there?"):
            assert secret_text not in caplog.text
        (stats,) = kiosk.stats
        assert stats.end_reason == "hangup"
        assert "ended" in [report.trigger for report in custody.reports]  # wiped at the end
        assert stats.consultation_id == cid
        assert stats.reconnects == 1
        # Noticed by beat silence (not by ICE, which the frozen peer still answers).
        assert stats.reconnect_causes == ["silence"]
        (detected,) = stats.detection_ms
        assert detected >= DEAD_AFTER_S * 1000  # silent for the whole dead-after period
        assert len(stats.reconnect_ms) == 1
        assert stats.verified and stats.verification_failed is None


async def test_hostile_resume_proof_ends_with_the_verification_warning(tmp_path: Path) -> None:
    async with running_hub(tmp_path, heartbeat_s=2) as hub, http_session() as http:
        token = hub.add_device("kiosk-1")
        hub.add_adviser("ann", PASSWORD)
        async with running_kiosk(kiosk_config(hub, token)) as kiosk:
            async with asyncio.timeout(10):
                await kiosk.wait_state("queueing")
            console, first, cid, _secret = await take_verified_call(http, hub, kiosk)
            try:
                first.freeze()
                # A peer that does not know the secret (a hub in the middle, say).
                forged = await resumed_adviser(console, cid, bytes(32))
                try:
                    async with asyncio.timeout(20):
                        await kiosk.wait_for(lambda: kiosk.last_call_unverified)
                    assert await forged.wait_checked(10) is None
                    assert forged.verification_error == "proof_mismatch"
                    assert forged.history == []  # nothing of the session went out
                    ended = await console.next_of(messages.Ended)
                    assert ended.consultation_id == cid
                finally:
                    await forged.close()
            finally:
                await first.close(bye=False)
                await console.close()
        done = kiosk.stats[0]
        assert done.end_reason == "failed"
        assert done.verification_failed == "proof_mismatch"
        assert not done.verified


async def test_a_resumed_call_that_never_proves_gets_nothing_and_grace_ends_it(
    tmp_path: Path,
) -> None:
    # A far end that connects (ICE, DTLS, even the channel) and beats but never proves the
    # continuity secret: no file offer, no chat, no code on the screen, the phase stays
    # reconnecting, and the kiosk's grace timer (not the verify deadline) ends the session.
    async with running_hub(tmp_path, heartbeat_s=2, grace_s=7) as hub, http_session() as http:
        token = hub.add_device("kiosk-1")
        hub.add_adviser("ann", PASSWORD)
        vault = VaultSettings(path=tmp_path / "vault", size_bytes=16 * 1024 * 1024)
        custody = SessionCustody(vault, production=False, privileged=False)
        async with running_kiosk(kiosk_config(hub, token), custody) as kiosk:
            async with asyncio.timeout(10):
                await kiosk.wait_state("queueing")
            console, first, cid, secret = await take_verified_call(http, hub, kiosk)
            exchange = kiosk.exchange
            assert exchange is not None and kiosk.verification_code is not None
            try:
                first.freeze()
                async with asyncio.timeout(15):
                    await kiosk.wait_state("reconnecting")
                silent = await resumed_adviser(console, cid, secret, prove=False)
                try:
                    # The kiosk's own proof went out: its new call is connected, channel open.
                    assert await silent.wait_checked(15) is not None
                    assert kiosk.call is not None and kiosk.call.channel_open
                    # A file the customer sends now is uploaded, but its offer (blob and
                    # key) does not go to a far end that has not proved itself.
                    await exchange.send_file(
                        ArtifactKind.FILE_SENT, "note.pdf", "application/pdf", b"%PDF-1.4\n"
                    )
                    with pytest.raises(CallError):
                        kiosk.send_chat("my account number")
                    assert kiosk.phase == "reconnecting"
                    assert kiosk.verification_code is None
                    async with asyncio.timeout(20):
                        await kiosk.wait_state("queueing")
                    assert not any(isinstance(m, channel.FileOffer) for m in silent.other_in)
                    assert silent.chat_in == [] and silent.history == []
                finally:
                    await silent.close()
            finally:
                await first.close(bye=False)
                await console.close()
        (stats,) = kiosk.stats
        assert stats.end_reason == "peer_gone"  # the grace timer, not the verify deadline
        assert stats.reconnect_ms == []  # never counted as healed
        assert stats.verification_failed is None


async def test_hub_restart_mid_call_heals(tmp_path: Path) -> None:
    port = free_port()
    async with AsyncExitStack() as first_hub, http_session() as http:
        hub = await first_hub.enter_async_context(running_hub(tmp_path, port=port, heartbeat_s=2))
        token = hub.add_device("kiosk-1")
        hub.add_adviser("ann", PASSWORD)
        async with running_kiosk(kiosk_config(hub, token)) as kiosk:
            async with asyncio.timeout(10):
                await kiosk.wait_state("queueing")
            console, first, cid, secret = await take_verified_call(http, hub, kiosk)
            grant = console.grant
            assert grant is not None and grant.consultation_id == cid
            try:
                await first_hub.aclose()  # it closes every connection, the console's too
                async with asyncio.timeout(15):
                    await kiosk.wait_state("reconnecting")
                async with running_hub(tmp_path, port=port, heartbeat_s=2) as hub2:
                    # The console comes back too and resumes with its own token.
                    console = ConsoleSignalling(await connect_adviser(http, hub2, "ann", PASSWORD))
                    await console.peer.send(messages.Resume(consultation_id=cid, token=grant.token))
                    await first.close(bye=False)  # the console drops its dead connection
                    second = await resumed_adviser(console, cid, secret)
                    try:
                        async with asyncio.timeout(30):
                            await kiosk.wait_state("in_call")
                            assert await second.wait_checked(10) is not None
                            history = await second.wait_history(3, 10)
                        assert [h.text for h in history] == [
                            GREETING,
                            "How can I help?",
                            AUTO_REPLY,
                        ]
                        assert kiosk.stats[-1].reconnect_causes == ["hub_lost"]
                    finally:
                        await second.close()
                        await console.close()
            finally:
                await first.close(bye=False)
        (stats,) = kiosk.stats
        assert stats.consultation_id == cid and stats.reconnects == 1


# -- the kiosk's whole network goes away (testbed/netns.py) --------------------------------


@dataclass
class KioskProcess:
    """``kiosk run`` in the child namespace; its status lines (no personal data) collected."""

    process: asyncio.subprocess.Process
    stats_file: Path
    lines: list[str]

    async def wait_line(self, text: str, within: float, start: int = 0) -> int:
        """The index of the first status line from ``start`` on that contains ``text``."""
        async with asyncio.timeout(within):
            while True:
                for i in range(start, len(self.lines)):
                    if text in self.lines[i]:
                        return i
                if self.process.returncode is not None:
                    raise AssertionError(f"the kiosk exited: {self.lines[-20:]}")
                await asyncio.sleep(0.1)


@asynccontextmanager
async def kiosk_process(
    ns: ChildNetns, hub_port: int, token: str, tmp_path: Path
) -> AsyncIterator[KioskProcess]:
    (tmp_path / "token").write_text(token, encoding="utf-8")
    config = tmp_path / "kiosk.toml"
    config.write_text("[reconnect]\nmin_s = 0.2\nmax_s = 1.0\n", encoding="utf-8")
    stats = tmp_path / "calls.jsonl"
    kiosk_bin = Path(sys.executable).parent / "kiosk"
    argv = ns.command(
        str(kiosk_bin),
        "run",
        "--config",
        str(config),
        "--hub",
        f"ws://{ns.host_addr}:{hub_port}",
        "--token-file",
        str(tmp_path / "token"),
        "--simulate",
        "--ice-host",
        ns.child_addr,
        "--stats-file",
        str(stats),
        "--vault",
        str(tmp_path / "vault"),
    )
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    lines: list[str] = []

    async def read() -> None:
        assert process.stdout is not None
        while line := await process.stdout.readline():
            lines.append(line.decode(errors="replace").rstrip())

    reader = asyncio.create_task(read())
    try:
        yield KioskProcess(process, stats, lines)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(15):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
        await reader


@asynccontextmanager
async def cut_setup(
    tmp_path: Path, grace_s: int = 60
) -> AsyncIterator[tuple[ChildNetns, RunningHub, KioskProcess, aiohttp.ClientSession]]:
    with child_netns() as ns:
        # The adviser (this process) gathers ICE on our end of the link.
        use_host_addresses([ns.host_addr])
        async with running_hub(tmp_path, heartbeat_s=2, grace_s=grace_s) as hub:
            token = hub.add_device("kiosk-1")
            hub.add_adviser("ann", PASSWORD)
            port = int(hub.url.rsplit(":", 1)[1])
            async with (
                forward_tcp(ns.host_addr, port) as relay_port,
                kiosk_process(ns, relay_port, token, tmp_path) as kiosk,
                http_session() as http,
            ):
                await kiosk.wait_line("waiting in the queue", 30)
                yield ns, hub, kiosk, http


async def take_remote_call(
    http: aiohttp.ClientSession, hub: RunningHub
) -> tuple[ConsoleSignalling, AdviserPeer, str, bytes]:
    """Like ``take_verified_call``, for a kiosk in another process: the adviser's view only."""
    console, adviser, cid = await accept_first(http, hub)
    async with asyncio.timeout(30):
        assert await adviser.wait_checked(20) is not None, adviser.verification_error
        secret = await adviser.wait_continuity(10)
        await adviser.wait_chat(1)
        await adviser.send_chat("How can I help?", chat_id="adv-1")
        await adviser.wait_chat(2)
    return console, adviser, cid, secret


async def chat_round_trip(adviser: AdviserPeer, text: str) -> None:
    """The adviser writes; the simulated customer answers: the call carries data again."""
    before = len(adviser.chat_in)
    await adviser.send_chat(text, chat_id=f"adv-{before}")
    async with asyncio.timeout(15):
        await adviser.wait_chat(before + 1)
    assert adviser.chat_in[-1].text == AUTO_REPLY


async def heal_as_console(
    console: ConsoleSignalling, first: AdviserPeer, cid: str, secret: bytes, offer_within: float
) -> AdviserPeer:
    """Answer the kiosk's new offer with a resumed peer, and check proof and history."""
    offer = await console.next_of(messages.Offer, within=offer_within)
    assert offer.consultation_id == cid
    await first.close(bye=False)  # the console drops its dead peer connection
    second = AdviserPeer(resume=AdviserResume(cid, secret))
    await answer(console.peer, second, offer)
    assert await second.wait_checked(30) is not None, second.verification_error
    history = await second.wait_history(3, 10)
    assert [h.text for h in history[:3]] == [GREETING, "How can I help?", AUTO_REPLY]
    return second


@pytest.mark.timeout(150)
async def test_a_2_s_network_cut_heals(tmp_path: Path) -> None:
    async with cut_setup(tmp_path) as (ns, hub, kiosk, http):
        console, adviser, cid, secret = await take_remote_call(http, hub)
        try:
            ns.cut()
            await asyncio.sleep(2)
            ns.heal()
            # Two seconds may pass under the dead-path limit (3 s of silence), or just reach
            # it with the last beat a second older: either the call carries on, or it heals.
            mark = len(kiosk.lines)
            try:
                await chat_round_trip(adviser, "are you still there?")
            except TimeoutError:
                await kiosk.wait_line("reconnecting the call", 5, mark)
                adviser = await heal_as_console(console, adviser, cid, secret, 30)
                await chat_round_trip(adviser, "and now?")
        finally:
            await adviser.close()
            await console.close()
        await kiosk.wait_line("call ended (hangup)", 15)
    (line,) = kiosk.stats_file.read_text(encoding="utf-8").splitlines()
    stats = json.loads(line)
    assert stats["consultation_id"] == cid and stats["end_reason"] == "hangup"
    assert stats["reconnects"] in (0, 1)


@pytest.mark.timeout(180)
async def test_a_20_s_network_cut_heals_with_the_same_consultation(tmp_path: Path) -> None:
    async with cut_setup(tmp_path) as (ns, hub, kiosk, http):
        console, first, cid, secret = await take_remote_call(http, hub)
        second: AdviserPeer | None = None
        try:
            mark = len(kiosk.lines)
            ns.cut()
            await asyncio.sleep(20)
            await kiosk.wait_line("reconnecting the call", 1, mark)  # noticed during the cut
            ns.heal()
            second = await heal_as_console(console, first, cid, secret, 60)
            await kiosk.wait_line("in call again: reconnected", 15, mark)
            await chat_round_trip(second, "welcome back")
        finally:
            await first.close(bye=False)
            if second is not None:
                await second.close()
            await console.close()
        await kiosk.wait_line("call ended (hangup)", 15)
    (line,) = kiosk.stats_file.read_text(encoding="utf-8").splitlines()
    stats = json.loads(line)
    assert stats["consultation_id"] == cid and stats["end_reason"] == "hangup"
    assert stats["reconnects"] >= 1 and stats["reconnect_causes"][0] == "silence"
    assert "welcome back" not in "\n".join(kiosk.lines)  # chat is never logged


async def cut_beyond_grace(tmp_path: Path, cut_s: float, grace_s: int = 60) -> None:
    """Cut for longer than the grace period: the consultation ends and the session wipes."""
    async with cut_setup(tmp_path, grace_s=grace_s) as (ns, hub, kiosk, http):
        console, adviser, cid, _secret = await take_remote_call(http, hub)
        loop = asyncio.get_running_loop()
        try:
            mark = len(kiosk.lines)
            ns.cut()
            healed_at = loop.time() + cut_s
            # The hub gives up on the kiosk after its grace period and tells the adviser.
            ended = await console.next_of(messages.Ended, within=cut_s)
            assert ended.consultation_id == cid and ended.reason == "peer_gone"
            # The kiosk, alone, ends the session on its own grace timer and wipes.
            ended_at = await kiosk.wait_line("call ended (peer_gone)", cut_s, mark)
            await kiosk.wait_line("session storage wiped", 30, ended_at)
            await asyncio.sleep(max(0.0, healed_at - loop.time()))
            ns.heal()
            # Back on the network, the kiosk queues for the next customer.
            while True:
                queue = await console.next_of(messages.Queue, within=30)
                if queue.entries:
                    assert queue.entries[0].consultation_id != cid
                    break
        finally:
            await adviser.close(bye=False)
            await console.close()
    (line,) = kiosk.stats_file.read_text(encoding="utf-8").splitlines()
    stats = json.loads(line)
    assert stats["consultation_id"] == cid and stats["end_reason"] == "peer_gone"
    assert stats["reconnects"] == 1


@pytest.mark.timeout(240)
async def test_a_90_s_network_cut_outlasts_the_default_grace_and_wipes(tmp_path: Path) -> None:
    await cut_beyond_grace(tmp_path, 90)


@pytest.mark.timeout(120)
async def test_a_cut_beyond_a_short_grace_ends_and_wipes(tmp_path: Path) -> None:
    await cut_beyond_grace(tmp_path, 25, grace_s=5)
