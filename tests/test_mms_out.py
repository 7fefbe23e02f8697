"""Outbound MMS: a file attached to `!r` (a Slack file_share message) is downloaded with
the bot's token, kept, and handed to Twilio as PUBLIC_URL/media/<token>, which the fake
Twilio fetches without credentials; what cannot go is refused with the reason."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bridge.inbox.models import utcnow
from tests.harness import CHANNEL, PUBLIC_URL, Harness

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 2048


def file_share(h: Harness, root: str, text: str, *files: dict[str, Any]) -> dict[str, Any]:
    """A thread reply with files, as Slack's Events API sends it (subtype file_share)."""
    event = h.teammate_event(root, text)
    event.update(subtype="file_share", files=list(files), upload=False, display_as_bot=False)
    return event


def whispers(h: Harness, user: str = "UANA") -> list[str]:
    return [e["text"] for e in h.slack.ephemerals if e["user"] == user]


async def test_picture_attached_to_a_reply_goes_as_mms(harness: Harness) -> None:
    await harness.text_in("what does it look like?")
    root = await harness.first_thread()
    photo = harness.slack.user_file("bike.png", PNG, "image/png")
    await harness.slack_event(file_share(harness, root, "!r Hi there!", photo))
    await harness.drain()
    [sent] = harness.sms_sent()
    assert sent["Body"] == "Hi there!"
    [url] = sent["MediaUrl"]
    assert url.startswith(f"{PUBLIC_URL}/media/") and len(url.rsplit("/", 1)[1]) >= 40
    # Twilio fetched it without credentials and got the very bytes.
    assert harness.twilio.fetched_media[sent["sid"]] == [(200, "image/png", PNG)]
    # Downloaded from Slack with the bot token.
    assert [auth for _, auth in harness.slack.file_downloads] == [f"Bearer {harness.slack.bot_token}"]
    [line] = [m for m in harness.thread(root) if "SMS by Ana" in m["text"]]
    assert "1 attachment (MMS)" in line["text"]
    assert whispers(harness) == []


async def test_forged_or_expired_media_urls_are_404(harness: Harness) -> None:
    assert harness.http is not None
    await harness.text_in("hi")
    root = await harness.first_thread()
    await harness.slack_event(file_share(harness, root, "!r here", harness.slack.user_file("a.png", PNG, "image/png")))
    await harness.drain()
    [url] = harness.sms_sent()[0]["MediaUrl"]
    token = url.rsplit("/", 1)[1]
    for forged in ("nope", token[:-1] + ("A" if token[-1] != "A" else "B"), "x" * 200):
        async with harness.http.get(harness.url(f"/media/{forged}")) as response:
            assert response.status == 404 and PNG not in await response.read()
    async with harness.bridge.db.sessions.begin() as session:  # type: ignore[union-attr]
        from sqlalchemy import update

        from bridge.inbox.models import MediaFile

        await session.execute(update(MediaFile).values(expires_at=utcnow() - timedelta(seconds=1)))
    async with harness.http.get(harness.url(f"/media/{token}")) as response:
        assert response.status == 404


async def test_files_that_cannot_go_are_refused_with_the_reason(harness: Harness) -> None:
    await harness.text_in("hi")
    root = await harness.first_thread()
    cases = [
        (harness.slack.user_file("big.png", b"\x00" * (20 * 1024 * 1024), "image/png"), "20.0 MB"),
        (harness.slack.user_file("setup.exe", b"MZ" + b"\x00" * 100, "application/x-msdownload"), "setup.exe (application/x-msdownload) cannot be sent by MMS"),
        (harness.slack.user_file("secret.png", PNG, "image/png", readable=False), "cannot read secret.png"),
    ]
    for file, reason in cases:
        await harness.slack_event(file_share(harness, root, "!r look at this", file))
        await harness.drain()
        assert harness.sms_sent() == []
        assert reason in whispers(harness)[-1], whispers(harness)
        assert "Not sent" in whispers(harness)[-1]
    assert await harness.rows("SELECT id FROM messages WHERE direction = 'out'") == []
    assert await harness.rows("SELECT id FROM media_files") == []


async def test_a_note_with_a_file_stays_in_slack(harness: Harness) -> None:
    await harness.text_in("hi")
    root = await harness.first_thread()
    await harness.slack_event(file_share(harness, root, "screenshot of the order", harness.slack.user_file("o.png", PNG, "image/png")))
    await harness.drain()
    assert harness.slack.file_downloads == [] and harness.sms_sent() == []
    assert [tuple(r) for r in await harness.rows("SELECT body FROM notes")] == [("screenshot of the order",)]
    assert harness.slack.messages(CHANNEL)


async def test_discord_attachment_on_a_reply_goes_as_mms_not_as_a_link(databases) -> None:  # type: ignore[no-untyped-def]
    from tests.harness import DISCORD_ANA

    dh = Harness(databases, discord=True, smsbridge_slack_channel=None)
    await dh.start()
    try:
        assert dh.discord is not None
        await dh.text_in("photo please")
        post = await dh.first_post()
        await dh.discord.user_message(post["id"], DISCORD_ANA, "!r Here it is", attachments=[("bike.png", PNG, "image/png")])
        await dh.discord.wait_for(lambda: len(dh.sms_sent()) == 1, message="the MMS")
        await dh.drain()
        [sent] = dh.sms_sent()
        assert sent["Body"] == "Here it is" and "http" not in sent["Body"]
        assert dh.twilio.fetched_media[sent["sid"]] == [(200, "image/png", PNG)]
        await dh.discord.user_message(post["id"], DISCORD_ANA, "!r and this", attachments=[("tool.exe", b"MZ", "application/x-msdownload")])
        await dh.discord.wait_for(
            lambda: any("cannot be sent by MMS" in m["content"] for m in dh.post_messages(post["id"])), message="the refusal"
        )
        assert len(dh.sms_sent()) == 1
    finally:
        await dh.stop()


async def test_discord_slash_reply_with_a_file_goes_as_mms(databases) -> None:  # type: ignore[no-untyped-def]
    from bridge.adapters.discord_bot.commands import sync_commands
    from tests.harness import DISCORD_ANA

    dh = Harness(databases, discord=True, smsbridge_slack_channel=None)
    await dh.start()
    try:
        assert dh.discord is not None
        await sync_commands(dh.discord.token)
        await dh.text_in("send me the receipt")
        post = await dh.first_post()
        receipt = dh.discord.command_attachment(post["id"], "receipt.pdf", b"%PDF-1.4 receipt", "application/pdf")
        iid = await dh.discord.slash_command("reply", {"text": "Here you go", "file": receipt}, user_id=DISCORD_ANA, channel_id=post["id"])
        await dh.discord.wait_for(lambda: bool(dh.discord.followups(iid)), message="the answer")  # type: ignore[union-attr]
        await dh.drain()
        [sent] = dh.sms_sent()
        assert sent["Body"] == "Here you go"
        assert dh.twilio.fetched_media[sent["sid"]] == [(200, "application/pdf", b"%PDF-1.4 receipt")]
        bad = dh.discord.command_attachment(post["id"], "run.exe", b"MZ", "application/x-msdownload")
        iid = await dh.discord.slash_command("reply", {"text": "and this", "file": bad}, user_id=DISCORD_ANA, channel_id=post["id"])
        await dh.discord.wait_for(lambda: bool(dh.discord.followups(iid)), message="the refusal")  # type: ignore[union-attr]
        await dh.drain()
        assert "cannot be sent by MMS" in dh.discord.followups(iid)[0]["content"] and len(dh.sms_sent()) == 1
    finally:
        await dh.stop()


async def test_a_retried_mms_is_sent_once_and_never_taken_for_an_earlier_one(harness: Harness) -> None:
    """Twilio accepts an MMS and the answer is lost: the retry finds it instead of sending
    it again. A retry of a picture identical to an earlier one (same text, same file) is
    never matched with that earlier message: it is sent, once."""
    await harness.text_in("pictures please")
    root = await harness.first_thread()
    await harness.drain()

    async def picture() -> None:
        photo = harness.slack.user_file("bike.png", PNG, "image/png")
        await harness.slack_event(file_share(harness, root, "!r Here it is", photo))
        await harness.drain()

    await picture()
    harness.twilio.lose_answer_next()  # accepted, but the answer never arrives
    await picture()
    assert len(harness.sms_sent()) == 2
    harness.twilio.fail_next(status=500)  # refused before Twilio created anything
    await picture()
    sent = harness.sms_sent()
    assert [(m["Body"], len(m["MediaUrl"])) for m in sent] == [("Here it is", 1)] * 3
    rows = await harness.rows("SELECT provider_sid, status FROM messages WHERE direction = 'out' ORDER BY id")
    assert [r[0] for r in rows] == [m["sid"] for m in sent]
    assert all(r[1] in ("queued", "sent", "delivered") for r in rows)
