"""Message kinds and the shapes of control payloads, shared by every peer.

Two roles talk to the hub:

* an **owner** (a kernel's ``LiveChannel`` client) opens channels and writes to them;
* a **subscriber** (a browser page, or any client speaking the browser protocol) reads
  channels and sends events back.

Owner → hub: ``hello``, ``open``, ``close``, ``set``, ``unset``, ``append``, ``publish``,
``gap`` (the kernel's own bounded queue dropped items; passed on to subscribers),
``mark`` (asks for an ``ack``) and ``refused`` (the kernel dropped events it could not keep
up with; the hub tells the channel's subscribers with an ``error``).
Hub → owner: ``welcome``, ``opened``, ``event``, ``presence``, ``ack``, ``error``, and for
a ``flow="block"`` channel ``credit`` (payload ``{"received", "behind", "viewers"}``: how
many of this owner's stream items the hub has taken, and how far behind the head the
slowest subscriber is).
Subscriber → hub: ``sub``, ``unsub``, ``event``, and for a ``flow="block"`` channel
``consumed`` (its ``offset`` field: every item before it is consumed).
Hub → subscriber: ``subscribed``, ``set``, ``unset``, ``append``, ``publish``, ``gap``,
``closed``, ``error``; over the HTTP stream also ``heartbeat`` (no channel; payload
``{"interval": seconds}``, plus ``"end": reason`` as a stream's last message), see
:mod:`nbchannel.server.http`.

**Acknowledgements.** Bytes a kernel wrote to its socket are not yet processed: if the
server dies, what it had not read is gone. So the kernel ends a frame now and then with a
``mark`` whose ``offset`` field is a sequence number; the hub, having processed every
message before it on that connection, answers ``ack`` with the same number. At most one
mark is unanswered at a time, so at most one ``ack`` is ever queued. What a kernel wrote
after its last answered mark is re-sent after a reconnect (to a new hub) or reported as a
``gap`` (to a hub that may have processed part of it).

A channel is addressed by ``(scope, name)``: the scope is the owning kernel's id for
kernel-scoped channels and :data:`SERVER_SCOPE` for channels shared across notebooks.
"""

from __future__ import annotations

from typing import Final, Literal, TypedDict

__all__ = [
    "ACK",
    "APPEND",
    "CLOSE",
    "CLOSED",
    "CONSUMED",
    "CREDIT",
    "DEFAULT_STATE_BYTES",
    "ERROR",
    "EVENT",
    "FLOWS",
    "GAP",
    "HEARTBEAT",
    "HELLO",
    "MARK",
    "MAX_KEY_LENGTH",
    "MAX_NAME_LENGTH",
    "OPEN",
    "OPENED",
    "PRESENCE",
    "PUBLISH",
    "REFUSED",
    "SERVER_SCOPE",
    "SET",
    "SUBSCRIBE",
    "SUBSCRIBED",
    "UNSET",
    "UNSUBSCRIBE",
    "WELCOME",
    "ErrorPayload",
    "Flow",
    "GapPayload",
    "OpenPayload",
    "OpenedPayload",
    "PresencePayload",
    "RefusedPayload",
    "SubscribedPayload",
    "WelcomePayload",
    "check_channel_name",
    "name_problem",
]

#: Scope of channels shared by every kernel of the server.
SERVER_SCOPE: Final = "server"
#: Longest channel name, and longest state key or event name, in characters. The kernel
#: refuses longer ones at the call; the hub refuses them from any peer.
MAX_NAME_LENGTH: Final = 200
MAX_KEY_LENGTH: Final = 1000
#: Default bound of one channel's retained state (``c.NbChannel.state_bytes``).
DEFAULT_STATE_BYTES: Final = 16 * 1024 * 1024

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
HEARTBEAT: Final = "heartbeat"
MARK: Final = "mark"
ACK: Final = "ack"
REFUSED: Final = "refused"
CONSUMED: Final = "consumed"
CREDIT: Final = "credit"

#: Kinds whose messages carry channel state (retained, replayed, coalesced by key).
STATE_KINDS: Final = frozenset({SET, UNSET})
#: Kinds an owner writes into a channel (``gap``: the kernel's own queue dropped items).
WRITE_KINDS: Final = frozenset({SET, UNSET, APPEND, PUBLISH, GAP})


#: Flow control of a channel: what happens when a viewer falls behind. ``drop``: its queue
#: drops stream items beyond its bound, with gap markers; ``latest``: it gets the newest
#: item, never a backlog; ``block``: nothing is dropped, the owner's ``append`` waits for
#: credit (viewers report what they have consumed with ``consumed``; the hub tells the
#: owner with ``credit``).
Flow = Literal["drop", "latest", "block"]
FLOWS: Final = ("drop", "latest", "block")


class WelcomePayload(TypedDict):
    """Hub → kernel after a valid hello: the bounds the kernel checks its writes against."""

    version: str
    max_frame_bytes: int
    state_bytes: int


class OpenPayload(TypedDict, total=False):
    """Payload of ``open`` (owner → hub); every field is optional."""

    #: Epoch the owner had before a reconnect; the channel resumes if it still matches.
    epoch: int
    #: Start the channel afresh (new epoch, no state or history), even a shared one.
    reset: bool
    #: Per-channel bounds on retained stream history (default: the hub's config).
    history_items: int
    history_bytes: int
    #: How viewers that fall behind are served (default ``"drop"``), and for ``"block"``
    #: how many stream items the slowest may be behind before the owner waits.
    flow: Flow
    window: int


class OpenedPayload(TypedDict):
    """Payload of ``opened`` (hub → owner)."""

    epoch: int
    #: Offset the next appended item will get.
    head: int
    #: Whether the channel was resumed (same epoch) rather than created afresh.
    resumed: bool
    viewers: int


class _SubscribedFlow(TypedDict, total=False):
    #: The channel's flow control when not ``"drop"``; with ``"block"`` the subscriber
    #: reports what it has consumed (``consumed``) at least every ``window`` / 4 items.
    flow: Flow
    window: int


class SubscribedPayload(_SubscribedFlow):
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
    ``reason`` is ``"history"`` (older than the retained history), ``"dropped"`` (the
    peer's queue was full), ``"closed"`` (the channel closed with them still queued) or
    ``"malformed"`` (a segment whose payload did not hold its items); ``count`` says how
    many. For stream items the message's
    ``offset`` is the first missing offset and ``end`` is one past the last.
    """

    kind: str
    count: int
    end: int
    reason: Literal["history", "dropped", "closed", "malformed"]


class PresencePayload(TypedDict):
    """Payload of ``presence`` (hub → owner)."""

    viewers: int


class RefusedPayload(TypedDict):
    """Payload of ``refused`` (owner → hub): messages the kernel received but dropped.

    ``kind`` is what was dropped (``"event"``: events its handlers could not keep up with),
    ``count`` how many since the last notice, ``limit`` the bound of the queue that was full.
    The hub turns it into a ``limit-exceeded`` ``error`` for the channel's subscribers.
    """

    kind: str
    count: int
    limit: int


class ErrorPayload(TypedDict):
    """Payload of ``error``: a stable code and a sentence for humans."""

    code: str
    message: str


def name_problem(name: object) -> str | None:
    """Why ``name`` cannot name a channel, or None if it can."""
    if not isinstance(name, str):
        return f"a channel name is a string, got {type(name).__name__}"
    if not name:
        return "a channel needs a non-empty name"
    if len(name) > MAX_NAME_LENGTH:
        return f"a channel name has at most {MAX_NAME_LENGTH} characters; this one has {len(name)}"
    return None


def check_channel_name(name: object) -> None:
    """Raise ``ValueError`` (a caller's mistake) if ``name`` cannot name a channel."""
    problem = name_problem(name)
    if problem is not None:
        raise ValueError(f"LiveChannel(name=...): {problem}")
