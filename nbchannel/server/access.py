"""Who may do what on the browser endpoints, for every transport alike.

The authorizer sees the resource ``nbchannel`` and two actions:

* ``read`` — watch channels: the WebSocket upgrade, an HTTP session, its stream or poll,
  and the ``sub``/``unsub`` messages a viewer sends;
* ``execute`` — send ``event`` messages to kernels.

A user with ``read`` but not ``execute`` sees every channel's data; each event they send
is answered with an ``error`` (code ``not-permitted``) and reaches no kernel. Both the
WebSocket handler and the HTTP send endpoint hand a viewer's messages to the hub through
:func:`receive_from_viewer`, so the rule lives here once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jupyter_server.utils import ensure_async

from ..core import protocol as P
from ..core.hub import Hub
from ..core.message import Message
from ..core.peer import Peer
from ..errors import NotPermitted

__all__ = ["EVENTS_REFUSED", "is_authorized", "receive_from_viewer"]
#: The sentence sent back (code ``not-permitted``) for each event a read-only viewer sends.
EVENTS_REFUSED = (
    "this user may watch channels but not send events to kernels "
    "(the authorizer refuses 'execute' on 'nbchannel'); the event was not delivered"
)


async def is_authorized(handler: Any, action: str) -> bool:
    """Whether the handler's user may ``action`` (``read``/``execute``) on the handler's
    ``auth_resource`` (``nbchannel``)."""
    user = handler.current_user
    if not user:
        return False
    resource = handler.auth_resource
    return bool(
        await ensure_async(handler.authorizer.is_authorized(handler, user, action, resource))
    )


def receive_from_viewer(
    hub: Hub, peer: Peer, msgs: Sequence[Message], *, may_send_events: bool
) -> None:
    """Hand a viewer's decoded messages to the hub, in order.

    Without ``may_send_events`` every ``event`` is answered with a ``not-permitted`` error
    on the viewer's own queue and dropped; the other messages go through as usual.
    """
    if may_send_events or all(m.kind != P.EVENT for m in msgs):
        hub.receive(peer, msgs)
        return
    run: list[Message] = []
    for m in msgs:
        if m.kind != P.EVENT:
            run.append(m)
            continue
        if run:
            hub.receive(peer, run)
            run = []
        hub.send_error(peer, NotPermitted(EVENTS_REFUSED), m)
    if run:
        hub.receive(peer, run)
