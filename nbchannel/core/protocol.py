"""Message kinds and the shapes of control payloads, shared by every peer.

Two roles talk to the hub:

* an **owner** (a kernel's ``LiveChannel`` client) opens channels and writes to them;
* a **subscriber** (a browser page, or any client speaking the browser protocol) reads
  channels and sends events back.

Owner → hub: ``hello``, ``open``, ``close``, ``set``, ``unset``, ``append``, ``publish``,
``gap`` (the kernel's own bounded queue dropped items; passed on to subscribers).
Hub → owner: ``welcome``, ``opened``, ``event``, ``presence``, ``error``.
Subscriber → hub: ``sub``, ``unsub``, ``event``.
Hub → subscriber: ``subscribed``, ``set``, ``unset``, ``append``, ``publish``, ``gap``,
``closed``, ``error``.

A channel is addressed by ``(scope, name)``: the scope is the owning kernel's id for
kernel-scoped channels and :data:`SERVER_SCOPE` for channels shared across notebooks.
"""

from __future__ import annotations

from typing import Final, Literal, TypedDict

__all__ = [
    "APPEND",
    "CLOSE",
    "CLOSED",
    "ERROR",
    "EVENT",
    "GAP",
    "HELLO",
    "OPEN",
    "OPENED",
    "PRESENCE",
    "PUBLISH",
    "SERVER_SCOPE",
    "SET",
    "SUBSCRIBE",
    "SUBSCRIBED",
    "UNSET",
    "UNSUBSCRIBE",
    "WELCOME",
    "ErrorPayload",
    "GapPayload",
    "OpenPayload",
    "OpenedPayload",
    "PresencePayload",
    "SubscribedPayload",
]

#: Scope of channels shared by every kernel of the server.
SERVER_SCOPE: Final = "server"

HELLO: Final = "hello"
WELCOME: Final = "welcome"
OPEN: Final = "open"
OPENED: Final = "opened"
CLOSE: Final = "close"
CLOSED: Final = "closed"
SET: Final = "set"
UNSET: Final = "unset"
APPEND: Final = "append"
PUBLISH: Final = "publish"
EVENT: Final = "event"
PRESENCE: Final = "presence"
SUBSCRIBE: Final = "sub"
UNSUBSCRIBE: Final = "unsub"
SUBSCRIBED: Final = "subscribed"
GAP: Final = "gap"
ERROR: Final = "error"

#: Kinds whose messages carry channel state (retained, replayed, coalesced by key).
STATE_KINDS: Final = frozenset({SET, UNSET})
#: Kinds an owner writes into a channel (``gap``: the kernel's own queue dropped items).
WRITE_KINDS: Final = frozenset({SET, UNSET, APPEND, PUBLISH, GAP})


class OpenPayload(TypedDict, total=False):
    """Payload of ``open`` (owner → hub); every field is optional."""

    #: Epoch the owner had before a reconnect; the channel resumes if it still matches.
    epoch: int
    #: Start the channel afresh (new epoch, no state or history), even a shared one.
    reset: bool
    #: Per-channel bounds on retained stream history (default: the hub's config).
    history_items: int
    history_bytes: int


class OpenedPayload(TypedDict):
    """Payload of ``opened`` (hub → owner)."""

    epoch: int
    #: Offset the next appended item will get.
    head: int
    #: Whether the channel was resumed (same epoch) rather than created afresh.
    resumed: bool
    viewers: int


class SubscribedPayload(TypedDict):
    """Payload of ``subscribed`` (hub → subscriber), sent before a channel's replay."""

    #: The channel's epoch, or ``None`` while no owner has opened it (``waiting``).
    epoch: int | None
    #: Offset of the next item to be appended, and of the oldest item retained.
    head: int
    tail: int
    #: True when the subscriber must drop what it had (new subscriber, or a new epoch).
    reset: bool
    #: True when the channel is not open yet; the replay follows once an owner opens it.
    waiting: bool
    #: How many state messages (``set``/``unset``) follow: the channel's whole state. A
    #: resuming subscriber drops the keys it had that are not among them (deleted meanwhile).
    state: int


class GapPayload(TypedDict, total=False):
    """Payload of ``gap`` (hub → peer): messages the peer will not get.

    ``kind`` is the kind of the missing messages (``append``, ``publish``, ``event`` …);
    ``reason`` is ``"history"`` (older than the retained history) or ``"dropped"`` (the
    peer's queue was full); ``count`` says how many. For stream items the message's
    ``offset`` is the first missing offset and ``end`` is one past the last.
    """

    kind: str
    count: int
    end: int
    reason: Literal["history", "dropped"]


class PresencePayload(TypedDict):
    """Payload of ``presence`` (hub → owner)."""

    viewers: int


class ErrorPayload(TypedDict):
    """Payload of ``error``: a stable code and a sentence for humans."""

    code: str
    message: str
