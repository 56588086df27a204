"""hub/web/verification.js computes the same commitments and words as appliance/call/sas.py.

Runs the console's module in headless Chromium (WebCrypto) against the Python functions, on the
fixed vector of tests/support/sas_vector.py and on seeded random inputs, and checks that both
refuse the same bad inputs with the same codes.
"""

from __future__ import annotations

import random

import pytest

from appliance.call import sas
from tests.support.blank_page import blank_page
from tests.support.sas_vector import FP_A, FP_K, NONCE, VECTOR_CODE, VECTOR_COMMITMENT

pytestmark = pytest.mark.e2e

COMPUTE = """
async (triples) => {
  const mod = await import('/static/verification.js');
  const words = await mod.loadWords();
  const out = [];
  for (const [fpK, fpA, nonce] of triples) {
    out.push([await mod.commitment(fpA, nonce), await mod.code(fpK, fpA, nonce, words)]);
  }
  return out;
}
"""

REFUSALS = """
async ([fpK, fpA, nonce, sdp]) => {
  const mod = await import('/static/verification.js');
  const words = await mod.loadWords();
  const codeOf = async (f) => {
    try { await f(); return null; } catch (exc) {
      return exc instanceof mod.VerificationError ? exc.code : 'other: ' + exc;
    }
  };
  return {
    lowerFingerprint: await codeOf(() => mod.commitment(fpA.toLowerCase(), nonce)),
    shortNonce: await codeOf(() => mod.commitment(fpA, nonce.slice(2))),
    upperNonce: await codeOf(() => mod.code(fpK, fpA, nonce.toUpperCase(), words)),
    offerMismatch: await codeOf(() => mod.verifyKiosk({offerFingerprint: fpA,
      revealedFingerprint: fpK, certificateFingerprint: fpK, adviserFingerprint: fpA,
      nonce, words})),
    certificateMismatch: await codeOf(() => mod.verifyKiosk({offerFingerprint: fpK,
      revealedFingerprint: fpK, certificateFingerprint: fpA, adviserFingerprint: fpA,
      nonce, words})),
    verified: await mod.verifyKiosk({offerFingerprint: fpK, revealedFingerprint: fpK,
      certificateFingerprint: fpK, adviserFingerprint: fpA, nonce, words}),
    sdp: mod.sdpFingerprint(sdp),
    twoInSdp: await codeOf(async () => mod.sdpFingerprint(
      sdp + 'a=fingerprint:' + fpA + '\\r\\n')),
    nonce: mod.newNonce(),
  };
}
"""


def random_fingerprint(rng: random.Random) -> str:
    return "sha-256 " + ":".join(f"{rng.randrange(256):02X}" for _ in range(32))


async def test_js_and_python_compute_the_same_commitments_and_words() -> None:
    rng = random.Random(20260601)
    triples = [(FP_K, FP_A, NONCE)] + [
        (random_fingerprint(rng), random_fingerprint(rng), rng.randbytes(32).hex())
        for _ in range(30)
    ]
    async with blank_page() as page:
        results = await page.evaluate(COMPUTE, [list(t) for t in triples])
    assert results[0] == [VECTOR_COMMITMENT, VECTOR_CODE]
    for (fp_k, fp_a, nonce), (commitment, code) in zip(triples, results, strict=True):
        assert commitment == sas.commitment(fp_a, nonce)
        assert code == sas.code(fp_k, fp_a, nonce)


async def test_js_refuses_what_python_refuses() -> None:
    value = FP_K.removeprefix("sha-256 ")
    sdp = f"v=0\r\na=fingerprint:sha-256 {value}\r\na=fingerprint:sha-512 AB:CD\r\n"
    async with blank_page() as page:
        out = await page.evaluate(REFUSALS, [FP_K, FP_A, NONCE, sdp])
    assert out["lowerFingerprint"] == sas.BadFingerprint.code
    assert out["shortNonce"] == out["upperNonce"] == sas.BadNonce.code
    assert out["offerMismatch"] == out["certificateMismatch"] == sas.FingerprintMismatch.code
    assert out["verified"] == VECTOR_CODE
    assert out["sdp"] == sas.sdp_fingerprint(sdp) == FP_K
    assert out["twoInSdp"] == sas.BadFingerprint.code
    assert len(out["nonce"]) == 64 and int(out["nonce"], 16) >= 0
