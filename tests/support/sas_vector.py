"""A fixed vector of the short authentication string (docs/verification.md).

tests/appliance/test_sas.py checks appliance/call/sas.py against it and
tests/e2e/test_verification_js.py checks hub/web/verification.js: both ends derive the same
commitment and the same four words from the same fingerprints and nonce.
"""

from __future__ import annotations

FP_K = "sha-256 " + ":".join(f"{i:02X}" for i in range(32))  # the kiosk's fingerprint
FP_A = "sha-256 " + ":".join(f"{255 - i:02X}" for i in range(32))  # the adviser's
NONCE = "5a" * 32
VECTOR_COMMITMENT = "a62c3ec394f83faa00ea430dc7287d3d3c1003a161b56eeae79b7576bfb6b20b"
VECTOR_CODE = "dog lake globe onion"
