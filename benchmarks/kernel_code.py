"""The code the benchmarks run inside the real kernels.

Path A (nbchannel) and path B (an ipywidgets widget's comm) run the *same* sender loops;
only the ``send`` function passed in differs (``LiveChannel.append`` or ``Widget.send``).
Path A-comm is path A's sender writing to a widget's channel; path B-batched sends the same
messages a hundred per ``Widget.send``.
Every message is a ~100-byte JSON object carrying ``seq`` and ``t`` (``time.time_ns()`` at
send); arrays travel beside it (nbchannel: in the payload; comm: as a message buffer).
"""

from __future__ import annotations

__all__ = ["COMMON", "NBC_COMM_SETUP", "NBC_SETUP", "WIDGET_SETUP", "busy_cell"]

#: Sender loops shared by both paths.
COMMON = r'''
import time as _t
import numpy as _np

_PAD = "x" * 40  # makes each message ~100 bytes of JSON


def _bench_burst(send, n):
    """n messages as fast as the loop goes."""
    tn, pad = _t.time_ns, _PAD
    for i in range(n):
        send({"seq": i, "t": tn(), "v": 0.25, "pad": pad})


def _bench_paced(send, n, rate):
    """n messages at ``rate`` per second (deadline-paced, so no drift)."""
    tn, pc, sleep, pad = _t.time_ns, _t.perf_counter, _t.sleep, _PAD
    period = 1.0 / rate
    t0 = pc()
    for i in range(n):
        d = t0 + i * period - pc()
        if d > 0:
            sleep(d)
        send({"seq": i, "t": tn(), "v": 0.25, "pad": pad})


def _bench_burst_batched(send, n, size=100):
    """n messages as fast as the loop goes, ``size`` per ``send({"items": [...]})``."""
    tn, pad = _t.time_ns, _PAD
    for start in range(0, n, size):
        send({"items": [
            {"seq": i, "t": tn(), "v": 0.25, "pad": pad} for i in range(start, min(n, start + size))
        ]})


def _bench_paced_batched(send, n, rate, size=100, wait=0.01):
    """n messages made at ``rate`` per second, sent in batches of up to ``size`` as
    ``send({"items": [...]})``: a batch goes when full or ``wait`` s after its first item."""
    tn, pc, sleep, pad = _t.time_ns, _t.perf_counter, _t.sleep, _PAD
    period = 1.0 / rate
    t0 = pc()
    batch, since = [], 0.0
    for i in range(n):
        d = t0 + i * period - pc()
        if d > 0:
            sleep(d)
        if not batch:
            since = pc()
        batch.append({"seq": i, "t": tn(), "v": 0.25, "pad": pad})
        if len(batch) >= size or pc() - since >= wait:
            send({"items": batch})
            batch = []
    if batch:
        send({"items": batch})


def _bench_arrays(send_array, n, nbytes, rate=None, throttle=None):
    """n float64 arrays of ``nbytes``, paced at ``rate`` per second or as fast as possible.

    ``throttle(i)`` (when given) is called before sending item ``i`` and may wait: the
    sender's own flow control.
    """
    arr = _np.random.default_rng(0).random(nbytes // 8)
    tn, pc, sleep = _t.time_ns, _t.perf_counter, _t.sleep
    period = 1.0 / rate if rate else 0.0
    t0 = pc()
    for i in range(n):
        if period:
            d = t0 + i * period - pc()
            if d > 0:
                sleep(d)
        if throttle is not None:
            throttle(i)
        send_array({"seq": i, "t": tn()}, arr)


def _bench_spin(seconds):
    t0 = _t.time()
    while _t.time() - t0 < seconds:
        pass


_delays = []
'''

#: Path A: one LiveChannel per measurement (a fresh name, so nothing is replayed).
NBC_SETUP = r"""
import threading as _threading

from nbchannel import LiveChannel

_ch = None
_acked = [-1]  # the highest sequence number the viewer acknowledged
_ack_cv = _threading.Condition()


def _nbc_open(name, history=None, **options):
    ch = LiveChannel(name, history=history, **options)
    assert ch.wait_connected(10), "nbchannel: channel did not connect to the hub"
    _nbc_use(ch)


def _nbc_use(ch):
    # the channel the senders write to; its pings are timed, its acks counted
    global _ch
    _ch = ch
    _acked[0] = -1

    @ch.on("ping")
    def _on_ping(event):
        _delays.append(_t.time() - event.value["sent"])

    @ch.on("ack")
    def _on_ack(event):
        with _ack_cv:
            _acked[0] = max(_acked[0], event.value["seq"])
            _ack_cv.notify_all()


def _nbc_close():
    assert _ch.flush(120), "nbchannel: flush timed out"
    _ch.close()


def _nbc_send_array(value, arr):
    value["a"] = arr
    _ch.append(value)


def _nbc_window(i, window=6):
    # append() never blocks, and a viewer slower than its producer gets gap markers, by
    # design. A producer that must lose nothing paces itself on the viewer: here at most
    # `window` items unacknowledged (the acks are events, which arrive mid-cell).
    with _ack_cv:
        _ack_cv.wait_for(lambda: i - _acked[0] <= window, timeout=30)
"""

#: Path A-comm (after ``NBC_SETUP``): no hub is reachable, so each measurement's channel is
#: a widget's, served by the kernel itself over the widget's comm.
NBC_COMM_SETUP = r"""
from nbchannel.widgets import CustomView as _CustomView

_w = None


def _nbc_open_view(name):
    global _w
    _w = _CustomView("export default function render() {}", channel=name)
    _nbc_use(_w.channel)
    print(_w.comm.comm_id, _w.channel.address[0], _w.channel.name, _w._transport)


def _nbc_close_view():
    assert _ch.flush(120), "nbchannel: flush timed out"
    _w.close()
"""

#: Path B: an ipywidgets widget; ``Widget.send`` is a ``comm_msg`` on IOPub.
WIDGET_SETUP = r"""
import ipywidgets as _ipw
from traitlets import Unicode as _Unicode


class BenchWidget(_ipw.DOMWidget):
    _model_name = _Unicode("BenchModel").tag(sync=True)
    _model_module = _Unicode("nbchannel-bench").tag(sync=True)
    _model_module_version = _Unicode("0.1.0").tag(sync=True)
    _view_name = _Unicode("BenchView").tag(sync=True)
    _view_module = _Unicode("nbchannel-bench").tag(sync=True)
    _view_module_version = _Unicode("0.1.0").tag(sync=True)


_bw = BenchWidget()


def _bw_on_msg(widget, content, buffers):
    _delays.append(_t.time() - content["sent"])


_bw.on_msg(_bw_on_msg)


def _bw_send_array(value, arr):
    _bw.send(value, buffers=[arr])


print(_bw.comm.comm_id)
"""


def busy_cell(kind: str, seconds: float) -> str:
    """A cell that keeps the kernel busy: ``sleeping`` or ``spinning`` in pure Python."""
    if kind == "sleeping":
        return f"_t.sleep({seconds})"
    if kind == "spinning":
        return f"_bench_spin({seconds})"
    raise ValueError(f"unknown busy cell kind {kind!r}")
