"""`smsbridge sandbox` in a real headless browser (Debian's chromium, driven by Selenium
through chromedriver): a customer types on the phone, the thread appears, a teammate
claims it with the button and replies with `!r`, the phone shows the reply with its
delivery state, and after STOP the next reply is blocked and never reaches the phone.

Screenshots are written to build/screenshots/; README's docs/sandbox.png is this run's
sandbox-stop.png (`cp build/screenshots/sandbox-stop.png docs/sandbox.png`).
Without /usr/bin/chromium and /usr/bin/chromedriver the tests skip with the reason; CI
installs both (.ci/run).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.sandbox import Sandbox, start_sandbox

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SHOTS = Path(__file__).resolve().parent.parent / "build" / "screenshots"
WAIT = 30.0  # an upper bound for a condition, never a measured time

if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    pytest.skip(
        "no headless browser: install Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver)",
        allow_module_level=True,
    )
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed: pip install -e '.[test]'")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402


class Running:
    """The sandbox served from a thread of its own, so the (blocking) browser can drive it."""

    def __init__(self, **overrides: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.sandbox: Sandbox | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(overrides,), daemon=True)

    def _run(self, overrides: dict[str, Any]) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.sandbox = self.loop.run_until_complete(start_sandbox(0, **overrides))
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            self.error = exc
        self.ready.set()
        if self.sandbox is not None:
            self.loop.run_forever()

    def __enter__(self) -> Sandbox:
        self.thread.start()
        self.ready.wait(WAIT)
        if self.error is not None:
            raise self.error
        assert self.sandbox is not None
        return self.sandbox

    def __exit__(self, *_exc: object) -> None:
        assert self.sandbox is not None
        asyncio.run_coroutine_threadsafe(self.sandbox.stop(), self.loop).result(WAIT)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(WAIT)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Running(undo_seconds=0) as running:
        yield running


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    for driver in _browser_factory():
        try:
            yield driver
        finally:
            driver.quit()


def _browser_factory() -> Iterator[WebDriver]:
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,900", "--disable-gpu"):
        options.add_argument(arg)
    yield webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


def _until(browser: WebDriver, what: str, condition: Callable[[WebDriver], Any]) -> Any:
    from selenium.common.exceptions import TimeoutException

    try:
        return WebDriverWait(browser, WAIT).until(condition, message=f"waiting for {what}")
    except TimeoutException:
        _shot(browser, "failed-" + "-".join(what.split()) + ".png")  # what the page showed instead
        raise


def _text(browser: WebDriver, css: str) -> str:
    # Read in one script: the page re-renders on every update, so held elements go stale.
    script = "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.innerText).join('\\n')"
    return str(browser.execute_script(script, css))


def _phone_says(browser: WebDriver, text: str) -> Callable[[WebDriver], bool]:
    return lambda b: text in _text(b, "#sms")


def _type(browser: WebDriver, css: str, text: str) -> None:
    box = browser.find_element(By.CSS_SELECTOR, css)
    box.send_keys(text)
    box.submit()


def _click(browser: WebDriver, css: str) -> None:
    """Click the first element matching `css` once it is there. Found and clicked in one
    script: the page re-renders on every update, so a held element can go stale between
    finding and clicking it."""
    script = "const e = document.querySelector(arguments[0]); if (e) e.click(); return !!e"
    _until(browser, f"something to click at {css}", lambda b: b.execute_script(script, css))


def _choose(browser: WebDriver, css: str, value: str) -> None:
    """Pick `value` in the first <select> matching `css` (in one script, like `_click`)."""
    script = ("const e = document.querySelector(arguments[0]); if (!e) return false;"
              "e.value = arguments[1]; e.dispatchEvent(new Event('change')); return true")
    _until(browser, f"a picker at {css}", lambda b: b.execute_script(script, css, value))


def _shot(browser: WebDriver, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / name
    browser.save_screenshot(str(path))
    return path


def test_a_customer_texts_a_teammate_claims_and_replies_then_stop_blocks(sandbox: Sandbox, browser: WebDriver) -> None:
    browser.get(sandbox.url)
    _until(browser, "the live connection", lambda b: b.find_element(By.ID, "connection").text == "live")

    # The customer types on the phone; the thread appears with its card and the text.
    _type(browser, "#sms-text", "Hi, is my bike ready?")
    _until(browser, "the thread", lambda b: "Hi, is my bike ready?" in _text(b, ".thread .msgs"))
    card = _text(browser, ".thread .card")
    assert "(415) 555-0123" in card and "Assignee: nobody yet" in card

    # Ben (an agent) claims it with the card's button.
    Select(browser.find_element(By.ID, "me")).select_by_value("ben")
    _click(browser, ".card button[data-action=claim]")
    _until(browser, "the claim", lambda b: "Assignee: Ben" in _text(b, ".thread .card"))
    assert "Ben claimed this conversation." in _text(browser, ".thread .msgs")

    # A note stays in the thread; `!r` goes to the phone, and the status line follows it.
    _type(browser, ".thread .compose input", "Checking the workshop")
    _type(browser, ".thread .compose input", "!r Yes, it's ready. Pick it up after 5.")
    _until(browser, "the reply on the phone", _phone_says(browser, "Yes, it's ready. Pick it up after 5."))
    _until(browser, "the delivery state on the phone", lambda b: "delivered" in _text(b, ".bubble-state"))
    _until(browser, "the status line", lambda b: "Delivered" in _text(b, ".thread .msg.status"))
    assert "Checking the workshop" not in _text(browser, "#sms")  # a note is never texted
    _shot(browser, "sandbox-reply.png")

    # STOP: the phone gets the one confirmation, and the next reply is blocked.
    _type(browser, "#sms-text", "STOP")
    _until(browser, "the STOP confirmation", lambda b: "unsubscribed" in _text(b, "#sms").lower())
    _until(browser, "the card saying opted out", lambda b: "Opted out" in _text(b, ".thread .card"))
    before = browser.find_elements(By.CSS_SELECTOR, "#sms .bubble.out")
    _type(browser, ".thread .compose input", "!r Are you sure?")
    _until(browser, "the blocked answer", lambda b: "Not sent: (415) 555-0123 opted out of texts from this number." in _text(b, ".thread .msgs"))
    assert "Are you sure?" not in _text(browser, "#sms")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#sms .bubble.out")) == len(before)
    _shot(browser, "sandbox-stop.png")


def test_commands_and_buttons_in_the_channel_and_a_second_customer(sandbox: Sandbox, browser: WebDriver) -> None:
    browser.get(sandbox.url)
    _until(browser, "the live connection", lambda b: b.find_element(By.ID, "connection").text == "live")

    # Ana is the sandbox's admin: she saves a snippet with /sms; Ben may not.
    _type(browser, "#channel-text", "/sms snippet add hours We're open 9-6, {first_name}.")
    _until(browser, "the answer", lambda b: "Snippet hours saved." in _text(b, "#channel-log"))
    Select(browser.find_element(By.ID, "me")).select_by_value("ben")
    _until(browser, "Ben's view", lambda b: "Snippet hours saved." not in _text(b, "#channel-log"))  # Ana's answer was hers
    _type(browser, "#channel-text", "snippet delete hours")
    _until(browser, "the refusal", lambda b: "needs the admin role; you are agent. Ask an admin (Ana)" in _text(b, "#channel-log"))

    # A second customer, picked on the phone.
    Select(browser.find_element(By.ID, "customer")).select_by_value("+14155550187")
    _type(browser, "#sms-text", "When are you open?")
    _until(browser, "the thread", lambda b: "When are you open?" in _text(b, ".thread .msgs"))
    _type(browser, ".thread .compose input", "!contact name Jo")
    _until(browser, "the card's new name", lambda b: "Jo" in _text(b, ".thread .card"))

    # The card's snippet picker sends it, variables filled.
    _choose(browser, ".card select[data-action=snippet]", "hours")
    _until(browser, "the snippet on the phone", _phone_says(browser, "We're open 9-6, Jo."))

    # A disconnected browser loses nothing: a new page shows everything again.
    browser.get(sandbox.url)
    _until(browser, "the thread after a reload", lambda b: "When are you open?" in _text(b, ".thread .msgs"))
    _shot(browser, "sandbox-channel.png")


def test_undo_a_draft_approved_and_a_phone_that_is_off() -> None:
    with Running(undo_seconds=30) as sandbox:
        browser = next(_browser_factory())
        try:
            browser.get(sandbox.url)
            _until(browser, "the live connection", lambda b: b.find_element(By.ID, "connection").text == "live")
            _type(browser, "#sms-text", "Do you fix e-bikes?")
            _until(browser, "the thread", lambda b: "Do you fix e-bikes?" in _text(b, ".thread .msgs"))

            # A reply waits 30 s with Undo; Undo wins and nothing reaches the phone.
            _type(browser, ".thread .compose input", "!r Nope")
            _click(browser, ".msg.status button[data-action=undo]")
            _until(browser, "the canceled status", lambda b: "Canceled" in _text(b, ".thread .msg.status"))

            # A draft, approved by Ana (the admin), goes out at once.
            def approve(text: str) -> None:
                count = len(browser.find_elements(By.CSS_SELECTOR, ".msg.draft"))
                _type(browser, ".thread .compose input", "!draft " + text)
                _until(browser, "the draft's Approve", lambda b: len(b.find_elements(
                    By.CSS_SELECTOR, ".msg.draft button[data-action=approve]")) == 1 and len(b.find_elements(By.CSS_SELECTOR, ".msg.draft")) > count)
                _click(browser, ".msg.draft button[data-action=approve]")

            approve("Yes, all brands.")
            _until(browser, "the approved reply on the phone", _phone_says(browser, "Yes, all brands."))
            _until(browser, "its delivery", lambda b: "Delivered" in _text(b, ".thread .msg.status"))
            assert "Nope" not in _text(browser, "#sms")

            # The customer's phone is switched off: the team sees the failure in words.
            browser.find_element(By.ID, "power").click()
            _until(browser, "the phone off", lambda b: not b.find_element(By.ID, "power").is_selected())
            approve("Are you still there?")
            _until(browser, "the failure in the thread", lambda b: "Not delivered: The recipient's phone is off or unreachable"
                   in _text(b, ".thread .msg.status").split("Are you still there?")[0].rsplit("Yes, all brands.", 1)[-1])
            _until(browser, "the failure on the phone", lambda b: "undelivered" in _text(b, ".bubble-state"))
            _shot(browser, "sandbox-undo-draft-phone-off.png")
        finally:
            browser.quit()


def test_assign_close_send_anyway_and_help(sandbox: Sandbox, browser: WebDriver) -> None:
    browser.get(sandbox.url)
    _until(browser, "the live connection", lambda b: b.find_element(By.ID, "connection").text == "live")
    _type(browser, "#sms-text", "Is the shop open on Sunday?")
    _until(browser, "the thread", lambda b: "Is the shop open on Sunday?" in _text(b, ".thread .msgs"))

    # Ana gives it to Ben with the card's Assign… picker.
    _choose(browser, ".card select[data-action=assign]", "ben")
    _until(browser, "the assignment", lambda b: "Assignee: Ben" in _text(b, ".thread .card"))

    # Ben answers; Ana's answer a moment later is held, and Send anyway sends it.
    Select(browser.find_element(By.ID, "me")).select_by_value("ben")
    _type(browser, ".thread .compose input", "!r Yes, 10 to 4.")
    _until(browser, "Ben's reply on the phone", _phone_says(browser, "Yes, 10 to 4."))
    Select(browser.find_element(By.ID, "me")).select_by_value("ana")
    _type(browser, ".thread .compose input", "!r We open at 10 on Sunday.")
    _until(browser, "the hold", lambda b: "Send anyway" in _text(b, ".thread .msgs"))
    assert "We open at 10 on Sunday." not in _text(browser, "#sms")
    _click(browser, ".thread button[data-action=send_anyway]")
    _until(browser, "Ana's reply on the phone", _phone_says(browser, "We open at 10 on Sunday."))

    # Close, then HELP from the customer: the phone gets the HELP answer, the thread reopens.
    _click(browser, ".card button[data-action=close]")
    _until(browser, "the closed card", lambda b: b.find_elements(By.CSS_SELECTOR, ".card button[data-action=reopen]"))
    assert "Closed" in _text(browser, ".thread .card")
    _type(browser, "#sms-text", "HELP")
    _until(browser, "the HELP answer", lambda b: "reply stop" in _text(b, "#sms").lower().split("help", 1)[-1])
    _until(browser, "the reopened card", lambda b: b.find_elements(By.CSS_SELECTOR, ".card button[data-action=close]"))
    _shot(browser, "sandbox-assign-send-anyway-help.png")


class Cable:
    """A TCP relay between the browser and the sandbox that the test can pull out: every
    open connection (the page's event stream included) is cut, and new ones are cut at
    once, until it is plugged in again. The sandbox itself keeps running."""

    def __init__(self, target_port: int) -> None:
        import socket

        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/"
        self.plugged = True
        self.lock = threading.Lock()
        self.open: set[Any] = set()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket

        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.plugged:
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self.lock:
                self.open |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: Any, sink: Any) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            self._cut(source, sink)

    def _cut(self, *sockets: Any) -> None:
        import socket

        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def unplug(self) -> None:
        self.plugged = False
        with self.lock:
            self._cut(*self.open)
            self.open.clear()

    def plug(self) -> None:
        self.plugged = True

    def close(self) -> None:
        self.unplug()
        self.listener.close()


def test_a_browser_that_disconnects_mid_update_loses_nothing(sandbox: Sandbox, browser: WebDriver) -> None:
    import json
    import urllib.request

    cable = Cable(sandbox.bridge.port)
    try:
        browser.get(cable.url)
        _until(browser, "the live connection", lambda b: b.find_element(By.ID, "connection").text == "live")
        _type(browser, "#sms-text", "First text")
        _until(browser, "the thread", lambda b: "First text" in _text(b, ".thread .msgs"))

        # The connection to the sandbox drops: the page says so.
        cable.unplug()
        _until(browser, "the disconnected message", lambda b: "disconnected" in b.find_element(By.ID, "connection").text)

        # A note typed now cannot be sent: the page says so and keeps the text.
        _type(browser, ".thread .compose input", "Typed while offline")
        _until(browser, "the not-sent message", lambda b: "not sent" in b.find_element(By.ID, "connection").text)
        assert browser.find_element(By.CSS_SELECTOR, ".thread .compose input").get_attribute("value") == "Typed while offline"

        # Meanwhile the customer writes again (the sandbox is fine; only this page is cut off).
        body = json.dumps({"from": "+14155550123", "text": "Second text"}).encode()
        request = urllib.request.Request(sandbox.url + "api/phone", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=WAIT) as answer:
            assert answer.status == 200

        # Back: the page reconnects and catches up by itself, without a reload, and the
        # kept note goes with one more press of Send.
        cable.plug()
        _until(browser, "the text sent while disconnected", lambda b: "Second text" in _text(b, ".thread .msgs"))
        _until(browser, "live again", lambda b: b.find_element(By.ID, "connection").text == "live")
        browser.find_element(By.CSS_SELECTOR, ".thread .compose input").submit()
        _until(browser, "the kept note", lambda b: "Typed while offline" in _text(b, ".thread .msgs"))
        assert _text(browser, ".thread .msgs").count("Typed while offline") == 1
        assert _text(browser, ".thread .msgs").count("First text") == 1
    finally:
        cable.close()
