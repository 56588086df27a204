"""Whether the far end of one call is the adviser who committed (docs/verification.md).

``AdviserVerification`` is the call's side of the short authentication string, without I/O:
it learns our offer's fingerprint, the adviser's ``sas_commit`` and the answer's fingerprint,
says what the kiosk sends first when the data channel opens (its ``sas_reveal``, or on a
resumed call its ``resume_proof``), and checks the adviser's reveal or proof. ``Call`` sends
the frames, logs and reports the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from appliance.call import sas
from appliance.call.device_proof import DeviceSigner, device_proof
from protocol import channel


@dataclass(frozen=True)
class Resumption:
    """What a later peer connection of a verified consultation proves itself with.

    ``secret`` is the continuity secret the kiosk sent after the first verification; ``code``
    the four words of that verification (they stay the same for the whole consultation).
    """

    consultation_id: str
    secret: bytes = field(repr=False)
    code: str


class AdviserVerification:
    """One call's verification of the adviser: fingerprints, commitment, outcome.

    ``verified`` is set once the adviser's reveal (or, on a resumed call, its proof) checks
    out; ``error`` holds the ``VerificationError`` code once it did not, and stays.
    """

    def __init__(self, resumption: Resumption | None = None) -> None:
        self.resumption = resumption
        self.own_fingerprint: str | None = None  # ours, from the offer
        self.commitment: str | None = None  # the adviser's sas_commit
        self.consultation_id: str | None = None  # a first call's, known with the commitment
        self.answer_fingerprint: str | None = None  # the one our DTLS accepts from the adviser
        self.verified: sas.Verified | None = None
        self.error: str | None = None

    def opening(self) -> channel.SasReveal | channel.ResumeProof | None:
        """What the kiosk sends once the channel opens (None before the offer is prepared).

        Raises ``sas.VerificationError`` for a resumed call whose channel opened before the
        answer: there is nothing to bind the proof to.
        """
        own = self.own_fingerprint
        if own is None:
            return None
        resumption = self.resumption
        if resumption is None:
            # Our fingerprint already travelled in the offer; revealing it costs nothing.
            return channel.SasReveal(fingerprint=own)
        if self.answer_fingerprint is None:
            raise sas.VerificationError("a channel before the answer")
        mac = sas.resume_mac(
            resumption.secret,
            role="kiosk",
            consultation_id=resumption.consultation_id,
            own_fingerprint=own,
            peer_fingerprint=self.answer_fingerprint,
        )
        return channel.ResumeProof(fingerprint=own, mac=mac)

    def device_proof(
        self, signer: DeviceSigner, opening: channel.SasReveal | channel.ResumeProof
    ) -> channel.DeviceProof | None:
        """The device proof that follows ``opening`` (None: nothing to bind it to yet).

        It signs the adviser's commitment; a resumed call has none, and signs its own resume
        proof's MAC instead, which binds both fingerprints of this connection.
        """
        resumption = self.resumption
        if resumption is not None:
            consultation_id: str | None = resumption.consultation_id
        else:
            consultation_id = self.consultation_id
        binding = opening.mac if isinstance(opening, channel.ResumeProof) else self.commitment
        if consultation_id is None or binding is None:
            return None
        return device_proof(
            signer,
            consultation_id=consultation_id,
            fingerprint=opening.fingerprint,
            commitment=binding,
        )

    def check_reveal(self, reveal: channel.SasReveal) -> sas.Verified:
        """Check the adviser's ``sas_reveal`` against its commitment and the answer.

        Raises ``sas.VerificationError`` (call ``refuse`` with it) when it does not check out.
        """
        if self.resumption is not None:
            # A resumed call never reveals again: the commitment was used on the first one.
            raise sas.VerificationError("a reveal on a resumed call")
        if self.verified is not None or self.error is not None:
            raise sas.VerificationError("a second reveal")
        if self.own_fingerprint is None or self.answer_fingerprint is None:
            raise sas.VerificationError("a reveal before the answer")
        self.verified = sas.verify_adviser(
            committed=self.commitment,
            kiosk_fingerprint=self.own_fingerprint,
            answer_fingerprint=self.answer_fingerprint,
            revealed_fingerprint=reveal.fingerprint,
            nonce=reveal.nonce,
        )
        return self.verified

    def check_proof(self, proof: channel.ResumeProof) -> sas.Verified:
        """Check a resumed call's ``resume_proof`` against the continuity secret.

        Raises ``sas.VerificationError`` (call ``refuse`` with it) when it does not check out.
        """
        if self.verified is not None or self.error is not None:
            raise sas.VerificationError("a second proof")
        resumption = self.resumption
        if resumption is None:
            raise sas.NoContinuity("a resume proof on a first connection")
        if self.own_fingerprint is None or self.answer_fingerprint is None:
            raise sas.VerificationError("a proof before the answer")
        sas.verify_resume_proof(
            resumption.secret,
            role="adviser",
            consultation_id=resumption.consultation_id,
            revealed_fingerprint=proof.fingerprint,
            negotiated_fingerprint=self.answer_fingerprint,
            own_fingerprint=self.own_fingerprint,
            mac=proof.mac,
        )
        self.verified = sas.Verified(resumption.code, self.own_fingerprint, self.answer_fingerprint)
        return self.verified

    def refuse(self, exc: sas.VerificationError) -> bool:
        """Record that the adviser is not verified; True the first time (report it once)."""
        first = self.error is None
        self.verified = None
        self.error = exc.code
        return first
