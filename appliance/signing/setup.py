"""How the kiosk's shell makes a consultation's signature desk (appliance.runner wires it).

One :class:`SigningSetup` lives as long as the kiosk: it holds the tablet, the identity store,
the configuration's pin and what the hub's latest welcome said about the tenant's trustee and
timestamp authority. Each consultation's exchange gets a fresh :class:`SignatureDesk` from it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509

from appliance.exchange.service import Exchange
from appliance.signing.service import MAX_SAMPLES, SignatureDesk
from appliance.signing.state import SignatureTask
from appliance.signing.trust import (
    SignatureUnavailable,
    TrusteeChoice,
    device_identity,
    pinned_digests,
    trustee_from_welcome,
)
from drivers.tablet import SignatureTablet
from protocol.channel import ChannelMessage
from provisioning.identity import Identity, IdentityStore

log = logging.getLogger(__name__)


class SigningSetup:
    """The kiosk-wide parts of signing; ``desk`` makes one consultation's desk."""

    def __init__(
        self,
        *,
        tablet: SignatureTablet | None = None,
        identity: IdentityStore | None = None,
        pinned_cert: Path | None = None,
        max_seconds: int = 120,
        on_change: Callable[[SignatureTask | None], None] = lambda _task: None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.tablet = tablet
        self._identity = identity
        self._pinned_path = pinned_cert
        self._max_seconds = max_seconds
        self._on_change = on_change
        self._now = now
        self._trustee_cert: str | None = None
        self._trustee_name: str | None = None
        self._tsa_url: str | None = None

    def welcomed(
        self, trustee_cert: str | None, trustee_name: str | None, tsa_url: str | None
    ) -> None:
        """The hub's welcome: the tenant's trustee and timestamp authority (None: none)."""
        self._trustee_cert = trustee_cert
        self._trustee_name = trustee_name
        self._tsa_url = tsa_url

    def desk(self, exchange: Exchange, send: Callable[[ChannelMessage], None]) -> SignatureDesk:
        """A fresh desk for the consultation of ``exchange``."""
        rate = self.tablet.info.report_rate_hz if self.tablet is not None else 500.0
        cap = min(MAX_SAMPLES, max(1, round(self._max_seconds * max(rate, 1.0))))
        return SignatureDesk(
            vault=exchange.vault,
            lookup=exchange.stored,
            send=send,
            send_file=exchange.send_signed,
            tablet=self.tablet,
            trustee=self._trustee,
            identity=self._device,
            tsa_url=lambda: self._tsa_url,
            observer=_Forward(self._on_change),
            max_samples=cap,
            clock=self._now,
        )

    def _trustee(self) -> TrusteeChoice:
        identity = self._device()
        try:
            pinned = pinned_digests(self._pinned_path)
        except ValueError as exc:  # the technician's file: its path and problem are no secret
            log.warning("signature: %s", exc)
            raise SignatureUnavailable("trustee_untrusted", str(exc)) from None
        return trustee_from_welcome(
            self._trustee_cert,
            self._trustee_name,
            anchors=(identity.ca_certificate,),
            pinned=pinned,
            now=self._now(),
        )

    def anchors(self) -> tuple[x509.Certificate, ...]:
        """The tenant CA the kiosk enrolled with (what the archive certificate must be signed
        by); () when not enrolled."""
        try:
            return (self._device().ca_certificate,)
        except SignatureUnavailable:
            return ()

    def _device(self) -> Identity:
        return device_identity(self._identity)


class _Forward:
    """The desk's observer: hands every snapshot to the kiosk's observers."""

    def __init__(self, on_change: Callable[[SignatureTask | None], None]) -> None:
        self._on_change = on_change

    def signature_changed(self, task: SignatureTask | None) -> None:
        self._on_change(task)
