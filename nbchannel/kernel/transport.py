"""The transports of a ``LiveChannel``, and the choice of the process-wide one.

Three transports exist, all behind the :class:`~nbchannel.kernel.port.Transport` interface:

* :class:`~nbchannel.kernel.client.HubClient`: a socket to the server extension's hub, run
  by its own I/O thread (JupyterLab and Notebook 7 with nbchannel in the server);
* :class:`~nbchannel.kernel.comm.CommTransport`: no hub to reach, so the kernel serves the
  views itself over each widget's comm (VS Code, Colab, standalone Voilà, a server without
  the extension); where a hub exists it runs next to the hub client, for views that cannot
  reach the hub (:class:`~nbchannel.kernel.comm.FanOutTransport`);
* :class:`DetachedTransport`: not in a kernel at all (plain ``python``): nothing leaves the
  process.

:func:`default_transport` picks one per process; the modules of the transports not chosen
are never imported.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import warnings

from ..core.address import ENV_ADDRESS
from ..core.codec import DEFAULT_LIMITS, Limits
from ..core.message import Message
from ..core.protocol import DEFAULT_STATE_BYTES
from .dispatch import allow_handoffs
from .port import ChannelPort, Lane, NbChannelWarning, Status, Transport, TransportStats

__all__ = [
    "DEFAULT_SWITCH_INTERVAL",
    "ENV_SWITCH_INTERVAL",
    "DetachedTransport",
    "NbChannelWarning",
    "Status",
    "Transport",
    "TransportStats",
    "apply_switch_interval",
    "default_transport",
    "events_not_live_message",
    "in_kernel",
    "relay_transport",
    "set_default_transport",
]

log = logging.getLogger("nbchannel")

#: Name of the hub client's I/O thread, which delivers events from the hub.
IO_THREAD_NAME = "nbchannel-io"
#: Name of the comm transport's thread, which runs the kernel's own hub.
COMM_THREAD_NAME = "nbchannel-comm"
#: How the comm transport names itself in ``stats["transport"]``.
COMM_TRANSPORT = "kernel (comm)"

_warned_stale = False
_warned_lock = threading.Lock()


def events_not_live_message(what: str) -> str:
    """The words of the stale-read warning and of the ``wait()`` error."""
    return (
        f"nbchannel: {what}: in this front end, widget events reach the kernel only after "
        "the running cell finishes (no nbchannel hub is reachable, and the front end does "
        "not send comm messages while a cell runs), so values reflect the events processed "
        "so far. Use on_click/on_change handlers (they run when the events arrive), or "
        "JupyterLab or Notebook 7 with nbchannel installed in the Jupyter server's "
        "environment, or JupyterLab >= 4.4 with ipykernel >= 7 (comms over subshells)."
    )


def warn_stale_read(what: str) -> None:
    """Warn once per process that ``what`` may be stale (events wait for the cell's end)."""
    global _warned_stale
    with _warned_lock:
        if _warned_stale:
            return
        _warned_stale = True
    warnings.warn(events_not_live_message(what), NbChannelWarning, stacklevel=4)


class DetachedTransport:
    """No hub is reachable: channels keep their state locally and nothing is sent.

    Creating the first channel warns once, explaining what is unavailable and why.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self._warned = False
        self._lock = threading.Lock()
        self._dropped = 0

    @property
    def status(self) -> Status:
        return "unavailable"

    @property
    def kernel_id(self) -> str | None:
        return None

    @property
    def limits(self) -> Limits:
        return DEFAULT_LIMITS

    @property
    def max_state_bytes(self) -> int:
        return DEFAULT_STATE_BYTES

    def register(self, channel: ChannelPort) -> None:
        with self._lock:
            if self._warned:
                return
            self._warned = True
        warnings.warn(
            f"nbchannel: no live connection to a browser ({self.reason}). LiveChannel "
            f"{channel.name!r} keeps its state in this process, but nothing reaches a browser "
            "and no events will arrive. Run the notebook in JupyterLab or Notebook 7 with "
            "nbchannel installed in the Jupyter server's environment (check with "
            "`jupyter server extension list`).",
            NbChannelWarning,
            stacklevel=3,
        )

    def unregister(self, channel: ChannelPort) -> None:
        pass

    def send(self, channel: ChannelPort, msg: Message) -> bool:
        with self._lock:
            self._dropped += 1
        return False

    def send_item(self, channel: ChannelPort, payload: bytes) -> bool:
        with self._lock:
            self._dropped += 1
        return False

    def lane(self, channel: ChannelPort) -> Lane | None:
        return None

    def flush(self, timeout: float) -> bool:
        return True

    def stats(self) -> TransportStats:
        return {
            "transport": "detached",
            "status": "unavailable",
            "queued_bytes": 0,
            "sent_messages": 0,
            "sent_bytes": 0,
            "dropped": self._dropped,
            "reconnects": 0,
        }


_default: Transport | None = None
_default_lock = threading.Lock()


def in_kernel() -> bool:
    """Whether this process is an IPython kernel that can open comms to a front end.

    Never imports ipykernel itself: a plain ``python`` process has not loaded it.
    """
    if "ipykernel" not in sys.modules:
        return False
    try:
        from ipykernel.kernelbase import Kernel

        return bool(Kernel.initialized())
    except Exception:  # an unusual ipykernel: treat it as no kernel
        return False


#: Seconds between the interpreter's thread switches in a kernel with live channels
#: (``sys.setswitchinterval``); ``off`` leaves Python's setting alone.
ENV_SWITCH_INTERVAL = "NBCHANNEL_SWITCH_INTERVAL"
#: Python's default is 5 ms: a click reaching a kernel whose cell computes in pure Python
#: waits for several thread switches (the I/O thread wakes, reads the socket, the event
#: thread runs the handler), each up to the interval: a median of about 14 ms at 5 ms,
#: 4 ms at 1 ms, 2.7 ms at 0.5 ms. A switch is only asked for when another thread has
#: work, so a loop pays nothing while the channels are idle; one that appends 10,000 items
#: a second ran as fast at 1 ms as at 5 ms, and 7 % slower at 0.5 ms
#: (``python -m benchmarks.switch_interval`` measures both). A cell that does nothing but
#: append, as fast as it can, sent 10-20 % fewer items a second at 1 ms than at 5 ms.
#: Once the I/O thread has read an event, the interval is lowered further until the handler
#: thread has it (:func:`nbchannel.kernel.dispatch.handoff`).
DEFAULT_SWITCH_INTERVAL = 0.001


def apply_switch_interval() -> float:
    """Lower the interpreter's thread switch interval to ``NBCHANNEL_SWITCH_INTERVAL``
    seconds (default :data:`DEFAULT_SWITCH_INTERVAL`), never raise it; return the interval
    in force. A value that is not a number of seconds in (0, 1] warns and is ignored."""
    raw = os.environ.get(ENV_SWITCH_INTERVAL, "").strip()
    # "off": not even while an event waits for its handler thread
    allow_handoffs(raw.lower() != "off")
    if raw.lower() == "off":
        return sys.getswitchinterval()
    try:
        wanted = float(raw) if raw else DEFAULT_SWITCH_INTERVAL
        if not 0 < wanted <= 1:
            raise ValueError
    except ValueError:
        warnings.warn(
            f"{ENV_SWITCH_INTERVAL}={raw!r} is not a number of seconds in (0, 1] or 'off'; "
            f"Python's thread switch interval stays {sys.getswitchinterval():g} s",
            NbChannelWarning,
            stacklevel=2,
        )
        return sys.getswitchinterval()
    if sys.getswitchinterval() > wanted:
        sys.setswitchinterval(wanted)
    return sys.getswitchinterval()


def default_transport() -> Transport:
    """The process-wide transport.

    * ``NBCHANNEL_ADDRESS`` set (a Jupyter server with the extension started this kernel):
      the hub client, and, in a kernel, the comm transport next to it for views that
      cannot reach the hub (VS Code attached to the server);
    * no hub, in a kernel: the comm transport (the kernel serves the views itself);
    * neither: :class:`DetachedTransport`.
    """
    global _default
    with _default_lock:
        if _default is None:
            if in_kernel():
                apply_switch_interval()
            if os.environ.get(ENV_ADDRESS):
                from .client import HubClient

                hub = HubClient.from_environment()
                if in_kernel():
                    from .comm import CommTransport, FanOutTransport

                    comm = CommTransport(kernel_id=hub.kernel_id, events=hub.event_queue)
                    _default = FanOutTransport(hub, comm)
                else:
                    _default = hub
            elif in_kernel():
                from .comm import CommTransport

                _default = CommTransport(
                    reason=f"{ENV_ADDRESS} is not set: this kernel was not started by a Jupyter "
                    "server running the nbchannel extension"
                )
            else:
                _default = DetachedTransport(
                    f"{ENV_ADDRESS} is not set: this kernel was not started by a Jupyter server "
                    "running the nbchannel extension"
                )
        return _default


_relay: Transport | None = None


def relay_transport() -> Transport:
    """The process-wide transport of ``scope="hub"`` channels: a connection to the relay
    named by ``NBCHANNEL_RELAY_URL`` (see :mod:`nbchannel.relay`), else detached."""
    global _relay
    with _default_lock:
        if _relay is None:
            from ..relay.wire import ENV_RELAY_URL, relay_url

            if relay_url():
                from ..relay.kernel import RelayClient

                _relay = RelayClient.from_environment()
            else:
                _relay = DetachedTransport(
                    f"{ENV_RELAY_URL} is not set: no nbchannel relay serves hub-wide channels here"
                )
        return _relay


def set_default_transport(transport: Transport | None) -> Transport | None:
    """Replace the process-wide transport (tests, embedding); returns the previous one."""
    global _default
    with _default_lock:
        previous, _default = _default, transport
        return previous
