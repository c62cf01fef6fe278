"""The live-updates WebSocket, /ws/live: each user hears their own notifications as they happen.

Reached through the gateway, which checks the token first and forwards it as
`Authorization: Bearer <token>`; this consumer verifies it again (the gateway is one way in, not a
reason to trust a header), accepts, joins the user's group (food_common.live.user_group) and
forwards what is pushed there (notifications.live). A client that reconnects names the last id it
saw, `?after=<id>` (an id is no secret) or a first message `{"type": "resume", "after": <id>}`,
and is first sent what it missed, from the stored notifications. Once caught up, the consumer
says `{"type": "ready", "last_id": <the id the client is up to date with, null if none>}`.

Close codes (the gateway's, docs/architecture.md "WebSockets"): 4401 no valid token, or it has
expired (reconnect with a fresh one); 4503 live updates unavailable (the database or the keys
do not answer: reconnect later).

An async consumer: an idle WebSocket costs a coroutine and its buffers, no thread (measured per
connection in docs/architecture.md); the database is read in Django's sync thread only on
connect and when a client catches up.
"""

import asyncio
import logging
import time
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer

from food_common.authentication import bearer_token
from food_common.live import user_group
from food_common.tokens import KeysUnavailable, TokenInvalid, get_verifier
from notifications import selectors
from notifications.live import live_message

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED, CLOSE_NOT_FOUND, CLOSE_UNAVAILABLE = 4401, 4404, 4503
# A catch-up reads the missed messages RESUME_PAGE at a time, RESUME_MAX at most.
RESUME_PAGE, RESUME_MAX = 200, 1000


class Refused(Exception):
    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code = code


class LiveConsumer(AsyncJsonWebsocketConsumer):
    user_id: int | None = None
    last_id: int | None = None  # the id of the last message this client has (or had at connect)
    expiry: asyncio.TimerHandle | None = None

    async def connect(self):
        # Accepted first, so a refusal carries its close code (a refused handshake has none).
        await self.accept()
        try:
            claims = await self._claims()
            self.user_id = int(claims["sub"])
            await self.channel_layer.group_add(user_group(self.user_id), self.channel_name)
            self.expiry = asyncio.get_running_loop().call_later(
                max(0.0, claims["exp"] - time.time()), self._expired
            )
            after = _after(parse_qs(self.scope.get("query_string", b"").decode()).get("after"))
            if after is None:
                self.last_id = await database_sync_to_async(selectors.notification_last_id)(
                    recipient_id=self.user_id
                )
            else:
                await self.catch_up(after)
            # Caught up: what follows is live (and the client's resume point is last_id).
            await self.send_json({"type": "ready", "last_id": self.last_id})
        except Refused as refused:
            await self.close(code=refused.code, reason=str(refused))
        except Exception:
            logger.exception("live updates: connect failed")
            await self.close(code=CLOSE_UNAVAILABLE, reason="Live updates are unavailable.")

    async def _claims(self) -> dict:
        headers = dict(self.scope.get("headers") or ())
        try:
            token = bearer_token(headers.get(b"authorization", b"").decode("latin-1"))
            if token is None:
                raise TokenInvalid("No access token.")
            verifier = get_verifier()
            claims = verifier.verified(token)
            if claims is None:  # not seen before: may fetch the JWKS (blocking I/O)
                claims = await sync_to_async(verifier.verify, thread_sensitive=False)(token)
            int(claims["sub"])
        except (TokenInvalid, KeyError, TypeError, ValueError) as exc:
            raise Refused(CLOSE_UNAUTHENTICATED, f"Not authenticated: {exc}") from None
        except KeysUnavailable:
            raise Refused(CLOSE_UNAVAILABLE, "The signing keys are unavailable.") from None
        return claims

    def _expired(self) -> None:
        asyncio.ensure_future(self.close(code=CLOSE_UNAUTHENTICATED, reason="Token expired."))

    async def disconnect(self, code):
        if self.expiry is not None:
            self.expiry.cancel()
        if self.user_id is not None:
            await self.channel_layer.group_discard(user_group(self.user_id), self.channel_name)

    async def receive_json(self, content, **kwargs):
        if self.user_id is None:
            return
        if isinstance(content, dict) and content.get("type") == "resume":
            after = _after([content.get("after")])
            if after is not None:
                await self.catch_up(after)

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        try:
            await super().receive(text_data, bytes_data, **kwargs)
        except ValueError:  # not JSON: nothing a client can ask for
            return

    async def catch_up(self, after: int) -> None:
        """Send the user's messages with an id above `after`, in id order (RESUME_MAX at most:
        the rest come with the next catch-up, and every one is in GET /notifications)."""
        sent = 0
        while sent < RESUME_MAX:
            missed = await database_sync_to_async(selectors.notifications_after)(
                recipient_id=self.user_id, after_id=after, limit=RESUME_PAGE
            )
            for notification in missed:
                await self.send_json(live_message(notification))
            sent += len(missed)
            if missed:
                after = missed[-1].pk
            if len(missed) < RESUME_PAGE:
                break
        self.last_id = max(self.last_id or 0, after)

    # -- what is pushed to the user's group (notifications.live) --------------------------------

    async def live_notification(self, event):
        message = event["message"]
        if self.last_id is not None and message["id"] <= self.last_id:
            return  # sent already, while catching up
        previous = event.get("previous_id")
        if previous is not None and (self.last_id is None or previous > self.last_id):
            await self.catch_up(self.last_id or 0)  # one was lost on the way: read them all
            return
        await self.send_json(message)
        self.last_id = message["id"]

    async def live_position(self, event):
        await self.send_json(event["message"])


class NotFoundConsumer(AsyncWebsocketConsumer):
    """Any other WebSocket path: closed with 4404."""

    async def connect(self):
        await self.accept()
        await self.close(code=CLOSE_NOT_FOUND, reason="No WebSocket is served here.")


def _after(values) -> int | None:
    """Return the id a client asks to resume after, None if it names none (or no number)."""
    if not values:
        return None
    try:
        after = int(values[-1])
    except (TypeError, ValueError):
        return None
    return after if after >= 0 else None
