"""Consultation ids: unique, protocol-valid, sorted by creation time, 80 random bits."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.signalling.ids import (
    ID_LENGTH,
    MAX_MS,
    RANDOM_BITS,
    SORTED_ALPHABET,
    new_consultation_id,
)
from protocol.limits import ID_PATTERN
from protocol.messages import QueuePosition, QueueRequest
from tests.support.hub import FakeClock, connect_kiosk, http_session, running_hub

TIME_SYMBOLS = ID_LENGTH - 14
millis = st.integers(min_value=0, max_value=MAX_MS)


def time_of(consultation_id: str) -> int:
    """The milliseconds an id carries (the test's own reading of the layout)."""
    ms = 0
    for symbol in consultation_id[:TIME_SYMBOLS]:
        ms = ms * 64 + SORTED_ALPHABET.index(symbol)
    return ms


def random_part(consultation_id: str) -> int:
    raw = base64.urlsafe_b64decode(consultation_id[TIME_SYMBOLS:] + "==")
    assert len(raw) * 8 == RANDOM_BITS
    return int.from_bytes(raw, "big")


def test_the_alphabet_is_base64url_in_ascii_order() -> None:
    assert sorted(SORTED_ALPHABET) == list(SORTED_ALPHABET)
    assert set(SORTED_ALPHABET) == set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    )


@given(millis)
def test_ids_match_the_protocol_and_carry_their_time(ms: int) -> None:
    made = new_consultation_id(ms)
    assert len(made) == ID_LENGTH == 22
    assert re.fullmatch(ID_PATTERN, made)
    assert time_of(made) == ms


@given(millis, millis)
def test_ids_sort_as_text_in_time_order(first: int, second: int) -> None:
    a, b = new_consultation_id(first), new_consultation_id(second)
    if first < second:
        assert a < b
        # SQLite's BINARY collation compares the UTF-8 bytes: the same order
        assert a.encode() < b.encode()
    elif first > second:
        assert a > b


def test_ids_made_at_one_time_are_unique_and_every_random_bit_varies() -> None:
    made = [new_consultation_id(1_800_000_000_000) for _ in range(4000)]
    assert len(set(made)) == len(made)
    parts = [random_part(m) for m in made]
    always_set = ~0
    ever_set = 0
    for part in parts:
        always_set &= part
        ever_set |= part
    # no random bit is stuck: all 80 are 1 in some id and 0 in another
    assert ever_set == (1 << RANDOM_BITS) - 1
    assert always_set == 0


@pytest.mark.parametrize("ms", [-1, MAX_MS + 1])
def test_a_time_out_of_range_is_refused(ms: int) -> None:
    with pytest.raises(ValueError, match="consultation id's time must be"):
        new_consultation_id(ms)


async def test_the_hub_hands_out_time_ordered_ids(tmp_path: Path) -> None:
    clock = FakeClock()
    async with http_session() as http, running_hub(tmp_path, clock=clock) as hub:
        made = []
        for i in range(3):
            kiosk = await connect_kiosk(http, hub, hub.add_device(f"kiosk-{i}"))
            clock.advance(0.25)
            await kiosk.send(QueueRequest())
            position = await kiosk.expect(QueuePosition)
            # stamped by the hub's own clock, the one that records the queue time
            assert time_of(position.consultation_id) == int(clock.now * 1000)
            made.append(position.consultation_id)
        assert made == sorted(made)
        stored = sorted(c.id for c in await hub.storage.consultations())
        assert stored == made
