"""The hub interface: where a server's calls meet their watchers, and the choice of hub.

Two implementations (``server.hub``):

* :class:`voicemon.server.hub.CallHub` (default, ``hub = ""``): every call and watcher in this
  process;
* :class:`voicemon.server.hub_redis.RedisHub` (``hub = "redis://host:port/db"``): several
  ``serve`` processes share their calls through Redis or Valkey streams, so a watcher on any of
  them sees every call (docs/scale.md).

Both keep the same per-watcher outboxes, coalescing and paged history (:mod:`voicemon.server.hub`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from voicemon.config import ServerOptions
    from voicemon.live.runner import LiveCall
    from voicemon.server.hub import CallEntry, Watcher


class Hub(Protocol):
    """What the server, its connections and its HTTP routes use of a hub.

    Attributes:
        calls: every call a watcher may follow, by id (live or recently ended; with a shared
            hub, other servers' calls too).
        watchers: this server's subscribed watchers.
    """

    calls: dict[str, "CallEntry"]
    watchers: set

    async def start(self) -> None:
        """Connect (a shared hub) before the server accepts connections."""

    async def close(self) -> None:
        """Disconnect after the server's own calls are finished."""

    def live_calls(self) -> list["CallEntry"]:
        """This server's calls still running (the ones it ingests and must finish)."""

    def add(self, call: "LiveCall") -> "CallEntry":
        """Register a call this server ingests and route its events."""

    def subscribe(self, watcher: "Watcher") -> list[str]:
        """Add a watcher; returns the ids of the known calls it follows."""

    def history_page(self, watcher: "Watcher", limit: int = ...) -> list[dict]:
        """The watcher's next page of history."""

    def unsubscribe(self, watcher: "Watcher") -> None:
        """Forget a watcher."""

    def expire(self) -> None:
        """Drop ended calls past their keeping time."""

    def summary(self, *args, **kwargs) -> list[dict]:
        """What ``/api/calls`` returns."""


def make_hub(options: "ServerOptions", out_dir: Path | None = None) -> Hub:
    """The hub ``options.hub`` names.

    Raises:
        ConfigError: a Redis hub without the ``redis`` package.
    """
    if not options.hub:
        from voicemon.server.hub import CallHub

        return CallHub(keep_ended_s=options.keep_ended_s, max_ended_calls=options.max_ended_calls)
    from voicemon.server.hub_redis import RedisHub

    return RedisHub(options.hub, keep_ended_s=options.keep_ended_s, max_ended_calls=options.max_ended_calls,
                    node_ttl_s=options.hub_node_ttl_s, stream_maxlen=options.hub_stream_maxlen)
