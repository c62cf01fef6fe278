"""Live updates: messages a service pushes to the WebSockets a user has open right now.

The live-updates server (a Django Channels application) puts each WebSocket of a user in that
user's group (`user_group`); any process sends to the group through the channel layer, Redis
pub/sub (channels-redis' `RedisPubSubChannelLayer`, configured by
`food_common.settings_base.live_updates_settings`). A push is best-effort and never retried:
whoever pushes keeps what a client must not miss where a reconnecting client can read it again.

Sync code (an event handler once its transaction committed, a request) calls `push_to_user`,
which hands the message to one event loop per process, run by a background thread, and returns
at once: the channel layer keeps its Redis connection on that loop between pushes. asgiref's
`async_to_sync` would start a thread, an event loop and a Redis connection for every push
(3-4 ms of CPU each, against 0.15-0.2 ms here).
"""

import asyncio
import logging
import os
import threading
from concurrent.futures import Future

from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

# Pushes waiting for Redis at once, per process; past it a push is dropped (and logged), so a Redis
# that hangs never piles up memory in the pushing process.
MAX_PENDING_PUSHES = 1000


def user_group(user_id: int | str) -> str:
    """Return the channel-layer group of one user's WebSockets (`user_id`: their token's sub)."""
    return f"live.user.{int(user_id)}"


class _Pusher:
    """An event loop in a daemon thread of this process, started on first use (and after a fork)."""

    def __init__(self):
        self.pid = os.getpid()
        self.pending = 0
        self.pending_lock = threading.Lock()
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="live-push", daemon=True).start()

    def submit(self, group: str, message: dict) -> Future | None:
        with self.pending_lock:
            if self.pending >= MAX_PENDING_PUSHES:
                logger.warning("live push to %s dropped: %s pushes pending", group, self.pending)
                return None
            self.pending += 1
        future = asyncio.run_coroutine_threadsafe(
            get_channel_layer().group_send(group, message), self.loop
        )
        future.add_done_callback(lambda done: self._done(done, group))
        return future

    def _done(self, future: Future, group: str) -> None:
        with self.pending_lock:
            self.pending -= 1
        if not future.cancelled() and future.exception() is not None:
            logger.warning("live push to %s failed: %r", group, future.exception())


_pusher: _Pusher | None = None
_pusher_lock = threading.Lock()


def push_to_user(user_id: int | str, message: dict) -> Future | None:
    """Send `message` to every open WebSocket of the user; return without waiting for Redis.

    `message` is a channel-layer message: its "type" names the consumer method that handles it
    ("live.position" → `live_position`). Failures are logged, never raised; the returned future
    (None if the push was dropped) is for tests that wait for it.
    """
    global _pusher
    pusher = _pusher
    if pusher is None or pusher.pid != os.getpid():
        with _pusher_lock:
            if _pusher is None or _pusher.pid != os.getpid():
                _pusher = _Pusher()
            pusher = _pusher
    try:
        return pusher.submit(user_group(user_id), message)
    except Exception:  # noqa: BLE001 - a push must never fail its caller
        logger.exception("live push to user %s failed", user_id)
        return None
