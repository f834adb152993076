"""Prometheus metrics: the hub's figures on jupyter-server's ``{base_url}metrics``, equal to the
JSON API's, with a bounded number of series."""

from __future__ import annotations

import asyncio
import socket
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from nbchannel.core import protocol as P
from nbchannel.core.address import HubAddress
from nbchannel.core.hub import Hub
from nbchannel.server.metrics import OTHER, HubCollector
from nbchannel.testing import JupyterServer, KernelSession, Viewer

from ..conftest import open_channel
from ..core.hubkit import send

#: ChannelInfo field → counter sample name.
COUNTERS = {
    "messages_in": "nbchannel_messages_in_total",
    "bytes_in": "nbchannel_bytes_in_total",
    "messages_out": "nbchannel_messages_out_total",
    "bytes_out": "nbchannel_bytes_out_total",
    "dropped": "nbchannel_dropped_total",
    "events": "nbchannel_events_total",
}

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    """Every sample of an exposition, keyed by (name, sorted labels)."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def scrape(server: JupyterServer) -> Samples:
    """GET {base_url}metrics with the token, as a Prometheus job configured with it does."""
    req = urllib.request.Request(
        server.url + "metrics", headers={"Authorization": f"token {server.token}"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return parse(resp.read().decode())


def channel_sample(samples: Samples, name: str, scope: str, channel: str) -> float:
    return samples[(name, (("channel", channel), ("scope", scope)))]


def info_of(api: Any, scope: str, name: str) -> dict[str, Any]:
    (info,) = [c for c in api["channels"] if c["scope"] == scope and c["name"] == name]
    return dict(info)


def settled_channels(server: JupyterServer, timeout: float = 10.0) -> Any:
    """The JSON API once two reads 0.3 s apart show the same traffic counters."""

    def counters(api: Any) -> list[tuple[Any, ...]]:
        return sorted((c["scope"], c["name"], *(c[f] for f in COUNTERS)) for c in api["channels"])

    deadline = time.monotonic() + timeout
    last = server.channels()
    while True:
        time.sleep(0.3)
        now = server.channels()
        if counters(now) == counters(last):
            return now
        assert time.monotonic() < deadline, "the hub's counters kept moving"
        last = now


# -- a real server and kernel ----------------------------------------------------------------


def test_metrics_need_a_login(jupyter: JupyterServer) -> None:
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(jupyter.url + "metrics", timeout=30)
    assert err.value.code == 403


def test_metrics_match_the_json_api_while_a_kernel_streams(
    jupyter: JupyterServer, kernel: KernelSession
) -> None:
    open_channel(kernel, "metrics-a")
    open_channel(kernel, "metrics-b", var="ch2")
    kernel.execute(
        "import threading\n"
        "streaming = threading.Event(); streaming.set()\n"
        "def _stream():\n"
        "    i = 0\n"
        "    while streaming.is_set():\n"
        "        ch.append({'i': i, 'pad': 'x' * 200}); ch2.append(i); i += 1\n"
        "        time.sleep(0.002)\n"
        "    ch.flush(); ch2.flush()\n"
        "streamer = threading.Thread(target=_stream); streamer.start()\n"
    )
    kid = kernel.id

    async def scenario() -> None:
        viewer = await Viewer.connect(jupyter.ws_url, token=jupyter.token)
        view = await viewer.subscribe(kid, "metrics-a")
        await viewer.wait_for(lambda: len(view.items) > 50)
        for n in range(3):
            await viewer.event(kid, "metrics-a", "click", n)
        loop = asyncio.get_running_loop()
        # While it streams, each scrape lies between the JSON API read before and after it.
        for _ in range(3):
            before = await loop.run_in_executor(None, jupyter.channels)
            samples = await loop.run_in_executor(None, scrape, jupyter)
            after = await loop.run_in_executor(None, jupyter.channels)
            for name in ("metrics-a", "metrics-b"):
                lo, hi = info_of(before, kid, name), info_of(after, kid, name)
                for field in ("messages_in", "bytes_in", "messages_out", "bytes_out"):
                    got = channel_sample(samples, COUNTERS[field], kid, name)
                    assert lo[field] <= got <= hi[field], (name, field, lo[field], got, hi)
            assert (
                info_of(after, kid, "metrics-a")["messages_in"]
                > info_of(before, kid, "metrics-a")["messages_in"]
            ), "the kernel is not streaming"
            await asyncio.sleep(0.3)
        # Stopped: every figure equal, once the viewer has read everything.
        await loop.run_in_executor(None, kernel.execute, "streaming.clear(); streamer.join()")
        settled = await loop.run_in_executor(None, settled_channels, jupyter)
        total = info_of(settled, kid, "metrics-a")["head"]
        await viewer.wait_for(lambda: len(view.items) == total, timeout=30)
        api = await loop.run_in_executor(None, jupyter.channels)
        samples = await loop.run_in_executor(None, scrape, jupyter)
        for name in ("metrics-a", "metrics-b"):
            info = info_of(api, kid, name)
            for field, metric in COUNTERS.items():
                assert channel_sample(samples, metric, kid, name) == info[field], (name, field)
            assert channel_sample(samples, "nbchannel_viewers", kid, name) == info["viewers"]
        a = info_of(api, kid, "metrics-a")
        assert a["viewers"] == 1 and a["events"] == 3 and a["messages_in"] == total > 50
        assert info_of(api, kid, "metrics-b")["viewers"] == 0
        chans, peers = api["channels"], api["peers"]
        assert samples[("nbchannel_channels", (("state", "open"),))] == sum(
            c["open"] for c in chans
        )
        for role in ("owner", "subscriber"):
            mine = [p for p in peers if p["role"] == role]
            assert samples[("nbchannel_connections", (("role", role),))] == len(mine)
            assert samples[("nbchannel_queued_bytes", (("role", role),))] == sum(
                p["queued_bytes"] for p in mine
            )
        assert samples[("nbchannel_retained_bytes", (("kind", "history"),))] == sum(
            c["history_bytes"] for c in chans
        )
        assert (
            samples[("nbchannel_kernel_refused_connections_total", ())]
            == api["kernel_listener"]["refused"]
        )
        await viewer.close()

    asyncio.run(scenario())


def test_refused_kernel_connection_is_counted(jupyter: JupyterServer) -> None:
    api = jupyter.channels()
    refused = api["kernel_listener"]["refused"]
    assert scrape(jupyter)[("nbchannel_kernel_refused_connections_total", ())] == refused
    address = HubAddress.parse(api["kernel_listener"]["address"])
    family = socket.AF_UNIX if address.kind == "unix" else socket.AF_INET
    with socket.socket(family) as s:
        s.connect(address.path if address.kind == "unix" else (address.host, address.port))
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # not a hello: refused and closed
        s.settimeout(5)
        while s.recv(4096):
            pass
    deadline = time.monotonic() + 5
    while jupyter.channels()["kernel_listener"]["refused"] == refused:
        assert time.monotonic() < deadline, "the bad connection was not counted"
        time.sleep(0.05)
    assert scrape(jupyter)[("nbchannel_kernel_refused_connections_total", ())] == refused + 1


# -- the collector on its own ----------------------------------------------------------------


def _hub_with_channels(n: int) -> Hub:
    """A hub with ``n`` channels of kernel k1; channel i got i + 1 appends."""
    hub = Hub()
    owner = hub.connect_owner("k1")
    viewer = hub.connect_subscriber()
    for i in range(n):
        send(hub, owner, P.OPEN, f"c{i}")
        send(hub, viewer, P.SUBSCRIBE, f"c{i}", scope="k1")
        for j in range(i + 1):
            send(hub, owner, P.APPEND, f"c{i}", j)
    return hub


def test_channels_beyond_the_bound_are_summed_into_one_series() -> None:
    hub = _hub_with_channels(6)
    registry = CollectorRegistry()
    HubCollector(hub, max_channel_labels=4).register(registry)
    samples = parse(generate_latest(registry).decode())
    labelled = {
        dict(labels)["channel"]: value
        for (name, labels), value in samples.items()
        if name == "nbchannel_messages_in_total"
    }
    assert labelled == {"c0": 1, "c1": 2, "c2": 3, "c3": 4, OTHER: 5 + 6}
    other = (("channel", OTHER), ("scope", OTHER))
    assert samples[("nbchannel_viewers", other)] == 2
    assert samples[("nbchannel_messages_out_total", other)] == 11
    assert samples[("nbchannel_channels", (("state", "open"),))] == 6
    assert samples[("nbchannel_connections", (("role", "subscriber"),))] == 1


def test_register_takes_the_names_over_and_unregister_frees_them() -> None:
    registry = CollectorRegistry()
    first = HubCollector(_hub_with_channels(1)).register(registry)
    second = HubCollector(_hub_with_channels(2)).register(registry)  # a new app, same process
    assert first.registry is None and second.registry is registry
    samples = parse(generate_latest(registry).decode())
    assert samples[("nbchannel_channels", (("state", "open"),))] == 2
    second.unregister()
    second.unregister()  # a second stop is harmless
    assert "nbchannel" not in generate_latest(registry).decode()
    # names held by something that is not a HubCollector are not taken away
    Gauge("nbchannel_channels", "someone else's", registry=registry)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        HubCollector(Hub()).register(registry)
