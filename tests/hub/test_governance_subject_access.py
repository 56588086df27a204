"""The subject-access document: everything held about one conversation, why, and until when."""

from __future__ import annotations

import json

from hub.governance.subject_access import PURPOSES, document
from hub.storage.records import Conversation, Retention, Tenant

T0 = 1_765_100_000.0  # 2025-12-07T09:33:20Z
BANK = Tenant(1, "bank")


def conversation(**changes: object) -> Conversation:
    fields: dict[str, object] = {
        "reference": "7K3QD-M9X2A",
        "tenant": BANK,
        "device": "kiosk-1",
        "branch": "Main",
        "adviser": "alice",
        "queued_at": T0,
        "accepted_at": T0 + 30.7,
        "ended_at": T0 + 630.2,
        "end_reason": "hangup",
        "restricted_at": None,
        "wipe": "verified",
    }
    fields.update(changes)
    return Conversation(**fields)  # type: ignore[arg-type]


def test_everything_held_with_its_purpose_and_deadline() -> None:
    doc = document(conversation(), Retention(consultations_days=30), now=T0 + 3600)
    json.dumps(doc)  # serialisable as it stands
    assert doc["reference"] == "7K3QD-M9X2A" and doc["tenant"] == "bank"
    assert doc["generated_at"] == "2025-12-07T10:33:20Z"
    assert doc["consultation"] == {
        "reference": "7K3QD-M9X2A",
        "queued_at": "2025-12-07T09:33:20Z",
        "accepted_at": "2025-12-07T09:33:50Z",
        "ended_at": "2025-12-07T09:43:50Z",
        "end_reason": "hangup",
        "outcome": "completed",
        "device": "kiosk-1",
        "branch": "Main",
        "adviser": "alice",
        "restricted_at": None,
        "wipe": "verified",
    }
    # every item held has its purpose
    assert set(doc["consultation"]) - {"outcome"} <= set(PURPOSES)
    assert doc["retention"] == {
        "consultations_days": 30,
        "restricted": False,
        "deleted_after": "2026-01-06T09:43:50Z",
        "rule": "deleted automatically 30 days after its end",
    }
    assert doc["wipe"]["state"] == "verified" and "verified wipe" in doc["wipe"]["meaning"]
    assert doc["archived_content"] == []


def test_what_is_not_included_says_why() -> None:
    doc = document(conversation(), Retention(), now=T0)
    whats = {item["what"]: item["why"] for item in doc["not_included"]}
    assert set(whats) == {"access-log lines", "content of the conversation", "statistics"}
    assert "not linked to conversations" in whats["access-log lines"]
    assert "never kept" in whats["content of the conversation"]
    assert "aggregate" in whats["statistics"]


def test_a_restricted_conversation_is_kept_until_lifted() -> None:
    doc = document(conversation(restricted_at=T0 + 7200), Retention(), now=T0 + 7300)
    assert doc["retention"]["restricted"] is True
    assert doc["retention"]["deleted_after"] is None
    assert "until the restriction is lifted" in doc["retention"]["rule"]
    assert doc["consultation"]["restricted_at"] == "2025-12-07T11:33:20Z"


def test_an_abandoned_wait_and_one_still_running() -> None:
    abandoned = document(
        conversation(
            accepted_at=None, adviser=None, end_reason="customer_left", wipe="not_audited"
        ),
        Retention(),
        now=T0,
    )
    assert abandoned["consultation"]["outcome"] == "abandoned"
    assert abandoned["consultation"]["accepted_at"] is None
    running = document(
        conversation(ended_at=None, end_reason=None, wipe="pending"), Retention(), now=T0
    )
    assert running["consultation"]["outcome"] == "in_progress"
    assert running["retention"]["rule"] == "deleted automatically 90 days after it was queued"
    waiting = document(
        conversation(accepted_at=None, ended_at=None, end_reason=None), Retention(), now=T0
    )
    assert waiting["consultation"]["outcome"] == "waiting"
