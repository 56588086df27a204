"""The consultation's exchange (docs/exchange.md), as the kiosk's shell wires it.

Made once, when the adviser is first verified, and kept across reconnections (the files, the
open request and the documents belong to the consultation); closed when it ends. Without
session custody (nowhere to keep files) there is none. The relay's HTTP session is made on first
use and lives as long as the kiosk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import aiohttp
import av

from appliance.call.connection import ExchangeMessage
from appliance.config.kiosk import KioskConfig
from appliance.custody.archive import ArchiveClient, ArchiveOutcome, Archiver
from appliance.custody.session import SessionCustody
from appliance.exchange.service import Exchange, limits_from, scan_settings_from
from appliance.exchange.state import ExchangeState
from appliance.exchange.transfer import RelayClient
from appliance.signing.setup import SigningSetup
from drivers.scanner import DocumentScanner
from protocol.channel import ChannelMessage, HistoryChat

log = logging.getLogger(__name__)


class ConsultationExchange:
    """The exchange of the current consultation, if any, and the work it runs on the loop."""

    def __init__(
        self,
        config: KioskConfig,
        *,
        custody: SessionCustody | None,
        scanner: DocumentScanner | None,
        send: Callable[[ChannelMessage], None],
        latest_frame: Callable[[], av.VideoFrame | None],
        on_change: Callable[[ExchangeState | None], None],
        signing: SigningSetup | None = None,
    ) -> None:
        self._config = config
        self._custody = custody
        self._scanner = scanner
        self._send = send
        self._latest_frame = latest_frame
        self._on_change = on_change
        self.signing = signing or SigningSetup()  # the tenant's trustee comes with the welcome
        self.max_file_bytes: int | None = None  # the tenant's, from the hub's welcome
        self.relay_token: str | None = None  # the current connection's, from its welcome
        self.exchange: Exchange | None = None
        self._http: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # what the tenant keeps (its welcome says), sealed and uploaded before each wipe
        self.archiver = Archiver(
            ArchiveClient(
                self._http_session, hub_url=config.kiosk_ws_url, token=self._relay_credential
            ),
            anchors=self.signing.anchors,
        )

    def open(self, consultation_id: str) -> None:
        """Make the consultation's exchange, once; without one the call still runs."""
        if self.exchange is not None:
            return
        try:
            self.exchange = self._make(consultation_id)
        except Exception:  # without an exchange the call still runs (chat, video)
            log.exception("could not start the exchange")
            self.exchange = None

    def handle(self, message: ExchangeMessage) -> None:
        """Hand the adviser's message to the exchange (dropped, and logged, without one)."""
        exchange = self.exchange
        if exchange is None:
            log.info("dropped a %s message: no exchange", message.TYPE)
            return
        self._spawn(exchange.handle(message))

    def connection_lost(self) -> None:
        """The call dropped: transfers and requests wait for the next one."""
        if self.exchange is not None:
            self.exchange.connection_lost()

    def resend_offers(self) -> None:
        """A resumed call proved itself: offer the files the adviser may not have yet."""
        if self.exchange is not None:
            self._spawn(self.exchange.resend_offers())

    def exchange_changed(self, state: ExchangeState) -> None:
        """The exchange's own observer: its new snapshot goes on to the kiosk's observers."""
        self._on_change(state)

    async def archive(self, consultation_id: str, chat: Sequence[HistoryChat]) -> ArchiveOutcome:
        """Seal and upload what the tenant keeps of the consultation; call before the wipe."""
        custody = self._custody
        wanted = "contract" in self.archiver.kinds and custody is not None and custody.ready
        vault = custody.vault if wanted and custody is not None else None
        return await self.archiver.archive(consultation_id, vault, chat)

    async def close(self) -> None:
        """The consultation is over: close its exchange and stop its work."""
        exchange, self.exchange = self.exchange, None
        if exchange is not None:
            with contextlib.suppress(Exception):
                await exchange.close()
            self._on_change(None)
        tasks, self._tasks = self._tasks, set()
        for task in tasks:
            task.cancel()

    async def shutdown(self) -> None:
        """The kiosk stops: close the relay's HTTP session."""
        if self._http is not None:
            await self._http.close()

    def _make(self, consultation_id: str) -> Exchange | None:
        custody = self._custody
        if custody is None or not custody.ready:
            return None
        relay = RelayClient(
            self._http_session(),
            hub_url=self._config.kiosk_ws_url,
            token=self._relay_credential,  # asked per request: a reconnection brings a new one
            consultation_id=consultation_id,
        )
        settings = self._config.exchange
        tenant_max = self.max_file_bytes
        limits = limits_from(
            settings, tenant_max if tenant_max is not None else settings.max_file_bytes
        )
        exchange = Exchange(
            vault=custody.vault,
            send=self._send,
            relay=relay,
            scanner=self._scanner,
            latest_frame=self._latest_frame,
            limits=limits,
            # The customer decides (the screen, or the simulated customer as an observer).
            auto_confirm=False,
            observer=self,
            photo_countdown_s=settings.photo_countdown_s,
            scan_settings=scan_settings_from(settings),
        )
        exchange.signatures = self.signing.desk(exchange, self._send)
        return exchange

    def _relay_credential(self) -> str:
        """The relay token of the hub connection; an older hub's relay takes the device token."""
        return self.relay_token or self._config.token or ""

    def _http_session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession()
        return self._http

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
