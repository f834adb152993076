"""The kernels' way into the hub: a Unix socket (or loopback TCP port) guarded by a secret.

Only kernels use this listener. It is bound when the extension loads, before any kernel
starts, and its address and secret are exported into the server's environment, which every
kernel started afterwards inherits. Security:

* the Unix socket lives in the Jupyter runtime directory (or a private ``0700`` directory
  when that path is too long for a socket) and is created with ``0600`` permissions;
* the TCP fallback binds ``127.0.0.1`` only, never another interface;
* the first frame on a connection must be ``hello`` carrying the 256-bit secret, compared in
  constant time, within ``hello_timeout`` seconds; anything else is logged and closed.

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
from ..core.codec import FrameReader, Limits, encode_frame
from ..core.hub import Hub
from ..core.message import Message
from ..core.peer import Peer
from ..errors import FrameError, NbChannelError

__all__ = ["KernelListener"]

_UNIX_PATH_MAX = 100  # sun_path is 108 bytes on Linux, 104 on macOS


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
        log: logging.Logger | None = None,
    ) -> None:
        self.hub = hub
        self.runtime_dir = runtime_dir
        self.port = port
        self.transport = transport
        self.socket_dir = socket_dir
        self.hello_timeout = hello_timeout
        self.log = log or logging.getLogger("nbchannel")
        self.limits: Limits = hub.config.limits
        self.secret = ""
        self.address: HubAddress | None = None
        self.hub_file = Path(runtime_dir) / f"nbchannel-hub-{port}.json"
        self._sock: socket.socket | None = None
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[None]] = set()
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
        if self.address is not None and self.address.kind == "unix":
            self._server = await asyncio.start_unix_server(self._serve, sock=self._sock)
        else:
            self._server = await asyncio.start_server(self._serve, sock=self._sock)
        self.log.info("nbchannel: listening for kernels on %s", self.address)

    async def stop(self) -> None:
        """Stop accepting, close every kernel connection, remove the socket file."""
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.address is not None and self.address.kind == "unix":
            with contextlib.suppress(OSError):
                os.unlink(self.address.path)
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._connection(reader, writer)
        except asyncio.CancelledError:
            pass
        except Exception:  # a broken connection must never take the server down
            self.log.exception("nbchannel: kernel connection failed")
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        frames = FrameReader(self.limits)
        try:
            hello, early = await asyncio.wait_for(
                self._first_message(reader, frames), self.hello_timeout
            )
        except (asyncio.TimeoutError, FrameError, ConnectionError) as exc:
            self.refused += 1
            self.log.warning("nbchannel: refused a kernel connection: no valid hello (%s)", exc)
            return
        info = self._check_hello(hello)
        if info is None:
            self.refused += 1
            self.log.warning("nbchannel: refused a kernel connection: wrong or missing secret")
            err: P.ErrorPayload = {"code": "not-permitted", "message": "wrong or missing secret"}
            writer.write(encode_frame([Message.create(P.ERROR, "", err)]))
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            return
        kernel_id, pid = info
        peer = self.hub.connect_owner(kernel_id, name=f"kernel {kernel_id} (pid {pid})")
        self.log.info("nbchannel: kernel %s (pid %s) connected", kernel_id, pid)
        welcome = {"version": __version__, "max_frame_bytes": self.limits.max_frame_bytes}
        peer.outbox.put(Message.create(P.WELCOME, "", welcome))
        write_task = asyncio.ensure_future(self._write_loop(peer, writer))
        try:
            for msgs in early:
                self.hub.receive(peer, msgs)
            while True:
                data = await reader.read(1 << 20)
                if not data:
                    break
                try:
                    batches = frames.feed(data)
                except FrameError as exc:
                    # A byte stream cannot resynchronise after a bad frame: close it; the
                    # kernel reconnects and restores its channels.
                    self.log.warning("nbchannel: closing kernel %s connection: %s", kernel_id, exc)
                    break
                for msgs in batches:
                    self.hub.receive(peer, msgs)
        except ConnectionError:
            pass
        finally:
            self.hub.disconnect(peer)
            write_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await write_task
            self.log.info("nbchannel: kernel %s disconnected", kernel_id)

    async def _first_message(
        self, reader: asyncio.StreamReader, frames: FrameReader
    ) -> tuple[Message, list[list[Message]]]:
        """The hello, and any frames the kernel pipelined behind it in the same read."""
        while True:
            data = await reader.read(65536)
            if not data:
                raise ConnectionError("closed before hello")
            batches = frames.feed(data)
            if batches:
                if len(batches[0]) > 1:
                    raise FrameError("hello must come alone in the first frame")
                return batches[0][0], batches[1:]

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

    async def _write_loop(self, peer: Peer, writer: asyncio.StreamWriter) -> None:
        while True:
            parts = peer.take_frame()
            if parts is None:
                if peer.closed:
                    return
                await peer.wait()
                continue
            writer.writelines(parts)
            await writer.drain()


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
