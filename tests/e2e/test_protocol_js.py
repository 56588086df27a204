"""The console's protocol.js accepts and refuses exactly what the Python codec does.

The shared fixtures (tests/fixtures/protocol/cases.json) run through the Python codec and,
inside headless Chromium, through hub/web/protocol.js; then seeded random mutations of the valid
frames are compared between the two, to catch differences no one thought to write down.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from protocol.channel import CHANNEL
from protocol.codec import Registry
from protocol.errors import ERROR_CLASSES, ProtocolError
from protocol.messages import SIGNALLING
from tests.support.blank_page import blank_page

ROOT = Path(__file__).resolve().parents[2]
CASES_PATH = ROOT / "tests" / "fixtures" / "protocol" / "cases.json"
PAD_MARKER = "@PAD@"
REGISTRIES: dict[str, Registry] = {"signalling": SIGNALLING, "channel": CHANNEL}
CODES = {cls.code for cls in ERROR_CLASSES}

Outcome = tuple[bool, str | None]


def load_cases() -> list[dict[str, Any]]:
    """The fixture cases with every padded frame expanded to its final text."""
    doc = json.loads(CASES_PATH.read_text(encoding="utf-8"))
    return [expand(case) for case in doc["cases"]]


def expand(case: dict[str, Any]) -> dict[str, Any]:
    """Replace the @PAD@ marker so the frame is exactly ``pad_to`` bytes of UTF-8."""
    if "pad_to" not in case:
        return case
    raw: str = case["raw"]
    pad_char: str = case.get("pad_char", "a")
    assert raw.count(PAD_MARKER) == 1, case["why"]
    base = len(raw.replace(PAD_MARKER, "").encode("utf-8"))
    count, rest = divmod(case["pad_to"] - base, len(pad_char.encode("utf-8")))
    assert rest == 0 and count > 0, f"pad_to cannot be reached exactly: {case['why']}"
    expanded = {**case, "raw": raw.replace(PAD_MARKER, pad_char * count)}
    assert len(expanded["raw"].encode("utf-8")) == case["pad_to"]
    return expanded


def python_outcome(channel: str, raw: str) -> Outcome:
    try:
        REGISTRIES[channel].decode(raw)
    except ProtocolError as exc:
        return False, exc.code
    return True, None


def case_id(case: dict[str, Any]) -> str:
    return str(case["why"])


CASES = load_cases()


def test_fixtures_cover_every_message_type_and_error_code() -> None:
    valid_types = {
        (case["channel"], json.loads(case["raw"])["type"]) for case in CASES if case["ok"]
    }
    for channel, registry in REGISTRIES.items():
        for type_name in registry.types:
            assert (channel, type_name) in valid_types, f"no valid {type_name} case"
    assert {case["code"] for case in CASES if not case["ok"]} == CODES
    assert len(CASES) >= 40


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_python_codec_matches_fixture(case: dict[str, Any]) -> None:
    expected = (True, None) if case["ok"] else (False, case["code"])
    assert python_outcome(case["channel"], case["raw"]) == expected


# -- in the browser --------------------------------------------------------------------------

# Runs in the page: decode every frame, report ok/code. Also checks encode round-trips.
DECODE_ALL = """
async (cases) => {
  const mod = await import('/static/protocol.js');
  const proto = await mod.loadProtocol();
  return cases.map(([channel, raw]) => {
    try {
      proto.decode(raw, channel);
      return [true, null];
    } catch (exc) {
      if (!(exc instanceof mod.ProtocolError)) return [false, 'not a ProtocolError: ' + exc];
      return [false, exc.code];
    }
  });
}
"""

ENCODE_ROUND_TRIP = """
async () => {
  const mod = await import('/static/protocol.js');
  const proto = await mod.loadProtocol();
  const out = {};
  out.answer = proto.encode(
    {type: 'answer', consultation_id: 'abcdefgh', sdp: 'v=0\\r\\n'}, 'signalling');
  out.candidate = proto.encode(
    {type: 'ice_candidate', consultation_id: 'abcdefgh', candidate: '', sdp_mid: null},
    'signalling');
  out.chat = proto.encode({type: 'chat', id: 'm1', text: 'Grüße 😀', ts: 5}, 'channel');
  try {
    proto.encode({type: 'chat', id: 'm1', text: '', ts: 5}, 'channel');
    out.refused = null;
  } catch (exc) {
    out.refused = exc.code;
  }
  return out;
}
"""


@pytest.fixture
def mutations() -> Iterator[Callable[[str], str]]:
    """Seeded single-edit mutations of a frame (deterministic across runs)."""
    rng = random.Random(20261101)
    alphabet = list('"{}[],:01-.e\\ aéx')
    tokens = ["null", "true", "1.0", "-1", '""', "[]", "{}", '"x"', "65", "1e3", r'"\u0000"']

    def mutate(raw: str) -> str:
        pos = rng.randrange(len(raw) + 1)
        kind = rng.randrange(4)
        if kind == 0 and raw:
            return raw[:pos] + raw[pos + 1 :]
        if kind == 1:
            return raw[:pos] + rng.choice(alphabet) + raw[pos:]
        if kind == 2 and raw:
            return raw[:pos] + rng.choice(alphabet) + raw[pos + 1 :]
        # Replace a JSON value after a colon with another token.
        colons = [i for i, ch in enumerate(raw) if ch == ":"]
        if not colons:
            return raw
        start = rng.choice(colons) + 1
        end = start
        while end < len(raw) and raw[end] not in ",}]":
            end += 1
        return raw[:start] + rng.choice(tokens) + raw[end:]

    yield mutate


@pytest.mark.e2e
async def test_protocol_js_matches_python_on_every_fixture() -> None:
    async with blank_page() as page:
        results = await page.evaluate(DECODE_ALL, [[c["channel"], c["raw"]] for c in CASES])
    mismatches = []
    for case, (js_ok, js_code) in zip(CASES, results, strict=True):
        expected = python_outcome(case["channel"], case["raw"])
        if (js_ok, js_code) != expected:
            mismatches.append(f"{case['why']}: python {expected}, js {(js_ok, js_code)}")
    assert not mismatches, "\n".join(mismatches)


@pytest.mark.e2e
async def test_protocol_js_matches_python_on_random_mutations(
    mutations: Callable[[str], str],
) -> None:
    # Small valid frames only, so a mutation usually hits something interesting.
    seeds = [c for c in CASES if c["ok"] and len(c["raw"]) < 400]
    frames = [(c["channel"], mutations(c["raw"])) for c in seeds for _ in range(60)]
    async with blank_page() as page:
        results = await page.evaluate(DECODE_ALL, [list(f) for f in frames])
    mismatches = []
    for (channel, raw), (js_ok, js_code) in zip(frames, results, strict=True):
        expected = python_outcome(channel, raw)
        if (js_ok, js_code) != expected:
            mismatches.append(f"{raw!r}: python {expected}, js {(js_ok, js_code)}")
    assert not mismatches, "\n".join(mismatches[:20])


@pytest.mark.e2e
async def test_protocol_js_encodes_what_python_accepts() -> None:
    async with blank_page() as page:
        out = await page.evaluate(ENCODE_ROUND_TRIP)
    assert python_outcome("signalling", out["answer"]) == (True, None)
    assert json.loads(out["answer"])["v"] == 1
    candidate = SIGNALLING.decode(out["candidate"])
    assert candidate.sdp_mid is None  # null fields are left out, as Python's encode does
    assert "sdp_mid" not in json.loads(out["candidate"])
    assert CHANNEL.decode(out["chat"]).text == "Grüße 😀"
    assert out["refused"] == "invalid_value"
