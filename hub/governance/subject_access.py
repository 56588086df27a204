"""What the hub holds about one conversation, for a data subject's request (promise 8).

The data-protection officer looks a conversation up by the reference its customer saw on the
goodbye screen; the document lists every item the hub keeps about it, why, and until when, and
says what is not part of it and why. The API and ``kiosk-hub request show|export`` both use it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hub.storage.records import Conversation, Retention

DAY_S = 86_400
FORMAT = "branch-kiosk/subject-access/1"

PURPOSES: dict[str, str] = {
    "reference": "to find this conversation when you ask about it",
    "queued_at": "to run the queue and to count waiting times (statistics without names)",
    "accepted_at": "to show the adviser's work and to count waiting and call times",
    "ended_at": "to know when the record may be deleted, and to count call times",
    "end_reason": "to see whether calls fail or customers give up waiting",
    "device": "to know which kiosk served you, for faults and the wipe audit",
    "branch": "to group statistics by branch",
    "adviser": "to know who served you, for complaints and the adviser's work",
    "restricted_at": "to keep the record out of statistics and deletion while restricted",
    "wipe": "to prove the kiosk deleted everything of your visit at its end",
    "archived_content": "signed contracts or chat transcripts your bank keeps, sealed at the "
    "kiosk so that only the bank can open them (docs/archive.md), until they expire",
}

WIPE_MEANING: dict[str, str] = {
    "verified": "the kiosk reported a verified wipe after this conversation",
    "failed": "the kiosk reported that its wipe after this conversation failed",
    "pending": "the kiosk's wipe report is not due yet",
    "missing": "no wipe report arrived in time after this conversation",
    "not_audited": "wipes were not audited for this conversation",
}

NOT_INCLUDED: tuple[dict[str, str], ...] = (
    {
        "what": "access-log lines",
        "why": "they are anonymised (shortened IP addresses) and not linked to conversations, "
        "so none can be found by this reference; they are deleted after the tenant's "
        "access-log retention",
    },
    {
        "what": "content of the conversation",
        "why": "never kept by the hub in readable form: video, sound, chat, files, forms and "
        "signatures go between the kiosk and the adviser end-to-end encrypted, and the kiosk "
        "wipes them when the conversation ends; where the tenant keeps signed contracts or "
        "chat transcripts, the kiosk seals them to the tenant's archive certificate first "
        "(listed under archived_content: the hub holds no key that opens them)",
    },
    {
        "what": "statistics",
        "why": "the hub keeps only aggregate counts and times per day, hour and branch, "
        "which hold nothing of this conversation that could be taken out or shown",
    },
)


def _iso(at: float | None) -> str | None:
    """UTC time in whole seconds, ISO 8601."""
    if at is None:
        return None
    return datetime.fromtimestamp(int(at), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _outcome(conversation: Conversation) -> str:
    if conversation.ended_at is None:
        return "in_progress" if conversation.accepted_at is not None else "waiting"
    return "completed" if conversation.accepted_at is not None else "abandoned"


def _deleted_after(conversation: Conversation, retention: Retention) -> tuple[str | None, str]:
    """When the purge deletes the record, and that in words."""
    days = retention.consultations_days
    if conversation.restricted_at is not None:
        return None, "restricted: kept, and out of statistics, until the restriction is lifted"
    start = conversation.ended_at if conversation.ended_at is not None else conversation.queued_at
    at = _iso(start + days * DAY_S)
    since = "its end" if conversation.ended_at is not None else "it was queued"
    return at, f"deleted automatically {days} days after {since}"


def document(conversation: Conversation, retention: Retention, *, now: float) -> dict[str, Any]:
    """Everything the hub holds about ``conversation``, with purposes and retention (JSON)."""
    deleted_after, rule = _deleted_after(conversation, retention)
    return {
        "format": FORMAT,
        "reference": conversation.reference,
        "tenant": conversation.tenant.name,
        "generated_at": _iso(now),
        "consultation": {
            "reference": conversation.reference,
            "queued_at": _iso(conversation.queued_at),
            "accepted_at": _iso(conversation.accepted_at),
            "ended_at": _iso(conversation.ended_at),
            "end_reason": conversation.end_reason,
            "outcome": _outcome(conversation),
            "device": conversation.device,
            "branch": conversation.branch,
            "adviser": conversation.adviser,
            "restricted_at": _iso(conversation.restricted_at),
            "wipe": conversation.wipe,
        },
        "purposes": dict(PURPOSES),
        "wipe": {"state": conversation.wipe, "meaning": WIPE_MEANING.get(conversation.wipe, "")},
        "retention": {
            "consultations_days": retention.consultations_days,
            "restricted": conversation.restricted_at is not None,
            "deleted_after": deleted_after,
            "rule": rule,
        },
        "archived_content": [
            {
                "id": item.id,
                "kind": item.kind,
                "size": item.size,
                "sha256": item.sha256,
                "created_at": _iso(item.created_at),
                "expires_at": _iso(item.expires_at),
            }
            for item in conversation.archives
        ],  # sealed to the tenant's archive certificate: what, never the content
        "not_included": [dict(item) for item in NOT_INCLUDED],
    }
