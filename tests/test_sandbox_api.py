"""The sandbox without a browser: its page's API drives the real core (a customer's
text becomes a thread, `!r` reaches the phone as delivered), and bad input is answered
with what to do."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bridge.sandbox import Sandbox, start_sandbox
from tests.fakes.loopback import wait_until

CUSTOMER = "+14155550123"


@pytest.fixture
async def sandbox(tmp_path: Any) -> AsyncIterator[Sandbox]:
    running = await start_sandbox(0, tmp_path, undo_seconds=0)
    yield running
    await running.stop()


async def _state(http: aiohttp.ClientSession, sandbox: Sandbox, user: str = "ana") -> dict[str, Any]:
    async with http.get(sandbox.url + "api/state", params={"user": user}) as response:
        return dict(await response.json())


def _texts(thread: dict[str, Any]) -> list[str]:
    return ["".join(s["v"] for s in m["rich"]) for m in thread["messages"]]


async def test_a_text_and_a_reply(sandbox: Sandbox) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(sandbox.url + "api/phone", json={"from": CUSTOMER, "text": "Hi there"}) as response:
            assert response.status == 200
        state: dict[str, Any] = {}

        async def thread_has(text: str) -> bool:
            nonlocal state
            state = await _state(http, sandbox)
            return any(text in line for t in state["threads"] for line in _texts(t))

        await wait_until(lambda: thread_has("Hi there"), timeout=30, message="the thread")
        [thread] = state["threads"]
        await http.post(sandbox.url + "api/thread", json={"user": "ana", "thread": thread["id"], "text": "!r Hello!"})

        async def phone_has(text: str, status: str) -> bool:
            nonlocal state
            state = await _state(http, sandbox)
            return any(m["body"] == text and m["status"] == status for m in state["phones"][CUSTOMER])

        await wait_until(lambda: phone_has("Hello!", "delivered"), timeout=30, message="the reply delivered")

        await wait_until(lambda: thread_has("Delivered"), timeout=30, message="the status line")
        [thread] = state["threads"]
        texts = _texts(thread)
        assert texts.count("Hi there") == 1 and any(t.startswith("✅ SMS by Ana to (415) 555-0123 — Delivered") for t in texts)


async def test_bad_input_says_what_to_do(sandbox: Sandbox) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(sandbox.url + "api/phone", json={"from": "+19995550000", "text": "x"}) as response:
            assert response.status == 400
            assert "pick one of the sandbox's customers" in await response.text()
        async with http.post(sandbox.url + "api/thread", json={"user": "mallory", "thread": "t1", "text": "x"}) as response:
            assert response.status == 400 and "unknown teammate 'mallory'" in await response.text()
        async with http.post(sandbox.url + "api/phone", data="not json") as response:
            assert response.status == 400 and "send JSON" in await response.text()
        async with http.post(sandbox.url + "api/phone", json={"from": CUSTOMER, "text": "x" * 5000}) as response:
            assert response.status == 400 and "at most 4000 characters" in await response.text()


async def test_the_sandbox_reads_no_real_configuration(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("DATABASE_URL=sqlite+aiosqlite:///real.db\nTWILIO_AUTH_TOKEN=real-secret\nSLACK_BOT_TOKEN=xoxb-real\n")
    (tmp_path / "smsbridge.toml").write_text('[[inbox]]\nname = "real"\nnumber = "+14155550199"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", "sqlite+aiosqlite:///real-env.db")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "real-env-secret")
    running = await start_sandbox(0, tmp_path / "data")
    try:
        settings = running.bridge.settings
        assert settings.twilio_auth_token is None and settings.slack_bot_token is None
        assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'data' / 'sandbox.db'}"
        assert [inbox.name for inbox in settings.inboxes()] == ["sandbox"]
    finally:
        await running.stop()
    assert not (tmp_path / "real.db").exists() and not (tmp_path / "real-env.db").exists()


async def test_an_export_is_a_download_link_only_its_asker_sees(sandbox: Sandbox) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(sandbox.url + "api/phone", json={"from": CUSTOMER, "text": "STOP"}) as response:
            assert response.status == 200
        async with http.post(sandbox.url + "api/channel", json={"user": "ana", "text": "/sms export consent 7 csv"}) as response:
            assert (await response.json())["ok"] is True
        links: list[dict[str, Any]] = []

        async def offered() -> bool:
            nonlocal links
            state = await _state(http, sandbox)
            links = [s for m in state["channel"] for s in m["rich"] if s["t"] == "link" and "/api/files/" in s["url"]]
            return bool(links)

        await wait_until(offered, timeout=30, message="the download link")
        async with http.get(sandbox.url + links[0]["url"].lstrip("/")) as response:
            assert response.status == 200 and "attachment" in response.headers["Content-Disposition"]
            lines = (await response.text()).splitlines()
        assert lines[0].startswith("record,time,inbox,") and any(CUSTOMER in line and "opt_out" in line for line in lines[1:])
        ben = await _state(http, sandbox, user="ben")
        assert not [s for m in ben["channel"] for s in m["rich"] if s["t"] == "link"]
