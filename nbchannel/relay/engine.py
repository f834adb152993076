"""Several relays sharing hub-wide channels through Redis."""

from __future__ import annotations

from typing import Any

__all__ = ["RedisEngine"]


class RedisEngine:
    """Not available yet: a relay serves its channels alone."""

    def __init__(self, relay: Any, url: str, *, relay_id: str | None = None) -> None:
        raise SystemExit("--redis: sharing channels between relays is not available yet")
