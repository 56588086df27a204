"""Reading an SDP the way the tests need it (the kiosk's offer, a peer's answer)."""

from __future__ import annotations


def video_codecs(sdp: str) -> set[str]:
    """The codec names the SDP's first video m-line offers (the kiosk's camera)."""
    section = sdp.split("m=video", 1)[1].split("m=", 1)[0]
    return {
        line.split(" ", 1)[1].split("/", 1)[0]
        for line in section.splitlines()
        if line.startswith("a=rtpmap:")
    }
