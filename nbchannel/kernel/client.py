"""The kernel's connection to the hub, run by its own I/O thread.

One :class:`HubClient` per kernel process carries every ``LiveChannel``. Writers (the cell,
or any thread) only encode a message and put it into a bounded :class:`Outbox` under a lock;
the I/O thread batches what is queued into frames and writes them to the socket, and reads
events from the hub and delivers them while the main thread is busy running a cell.

When the queue is full, state updates still coalesce (the latest value per key wins) while
stream and transient messages are dropped and counted, and a ``gap`` marker tells the
browsers; a cell is never blocked by a slow or absent hub.

When the connection breaks (the Jupyter server restarted under the kernel) the thread
reconnects with exponential backoff, re-reading the hub file for a new address or secret,
and re-opens every channel — resuming it if the hub still knows its epoch, otherwise
restoring its state.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import random
import selectors
import socket
import sys
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from .._version import __version__
from ..core import protocol as P
from ..core.address import (
    ENV_ADDRESS,
    ENV_HUB_FILE,
    ENV_KERNEL_ID,
    ENV_SECRET,
    HubAddress,
    kernel_id_from_connection_file,
)
from ..core.codec import DEFAULT_LIMITS, FrameReader, Limits, encode_frame, encode_frame_parts
from ..core.message import Message
from ..core.outbox import Outbox
from ..core.protocol import DEFAULT_STATE_BYTES
from ..errors import FrameError, LimitExceeded
from .pool import send_pool
from .transport import IO_THREAD_NAME, Status, TransportStats

if TYPE_CHECKING:
    from .channel import LiveChannel

__all__ = ["HubClient", "find_kernel_id"]

log = logging.getLogger("nbchannel")
_MiB = 1024 * 1024
_IOV_MAX = 512
_SOCKET_BUFFER = 4 * _MiB
ChannelKey = tuple["str | None", str]


def find_kernel_id() -> str:
    """This kernel's id: ``NBCHANNEL_KERNEL_ID``, else the id in its connection file name."""
    kid = os.environ.get(ENV_KERNEL_ID)
    if kid:
        return kid
    candidates: list[str] = []
    with contextlib.suppress(Exception):
        from ipykernel.connect import get_connection_file

        candidates.append(get_connection_file())
    argv = sys.argv
    for i, arg in enumerate(argv):
        if arg == "-f" and i + 1 < len(argv):
            candidates.append(argv[i + 1])
        elif arg.startswith("--f="):
            candidates.append(arg[4:])
    for path in candidates:
        kid = kernel_id_from_connection_file(path)
        if kid:
            return kid
    return f"pid-{os.getpid()}"


class HubClient:
    """Carries every channel of this process to the hub (see the module docstring)."""

    def __init__(
        self,
        address: HubAddress,
        secret: str,
        kernel_id: str,
        *,
        hub_file: str | None = None,
        queue_bytes: int = 64 * _MiB,
        batch_bytes: int = 1 * _MiB,
    ) -> None:
        self.address = address
        self.secret = secret
        self.kernel_id = kernel_id
        self.hub_file = hub_file
        self.batch_bytes = batch_bytes
        self._lock = threading.Lock()
        self._outbox = Outbox(queue_bytes, on_ready=self._wake)
        self._control: deque[Message] = deque()
        self._channels: dict[ChannelKey, LiveChannel] = {}
        self._status: Status = "connecting"
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._woken = False
        self._stopping = False
        self._idle = threading.Condition(self._lock)
        self._busy = False  # a frame is being written
        # True while a socket is up and every registered channel's open is queued on it;
        # guarded by _lock so a channel registered concurrently is opened exactly once.
        self._linked = False
        self.sent_messages = 0
        #: Messages taken for a frame that the connection broke under (not delivered).
        self.lost_in_flight = 0
        self._inflight = 0
        self.sent_bytes = 0
        self.reconnects = 0
        self.last_error = ""
        #: The hub's bounds, as its ``welcome`` states them (defaults until then).
        self._limits = DEFAULT_LIMITS
        self._max_state_bytes = DEFAULT_STATE_BYTES
        self._thread = threading.Thread(target=self._run, name=IO_THREAD_NAME, daemon=True)
        self._thread.start()

    @classmethod
    def from_environment(cls) -> HubClient:
        """Build from ``NBCHANNEL_ADDRESS`` / ``NBCHANNEL_SECRET`` / ``NBCHANNEL_HUB_FILE``."""
        address = HubAddress.parse(os.environ[ENV_ADDRESS])
        return cls(
            address,
            os.environ.get(ENV_SECRET, ""),
            find_kernel_id(),
            hub_file=os.environ.get(ENV_HUB_FILE) or None,
        )

    # -- the Transport interface (any thread) --------------------------------------------

    @property
    def status(self) -> Status:
        return self._status

    @property
    def limits(self) -> Limits:
        return self._limits

    @property
    def max_state_bytes(self) -> int:
        return self._max_state_bytes

    def register(self, channel: LiveChannel) -> None:
        key = (channel._wire_scope, channel.name)
        with self._lock:
            old = self._channels.get(key)
            self._channels[key] = channel
            if old is not None and old is not channel:
                old._superseded()
                # what the old object queued must not land in the new channel
                self._outbox.purge(channel._wire_scope, channel.name)
            if self._linked:
                self._control.append(channel._open_message())
                self._wake_locked()
            # otherwise the connect step opens every registered channel

    def unregister(self, channel: LiveChannel) -> None:
        key = (channel._wire_scope, channel.name)
        with self._lock:
            if self._channels.get(key) is not channel:
                return
            del self._channels[key]
            self._outbox.purge(channel._wire_scope, channel.name)
            if self._linked:
                self._control.append(Message(P.CLOSE, channel.name, scope=channel._wire_scope))
                self._wake_locked()

    def send(self, channel: LiveChannel, msg: Message) -> bool:
        with self._lock:
            return self._outbox.put(msg)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything queued so far is written to the socket."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._outbox or self._control or self._busy or not self._linked:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(min(left, 0.05))
        return True

    def stats(self) -> TransportStats:
        return {
            "transport": f"hub ({self.address.kind})",
            "status": self._status,
            "queued_bytes": self._outbox.bytes,
            "sent_messages": self.sent_messages,
            "sent_bytes": self.sent_bytes,
            "dropped": self._outbox.dropped + self.lost_in_flight,
            "reconnects": self.reconnects,
        }

    def close(self) -> None:
        """Stop the I/O thread (the process is exiting, or a test is done)."""
        self._stopping = True
        with self._lock:
            self._wake_locked()
        self._thread.join(timeout=2)
        for sock in (self._wake_r, self._wake_w):
            sock.close()

    # -- waking the I/O thread -------------------------------------------------------------

    def _wake(self) -> None:  # called by the outbox under self._lock
        self._wake_locked()

    def _wake_locked(self) -> None:
        if not self._woken:
            self._woken = True
            with contextlib.suppress(BlockingIOError, OSError):
                self._wake_w.send(b"x")

    def _drain_wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            while self._wake_r.recv(4096):
                pass
        with self._lock:
            self._woken = False

    # -- the I/O thread ------------------------------------------------------------------

    def _run(self) -> None:
        delay = 0.05
        while not self._stopping:
            try:
                sock = self._connect()
            except OSError as exc:
                self._set_status("reconnecting", f"cannot reach the nbchannel hub: {exc}")
                self._sleep(delay)
                delay = min(delay * 2, 5.0) * random.uniform(0.8, 1.2)
                continue
            delay = 0.05
            try:
                self._pump(sock)
            except (OSError, FrameError, ConnectionError) as exc:
                # A frame cut short is not delivered: count its messages as lost.
                self.lost_in_flight += self._inflight
                self._inflight = 0
                if not self._stopping:
                    self.last_error = f"connection to the hub lost: {exc}"
                    log.info("nbchannel: %s; reconnecting", self.last_error)
            finally:
                with contextlib.suppress(OSError):
                    sock.close()
                with self._lock:
                    self._busy = False
                    self._linked = False
                    self._idle.notify_all()
                for ch in list(self._channels.values()):
                    ch._disconnected()
            if not self._stopping:
                self.reconnects += 1
                self._set_status("reconnecting", self.last_error)
                self._sleep(delay)

    def _set_status(self, status: Status, error: str = "") -> None:
        with self._lock:
            self._status = status
            if error:
                self.last_error = error
            self._idle.notify_all()

    def _sleep(self, seconds: float) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self._wake_r, selectors.EVENT_READ)
        sel.select(seconds)
        sel.close()
        self._drain_wake()

    def _reload_address(self) -> None:
        """A restarted server may have written a new address or secret to the hub file."""
        if not self.hub_file:
            return
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            with open(self.hub_file) as f:
                data = json.load(f)
            self.address = HubAddress.parse(data["address"])
            self.secret = str(data["secret"])

    def _connect(self) -> socket.socket:
        self._reload_address()
        addr = self.address
        if addr.kind == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            target: Any = addr.path
        else:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            target = (addr.host, addr.port)
        sock.settimeout(5.0)
        try:
            sock.connect(target)
            hello = {
                "secret": self.secret,
                "kernel_id": self.kernel_id,
                "pid": os.getpid(),
                "version": __version__,
            }
            sock.sendall(encode_frame([Message.create(P.HELLO, "", hello)]))
        except OSError:
            sock.close()
            raise
        with contextlib.suppress(OSError):
            # A deeper socket buffer than the default (~200 KiB) lets a large frame go out
            # in a few writes instead of dozens of wake-ups of the hub and of this thread;
            # the kernel caps it at net.core.wmem_max.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _SOCKET_BUFFER)
        sock.setblocking(False)
        with self._lock:
            # Re-open every channel before anything queued for it is written.
            self._control.clear()
            for ch in self._channels.values():
                self._control.append(ch._open_message())
                self._control.extend(ch._state_messages())
            self._linked = True
        return sock

    def _take(self) -> list[Message]:
        with self._lock:
            while True:
                if self._control:
                    msgs = self._take_control()
                    if not self._control and self._outbox:
                        msgs.extend(self._outbox.take(self.batch_bytes))
                elif self._outbox:
                    msgs = self._outbox.take(self.batch_bytes)
                else:
                    self._busy = False
                    self._idle.notify_all()
                    return []
                msgs = self._fitting(msgs)
                if msgs:
                    self._busy = True
                    return msgs

    def _take_control(self) -> list[Message]:
        """Control messages for one frame (under ``_lock``): re-opens and re-sent state.

        After a reconnect every channel's open and retained state is queued here at once;
        one frame of all of it could exceed the hub's frame limit, and the hub would close
        the connection again on every reconnect. So it goes out in batches.
        """
        control = self._control
        msgs: list[Message] = []
        taken = 0
        while control and (not msgs or (taken < self.batch_bytes and len(msgs) < 4096)):
            m = control.popleft()
            taken += m.nbytes
            msgs.append(m)
        return msgs

    def _fitting(self, msgs: list[Message]) -> list[Message]:
        """Drop (and report) messages the hub's limits do not allow.

        Writes are checked when they are made, against the limits known then; a server
        restarted with lower limits could still refuse one queued or retained earlier. It
        is dropped here rather than sent, since a refused frame costs the connection.
        """
        check = self._limits.check_message
        kept: list[Message] = []
        for m in msgs:
            try:
                check(m)
            except LimitExceeded as exc:
                self.lost_in_flight += 1
                self.last_error = f"dropped a {m.kind!r} on channel {m.channel!r}: {exc}"
                log.warning("nbchannel: %s", self.last_error)
                continue
            kept.append(m)
        return kept

    def _pump(self, sock: socket.socket) -> None:
        reader = FrameReader(Limits(max_frame_bytes=1 << 31))
        sel = selectors.DefaultSelector()
        sel.register(sock, selectors.EVENT_READ)
        sel.register(self._wake_r, selectors.EVENT_READ)
        pending: list[memoryview] = []
        batch: list[Message] = []
        writing = False
        try:
            while not self._stopping:
                if not pending:
                    batch = self._take()  # marks the client idle when nothing is left
                    if batch:
                        pending = [memoryview(p).cast("B") for p in encode_frame_parts(batch)]
                        self._inflight = len(batch)
                if pending:
                    try:
                        n = sock.sendmsg(pending[:_IOV_MAX])
                    except (BlockingIOError, InterruptedError):
                        n = 0
                    self.sent_bytes += n
                    pending = _advance(pending, n)
                    if not pending:
                        self.sent_messages += self._inflight
                        self._inflight = 0
                        send_pool.recycle(batch)  # written out: their copies can be reused
                        batch = []
                    if n:
                        # The socket took data: keep writing (or take the next batch)
                        # until it would block, but still read what arrived meanwhile.
                        self._poll(sel, sock, reader, 0)
                        continue
                if pending and not writing:
                    sel.modify(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
                    writing = True
                elif not pending and writing:
                    sel.modify(sock, selectors.EVENT_READ)
                    writing = False
                self._poll(sel, sock, reader, None)
        finally:
            sel.close()

    def _poll(
        self,
        sel: selectors.BaseSelector,
        sock: socket.socket,
        reader: FrameReader,
        timeout: float | None,
    ) -> None:
        for key, events in sel.select(timeout):
            if key.fileobj is self._wake_r:
                self._drain_wake()
            elif events & selectors.EVENT_READ:
                data = sock.recv(1 << 20)
                if not data:
                    raise ConnectionError("the hub closed the connection")
                for batch in reader.feed(data):
                    self._dispatch(batch)

    def _dispatch(self, msgs: list[Message]) -> None:
        for msg in msgs:
            kind = msg.kind
            if kind == P.WELCOME:
                self._welcome(msg)
                continue
            if kind == P.ERROR and not msg.channel and self._status != "connected":
                info = msg.value() or {}
                self._stopping_error(str(info.get("message", "refused")))
                continue
            ch = self._channels.get((msg.scope, msg.channel))
            if ch is None:
                if kind == P.ERROR:
                    log.warning("nbchannel: hub error: %s", (msg.value() or {}).get("message"))
                continue
            ch._receive(msg)

    def _welcome(self, msg: Message) -> None:
        info = msg.value() or {}
        with contextlib.suppress(TypeError, ValueError):
            frame = int(info.get("max_frame_bytes", DEFAULT_LIMITS.max_frame_bytes))
            if frame > 0:
                self._limits = dataclasses.replace(DEFAULT_LIMITS, max_frame_bytes=frame)
            state = int(info.get("state_bytes", DEFAULT_STATE_BYTES))
            if state > 0:
                self._max_state_bytes = state
        self._set_status("connected")
        self.last_error = ""

    def _stopping_error(self, message: str) -> None:
        self.last_error = f"the hub refused this kernel: {message}"
        log.warning("nbchannel: %s", self.last_error)
        raise ConnectionError(self.last_error)


def _advance(parts: list[memoryview], n: int) -> list[memoryview]:
    """Drop ``n`` sent bytes from the front of ``parts``."""
    i = 0
    while n and i < len(parts):
        size = parts[i].nbytes
        if n >= size:
            n -= size
            i += 1
        else:
            parts[i] = parts[i][n:]
            n = 0
    return parts[i:]
