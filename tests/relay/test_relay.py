"""One relay, no Redis: hub-wide channels from a kernel's connection to browsers' protocol."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import numpy as np
import pytest
from tornado.httpclient import HTTPClientError

from nbchannel.relay.kernel import RelayClient
from nbchannel.testing.relay import RelayProcess
from nbchannel.testing.viewer import Viewer

from .conftest import hub_channel, run_async, wait_until


@run_async
async def test_teacher_writes_student_sees_and_clicks_with_name(
    relay: RelayProcess, owner_client
) -> None:
    client = owner_client(relay.url)
    ch = hub_channel("quiz", client)
    clicks = []
    ch.on("answer", clicks.append)
    ch.set("question", "2 + 2 = ?")
    for i in range(100):
        ch.append({"i": i, "a": np.arange(3) * i})
    assert ch.flush(10)

    student = await Viewer.connect(relay.ws_url, token="t-student")
    view = await student.subscribe("hub", "quiz")
    await student.wait_for(lambda: len(view.items) == 100 and "question" in view.state)
    assert view.state["question"] == "2 + 2 = ?"
    assert [o for o, _ in view.items] == list(range(100))
    assert list(view.items[-1][1]["a"]) == [0, 99, 198]

    # live, after the replay
    ch.append({"i": 100})
    await student.wait_for(lambda: len(view.items) == 101)

    # the owner learns how many watch, and who
    wait_until(lambda: ch.viewers == 1 and ch.viewer_users == ["student"])

    await student.event("hub", "quiz", "answer", {"choice": 4})
    wait_until(lambda: len(clicks) == 1)
    assert clicks[0].user == "student"
    assert clicks[0].value == {"choice": 4}
    assert ch.address == ("hub", "quiz")
    assert ch.stats["transport"]["transport"] == "relay (websocket)"
    await student.close()
    wait_until(lambda: ch.viewers == 0)


@run_async
async def test_permissions(relay: RelayProcess, owner_client) -> None:
    client = owner_client(relay.url)
    ch = hub_channel("quiz", client)
    ch.set("q", 1)
    assert ch.flush(10)

    # no subscribe permission: the upgrade is refused, saying why
    with pytest.raises(HTTPClientError) as info:
        await Viewer.connect(relay.ws_url, token="t-outsider")
    assert info.value.code == 403
    body = info.value.response.body.decode() if info.value.response else ""
    assert "may not watch" in body and "custom:nbchannel:subscribe" in body
    with pytest.raises(HTTPClientError) as info:
        await Viewer.connect(relay.ws_url, token="wrong")
    assert info.value.code == 403

    # subscribe but no event permission: events are refused, nothing reaches the kernel
    got = []
    ch.on("answer", got.append)
    guest = await Viewer.connect(relay.ws_url, token="t-guest")
    view = await guest.subscribe("hub", "quiz")
    await guest.wait_for(lambda: view.state.get("q") == 1)
    await guest.event("hub", "quiz", "answer", 1)
    await guest.wait_for(lambda: bool(guest.errors))
    assert guest.errors[0]["code"] == "not-permitted"
    assert "custom:nbchannel:event" in guest.errors[0]["message"]
    # only hub-scoped channels
    await guest.subscribe("server", "quiz")
    await guest.wait_for(lambda: len(guest.errors) == 2)
    assert "scope 'hub'" in guest.errors[1]["message"]
    await asyncio.sleep(0.2)
    assert got == []
    await guest.close()


@run_async
async def test_own_permission_by_namespace(relay: RelayProcess, owner_client) -> None:
    client = owner_client(relay.url, token="t-quizmaster")
    ok = hub_channel("quiz/1", client)
    ok.set("x", 1)
    assert ok.flush(10)
    bad = hub_channel("poll", client)
    wait_until(lambda: "may not open hub channel 'poll'" in bad.last_error)

    # a student's kernel cannot open channels at all: the relay refuses its connection
    student_kernel = owner_client(relay.url, token="t-student", kernel_id="k2")
    wait_until(lambda: "may not open hub channels" in student_kernel.last_error)
    assert student_kernel.status != "connected"


@run_async
async def test_rate_limit_per_user(owner_client) -> None:
    from .conftest import TOKENS

    with RelayProcess(tokens=TOKENS, extra=["--event-rate", "5"]) as relay:
        ch = hub_channel("quiz", owner_client(relay.url))
        got = []
        ch.on("answer", got.append)
        ch.set("q", 1)
        assert ch.flush(10)
        student = await Viewer.connect(relay.ws_url, token="t-student")
        await student.subscribe("hub", "quiz")
        for i in range(100):
            await student.event("hub", "quiz", "answer", i)
        await student.wait_for(lambda: len(student.errors) >= 50)
        assert all(e["code"] == "limit-exceeded" for e in student.errors)
        assert "too many events from 'student'" in student.errors[0]["message"]
        await asyncio.sleep(0.3)
        assert 5 <= len(got) <= 50  # the burst (40) and the rate, not a hundred
        await student.close()


@run_async
async def test_kernel_reconnects_to_restarted_relay(owner_client) -> None:
    from .conftest import TOKENS

    relay = RelayProcess(tokens=TOKENS).start()
    try:
        client: RelayClient = owner_client(relay.url)
        ch = hub_channel("quiz", client)
        ch.set("q", "first")
        assert ch.flush(10)
        relay.kill()
        relay = RelayProcess(tokens=TOKENS, port=relay.port).start()
        # the kernel re-opens its channel on the new relay and re-sends its state
        viewer = await Viewer.connect(relay.ws_url, token="t-student")
        view = await viewer.subscribe("hub", "quiz")
        await viewer.wait_for(lambda: view.state.get("q") == "first", timeout=15)
        assert client.reconnects >= 1
        await viewer.close()
    finally:
        relay.stop()


@run_async
async def test_info_says_who_may_watch(relay: RelayProcess) -> None:
    """A page asks ``api/info`` before it opens the relay's WebSocket: a user who may not
    watch gets the reason to show, instead of a refused upgrade it cannot read."""
    from tornado.httpclient import AsyncHTTPClient

    http = AsyncHTTPClient()

    async def info(token: str) -> dict[str, Any]:
        resp = await http.fetch(relay.url + "api/info", headers={"Authorization": f"token {token}"})
        body: dict[str, Any] = json.loads(resp.body)
        return body

    student = await info("t-student")
    assert student["user"] == "student"
    assert student["may"] == {"own": False, "subscribe": True, "event": True}
    assert "refused" not in student
    outsider = await info("t-outsider")
    assert outsider["refused"] == (
        "user 'outsider' may not watch hub-wide channels (needs the JupyterHub scope "
        "custom:nbchannel:subscribe)"
    )
    # a token table has no login to send a browser to: unknown callers get 403
    with pytest.raises(HTTPClientError) as refused:
        await http.fetch(relay.url + "api/info", follow_redirects=False)
    assert refused.value.code == 403


def test_public_relay_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a page's server tells the page about the relay (its ``api/info`` ``relay``)."""
    from nbchannel.relay.wire import public_relay_url

    monkeypatch.delenv("NBCHANNEL_RELAY_URL", raising=False)
    monkeypatch.delenv("NBCHANNEL_RELAY_PUBLIC_URL", raising=False)
    assert public_relay_url() is None
    # the kernels' address: only its path is the pages' (the proxy serves it on their origin)
    monkeypatch.setenv("NBCHANNEL_RELAY_URL", "http://127.0.0.1:10190/services/nbchannel")
    assert public_relay_url() == "/services/nbchannel/"
    monkeypatch.setenv("NBCHANNEL_RELAY_PUBLIC_URL", "https://relay.example.org/r")
    assert public_relay_url() == "https://relay.example.org/r/"
