"""The kernel endpoint of a real server under connections that never authenticate."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from benchmarks.memory import rss_bytes
from nbchannel.core import protocol as P
from nbchannel.core.address import HubAddress
from nbchannel.core.codec import VERSION, decode_frame
from nbchannel.testing import JupyterServer, KernelSession, Viewer

from ..conftest import open_channel

_MiB = 1 << 20
ATTACKERS = 8
DECLARED = 60 * _MiB  # what each attacker's first frame claims
SENT = 16 * _MiB  # what each attacker then tries to push before the secret is checked


@pytest.fixture(params=[("unix", None), ("tcp", 32768)], ids=["unix", "tcp"])
def server_and_kernel(request: pytest.FixtureRequest) -> Iterator[tuple[JupyterServer, Any]]:
    transport, hello_limit = request.param
    args = [f"--NbChannel.kernel_transport={transport}"]
    if hello_limit is not None:
        args.append(f"--NbChannel.max_hello_bytes={hello_limit}")  # the setting reaches it
    server = JupyterServer(extra_args=args)
    with server:
        kernel = server.start_kernel()
        try:
            yield server, kernel
        finally:
            kernel.shutdown()


def _connect(address: HubAddress) -> socket.socket:
    if address.kind == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(address.path)
    else:
        sock = socket.create_connection((address.host, address.port))
    sock.settimeout(10)
    return sock


def _attack(address: HubAddress, out: list[dict[str, Any]]) -> None:
    """Declare a huge first frame, push junk after it, read what comes back until EOF."""
    start = time.monotonic()
    sock = _connect(address)
    header = struct.pack("<3sBII", b"NBC", VERSION, 64, DECLARED - 80)
    pushed = 0
    with contextlib.suppress(OSError):  # the server may have cut us off already
        sock.sendall(header)
        chunk = b"\xab" * _MiB
        while pushed < SENT:
            sock.sendall(chunk)
            pushed += len(chunk)
    reply = b""
    with contextlib.suppress(ConnectionResetError):
        while data := sock.recv(65536):
            reply += data
    out.append({"closed_after": time.monotonic() - start, "reply": reply, "pushed": pushed})
    sock.close()


def _stream_arrives(server: JupyterServer, kernel: KernelSession, first: int, n: int) -> None:
    """The kernel appends ``first .. first+n-1``; a viewer gets all of them, in order."""

    async def scenario() -> None:
        viewer = await Viewer.connect(server.ws_url, token=server.token)
        view = await viewer.subscribe(kernel.id, "alive")
        await viewer.wait_for(lambda: view.epoch is not None)
        kernel.execute(f"for i in range({first}, {first + n}): ch.append(i)\nch.flush(10)")
        await viewer.wait_for(lambda: len(view.items) >= first + n, timeout=30)
        assert view.gaps == []
        assert [v for _, v in view.items] == list(range(first + n))
        await viewer.close()

    asyncio.run(scenario())


@pytest.mark.slow
def test_unauthenticated_huge_hellos_cost_the_server_no_memory(
    server_and_kernel: tuple[JupyterServer, KernelSession],
) -> None:
    server, kernel = server_and_kernel
    hello_limit = 32768 if "--NbChannel.max_hello_bytes=32768" in server.extra_args else 65536
    pid = server.pid
    assert pid is not None
    address = HubAddress.parse(server.hub_info()["address"])
    open_channel(kernel, "alive")
    _stream_arrives(server, kernel, 0, 100)
    refused_before = server.channels()["kernel_listener"]["refused"]
    time.sleep(0.5)
    baseline = rss_bytes(pid)

    results: list[dict[str, Any]] = []
    threads = [threading.Thread(target=_attack, args=(address, results)) for _ in range(ATTACKERS)]
    peak = baseline
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        peak = max(peak, rss_bytes(pid))
        time.sleep(0.01)
    peak = max(peak, rss_bytes(pid))
    growth = (peak - baseline) / _MiB
    print(
        f"\n{address.kind}: server RSS {baseline / _MiB:.1f} MiB, peak growth {growth:.2f} MiB "
        f"with {ATTACKERS} connections declaring {DECLARED // _MiB} MiB hellos "
        f"(each pushed {max(r['pushed'] for r in results) // _MiB} MiB); closed after "
        f"{max(r['closed_after'] for r in results):.3f} s at most"
    )
    assert len(results) == ATTACKERS
    assert growth < 4, f"the server grew by {growth:.1f} MiB for unauthenticated connections"
    assert max(r["closed_after"] for r in results) < 1.5  # the hello timeout is 5 s
    for r in results:
        [err] = decode_frame(r["reply"])
        assert err.kind == P.ERROR
        assert err.value() == {
            "code": "frame-too-large",
            "message": f"first frame of {DECLARED} bytes declared before authenticating; a "
            f"hello may be at most {hello_limit} bytes (c.NbChannel.max_hello_bytes)",
        }
    assert server.channels()["kernel_listener"]["refused"] == refused_before + ATTACKERS
    assert server.log().count(f"refused a kernel connection: first frame of {DECLARED}") == (
        ATTACKERS
    )
    # the kernel's own connection was never disturbed
    _stream_arrives(server, kernel, 100, 100)
    assert kernel.eval("ch.stats['transport']['reconnects']") == 0
    assert "Traceback" not in server.log()
