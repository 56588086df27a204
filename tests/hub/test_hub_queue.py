"""ConsultationQueue: FIFO order, positions and removal, checked against a plain list model."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.signalling import ConsultationQueue, Waiting


def waiting(cid: str) -> Waiting:
    return Waiting(consultation_id=cid, device=f"kiosk-{cid}", queued_at=0.0)


def test_empty_queue() -> None:
    queue = ConsultationQueue()
    assert len(queue) == 0
    assert queue.snapshot() == ()
    assert queue.position("a") is None
    assert queue.remove("a") is None
    assert "a" not in queue


def test_first_come_first_served() -> None:
    queue = ConsultationQueue()
    assert queue.add(waiting("a")) == 1
    assert queue.add(waiting("b")) == 2
    assert queue.add(waiting("c")) == 3
    assert [w.consultation_id for w in queue.snapshot()] == ["a", "b", "c"]
    assert [queue.position(c) for c in "abc"] == [1, 2, 3]
    assert [w.consultation_id for w in queue] == ["a", "b", "c"]


def test_removal_from_the_middle_moves_later_entries_up() -> None:
    queue = ConsultationQueue()
    for cid in "abc":
        queue.add(waiting(cid))
    removed = queue.remove("b")
    assert removed is not None and removed.consultation_id == "b"
    assert queue.position("c") == 2
    assert queue.position("b") is None
    assert queue.remove("b") is None


def test_duplicate_id_is_refused() -> None:
    queue = ConsultationQueue()
    queue.add(waiting("a"))
    with pytest.raises(ValueError, match="already queued"):
        queue.add(waiting("a"))
    assert len(queue) == 1


def test_readding_after_removal_goes_to_the_back() -> None:
    queue = ConsultationQueue()
    queue.add(waiting("a"))
    queue.add(waiting("b"))
    queue.remove("a")
    assert queue.add(waiting("a")) == 2
    assert [w.consultation_id for w in queue.snapshot()] == ["b", "a"]


ids = st.sampled_from([f"c{i}" for i in range(8)])
operations = st.lists(st.tuples(st.sampled_from(["add", "remove"]), ids), max_size=60)


@given(operations)
def test_matches_a_list_model(ops: list[tuple[str, str]]) -> None:
    queue = ConsultationQueue()
    model: list[str] = []
    for op, cid in ops:
        if op == "add":
            if cid in model:
                with pytest.raises(ValueError):
                    queue.add(waiting(cid))
            else:
                model.append(cid)
                assert queue.add(waiting(cid)) == len(model)
        else:
            removed = queue.remove(cid)
            if cid in model:
                model.remove(cid)
                assert removed is not None and removed.consultation_id == cid
            else:
                assert removed is None
        assert [w.consultation_id for w in queue.snapshot()] == model
        assert len(queue) == len(model)
        for position, key in enumerate(model, start=1):
            assert queue.position(key) == position
            assert key in queue
