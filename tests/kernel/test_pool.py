"""The send pool: private copies of streamed arrays, reused once they are written out."""

from __future__ import annotations

import threading

import numpy as np

from nbchannel.core import protocol as P
from nbchannel.core.message import Message, pack_value
from nbchannel.kernel.pool import SendPool


def _stream_message(pool: SendPool, value: object, kind: str = P.APPEND) -> Message:
    payload, buffers = pack_value(value)
    return Message(kind, "c", payload=payload, buffers=tuple(pool.owned(b) for b in buffers))


def test_large_copies_reuse_the_blocks_of_written_messages() -> None:
    pool = SendPool(min_bytes=1024)
    arr = np.arange(4096, dtype=np.float64)  # 32 KiB
    first = _stream_message(pool, {"a": arr})
    block = first.buffers[0].data.obj
    arr[:] = -1  # the caller reuses its array at once: the copy keeps what was sent
    np.testing.assert_array_equal(first.value()["a"], np.arange(4096.0))
    pool.recycle([first])
    assert pool.idle_bytes == arr.nbytes
    second = _stream_message(pool, {"a": np.full(4096, 7.0)})
    assert second.buffers[0].data.obj is block  # the same block, refilled
    np.testing.assert_array_equal(second.value()["a"], np.full(4096, 7.0))
    assert (pool.reused, pool.allocated, pool.idle_bytes) == (1, 1, 0)


def test_small_buffers_and_bytes_are_not_pooled() -> None:
    pool = SendPool(min_bytes=1024)
    small = _stream_message(pool, {"a": np.arange(8.0)})
    blob = b"x" * 4096
    raw = _stream_message(pool, {"png": blob})
    assert type(small.buffers[0].data.obj) is bytes
    assert raw.buffers[0].data.obj is blob  # immutable: sent as it is, no copy
    pool.recycle([small, raw])
    assert pool.idle_bytes == 0 and pool.allocated == 0


def test_retained_state_is_never_taken_back() -> None:
    # A channel keeps its state messages to re-send them after a reconnect.
    pool = SendPool(min_bytes=1024)
    state = _stream_message(pool, np.ones(1024), kind=P.SET)
    pool.recycle([state])
    assert pool.idle_bytes == 0
    np.testing.assert_array_equal(state.value(), np.ones(1024))


def test_idle_blocks_are_bounded_in_bytes_and_per_size() -> None:
    pool = SendPool(min_bytes=1024, max_bytes=10 * 8192, per_size=3)
    msgs = [_stream_message(pool, np.zeros(1024)) for _ in range(5)]  # 8 KiB each
    pool.recycle(msgs)
    assert pool.idle_bytes == 3 * 8192  # per_size
    other = [_stream_message(pool, np.zeros(2048)) for _ in range(5)]  # 16 KiB each
    pool.recycle(other)
    assert pool.idle_bytes <= 10 * 8192


def test_concurrent_copies_and_recycling_never_share_a_block() -> None:
    pool = SendPool(min_bytes=1024, per_size=4)
    errors: list[str] = []

    def worker(k: int) -> None:
        for i in range(300):
            value = np.full(512, k * 1000 + i, dtype=np.float64)
            msg = _stream_message(pool, value)
            if not np.array_equal(msg.value(), value):
                errors.append(f"worker {k} item {i} changed before it was sent")
            pool.recycle([msg])

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert pool.reused > 0
