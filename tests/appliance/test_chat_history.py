"""The consultation's chat lines, sent again in order after a resume (memory only)."""

from __future__ import annotations

import logging

import pytest

from appliance.call.connection import CallError
from appliance.runner.chat_history import ChatHistory
from protocol import channel

SECRET = "Meine Kontonummer ist DE02 1203 0000 0000 2020 51"  # personal: never in a log line


def test_lines_both_ways_are_sent_again_in_their_order() -> None:
    history = ChatHistory()
    history.remember(channel.Chat(id="k-1", text="Hello", ts=1), "kiosk")
    history.remember(channel.Chat(id="a-1", text=SECRET, ts=2), "adviser")
    sent: list[channel.ChannelMessage] = []
    assert history.resend(sent.append) == 2
    assert sent == [
        channel.HistoryChat(id="k-1", text="Hello", ts=1, author="kiosk"),
        channel.HistoryChat(id="a-1", text=SECRET, ts=2, author="adviser"),
    ]
    history.clear()
    assert len(history) == 0 and history.resend(sent.append) == 0


def test_resending_stops_at_the_first_refusal_without_logging_a_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    history = ChatHistory()
    for n in range(3):
        history.remember(channel.Chat(id=f"a-{n}", text=SECRET, ts=n), "adviser")
    sent: list[channel.ChannelMessage] = []

    def send(message: channel.ChannelMessage) -> None:
        if len(sent) == 1:
            raise CallError("no open call")
        sent.append(message)

    assert history.resend(send) == 1
    assert "history not sent" in caplog.text and SECRET not in caplog.text
