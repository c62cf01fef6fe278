"""WebSockets on the public port: `/ws/...` is carried to whatever serves live updates.

The token is checked before anything is forwarded: either in the handshake, as
`Sec-WebSocket-Protocol: bearer, <access token>` (the gateway answers with the `bearer`
subprotocol), or, without it, as the first message, `{"type": "authenticate", "token": "..."}`,
within GATEWAY_WS_AUTH_TIMEOUT seconds. Tokens never go in the URL (URLs end up in logs).
Only then is the upstream WebSocket opened (at the same path and query, with
`Authorization: Bearer <token>` and the request id), and messages are relayed both ways until one
side closes or the token expires. Close codes (docs/architecture.md, "WebSockets"):

| code | meaning |
|---|---|
| 4400 | the request or the first message is malformed |
| 4401 | no token, or it is invalid or has expired (reconnect with a fresh one) |
| 4404 | no WebSocket is served at this path |
| 4429 | too many requests or connections from this client |
| 4503 | live updates are unavailable right now |
"""

import asyncio
import json
import logging
import time

import aiohttp
from yarl import URL

from food_common.request_id import clean_request_id, current_request_id
from gateway.edge import Refused, Request, header

logger = logging.getLogger(__name__)

BEARER_SUBPROTOCOL = "bearer"
CLOSE_BAD_REQUEST, CLOSE_UNAUTHENTICATED, CLOSE_NOT_FOUND = 4400, 4401, 4404
CLOSE_THROTTLED, CLOSE_UNAVAILABLE = 4429, 4503
WS_PREFIX = "/ws/"


class Closed(Exception):
    """End the WebSocket with this close code."""

    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code, self.reason = code, reason


def close_code_for(refused: Refused) -> int:
    return {401: CLOSE_UNAUTHENTICATED, 429: CLOSE_THROTTLED, 503: CLOSE_UNAVAILABLE}.get(
        refused.status, CLOSE_BAD_REQUEST
    )


async def relay_websocket(app, scope, receive, send) -> None:
    """Check one WebSocket's path and token, then relay it to the live-updates upstream."""
    request_id = clean_request_id(header(scope, b"x-request-id"))
    context_token = current_request_id.set(request_id)
    accepted = False

    async def accept(subprotocol: str | None) -> None:
        nonlocal accepted
        await send({"type": "websocket.accept", "subprotocol": subprotocol})
        accepted = True

    try:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        try:
            request = Request({**scope, "method": "GET"}, app.trusted_proxies)
        except Refused as refused:
            raise Closed(CLOSE_BAD_REQUEST, refused.detail) from None
        if not (request.path + "/").startswith(WS_PREFIX) or "live" not in app.upstreams:
            raise Closed(CLOSE_NOT_FOUND, "No WebSocket is served here.")
        protocols = [p.strip() for p in scope.get("subprotocols") or ()]
        with app.client_slot(request.client):
            if BEARER_SUBPROTOCOL in protocols:
                await accept(BEARER_SUBPROTOCOL)
                index = protocols.index(BEARER_SUBPROTOCOL)
                token = protocols[index + 1] if index + 1 < len(protocols) else ""
            else:
                await accept(None)
                token = await first_message_token(receive, app.ws_auth_timeout)
            claims = await app.authenticate(f"Bearer {token}" if token else None, True)
            app.check_rate(claims, request.client)
            await relay(app, scope, receive, send, request, token, claims, request_id)
    except Refused as refused:
        await close(send, accepted, close_code_for(refused), refused.detail)
    except Closed as closed:
        await close(send, accepted, closed.code, closed.reason)
    except Exception:
        logger.exception("the gateway failed on WebSocket %s", scope.get("path"))
        await close(send, accepted, 1011, "The gateway failed.")
    finally:
        current_request_id.reset(context_token)


async def first_message_token(receive, timeout: float) -> str:
    """Return the token of the client's first message, which must be an authenticate message."""
    try:
        async with asyncio.timeout(timeout):
            message = await receive()
    except TimeoutError:
        raise Closed(CLOSE_UNAUTHENTICATED, "No token within the time allowed.") from None
    if message["type"] == "websocket.disconnect":
        raise Closed(1000, "")
    try:
        data = json.loads(message.get("text") or message.get("bytes") or b"")
    except (ValueError, RecursionError):  # not JSON, or nested too deeply for the parser
        data = None
    if not isinstance(data, dict) or data.get("type") != "authenticate":
        raise Closed(CLOSE_BAD_REQUEST, 'The first message must be {"type": "authenticate", ...}.')
    token = data.get("token")
    if not isinstance(token, str) or not token:
        raise Closed(CLOSE_UNAUTHENTICATED, "The authenticate message has no token.")
    return token


async def relay(app, scope, receive, send, request: Request, token, claims, request_id) -> None:
    """Open the upstream WebSocket and pass messages both ways until either side ends."""
    upstream = None
    for candidate in app.upstreams["live"].candidates():
        try:
            upstream = await app.websocket_session().ws_connect(
                URL(candidate.base_url + request.target, encoded=True),
                headers={
                    "Authorization": f"Bearer {token}",
                    "X-Request-ID": request_id,
                    "X-Forwarded-For": request.forwarded_for(),
                },
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=5),
                autoping=True,
                heartbeat=30,
            )
            candidate.breaker.record_success()
            break
        except aiohttp.WSServerHandshakeError as exc:
            # The service answered and refused: its choice, not a failure of the copy.
            candidate.breaker.record_success()
            raise Closed(CLOSE_UNAVAILABLE, f"Live updates refused ({exc.status}).") from None
        except (aiohttp.ClientError, TimeoutError):
            candidate.breaker.record_failure()
    if upstream is None:
        raise Closed(CLOSE_UNAVAILABLE, "Live updates are unavailable.")

    async def client_to_upstream() -> None:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                await upstream.close(code=_sendable(message.get("code", 1000)))
                return
            if message.get("text") is not None:
                await upstream.send_str(message["text"])
            elif message.get("bytes") is not None:
                await upstream.send_bytes(message["bytes"])

    async def upstream_to_client() -> None:
        async for message in upstream:
            if message.type == aiohttp.WSMsgType.TEXT:
                await send({"type": "websocket.send", "text": message.data})
            elif message.type == aiohttp.WSMsgType.BINARY:
                await send({"type": "websocket.send", "bytes": message.data})
        raise Closed(_sendable(upstream.close_code or 1000), "")

    expires_in = max(0.0, claims["exp"] - time.time())
    tasks = [
        asyncio.ensure_future(client_to_upstream()),
        asyncio.ensure_future(upstream_to_client()),
    ]
    try:
        done, _ = await asyncio.wait(tasks, timeout=expires_in, return_when=asyncio.FIRST_COMPLETED)
        if not done:
            raise Closed(CLOSE_UNAUTHENTICATED, "The token has expired.")
        for task in done:
            task.result()  # re-raise Closed from the upstream side
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await upstream.close()


def _sendable(code: int) -> int:
    """Return a close code that may be sent on the wire (1005/1006 are reserved for local use)."""
    return code if code == 1000 or 1001 <= code <= 1003 or 1007 <= code <= 4999 else 1011


async def close(send, accepted: bool, code: int, reason: str) -> None:
    """Close the client's WebSocket (before acceptance the handshake is refused with 403)."""
    message = {"type": "websocket.close", "code": code}
    if accepted:
        message["reason"] = reason[:120]
    try:
        await send(message)
    except Exception:  # noqa: BLE001 - the client is gone already
        logger.debug("client gone before the close frame", exc_info=True)
