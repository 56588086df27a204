"""hub/web/exchange-state.js keeps the exchange's rules without a DOM, a hub or a call.

The console's transfer state (docs/exchange.md) runs here on a blank page: a repeated offer is
answered again and never listed twice, refusals answer the request they belong to, a kiosk that
announces too many transfers is told it is busy, and a finished request stays finished.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.blank_page import blank_page

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

SHA = "a" * 64
OTHER_SHA = "b" * 64

SCENARIOS = """
async ([sha, otherSha]) => {
  const { Transfers, INCOMING_MAX } = await import('/static/exchange-state.js');
  const offer = (id, extra = {}) => ({type: 'file_offer', id, name: 'a.pdf', size: 10,
    mime: 'application/pdf', sha256: sha, purpose: 'file', blob: 'b'.repeat(32),
    key: '1'.repeat(64), ...extra});
  const out = {};

  // An offer downloaded, received, then offered again (the kiosk resumed).
  let t = new Transfers();
  const first = t.offer(offer('in_000001'), 100);
  out.first = first.do;
  t.received(first.entry, 'application/pdf');
  out.again_done = t.offer(offer('in_000001'), 100);
  out.listed = t.incoming.size;
  out.while_downloading = t.offer(offer('in_000002'), 100).do
    + '/' + t.offer(offer('in_000002'), 100).do;

  // Refused offers say why, and fail the request they answer; a repeat gets the same code.
  t = new Transfers();
  t.addRequest('req_00001', 'scan');
  const big = t.offer(offer('in_000003', {request_id: 'req_00001'}), 5);
  out.big = [big.do, big.code];
  out.request = t.refuseIncoming(big.entry, big.code);
  out.again_failed = t.offer(offer('in_000003'), 100);
  out.gif = t.offer(offer('in_000004', {mime: 'image/gif'}), 100).code;

  // A kiosk announcing too many transfers is busy; announcements of our ids are not listened to.
  t = new Transfers();
  for (let i = 0; i < INCOMING_MAX; i += 1) {
    t.announced({type: 'file_progress', id: `in_${String(i).padStart(6, '0')}`, bytes: 1, size: 2});
  }
  out.busy = t.offer(offer('in_999999'), 100);
  out.announced_over = t.announced({type: 'file_progress', id: 'in_999999', bytes: 1, size: 2});

  // Ours: cancelled by the kiosk only while under way; delivered only with our hash.
  t = new Transfers();
  const mine = t.addOutgoing({id: 'out_00001', name: 'a.pdf', size: 10,
    mime: 'application/pdf', purpose: 'file'});
  t.hashed(mine, 10, sha);
  t.uploading(mine);
  t.uploaded(mine, 'c'.repeat(32));
  out.offered = t.offered(mine, '2'.repeat(64)).type;
  out.wrong_hash = t.delivered('out_00001', otherSha);
  out.cancel_after = t.cancelledByKiosk('out_00001');
  out.ours_offered_back = t.offer(offer('out_00001'), 100).do;

  // The kiosk's cancel of one of its files, then a fresh offer of that id is downloaded.
  t = new Transfers();
  t.offer(offer('in_000005'), 100);
  out.cancelled = t.cancelledByKiosk('in_000005').incoming.state;
  out.reoffered = t.offer(offer('in_000005'), 100).do;

  // A request's status after it finished changes nothing; an unknown one is a reloaded console's.
  t = new Transfers();
  t.addRequest('req_00002', 'photo');
  t.cancelRequest('req_00002');
  out.after_final = t.requestStatus({type: 'request_status', id: 'req_00002', kind: 'photo',
    state: 'confirming'});
  out.unknown = t.requestStatus({type: 'request_status', id: 'req_00003', kind: 'scan',
    state: 'scanning', progress: 40, pages: 2});
  return out;
}
"""


async def test_transfer_state_keeps_the_exchange_rules_without_a_dom() -> None:
    async with blank_page() as page:
        out: dict[str, Any] = await page.evaluate(SCENARIOS, [SHA, OTHER_SHA])
    assert out["first"] == "download"
    assert out["again_done"] == {
        "do": "reply",
        "message": {"type": "file_done", "id": "in_000001", "sha256": SHA},
    }
    assert out["listed"] == 1
    assert out["while_downloading"] == "download/ignore"

    assert out["big"] == ["refuse", "too_large"]
    assert out["request"]["state"] == "failed" and out["request"]["code"] == "too_large"
    assert out["again_failed"] == {
        "do": "reply",
        "message": {"type": "file_error", "id": "in_000003", "code": "too_large"},
    }
    assert out["gif"] == "type_not_allowed"

    assert out["busy"] == {
        "do": "reply",
        "message": {"type": "file_error", "id": "in_999999", "code": "busy"},
    }
    assert out["announced_over"] is None

    assert out["offered"] == "file_offer"
    assert out["wrong_hash"]["state"] == "failed"
    assert "different content" in out["wrong_hash"]["error"]
    assert out["cancel_after"] is None
    assert out["ours_offered_back"] == "ignore"

    assert out["cancelled"] == "cancelled"
    assert out["reoffered"] == "download"

    assert out["after_final"] is None
    assert out["unknown"] == {
        "id": "req_00003",
        "kind": "scan",
        "state": "scanning",
        "progress": 40,
        "pages": 2,
        "code": None,
    }
