"""The kernel's connection to a relay: the hub client's I/O thread over a WebSocket.

:class:`RelayClient` is a :class:`~nbchannel.kernel.client.HubClient` (same batching,
acknowledgements, reconnects, resends and event thread) whose connection is a WebSocket
to ``{relay}/kernel`` carrying the same frames, one frame per WebSocket message. It
authenticates with ``Authorization: token …`` on the upgrade request. The WebSocket layer
here is the small part of RFC 6455 a client needs (masked binary frames out, unmasked
frames in), written against non-blocking sockets so the I/O thread's loop is unchanged.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import os
import secrets
import selectors
import socket
import struct
from typing import Any, cast
from urllib.parse import urlsplit

import numpy as np

from .._version import __version__
from ..core import protocol as P
from ..core.address import HubAddress
from ..core.codec import PREAMBLE_SIZE, FrameReader, encode_frame
from ..core.message import Message
from ..kernel.client import HubClient, find_kernel_id
from ..kernel.port import TransportStats
from .wire import KERNEL_PATH, relay_token, relay_url

__all__ = ["RelayClient", "WebSocketStream"]

log = logging.getLogger("nbchannel")
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_PREAMBLE = struct.Struct("<3sBII")
#: Bytes masked per write (a large frame goes out in pieces of this size).
_CHUNK = 1 << 20
_MAX_RESPONSE = 64 * 1024


def _align8(n: int) -> int:
    return (n + 7) & ~7


def _mask(data: bytes | bytearray | memoryview, key: bytes, pos: int) -> bytes:
    """``data`` XOR the masking key, starting at payload position ``pos``."""
    n = len(data)
    if not n:
        return b""
    k = np.frombuffer(key[pos % 4 :] + key[: pos % 4], dtype=np.uint8)
    out = np.frombuffer(data, dtype=np.uint8) ^ np.resize(k, n)
    return out.tobytes()


def _client_header(size: int, key: bytes) -> bytes:
    """A final, masked binary frame's header for ``size`` payload bytes."""
    if size < 126:
        return bytes((0x82, 0x80 | size)) + key
    if size < 1 << 16:
        return struct.pack("!BBH", 0x82, 0xFE, size) + key
    return struct.pack("!BBQ", 0x82, 0xFF, size) + key


class WebSocketStream:
    """A connected WebSocket seen as a byte stream of nbchannel frames.

    ``sendmsg(parts)`` takes the rest of the current frame (as the hub client's writer
    passes it) and returns how many of those bytes went out, each nbchannel frame becoming
    one WebSocket message; ``recv_payload()`` returns the payload bytes that arrived (empty
    when only control frames did) or None once the relay closed.
    """

    def __init__(self, sock: socket.socket, leftover: bytes = b"") -> None:
        self.sock = sock
        self._in = bytearray(leftover)
        self._in_left = 0  # payload bytes of the current incoming data frame still due
        self._frame_left = 0  # payload bytes of the current outgoing message still due
        self._pos = 0
        self._key = b"\0\0\0\0"
        self._out: bytes | None = None
        self._out_sent = 0
        self._out_prefix = 0

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()

    def sendmsg(self, parts: list[memoryview]) -> int:
        if self._out is None:
            prefix = b""
            if self._frame_left == 0:
                head = b"".join(bytes(p[:PREAMBLE_SIZE]) for p in parts[:PREAMBLE_SIZE])
                _, _, hlen, blen = _PREAMBLE.unpack_from(head[:PREAMBLE_SIZE])
                total = _align8(PREAMBLE_SIZE + hlen) + blen
                self._key = secrets.token_bytes(4)
                self._frame_left, self._pos = total, 0
                prefix = _client_header(total, self._key)
            want = min(self._frame_left, _CHUNK)
            chunk = bytearray()
            for p in parts:
                if len(chunk) >= want:
                    break
                chunk += p[: want - len(chunk)]
            masked = _mask(chunk, self._key, self._pos)
            self._out = prefix + masked
            self._out_sent = 0
            self._out_prefix = len(prefix)
        out = self._out
        n = self.sock.send(memoryview(out)[self._out_sent :])  # BlockingIOError: caller waits
        before = max(0, self._out_sent - self._out_prefix)
        self._out_sent += n
        after = max(0, self._out_sent - self._out_prefix)
        if self._out_sent == len(out):
            payload = len(out) - self._out_prefix
            self._pos += payload
            self._frame_left -= payload
            self._out = None
        return after - before

    def recv_payload(self) -> bytes | None:
        try:
            data = self.sock.recv(1 << 20)
        except (BlockingIOError, InterruptedError):
            data = None
        if data is not None:
            if not data:
                return None
            self._in += data
        out = bytearray()
        buf = self._in
        while buf:
            if self._in_left:
                take = min(self._in_left, len(buf))
                out += buf[:take]
                del buf[:take]
                self._in_left -= take
                continue
            if len(buf) < 2:
                break
            opcode, size = buf[0] & 0x0F, buf[1] & 0x7F
            start = 2
            if size == 126:
                if len(buf) < 4:
                    break
                size, start = struct.unpack_from("!H", buf, 2)[0], 4
            elif size == 127:
                if len(buf) < 10:
                    break
                size, start = struct.unpack_from("!Q", buf, 2)[0], 10
            if buf[1] & 0x80:
                start += 4  # a server does not mask; tolerate it as far as skipping goes
            if opcode in (0, 1, 2):
                del buf[:start]
                self._in_left = size
                continue
            if len(buf) < start + size:
                break  # a control frame is read whole
            del buf[: start + size]
            if opcode == 8:
                return None
            # ping (9) and pong (10): nothing to do (the relay does not ping kernels)
        return bytes(out)


class RelayClient(HubClient):
    """Carries this process's ``scope="hub"`` channels to a relay (see the module docstring)."""

    def __init__(self, url: str, token: str, kernel_id: str, **options: Any) -> None:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("ws", "http"):
            raise ValueError(
                f"relay URL {url!r}: expected ws:// or http:// (a relay on the cluster's network)"
            )
        self.url = url
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 80
        base = parts.path if parts.path.endswith("/") else parts.path + "/"
        self._path = base + KERNEL_PATH
        super().__init__(HubAddress("tcp", host=self._host, port=self._port), token, kernel_id)

    @classmethod
    def from_environment(cls, **options: Any) -> RelayClient:
        """Build from ``NBCHANNEL_RELAY_URL`` and the token in the environment."""
        url = relay_url()
        if url is None:
            raise LookupError("NBCHANNEL_RELAY_URL is not set")
        return cls(url, relay_token(), find_kernel_id(), **options)

    def stats(self) -> TransportStats:
        s = super().stats()
        s["transport"] = "relay (websocket)"
        return s

    def _dial(self) -> socket.socket:
        sock = socket.create_connection((self._host, self._port), timeout=5.0)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            leftover = self._handshake(sock)
            hello = {"kernel_id": self.kernel_id, "pid": os.getpid(), "version": __version__}
            frame = encode_frame([Message.create(P.HELLO, "", hello)])
            key = secrets.token_bytes(4)
            sock.sendall(_client_header(len(frame), key) + _mask(frame, key, 0))
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        # The hub client's loop writes with sendmsg and reads with _poll (below).
        return cast(socket.socket, WebSocketStream(sock, leftover))

    def _handshake(self, sock: socket.socket) -> bytes:
        key = base64.b64encode(secrets.token_bytes(16)).decode()
        lines = [
            f"GET {self._path} HTTP/1.1",
            f"Host: {self._host}:{self._port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            f"User-Agent: nbchannel-kernel/{__version__}",
        ]
        if self.secret:
            lines.append(f"Authorization: token {self.secret}")
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk or len(data) > _MAX_RESPONSE:
                raise ConnectionError("the relay closed the connection during the handshake")
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        status, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        code = status.split(" ", 2)
        if len(code) < 2 or code[1] != "101":
            with contextlib.suppress(OSError):
                sock.settimeout(0.5)
                rest += sock.recv(4096)
            reason = rest.decode("utf-8", "replace").strip()[:300]
            raise ConnectionError(f"the relay refused this kernel: {status} {reason}".strip())
        expected = base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()
        if headers.get("sec-websocket-accept") != expected:
            raise ConnectionError("the relay's WebSocket handshake is invalid")
        return rest

    def _poll(
        self,
        sel: selectors.BaseSelector,
        sock: socket.socket,
        reader: FrameReader,
        timeout: float | None,
    ) -> None:
        stream = cast(WebSocketStream, sock)
        for key, events in sel.select(timeout):
            if key.fileobj is self._wake_r:
                self._drain_wake()
            elif events & selectors.EVENT_READ:
                data = stream.recv_payload()
                if data is None:
                    raise ConnectionError("the relay closed the connection")
                if data:
                    for batch in reader.feed(data):
                        self._dispatch(batch)
