"""A view of an nbchannel widget over the widget's comm, played from Python.

What ``js/src/transports/comm.js`` does in a page where no nbchannel server is reachable:
it opens nothing of nbchannel's own, only the kernel's WebSocket (:class:`.KernelSocket`),
and talks to the kernel's own hub (``nbchannel/kernel/comm.py``) with the widget's custom
messages, one v1 frame each as a binary buffer::

    view → kernel   {"nbc": 1, "cid": CID}              buffers [frame]
                    {"nbc": 1, "cid": CID, "bye": true}
    kernel → view   {"nbc": 1, "to": CID, "events": E}  buffers [frame]

Used by path A-comm of the benchmarks and by the integration tests of the comm transport.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import orjson

from nbchannel.core import protocol as P
from nbchannel.core.codec import decode_frame, encode_frame
from nbchannel.core.message import Message, stream_values

from .kernel_ws import KernelSocket, pack_ws_v1

__all__ = ["CommView", "OnMessages"]

#: ``on_messages(messages of one frame, receive time ns)``
OnMessages = Callable[[list[Message], int], None]


class CommView:
    """One view of a widget (comm ``comm_id``, channels in ``scope``) over ``sock``.

    It takes over ``sock.on_iopub`` until :meth:`detach`. The frames addressed to it are
    kept in :attr:`messages`, or handed to ``on_messages`` instead when given (nothing is
    kept then). With :attr:`subshell_id` set its messages go to that subshell, as JupyterLab
    >= 4.4 sends comm messages to a kernel with subshells.
    """

    def __init__(
        self,
        sock: KernelSocket,
        comm_id: str,
        scope: str,
        *,
        on_messages: OnMessages | None = None,
        subshell_id: str | None = None,
    ) -> None:
        self.sock = sock
        self.comm_id = comm_id
        self.scope = scope
        self.cid = uuid.uuid4().hex[:12]
        self.on_messages = on_messages
        self.subshell_id = subshell_id
        #: Channel messages received (without ``on_messages``).
        self.messages: list[Message] = []
        #: Text of the kernel's stream output seen meanwhile (stdout, stderr).
        self.streams: list[str] = []
        #: Comm messages addressed to this view.
        self.comm_messages = 0
        #: What the kernel last said of this view's events: "live" or "after-cell".
        self.events = ""
        sock.on_iopub = self._on_iopub

    def detach(self) -> None:
        """Stop reading the socket's IOPub messages."""
        if self.sock.on_iopub == self._on_iopub:
            self.sock.on_iopub = None

    def _on_iopub(self, parts: list[memoryview], received_ns: int) -> bool:
        kind = orjson.loads(parts[0])["msg_type"]
        if kind == "stream":
            self.streams.append(orjson.loads(parts[3])["text"])
            return False
        if kind != "comm_msg":
            return False
        content = orjson.loads(parts[3])
        data = content.get("data", {})
        custom = data.get("content") if data.get("method") == "custom" else None
        if content.get("comm_id") != self.comm_id or not isinstance(custom, dict):
            return False
        if custom.get("nbc") == 1 and custom.get("to") == self.cid and len(parts) > 4:
            self.comm_messages += 1
            self.events = str(custom.get("events", ""))
            msgs = decode_frame(bytes(parts[4]))
            if self.on_messages is not None:
                self.on_messages(msgs, received_ns)
            else:
                self.messages.extend(msgs)
        return True

    def _send(self, custom: dict[str, Any], frame: bytes | None) -> None:
        header = self.sock._header("comm_msg")
        if self.subshell_id is not None:
            header["subshell_id"] = self.subshell_id
        content = {"comm_id": self.comm_id, "data": {"method": "custom", "content": custom}}
        parts = [orjson.dumps(header), b"{}", b"{}", orjson.dumps(content)]
        if frame is not None:
            parts.append(frame)
        assert self.sock.ws is not None
        self.sock.ws.send_binary(pack_ws_v1("shell", parts))

    def send(self, *msgs: Message) -> None:
        """Send channel messages to the kernel, in one frame."""
        self._send({"nbc": 1, "cid": self.cid}, encode_frame(list(msgs)))

    def sub(self, name: str) -> None:
        """Subscribe to channel ``name`` (the kernel replays its state and history)."""
        self.send(Message(P.SUBSCRIBE, name, scope=self.scope))

    def event(self, name: str, event: str, value: Any) -> None:
        """Send event ``event`` with ``value`` to channel ``name``'s handlers."""
        self.send(Message.create(P.EVENT, name, value, scope=self.scope, key=event))

    def bye(self) -> None:
        """Say the view is gone (the kernel forgets its queue)."""
        self._send({"nbc": 1, "cid": self.cid, "bye": True}, None)

    def items(self, name: str) -> list[Any]:
        """The values appended to channel ``name`` received so far."""
        return stream_values(m for m in self.messages if m.channel == name and m.kind == P.APPEND)

    def kinds(self, name: str) -> list[str]:
        """The kinds of channel ``name``'s messages received so far."""
        return [m.kind for m in self.messages if m.channel == name]
