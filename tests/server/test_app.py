"""The extension as installed and configured: enabled on install, traits, environment."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time

from nbchannel.testing import JupyterServer, Viewer

from ..conftest import open_channel


def test_extension_is_enabled_and_ok_after_install(jupyter: JupyterServer) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "jupyter_server", "extension", "list"],
        env=jupyter.environ(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    text = out.stdout + out.stderr
    lines = [line for line in text.splitlines() if "nbchannel" in line]
    assert any("enabled" in line for line in lines), text
    assert any("OK" in line for line in lines), text


def test_traits_configure_the_hub_and_the_kernel_transport() -> None:
    server = JupyterServer(
        extra_args=["--NbChannel.history_items=7", "--NbChannel.kernel_transport=tcp"]
    )
    with server:
        kernel = server.start_kernel()
        assert kernel.eval("__import__('os').environ['NBCHANNEL_ADDRESS']").startswith(
            "tcp:127.0.0.1:"
        )
        open_channel(kernel, "small")
        kernel.execute("for i in range(20): ch.append(i)\nch.flush()")

        async def scenario() -> list[int]:
            viewer = await Viewer.connect(server.ws_url, token=server.token)
            view = await viewer.subscribe(kernel.id, "small")
            await viewer.wait_for(lambda: len(view.items) == 7)
            await viewer.close()
            return [v for _, v in view.items]

        assert asyncio.run(scenario()) == list(range(13, 20))
        kernel.shutdown()


def test_kernels_inherit_the_hub_address_and_secret(jupyter: JupyterServer) -> None:
    kernel = jupyter.start_kernel()
    try:
        env = kernel.eval(
            "{k: v for k, v in __import__('os').environ.items() if k.startswith('NBCHANNEL_')}"
        )
    finally:
        kernel.shutdown()
    assert env["NBCHANNEL_ADDRESS"].startswith("unix:")
    assert len(env["NBCHANNEL_SECRET"]) == 64  # 256 bits, hex
    assert env["NBCHANNEL_HUB_FILE"].endswith(f"nbchannel-hub-{jupyter.port}.json")


def test_every_hub_bound_is_a_configurable_trait() -> None:
    from dataclasses import fields

    from traitlets.config import Config

    from nbchannel.core.hub import HubConfig
    from nbchannel.server.app import NbChannel

    names = [f.name for f in fields(HubConfig) if f.name != "limits"]
    config = Config({"NbChannel": {name: 7 for name in names}})
    hub = NbChannel(config=config).hub_config()
    assert {name: getattr(hub, name) for name in names} == dict.fromkeys(names, 7)


def test_started_server_objects_are_frozen_out_of_full_collections() -> None:
    # Full collections, which a fast stream triggers, then scan only newer objects.
    for freeze, expected in ((None, True), ("False", False)):
        args = [] if freeze is None else [f"--NbChannel.freeze_gc={freeze}"]
        with JupyterServer(extra_args=args) as server:
            deadline = time.monotonic() + 10
            while "gc.freeze" not in server.log() and time.monotonic() < deadline and expected:
                time.sleep(0.1)
            lines = [line for line in server.log().splitlines() if "gc.freeze" in line]
            assert bool(lines) is expected, server.log()
            if expected:
                frozen = int(re.search(r"moved (\d+) objects", lines[0]).group(1))  # type: ignore[union-attr]
                assert frozen > 10_000  # the server's modules, classes, config …
