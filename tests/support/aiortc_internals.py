"""The two things the test adviser needs from aiortc 1.16 that it offers no public way to do.

- The DTLS certificate's fingerprint before any SDP exists: the adviser commits to it before
  the kiosk's offer travels (commit-then-reveal, docs/verification.md). A browser passes its own
  certificate in; aiortc makes one per connection and keeps it private.
- Silencing a peer connection's transports both ways while ICE still answers connectivity
  checks: a network that stops carrying the call's packets, which the kiosk must notice by the
  silence of ``beat``, not by ICE.

Reaching into aiortc and aioice happens here and nowhere else (pyproject.toml exempts this one
module from ruff's SLF001); a new aiortc pin must check both functions still do what they say.
"""

from __future__ import annotations

from typing import Any

from aiortc import RTCPeerConnection

from appliance.call import sas


def certificate_fingerprint(pc: RTCPeerConnection) -> str:
    """The sha-256 fingerprint of ``pc``'s certificate, in our canonical form, before any SDP."""
    certificate = getattr(pc, "_RTCPeerConnection__certificates")[0]  # noqa: B009 (mangled)
    for f in certificate.getFingerprints():
        if f.algorithm == "sha-256":
            return sas.check_fingerprint(f"sha-256 {f.value.upper()}")
    raise AssertionError("aiortc made no sha-256 fingerprint")


def silence_transports(pc: RTCPeerConnection) -> None:
    """Nothing more leaves or arrives on ``pc``'s transports; ICE checks are still answered."""
    transports: set[Any] = set()
    if pc.sctp is not None:
        transports.add(pc.sctp.transport.transport)
    for transceiver in pc.getTransceivers():
        if transceiver.sender.transport is not None:
            transports.add(transceiver.sender.transport.transport)
    for ice in transports:

        async def drop(_data: bytes) -> None:
            return None

        ice._send = drop  # what DTLS sends goes nowhere
        ice._connection.data_received = lambda _data, _component: None  # nor arrives


async def send_rtcp(receiver: Any, packet: Any) -> None:
    """Send an RTCP packet (a PLI, a REMB) from ``receiver``'s side, as a browser would."""
    await receiver._send_rtcp(packet)
