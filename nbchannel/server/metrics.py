"""Prometheus metrics of the hub, on jupyter-server's own ``{base_url}metrics`` endpoint.

jupyter-server exposes ``prometheus_client``'s default registry at ``/metrics`` (behind
Jupyter's auth unless ``c.ServerApp.authenticate_prometheus = False``). The extension
registers one :class:`HubCollector` there when it loads; each scrape reads the hub's
counters at that moment, so nothing is counted twice and the hub's fast path pays nothing
for metrics. The values are the same as the JSON API's (``nbchannel/api/channels``)::

    nbchannel_channels{state="open"} 2
    nbchannel_connections{role="owner"} 2          # kernel connections
    nbchannel_connections{role="subscriber"} 1     # browser connections
    nbchannel_viewers{scope="<kernel id>",channel="plot"} 1
    nbchannel_messages_in_total{scope="<kernel id>",channel="plot"} 1200
    nbchannel_kernel_refused_connections_total 0

Per-channel series carry the labels ``scope`` (the kernel id, or ``server``) and
``channel``. To keep the number of series bounded, only the first
``max_channel_labels`` channels (in the order the hub created them) get labels of their
own; the others are summed into one series labelled ``scope="(other)",channel="(other)"``.
That sum falls when one of those channels goes away, which Prometheus reads as a counter
reset.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, cast

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, CollectorRegistry

from ..core.hub import ChannelInfo, Hub

if TYPE_CHECKING:
    from .listener import KernelListener

__all__ = ["DEFAULT_MAX_CHANNEL_LABELS", "OTHER", "HubCollector"]

#: Channels with series of their own; the rest share one series (see the module docstring).
DEFAULT_MAX_CHANNEL_LABELS = 200
#: The ``scope`` and ``channel`` label of the series that sums the channels beyond the bound.
OTHER = "(other)"

_LABELS = ["scope", "channel"]
_Family = GaugeMetricFamily | CounterMetricFamily
#: Per-channel counters: (metric name without ``_total``, ChannelInfo field, help text).
_COUNTERS: list[tuple[str, str, str]] = [
    ("nbchannel_messages_in", "messages_in", "Messages written into channels by kernels."),
    ("nbchannel_bytes_in", "bytes_in", "Payload bytes written into channels by kernels."),
    (
        "nbchannel_messages_out",
        "messages_out",
        "Messages queued for viewers (a message to two viewers counts twice).",
    ),
    ("nbchannel_bytes_out", "bytes_out", "Payload bytes queued for viewers."),
    (
        "nbchannel_dropped",
        "dropped",
        "Stream items dropped for a viewer whose send queue was full (it got a gap marker).",
    ),
    ("nbchannel_events", "events", "Events sent by viewers to the channels' kernels."),
]


class HubCollector:
    """A ``prometheus_client`` collector that reads a :class:`Hub` on every scrape.

    ::

        collector = HubCollector(hub, listener).register()   # REGISTRY, served at /metrics
        ...
        collector.unregister()

    Only one collector per registry can hold the ``nbchannel_*`` names: registering a new
    one (a second server app in the same process) takes them over from the previous one.
    """

    def __init__(
        self,
        hub: Hub,
        listener: KernelListener | None = None,
        *,
        max_channel_labels: int = DEFAULT_MAX_CHANNEL_LABELS,
    ) -> None:
        self.hub = hub
        self.listener = listener
        self.max_channel_labels = max(0, max_channel_labels)
        self.registry: CollectorRegistry | None = None

    # -- registration ----------------------------------------------------------------------

    def register(self, registry: CollectorRegistry = REGISTRY) -> HubCollector:
        """Add this collector to ``registry`` (by default the one jupyter-server serves)."""
        previous = _registered.get(id(registry))
        if previous is not None and previous is not self:
            previous.unregister()
        registry.register(self)
        self.registry = registry
        _registered[id(registry)] = self
        return self

    def unregister(self) -> None:
        """Remove this collector from its registry (nothing happens if it is not in one)."""
        registry = self.registry
        if registry is None:
            return
        self.registry = None
        if _registered.get(id(registry)) is self:
            del _registered[id(registry)]
        registry.unregister(self)

    # -- the Collector protocol ------------------------------------------------------------

    def describe(self) -> Iterable[Metric]:
        """The metric families, without samples (lets the registry check for clashes)."""
        return list(self._families())

    def collect(self) -> Iterable[Metric]:
        """Every metric family with the hub's values now."""
        hub = self.hub
        channels = hub.channels_info()
        fam = {f.name: f for f in self._families()}

        is_open = sum(1 for c in channels if c["open"])
        fam["nbchannel_channels"].add_metric(["open"], is_open)
        fam["nbchannel_channels"].add_metric(["closed"], len(channels) - is_open)

        connections = {"owner": 0, "subscriber": 0}
        queued = {"owner": 0, "subscriber": 0}
        queued_max = {"owner": 0, "subscriber": 0}
        for p in hub.peers_info():
            role = p["role"]
            connections[role] = connections.get(role, 0) + 1
            queued[role] = queued.get(role, 0) + p["queued_bytes"]
            queued_max[role] = max(queued_max.get(role, 0), p["queued_bytes"])
        for role, n in connections.items():
            fam["nbchannel_connections"].add_metric([role], n)
            fam["nbchannel_queued_bytes"].add_metric([role], queued[role])
            fam["nbchannel_queued_bytes_max"].add_metric([role], queued_max[role])

        fam["nbchannel_retained_bytes"].add_metric(
            ["history"], sum(c["history_bytes"] for c in channels)
        )
        fam["nbchannel_retained_bytes"].add_metric(
            ["state"], sum(c["state_bytes"] for c in channels)
        )

        for labels, info in self._labelled(channels):
            fam["nbchannel_viewers"].add_metric(labels, info["viewers"])
            for name, field, _ in _COUNTERS:
                fam[name].add_metric(labels, info[field])

        refused = self.listener.refused if self.listener is not None else 0
        fam["nbchannel_kernel_refused_connections"].add_metric([], refused)
        return list(fam.values())

    # -- helpers ---------------------------------------------------------------------------

    def _labelled(self, channels: list[ChannelInfo]) -> Iterator[tuple[list[str], dict[str, Any]]]:
        """Each channel with its label values; channels beyond the bound summed into one."""
        bound = self.max_channel_labels
        rows = [cast("dict[str, Any]", c) for c in channels]
        for info in rows[:bound]:
            yield [info["scope"], info["name"]], info
        rest = rows[bound:]
        if rest:
            fields = ("viewers", *(f for _, f, _ in _COUNTERS))
            yield [OTHER, OTHER], {f: sum(c[f] for c in rest) for f in fields}

    @staticmethod
    def _families() -> Iterator[_Family]:
        yield GaugeMetricFamily(
            "nbchannel_channels", "Channels the hub knows, open or closed.", labels=["state"]
        )
        yield GaugeMetricFamily(
            "nbchannel_connections",
            "Connections to the hub by role: owner (a kernel) or subscriber (a browser page).",
            labels=["role"],
        )
        yield GaugeMetricFamily(
            "nbchannel_queued_bytes",
            "Bytes waiting in the send queues of all connections of a role.",
            labels=["role"],
        )
        yield GaugeMetricFamily(
            "nbchannel_queued_bytes_max",
            "Bytes waiting in the fullest send queue of a role.",
            labels=["role"],
        )
        yield GaugeMetricFamily(
            "nbchannel_retained_bytes",
            "Bytes retained by all channels for replay: stream history and state.",
            labels=["kind"],
        )
        yield GaugeMetricFamily(
            "nbchannel_viewers", "Browser connections subscribed to a channel.", labels=_LABELS
        )
        for name, _, help_text in _COUNTERS:
            yield CounterMetricFamily(name, help_text, labels=_LABELS)
        yield CounterMetricFamily(
            "nbchannel_kernel_refused_connections",
            "Kernel-side connections the hub refused (wrong secret, no hello, bad frames).",
            labels=[],
        )


#: The collector holding the nbchannel names in each registry (by ``id`` of the registry).
_registered: dict[int, HubCollector] = {}
