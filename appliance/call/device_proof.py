"""The kiosk's device proof for one call: which device the customer sits at.

An enrolled kiosk signs ``provisioning.challenge.call_payload(consultation id, its own DTLS
fingerprint, the adviser's SAS commitment)`` with its device key and sends the signature and
its certificate as ``device_proof``, right after its ``sas_reveal`` (on a resumed connection
after its ``resume_proof``, signing that proof's MAC in place of the commitment, which a
resumed connection does not have). The console checks it against the tenant CA it pinned and
shows the device's name; a proof made for another connection proves a man in the middle
(docs/verification.md "Which device"). A kiosk without an identity (a token kiosk) sends none.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from protocol import channel
from provisioning import challenge
from provisioning.identity import Identity, IdentityError, IdentityStore

log = logging.getLogger(__name__)


class DeviceSigner(Protocol):
    """The device key as a call needs it (the key itself never leaves the signer)."""

    def certificate_der(self) -> bytes:
        """The device certificate (DER) the console checks against its pinned tenant CA."""
        ...

    def sign(self, payload: bytes) -> bytes:
        """The DER ECDSA-SHA256 signature over ``payload``."""
        ...


# A call asks for the signer when it is made: a renewed certificate counts from the next call.
SignerSource = Callable[[], DeviceSigner | None]


@dataclass(frozen=True)
class IdentitySigner:
    """Signs with an enrolled kiosk's identity (provisioning.identity)."""

    identity: Identity = field(repr=False)

    def certificate_der(self) -> bytes:
        """The identity's certificate, DER."""
        return self.identity.certificate_der()

    def sign(self, payload: bytes) -> bytes:
        """ECDSA-SHA256 with the device key, DER."""
        return challenge.sign(self.identity.key, payload)


def store_signer(store: IdentityStore | None) -> SignerSource:
    """The signer of the identity in ``store`` at the time of asking; None when not enrolled.

    A broken identity directory signs nothing (the hello refuses it with the same message, so
    the kiosk's log says what to do once, not per call).
    """

    def current() -> DeviceSigner | None:
        if store is None:
            return None
        try:
            identity = store.load()
        except IdentityError:
            log.warning("no device proof for this call: the identity directory is not usable")
            return None
        return None if identity is None else IdentitySigner(identity)

    return current


def device_proof(
    signer: DeviceSigner, *, consultation_id: str, fingerprint: str, commitment: str
) -> channel.DeviceProof:
    """The signed ``device_proof`` for this call (``challenge.BadChallenge`` on bad values)."""
    payload = challenge.call_payload(consultation_id, fingerprint, commitment)
    return channel.DeviceProof(
        certificate=_b64(signer.certificate_der()),
        signature=_b64(signer.sign(payload)),
        fingerprint=fingerprint,
        commitment=commitment,
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
