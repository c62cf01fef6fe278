"""The first message of a WebSocket without a token in its protocol header."""

import asyncio

import pytest

from gateway.websocket import CLOSE_BAD_REQUEST, Closed, first_message_token


def first_message(text: str) -> str:
    async def receive():
        return {"type": "websocket.receive", "text": text}

    return asyncio.run(first_message_token(receive, timeout=1))


def test_the_authenticate_message_gives_the_token():
    assert first_message('{"type": "authenticate", "token": "abc"}') == "abc"


@pytest.mark.parametrize("text", ["not json", "[" * 100_000 + "]" * 100_000, "[]"])
def test_anything_else_closes_with_bad_request(text):
    with pytest.raises(Closed) as closed:
        first_message(text)
    assert closed.value.code == CLOSE_BAD_REQUEST
