"""A kernel WebSocket client speaking ``v1.kernel.websocket.jupyter.org``, as JupyterLab does.

This is path B of the benchmarks: the one socket per kernel that JupyterLab opens at
``{base_url}api/kernels/<id>/channels``, carrying shell, control, stdin and IOPub messages,
and therefore every comm (ipywidgets) message. Only what the benchmarks need is here:
executing code, sending ``comm_msg`` on shell, opening a subshell, and handing IOPub messages
to a callback.

The v1 binary framing (``jupyter_server/services/kernels/connection/base.py``)::

    8 bytes        n: number of offsets, uint64 little-endian
    8 * n bytes    offsets from the start of the message, uint64 little-endian
    offsets[0]…    channel name (UTF-8)
    offsets[1]…    header, parent_header, metadata, content (JSON), then raw buffers

The server forwards these parts to and from ZeroMQ as they are (it signs outgoing parts
itself), so the client needs no HMAC key.
"""

from __future__ import annotations

import asyncio
import datetime
import itertools
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from .ws_client import WSClient

__all__ = ["SUBPROTOCOL", "KernelSocket", "pack_ws_v1", "unpack_ws_v1"]

SUBPROTOCOL = "v1.kernel.websocket.jupyter.org"
_PROTOCOL_VERSION = "5.3"

#: ``handler([header, parent_header, metadata, content, *buffers], receive time ns)``
IOPubHandler = Callable[[list[memoryview], int], bool]


def pack_ws_v1(channel: str, parts: Sequence[bytes | memoryview]) -> bytes:
    """Frame ``parts`` (header, parent, metadata, content, buffers…) for ``channel``."""
    name = channel.encode()
    offsets = [8 * (1 + 1 + len(parts) + 1)]
    offsets.append(offsets[-1] + len(name))
    for p in parts:
        offsets.append(offsets[-1] + len(p))
    head = len(offsets).to_bytes(8, "little") + b"".join(o.to_bytes(8, "little") for o in offsets)
    return b"".join([head, name, *parts])


def unpack_ws_v1(data: bytes | bytearray) -> tuple[str, list[memoryview]]:
    """Split one v1 message into its channel name and its parts (views, no copies)."""
    mv = memoryview(data)
    n = int.from_bytes(mv[:8], "little")
    offsets = [int.from_bytes(mv[8 * (i + 1) : 8 * (i + 2)], "little") for i in range(n)]
    channel = bytes(mv[offsets[0] : offsets[1]]).decode()
    # n = parts + 2: the channel's start, each part's start, and the end of the last part
    return channel, [mv[offsets[i] : offsets[i + 1]] for i in range(1, n - 1)]


class KernelSocket:
    """One kernel WebSocket: execute code, send comm messages, receive IOPub.

    ``on_iopub(parts, received_ns)`` sees every IOPub message first and returns True when it
    consumed it (a benchmark's data message); other IOPub messages (stream output, errors of
    our own requests) are handled here.
    """

    def __init__(self, session: str) -> None:
        self.ws: WSClient | None = None
        self.session = session
        self.on_iopub: IOPubHandler | None = None
        self._replies: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._output: dict[str, list[str]] = {}
        self._errors: dict[str, list[str]] = {}
        self._idle_seen: set[str] = set()
        self._counter = itertools.count()
        self.closed = asyncio.Event()

    @classmethod
    async def connect(
        cls, base_url: str, kernel_id: str, token: str, *, timeout: float = 30.0
    ) -> KernelSocket:
        """Open ``{base_url}api/kernels/<id>/channels`` with the v1 subprotocol."""
        sock = cls(uuid.uuid4().hex)
        url = (
            base_url.replace("http://", "ws://", 1)
            + f"api/kernels/{kernel_id}/channels?session_id={sock.session}"
        )
        sock.ws = await WSClient.connect(
            url,
            on_message=sock._on_message,
            headers={"Authorization": f"token {token}"},
            subprotocols=[SUBPROTOCOL],
            timeout=timeout,
        )
        if sock.ws.selected_subprotocol != SUBPROTOCOL:
            sock.ws.close()
            raise RuntimeError(f"server did not accept {SUBPROTOCOL}")
        await sock.execute("pass", timeout=timeout)  # the kernel answers on this socket
        return sock

    # -- sending ---------------------------------------------------------------------------

    def _header(self, msg_type: str) -> dict[str, Any]:
        return {
            "msg_id": f"{self.session}_{next(self._counter)}",
            "msg_type": msg_type,
            "username": "bench",
            "session": self.session,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "version": _PROTOCOL_VERSION,
        }

    def send(self, channel: str, msg_type: str, content: dict[str, Any]) -> str:
        """Send a message; returns its ``msg_id``."""
        header = self._header(msg_type)
        parts = [orjson.dumps(header), b"{}", b"{}", orjson.dumps(content)]
        assert self.ws is not None
        self.ws.send_binary(pack_ws_v1(channel, parts))
        msg_id: str = header["msg_id"]
        return msg_id

    def comm_msg(self, comm_id: str, data: dict[str, Any]) -> None:
        """Send ``data`` to the kernel side of a comm (shell channel, like a widget view)."""
        self.send("shell", "comm_msg", {"comm_id": comm_id, "data": data})

    def submit(self, code: str) -> str:
        """Start executing ``code``; returns the request id for :meth:`join`."""
        content = {
            "code": code,
            "silent": False,
            "store_history": False,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        }
        msg_id = self.send("shell", "execute_request", content)
        self._replies[msg_id] = asyncio.get_running_loop().create_future()
        self._output[msg_id] = []
        self._errors[msg_id] = []
        return msg_id

    async def join(self, msg_id: str, timeout: float = 120.0) -> str:
        """Wait for the reply to :meth:`submit`; return stdout, raise on an error."""
        try:
            reply = await asyncio.wait_for(self._replies[msg_id], timeout)
            # IOPub (output) and shell (reply) are separate ZeroMQ sockets: give the last
            # output a moment to arrive before reading it
            for _ in range(50):
                if self._idle(msg_id):
                    break
                await asyncio.sleep(0.01)
        finally:
            self._replies.pop(msg_id, None)
            self._idle_seen.discard(msg_id)
        out = "".join(self._output.pop(msg_id, []))
        errors = "".join(self._errors.pop(msg_id, []))
        if reply.get("status") != "ok":
            raise RuntimeError(f"kernel error:\n{errors or reply}")
        return out

    async def request(
        self, channel: str, msg_type: str, content: dict[str, Any], timeout: float = 30.0
    ) -> dict[str, Any]:
        """Send a request on ``channel`` (shell or control); return its reply's content."""
        msg_id = self.send(channel, msg_type, content)
        fut = self._replies[msg_id] = asyncio.get_running_loop().create_future()
        try:
            return await asyncio.wait_for(fut, timeout)
        finally:
            self._replies.pop(msg_id, None)

    async def create_subshell(self, timeout: float = 30.0) -> str | None:
        """A new subshell of the kernel (its id), or None when the kernel has none
        (ipykernel < 7): what JupyterLab >= 4.4 opens to send comm messages on."""
        info = await self.request("shell", "kernel_info_request", {}, timeout)
        if "kernel subshells" not in info.get("supported_features", []):
            return None
        reply = await self.request("control", "create_subshell_request", {}, timeout)
        subshell: str | None = reply.get("subshell_id")
        return subshell

    def _idle(self, msg_id: str) -> bool:
        return msg_id in self._idle_seen

    async def execute(self, code: str, timeout: float = 120.0) -> str:
        """Run ``code`` to completion; return its stdout."""
        return await self.join(self.submit(code), timeout)

    async def eval(self, expr: str, timeout: float = 120.0) -> Any:
        """Evaluate ``expr`` in the kernel (its value must be JSON-serialisable)."""
        out = await self.execute(f"import json as _j; print(_j.dumps({expr}))", timeout)
        return orjson.loads(out.strip().splitlines()[-1])

    def close(self) -> None:
        """Close the WebSocket."""
        if self.ws is not None:
            self.ws.close()

    # -- receiving -------------------------------------------------------------------------

    def _on_message(self, data: str | bytes | bytearray | None) -> None:
        if data is None:
            self.closed.set()
            for fut in self._replies.values():
                if not fut.done():
                    fut.set_exception(ConnectionError("kernel WebSocket closed"))
            return
        if isinstance(data, str):  # the legacy JSON protocol; not negotiated here
            return
        channel, parts = unpack_ws_v1(data)
        if channel == "iopub":
            handler = self.on_iopub
            if handler is not None and handler(parts, time.time_ns()):
                return
            self._on_iopub(parts)
        elif channel in ("shell", "control"):
            parent = orjson.loads(parts[1])
            fut = self._replies.get(parent.get("msg_id", ""))
            if fut is not None and not fut.done():
                fut.set_result(orjson.loads(parts[3]))

    def _on_iopub(self, parts: list[memoryview]) -> None:
        parent = orjson.loads(parts[1]).get("msg_id", "")
        if parent not in self._output:
            return
        msg_type = orjson.loads(parts[0])["msg_type"]
        content = orjson.loads(parts[3])
        if msg_type == "stream":
            (self._output if content["name"] == "stdout" else self._errors)[parent].append(
                content["text"]
            )
        elif msg_type == "error":
            self._errors[parent].append("\n".join(content["traceback"]))
        elif msg_type == "status" and content.get("execution_state") == "idle":
            self._idle_seen.add(parent)
