"""Slack over Socket Mode: no public URL, the same thread behaviour."""

from __future__ import annotations

from tests.harness import CUSTOMER, Harness


async def test_reply_over_socket_mode(databases) -> None:  # type: ignore[no-untyped-def]
    h = Harness(databases)
    await h.start(slack_app_token="xapp-test", slack_signing_secret=None)
    try:
        await h.slack.wait_socket_connected()
        await h.text_in("hello over the socket")
        root = await h.first_thread()

        ack = await h.slack.socket_send_event(h.teammate_event(root, "internal note"))
        assert "envelope_id" in ack
        await h.slack.socket_send_event(h.teammate_event(root, "!r hi from socket mode"))
        await h.drain()
        assert [(m["To"], m["Body"]) for m in h.sms_sent()] == [(CUSTOMER, "hi from socket mode")]

        # Without a signing secret the HTTP route is off and says why.
        status, reason = await h.slack_post("{}")
        assert status == 503 and "SLACK_SIGNING_SECRET" in reason
    finally:
        await h.stop()


async def test_socket_mode_ignores_other_workspaces_and_apps(databases) -> None:  # type: ignore[no-untyped-def]
    h = Harness(databases)
    await h.start(slack_app_token="xapp-test", slack_signing_secret=None)
    try:
        await h.slack.wait_socket_connected()
        await h.text_in("hello over the socket")
        root = await h.first_thread()
        for changes in ({"team_id": "T0THEIRS"}, {"api_app_id": "A0THEIRS"}):
            envelope = {**h.slack.make_event_callback(h.teammate_event(root, "!r never sent")), **changes}
            ack = await h.slack.socket_send("events_api", envelope)
            assert "envelope_id" in ack
        await h.drain()
        assert h.sms_sent() == []
        await h.slack.socket_send_event(h.teammate_event(root, "!r sent"))
        await h.drain()
        assert [m["Body"] for m in h.sms_sent()] == ["sent"]
    finally:
        await h.stop()
