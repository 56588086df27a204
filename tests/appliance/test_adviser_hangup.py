"""The adviser ends a call (``bye`` on the data channel, ``end`` to the hub): a normal path.

Whichever arrives first at the kiosk, the data channel's ``bye`` or the hub's ``ended``, and a
normal stop afterwards, the kiosk logs nothing at WARNING or above: warnings on normal paths
teach operators to ignore them. The order is made deterministic by holding the hub's frames to
the kiosk in a relay between them (as a slow signalling path would), not by sleeping.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from appliance.runner.kiosk import Kiosk
from protocol import channel, messages
from tests.support.call import (
    PASSWORD,
    ConsoleSignalling,
    kiosk_config,
    running_kiosk,
    take_verified_call,
)
from tests.support.hub import http_session, running_hub

pytestmark = [pytest.mark.usefixtures("loopback_only_netns"), pytest.mark.timeout(90)]


@asynccontextmanager
async def held_relay(hub_port: int) -> AsyncIterator[tuple[int, asyncio.Event]]:
    """A TCP relay on 127.0.0.1 to the hub; the hub's bytes to the kiosk wait while the event
    is clear (the kiosk's to the hub always pass)."""
    flowing = asyncio.Event()
    flowing.set()
    tasks: set[asyncio.Task[None]] = set()

    async def pipe(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, gate: asyncio.Event | None
    ) -> None:
        try:
            while data := await reader.read(65536):
                if gate is not None:
                    await gate.wait()
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", hub_port)
        except OSError:
            writer.close()
            return
        for task in (
            asyncio.create_task(pipe(reader, up_writer, None)),
            asyncio.create_task(pipe(up_reader, writer, flowing)),
        ):
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    server = await asyncio.start_server(relay, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], flowing
    finally:
        flowing.set()
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def hub_processed(console: ConsoleSignalling) -> None:
    """Wait until the hub handled every frame the console sent so far: it answers a heartbeat
    in order (the console's own heartbeats are stopped first)."""
    if console.heartbeat is not None:
        console.heartbeat.cancel()
    await console.peer.send(messages.Heartbeat(ts=1))
    async with asyncio.timeout(10):
        while not isinstance(await console.peer.receive(), messages.Heartbeat):
            pass


async def requeued(kiosk: Kiosk) -> None:
    """The kiosk queues again and heard its new position (the hub answered everything since)."""
    async with asyncio.timeout(15):
        await kiosk.wait_for(
            lambda: kiosk.phase == "queueing" and kiosk.consultation.state.position is not None
        )


def kiosk_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.startswith("appliance")
    ]


async def test_bye_before_the_hubs_ended_logs_no_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="appliance")
    caplog.set_level(logging.DEBUG, logger="hub")
    async with running_hub(tmp_path) as hub, http_session() as http:
        token = hub.add_device("kiosk-1")
        hub.add_adviser("ann", PASSWORD)
        port = int(hub.ws_url.rsplit(":", 1)[1])
        async with held_relay(port) as (relay_port, flowing):
            config = replace(kiosk_config(hub, token), hub_url=f"ws://127.0.0.1:{relay_port}")
            async with running_kiosk(config) as kiosk:
                async with asyncio.timeout(10):
                    await kiosk.wait_state("queueing")
                console, adviser, cid, _secret = await take_verified_call(http, hub, kiosk)
                try:
                    # The console's `end` reaches the hub; its `ended` to the kiosk is slow.
                    flowing.clear()
                    await console.peer.send(messages.End(consultation_id=cid, reason="hangup"))
                    await hub_processed(console)
                    # Then the bye, straight over the data channel: the kiosk answers with its
                    # own `end`, which reaches the hub after the consultation is over.
                    adviser.send(channel.Bye())
                    async with asyncio.timeout(15):
                        await kiosk.wait_for(lambda: kiosk.phase == "queueing")
                    assert kiosk.stats[0].end_reason == "hangup"
                    flowing.set()
                    await requeued(kiosk)
                finally:
                    flowing.set()
                    await adviser.close(bye=False)
                    await console.close()
    assert kiosk_warnings(caplog) == []
    # The race really happened: the kiosk's `end` came after the consultation had ended.
    late = "a kiosk's end came after its consultation had ended"
    assert any(r.getMessage() == late for r in caplog.records)


async def test_hubs_ended_before_the_bye_logs_no_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="appliance")
    async with running_hub(tmp_path) as hub, http_session() as http:
        token = hub.add_device("kiosk-1")
        hub.add_adviser("ann", PASSWORD)
        async with running_kiosk(kiosk_config(hub, token)) as kiosk:
            async with asyncio.timeout(10):
                await kiosk.wait_state("queueing")
            console, adviser, cid, _secret = await take_verified_call(http, hub, kiosk)
            try:
                await console.peer.send(messages.End(consultation_id=cid, reason="hangup"))
                await requeued(kiosk)  # the hub's `ended` is handled...
                await adviser.close()  # ...before the bye (if the channel still takes it)
                assert kiosk.stats[0].end_reason == "hangup"
            finally:
                await console.close()
    # The normal stop (running_kiosk's end) is part of this too.
    assert any("hub session ended: kiosk stopping" in r.getMessage() for r in caplog.records)
    assert kiosk_warnings(caplog) == []
