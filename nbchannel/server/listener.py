"""The kernels' way into the hub: a Unix socket (or loopback TCP port) guarded by a secret.

Only kernels use this listener. It is bound when the extension loads, before any kernel
starts, and its address and secret are exported into the server's environment, which every
kernel started afterwards inherits. Security:

* the Unix socket lives in the Jupyter runtime directory (or a private ``0700`` directory
  when that path is too long for a socket) and is created with ``0600`` permissions;
* the TCP fallback binds ``127.0.0.1`` only, never another interface;
* the first frame on a connection must be ``hello`` carrying the 256-bit secret, compared in
  constant time, within ``hello_timeout`` seconds; anything else is logged and closed;
* until that hello is verified, a connection is read into a buffer of at most
  ``max_hello_bytes`` (64 KiB by default): a first frame declaring more is refused as soon as
  its 12-byte preamble is in, before anything is allocated for it. Only an authenticated
  kernel may send frames up to ``max_frame_bytes``.

After the hello, a frame that cannot be decoded ends the connection (a byte stream cannot
find the next frame boundary): the kernel gets an ``error`` message naming the problem,
then the connection closes; the kernel reconnects and restores its channels.

The secret and address are also kept in a small JSON *hub file* (owner-only permissions) in
the runtime directory, keyed by the server's port. A server restarted on the same port
reuses them, so kernels that outlived the old server reconnect to the new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import secrets
import socket
import stat
import tempfile
from pathlib import Path
from typing import Any

from .._version import __version__
from ..core import protocol as P
from ..core.address import HubAddress
from ..core.codec import PREAMBLE_SIZE, FrameReader, Limits, decode_frame, encode_frame
from ..core.hub import Hub
from ..core.message import Message
from ..core.peer import Peer
from ..errors import FrameError, FrameTooLarge, MalformedFrame, NbChannelError

__all__ = ["KernelListener"]

_UNIX_PATH_MAX = 100  # sun_path is 108 bytes on Linux, 104 on macOS
#: Default bound of a connection's first frame (its ``hello``), ``c.NbChannel.max_hello_bytes``.
#: A kernel's hello is about 200 bytes.
MAX_HELLO_BYTES = 64 * 1024
#: Seconds a connection ended after an error stays open for the peer to read why.
_CLOSE_GRACE = 2.0
#: Where a connection's reads go once it is closing: dropped unread, so shared by all.
_DISCARD = bytearray(64 * 1024)


class KernelListener:
    """Accepts kernel connections and connects each to the hub as an owner."""

    def __init__(
        self,
        hub: Hub,
        *,
        runtime_dir: str,
        port: int,
        transport: str = "auto",
        socket_dir: str = "",
        hello_timeout: float = 5.0,
        max_hello_bytes: int = MAX_HELLO_BYTES,
        log: logging.Logger | None = None,
    ) -> None:
        self.hub = hub
        self.runtime_dir = runtime_dir
        self.port = port
        self.transport = transport
        self.socket_dir = socket_dir
        self.hello_timeout = hello_timeout
        self.max_hello_bytes = max_hello_bytes
        self.log = log or logging.getLogger("nbchannel")
        self.limits: Limits = hub.config.limits
        #: What an unauthenticated connection may send: one small frame.
        self.hello_limits = Limits(
            max_frame_bytes=max_hello_bytes,
            max_header_bytes=min(max_hello_bytes, self.limits.max_header_bytes),
        )
        self.secret = ""
        self.address: HubAddress | None = None
        self.hub_file = Path(runtime_dir) / f"nbchannel-hub-{port}.json"
        self._sock: socket.socket | None = None
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[_KernelConnection] = set()
        #: Connections refused (wrong secret, no hello, bad frames), for the API and tests.
        self.refused = 0

    # -- binding ---------------------------------------------------------------------------

    def bind(self) -> HubAddress:
        """Bind the listening socket and write the hub file. Synchronous: call at load time."""
        previous = self._read_hub_file()
        if previous and _is_listening(previous.get("address")):
            # Another running server owns this hub file: Jupyter picks its final port only
            # after extensions load, so a second server started on a busy port gets here
            # with the first one's port. Leave that server's socket and hub file alone.
            self.log.warning(
                "nbchannel: %s belongs to a running server; using a separate hub file",
                self.hub_file,
            )
            self.hub_file = self.hub_file.with_name(f"nbchannel-hub-{self.port}-{os.getpid()}.json")
            previous = {}
        self.secret = previous.get("secret") or secrets.token_hex(32)
        use_unix = self.transport == "unix" or (
            self.transport == "auto" and hasattr(socket, "AF_UNIX")
        )
        if use_unix:
            self.address = self._bind_unix(previous.get("address"))
        else:
            self.address = self._bind_tcp(previous.get("address"))
        self._write_hub_file()
        return self.address

    def _read_hub_file(self) -> dict[str, Any]:
        try:
            st = self.hub_file.stat()
            if st.st_mode & 0o077 or st.st_uid != os.getuid():
                return {}  # not private to us: do not trust it
            data = json.loads(self.hub_file.read_text())
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or not isinstance(data.get("secret"), str):
            return {}
        if len(data["secret"]) != 64:
            return {}
        return data

    def _write_hub_file(self) -> None:
        data = {"address": str(self.address), "secret": self.secret, "pid": os.getpid()}
        tmp = self.hub_file.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f)
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.hub_file)

    def _socket_path(self, previous: str | None) -> str:
        if previous:
            with contextlib.suppress(ValueError):
                old = HubAddress.parse(previous)
                if old.kind == "unix":
                    return old.path
        name = f"nbchannel-{self.port}-{secrets.token_hex(4)}.sock"
        base = self.socket_dir or self.runtime_dir
        path = os.path.join(base, name)
        if len(path.encode()) <= _UNIX_PATH_MAX:
            return path
        # The runtime directory is too deep for a socket path: use a private short one.
        private = os.path.join(tempfile.gettempdir(), f"nbchannel-{os.getuid()}")
        os.makedirs(private, mode=0o700, exist_ok=True)
        st = os.stat(private)
        if st.st_uid != os.getuid() or st.st_mode & 0o077:
            raise NbChannelError(
                f"{private} is not private to this user; set c.NbChannel.socket_dir to a "
                "directory only you can access"
            )
        return os.path.join(private, name)

    def _bind_unix(self, previous: str | None) -> HubAddress:
        path = self._socket_path(previous)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISSOCK(os.stat(path).st_mode):
                os.unlink(path)  # left over from a server that is gone
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)  # the socket file is born 0600: no window for others
        try:
            sock.bind(path)
        finally:
            os.umask(old_umask)
        os.chmod(path, 0o600)
        sock.listen(64)
        sock.setblocking(False)
        self._sock = sock
        return HubAddress("unix", path=path)

    def _bind_tcp(self, previous: str | None) -> HubAddress:
        port = 0
        if previous:
            with contextlib.suppress(ValueError):
                old = HubAddress.parse(previous)
                if old.kind == "tcp":
                    port = old.port
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        sock.setblocking(False)
        self._sock = sock
        return HubAddress("tcp", host="127.0.0.1", port=sock.getsockname()[1])

    # -- serving ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start accepting connections (the event loop must be running)."""
        if self._sock is None:
            self.bind()
        assert self._sock is not None
        loop = asyncio.get_running_loop()
        if self.address is not None and self.address.kind == "unix":
            self._server = await loop.create_unix_server(self._protocol, sock=self._sock)
        else:
            self._server = await loop.create_server(self._protocol, sock=self._sock)
        self.log.info("nbchannel: listening for kernels on %s", self.address)

    async def stop(self) -> None:
        """Stop accepting, close every kernel connection, remove the socket file."""
        if self._server is not None:
            self._server.close()
        for conn in list(self._connections):
            conn.abort()
        writers = [c.writer for c in self._connections if c.writer is not None]
        await asyncio.sleep(0)  # let the transports report their connections lost
        if writers:
            await asyncio.gather(*writers, return_exceptions=True)
        if self.address is not None and self.address.kind == "unix":
            with contextlib.suppress(OSError):
                os.unlink(self.address.path)
        self._server = None

    def _protocol(self) -> _KernelConnection:
        return _KernelConnection(self)

    def _refuse(self, why: str) -> None:
        self.refused += 1
        self.log.warning("nbchannel: refused a kernel connection: %s", why)

    def _check_hello(self, msg: Message) -> tuple[str, int] | None:
        if msg.kind != P.HELLO:
            return None
        try:
            info = msg.value()
        except FrameError:
            return None
        if not isinstance(info, dict):
            return None
        secret = info.get("secret")
        if not isinstance(secret, str) or not hmac.compare_digest(
            secret.encode(), self.secret.encode()
        ):
            return None
        kernel_id = info.get("kernel_id")
        if not isinstance(kernel_id, str) or not kernel_id or len(kernel_id) > 200:
            return None
        pid = info.get("pid")
        return kernel_id, pid if isinstance(pid, int) else -1


def _is_listening(address: object) -> bool:
    """Whether something accepts connections at a hub address (a live server owns it)."""
    try:
        addr = HubAddress.parse(address) if isinstance(address, str) else None
    except ValueError:
        addr = None
    if addr is None or (addr.kind == "unix" and not hasattr(socket, "AF_UNIX")):
        return False
    family = socket.AF_UNIX if addr.kind == "unix" else socket.AF_INET
    target: Any = addr.path if addr.kind == "unix" else (addr.host, addr.port)
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        try:
            sock.connect(target)
        except OSError:
            return False
    return True


class _KernelConnection(asyncio.BufferedProtocol):
    """One kernel's connection: its ``hello`` first, then its frames straight into the hub.

    Until the hello is verified, reads land in a buffer of exactly the bytes still missing
    from the first frame: its 12-byte preamble, then (if the preamble declares at most
    ``max_hello_bytes``) the rest of it. Nothing beyond that first frame is read before the
    secret is checked, and a connection that declares a bigger first frame is refused
    before anything is allocated for it.

    Once authenticated, reads land in the :class:`FrameReader`'s buffers (a large frame
    directly in a buffer of its own size), and each completed frame goes to the hub in the
    same callback.
    """

    def __init__(self, listener: KernelListener) -> None:
        self.listener = listener
        #: Set once the hello is verified; until then reads go to ``_hello_buf``.
        self.frames: FrameReader | None = None
        self._hello_buf = bytearray(PREAMBLE_SIZE)
        self._hello_filled = 0
        self.transport: asyncio.Transport | None = None
        self.peer: Peer | None = None
        self.kernel_id = ""
        self.writer: asyncio.Task[None] | None = None
        self._hello_timer: asyncio.TimerHandle | None = None
        self._can_write = asyncio.Event()
        self._can_write.set()
        self._refused = False
        self._closing = False

    # -- asyncio.BufferedProtocol ----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.listener._connections.add(self)
        timeout = self.listener.hello_timeout
        self._hello_timer = asyncio.get_running_loop().call_later(
            timeout, self._refuse, f"no valid hello (none within {timeout:g} s)"
        )

    def get_buffer(self, sizehint: int) -> memoryview:
        if self._closing:
            return memoryview(_DISCARD)
        if self.frames is not None:
            return self.frames.get_buffer(sizehint)
        # Exactly what the first frame still lacks: a read never takes bytes beyond it.
        return memoryview(self._hello_buf)[self._hello_filled :]

    def buffer_updated(self, nbytes: int) -> None:
        if self._closing:
            return  # an error was sent and the connection is closing: ignore the rest
        frames = self.frames
        if frames is None:
            self._hello_received(nbytes)
            return
        try:
            batches = frames.buffer_updated(nbytes)
        except FrameError as exc:
            # A byte stream cannot resynchronise after a bad frame: say why and close; the
            # kernel reconnects and restores its channels.
            self._fail(str(exc), exc.code)
            return
        peer = self.peer
        assert peer is not None  # frames exist only once the hello made the peer
        try:
            for msgs in batches:
                self.listener.hub.receive(peer, msgs)
        except Exception:  # a broken connection must never take the server down
            self.listener.log.exception("nbchannel: kernel connection failed")
            self.abort()

    def eof_received(self) -> bool:
        if self._closing:
            return False  # the peer read our reason and closed: close for good
        frames = self.frames
        if self.peer is not None and frames is not None and frames.buffered:
            # The kernel half-closed in the middle of a frame: that frame is lost; say so.
            self._fail(
                f"connection closed in the middle of a frame ({frames.buffered} bytes of it "
                "received)",
                MalformedFrame.code,
            )
        return False  # the peer sends no more: close once our reply is out

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._hello_timer is not None:
            self._hello_timer.cancel()
        self.listener._connections.discard(self)
        self._can_write.set()
        if self.peer is not None:
            self.listener.hub.disconnect(self.peer)
            if self.writer is not None:
                self.writer.cancel()
            self.listener.log.info("nbchannel: kernel %s disconnected", self.kernel_id)
        elif not self._refused:
            self._refuse("no valid hello (closed before hello)")

    # -- ours ------------------------------------------------------------------------------

    def abort(self) -> None:
        """Close the connection now, dropping anything not yet sent."""
        if self.transport is not None:
            self.transport.abort()

    def _close_after(self, reply: Message | None) -> None:
        """Send ``reply`` (if any) and end our side; the peer reads it, then end of stream.

        What the peer still sends is read into a shared scratch and dropped (closing with
        unread input would reset the connection, and the reply could be lost with it), until
        the peer closes too or ``_CLOSE_GRACE`` seconds have passed.
        """
        self._closing = True
        if self.writer is not None:
            self.writer.cancel()
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if reply is not None:
            transport.write(encode_frame([reply]))
        if transport.can_write_eof():
            transport.write_eof()  # after sending what is buffered
        else:
            transport.close()
        asyncio.get_running_loop().call_later(_CLOSE_GRACE, transport.abort)

    def _fail(self, why: str, code: str) -> None:
        """An authenticated kernel broke the stream: tell it why, and close."""
        self.listener.log.warning(
            "nbchannel: closing kernel %s connection: %s", self.kernel_id, why
        )
        if self.peer is not None:
            self.listener.hub.disconnect(self.peer)  # its channels wait for it to come back
        err: P.ErrorPayload = {"code": code, "message": why}
        self._close_after(Message.create(P.ERROR, "", err))

    def _refuse(self, why: str, reply: Message | None = None) -> None:
        if self._refused or self.peer is not None:
            return
        self._refused = True
        self.listener._refuse(why)
        if self._hello_timer is not None:
            self._hello_timer.cancel()
        self._close_after(reply)

    def _hello_received(self, nbytes: int) -> None:
        """Bytes of the first frame arrived: check its preamble, then the whole hello."""
        self._hello_filled += nbytes
        buf = self._hello_buf
        if self._hello_filled < len(buf):
            return
        listener = self.listener
        if len(buf) == PREAMBLE_SIZE:
            try:
                # magic and version first; sizes against the server's own limits
                total = listener.limits.check_preamble(buf)
            except FrameError as exc:
                self._refuse(f"no valid hello ({exc})")
                return
            if total > listener.max_hello_bytes:
                why = (
                    f"first frame of {total} bytes declared before authenticating; a hello "
                    f"may be at most {listener.max_hello_bytes} bytes "
                    "(c.NbChannel.max_hello_bytes)"
                )
                err: P.ErrorPayload = {"code": FrameTooLarge.code, "message": why}
                self._refuse(why, Message.create(P.ERROR, "", err))
                return
            # Now, and only now, the first frame's own buffer: at most max_hello_bytes.
            self._hello_buf = bytearray(total)
            self._hello_buf[:PREAMBLE_SIZE] = buf
            return
        self._hello_buf = bytearray()  # the frame is decoded from ``buf``; free it after
        try:
            msgs = decode_frame(bytes(buf), listener.hello_limits)
        except FrameError as exc:
            self._refuse(f"no valid hello ({exc})")
            return
        try:
            self._hello(msgs)
        except Exception:  # a broken connection must never take the server down
            listener.log.exception("nbchannel: kernel connection failed")
            self.abort()

    def _hello(self, msgs: list[Message]) -> bool:
        """Check the first frame; connect the kernel to the hub if it is a valid hello."""
        if len(msgs) != 1:
            self._refuse("no valid hello (hello must come alone in the first frame)")
            return False
        info = self.listener._check_hello(msgs[0])
        if info is None:
            err: P.ErrorPayload = {"code": "not-permitted", "message": "wrong or missing secret"}
            self._refuse("wrong or missing secret", Message.create(P.ERROR, "", err))
            return False
        if self._hello_timer is not None:
            self._hello_timer.cancel()
        self.kernel_id, pid = info
        listener = self.listener
        # Authenticated: from here on, frames up to max_frame_bytes.
        self.frames = FrameReader(listener.limits)
        peer = self.peer = listener.hub.connect_owner(
            self.kernel_id, name=f"kernel {self.kernel_id} (pid {pid})"
        )
        listener.log.info("nbchannel: kernel %s (pid %s) connected", self.kernel_id, pid)
        welcome = {"version": __version__, "max_frame_bytes": listener.limits.max_frame_bytes}
        peer.outbox.put(Message.create(P.WELCOME, "", welcome))
        self.writer = asyncio.get_running_loop().create_task(self._write_loop(peer))
        # an event for an idle kernel goes out in the call that routed it, not a turn later
        peer.send_now = self._send_now
        return True

    def _send_now(self, frame: bytes) -> bool:
        """Write ``frame`` now if nothing waits to be written to the kernel (False, and
        nothing written, otherwise: it is queued for :meth:`_write_loop`)."""
        transport = self.transport
        if (
            self._closing
            or transport is None
            or transport.is_closing()
            or not self._can_write.is_set()
            or transport.get_write_buffer_size()
        ):
            return False
        transport.write(frame)
        return True

    async def _write_loop(self, peer: Peer) -> None:
        transport = self.transport
        assert transport is not None
        while not (self._closing or transport.is_closing()):
            parts = peer.take_frame()
            if parts is None:
                if peer.closed:
                    return
                await peer.wait()
                continue
            transport.writelines(parts)
            if not self._can_write.is_set():
                await self._can_write.wait()
