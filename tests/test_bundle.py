"""The widget code ships once; widgets carry only its small loader (nbchannel.bundle)."""

from __future__ import annotations

import hashlib

import pytest

from nbchannel import bundle
from nbchannel.widgets import LiveLog

# (no kernel here: the widgets' channels say once that nothing reaches a browser)
pytestmark = pytest.mark.filterwarnings("ignore::nbchannel.kernel.port.NbChannelWarning")


def test_the_loader_names_the_bundle_it_loads_and_is_small() -> None:
    code = bundle.bundle_bytes()
    assert len(code) > 100_000  # the real widget code
    assert bundle.bundle_hash() == hashlib.sha256(code).hexdigest()[:16]
    loader = bundle.loader_source()
    assert bundle.HASH_MARK not in loader
    assert "nbchannel/widgets.js?h=" in loader
    assert bundle.bundle_hash() in loader
    assert len(loader.encode()) < 2_000


def test_a_widget_carries_the_loader_and_its_synced_state_is_small() -> None:
    w = LiveLog()
    try:
        assert w._esm == bundle.loader_source()
        state = w.get_state()
        size = sum(len(str(v).encode()) for v in state.values())
        assert size <= 4_096, (size, {k: len(str(v)) for k, v in state.items()})
    finally:
        w.close()


def test_a_view_that_asks_gets_the_code_over_the_comm() -> None:
    w = LiveLog()
    sent: list[tuple[object, object]] = []
    w.send = lambda content, buffers=None: sent.append((content, buffers))  # type: ignore[method-assign]
    try:
        digest = bundle.bundle_hash()
        w._handle_custom_msg({"nbc": 1, "code": "another-version"}, [])
        assert sent == []  # a loader of another version gets nothing it could not run
        w._handle_custom_msg({"nbc": 1, "code": digest}, [])
        assert sent == [({"nbc": 1, "code": digest}, [bundle.bundle_bytes()])]  # (no kernel)
    finally:
        w.close()
