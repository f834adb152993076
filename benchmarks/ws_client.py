"""A lean WebSocket client for the measurements: each frame is read straight into its buffer.

Every path's receiving side uses this client, so the client costs every path the same and
as little as Python allows (a browser reads far faster than a Python client does): a large
frame lands with one ``recv_into`` per socket read directly into a buffer of its own size,
with no re-assembly copies; small frames are sliced out of a staging buffer. It speaks
RFC 6455 for what a client of these servers needs: the upgrade handshake (with a token
header and subprotocols), unmasked server frames, masked client frames, ping → pong, close.

::

    ws = await WSClient.connect("ws://127.0.0.1:8888/ws", on_message=print)
    ws.send_binary(b"...")
    ws.close()
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import struct
from collections.abc import Callable
from urllib.parse import urlsplit

__all__ = ["WSClient"]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_STAGE = 256 * 1024
#: Frames at least this big are read directly into their own buffer.
_DIRECT = 64 * 1024

OnMessage = Callable[["bytes | bytearray | str | None"], None]


def _mask(data: bytes, key: bytes) -> bytes:
    n = len(data)
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(k, "little")).to_bytes(n, "little")


class WSClient(asyncio.BufferedProtocol):
    """One client WebSocket; ``on_message`` gets each message, then ``None`` on close."""

    def __init__(self, on_message: OnMessage) -> None:
        self.on_message = on_message
        self.transport: asyncio.Transport | None = None
        self.selected_subprotocol: str | None = None
        self.closed = asyncio.Event()
        self._handshake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._accept = b""
        self._stage = bytearray(_STAGE)
        self._len = 0  # valid bytes in the staging buffer
        self._payload: bytearray | None = None  # a large frame being filled directly
        self._filled = 0
        self._opcode = 0
        self._fragments: list[bytes | bytearray] = []
        self._fragment_opcode = 0

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        on_message: OnMessage,
        headers: dict[str, str] | None = None,
        subprotocols: list[str] | None = None,
        timeout: float = 30.0,
    ) -> WSClient:
        """Connect to ``ws://host:port/path?query`` and finish the upgrade."""
        parts = urlsplit(url)
        if parts.scheme != "ws" or not parts.hostname:
            raise ValueError(f"only ws:// URLs are supported, not {url!r}")
        loop = asyncio.get_running_loop()
        client = cls(on_message)
        await asyncio.wait_for(
            loop.create_connection(lambda: client, parts.hostname, parts.port or 80), timeout
        )
        key = base64.b64encode(os.urandom(16))
        client._accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {parts.netloc}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key.decode()}",
            "Sec-WebSocket-Version: 13",
        ]
        if subprotocols:
            lines.append(f"Sec-WebSocket-Protocol: {', '.join(subprotocols)}")
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        assert client.transport is not None
        client.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        try:
            await asyncio.wait_for(client._handshake, timeout)
        except BaseException:
            client.transport.close()
            raise
        return client

    # -- sending ---------------------------------------------------------------------------

    def _send(self, opcode: int, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            raise ConnectionError("the WebSocket is closed")
        n = len(data)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 1 << 16:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        key = os.urandom(4)
        self.transport.write(head + key + _mask(data, key))

    def send_binary(self, data: bytes) -> None:
        """Send one binary message."""
        self._send(0x2, data)

    def send_text(self, text: str) -> None:
        """Send one text message."""
        self._send(0x1, text.encode())

    def close(self) -> None:
        """Close the connection (without waiting for the server's close frame)."""
        if self.transport is not None and not self.transport.is_closing():
            try:
                self._send(0x8, struct.pack("!H", 1000))
            finally:
                self.transport.close()

    # -- asyncio.BufferedProtocol ----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._handshake.done():
            self._handshake.set_exception(exc or ConnectionError("closed during the handshake"))
        if not self.closed.is_set():
            self.closed.set()
            self.on_message(None)

    def get_buffer(self, sizehint: int) -> memoryview:
        if self._payload is not None:
            return memoryview(self._payload)[self._filled :]
        if self._len == len(self._stage):  # a header or handshake longer than the stage
            self._stage.extend(bytes(len(self._stage)))
        return memoryview(self._stage)[self._len :]

    def buffer_updated(self, nbytes: int) -> None:
        if self._payload is not None:
            self._filled += nbytes
            if self._filled == len(self._payload):
                payload, self._payload = self._payload, None
                self._deliver(self._opcode, True, payload)
            return
        self._len += nbytes
        if not self._handshake.done():
            self._parse_handshake()
        if self._handshake.done():
            self._parse_frames()

    # -- parsing ---------------------------------------------------------------------------

    def _parse_handshake(self) -> None:
        stage = self._stage
        end = stage.find(b"\r\n\r\n", 0, self._len)
        if end < 0:
            return
        head = bytes(stage[:end]).decode("latin-1").split("\r\n")
        fields = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        status = head[0].split(" ", 2)
        if len(status) < 2 or status[1] != "101":
            self._handshake.set_exception(ConnectionError(f"upgrade refused: {head[0]}"))
        elif fields.get("sec-websocket-accept", "").encode() != self._accept:
            self._handshake.set_exception(ConnectionError("bad Sec-WebSocket-Accept"))
        else:
            self.selected_subprotocol = fields.get("sec-websocket-protocol") or None
            self._handshake.set_result(None)
        rest = self._len - (end + 4)
        stage[:rest] = stage[end + 4 : self._len]
        self._len = rest

    def _parse_frames(self) -> None:
        stage, pos, end = self._stage, 0, self._len
        while end - pos >= 2:
            b0, b1 = stage[pos], stage[pos + 1]
            fin, opcode, length, start = bool(b0 & 0x80), b0 & 0x0F, b1 & 0x7F, pos + 2
            if b1 & 0x80:
                raise ConnectionError("the server sent a masked frame")
            if length == 126:
                if end - start < 2:
                    break
                (length,) = struct.unpack_from("!H", stage, start)
                start += 2
            elif length == 127:
                if end - start < 8:
                    break
                (length,) = struct.unpack_from("!Q", stage, start)
                start += 8
            have = end - start
            if have >= length:
                self._deliver(opcode, fin, stage[start : start + length])
                pos = start + length
                continue
            if length >= _DIRECT:
                # read the rest of this frame straight into its own buffer
                payload = bytearray(length)
                payload[:have] = stage[start:end]
                self._payload, self._filled, self._opcode = payload, have, opcode
                if not fin:
                    raise ConnectionError("fragmented large frames are not supported")
                pos = end
            break
        if pos:
            rest = end - pos
            stage[:rest] = stage[pos:end]
            self._len = rest

    def _deliver(self, opcode: int, fin: bool, data: bytearray) -> None:
        if opcode == 0x0:  # continuation
            self._fragments.append(data)
            if not fin:
                return
            opcode, data = self._fragment_opcode, bytearray(b"".join(self._fragments))
            self._fragments = []
        elif not fin and opcode in (0x1, 0x2):
            self._fragments, self._fragment_opcode = [data], opcode
            return
        if opcode == 0x2:
            self.on_message(data)
        elif opcode == 0x1:
            self.on_message(data.decode())
        elif opcode == 0x9:
            self._send(0xA, bytes(data))
        elif opcode == 0x8:
            self.close()
