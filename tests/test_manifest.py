"""manifests/slack-app.yaml asks for exactly what smsbridge uses: every Web API method
it calls is covered by a scope, and every scope is needed by something it does."""

from __future__ import annotations

import io
from pathlib import Path

import yaml

from bridge.checks import run_checks
from tests.harness import Harness

MANIFEST = Path(__file__).resolve().parent.parent / "manifests" / "slack-app.yaml"

# Slack's documented scope for each method smsbridge calls (None: no scope needed).
METHOD_SCOPES = {
    "auth.test": None,
    "chat.postMessage": "chat:write",
    "chat.postEphemeral": "chat:write",
    "chat.update": "chat:write",
    "chat.getPermalink": None,
    "conversations.history": "channels:history",
    "conversations.replies": "channels:history",
    "conversations.info": "channels:read",
    "users.info": "users:read",
    "bots.info": "users:read",  # the app id requests must carry (api_app_id)
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
    "files.list": "files:read",
    "conversations.open": "im:write",
    "views.open": None,
    "views.publish": None,
}
# The private-channel twin of each public-channel scope.
PRIVATE_TWINS = {"channels:history": "groups:history", "channels:read": "groups:read"}


def manifest() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load(MANIFEST.read_text())


async def test_manifest_scopes_are_exactly_the_ones_used(harness: Harness) -> None:
    picture = harness.twilio.add_media(b"\x89PNG" + b"0" * 64, "image/png")
    await harness.text_in("hello", media=[(picture, "image/png")])
    root = await harness.first_thread()
    await harness.teammate(root, "!r hi <@UBEN>")
    shared = harness.teammate_event(root, "!r the picture")  # url_private needs files:read
    shared.update(subtype="file_share", files=[harness.slack.user_file("p.png", b"\x89PNG" + b"0" * 64, "image/png")])
    await harness.slack_event(shared)
    await harness.click(harness.card_action("claim", root), message_ts=root)
    await harness.open_home()  # views.publish
    await harness.give_consent("+14155550103")  # else /sms new asks first
    await harness.sms_command("new +14155550103 hello there")
    await harness.drain()
    await harness.sms_command("new +14155550103 again")  # a permalink to an existing thread
    await harness.restart(admins=["UANA"])  # exports are for admins
    await harness.sms_command("export audit")  # a file in a direct message (im:write)
    harness.slack.lose_answer_next("files.completeUploadExternal")  # ... whose retry looks for it (files.list)
    await harness.drain()
    harness.slack.lose_answer_next("chat.postMessage")  # a retried post looks for its first try
    await harness.text_in("one more")
    await harness.drain()
    assert harness.settings is not None
    await run_checks(harness.settings, out=io.StringIO())

    called = {method for method, _ in harness.slack.calls if method != "apps.connections.open"}
    assert called <= set(METHOD_SCOPES), f"add the scope of {called - set(METHOD_SCOPES)} here and to the manifest"
    used = {METHOD_SCOPES[m] for m in called} - {None}
    used |= {PRIVATE_TWINS[s] for s in used if s in PRIVATE_TWINS}
    used |= {"chat:write.customize"} if any(p.get("username") for p in harness.slack.posts) else set()
    used |= {"commands"}  # /sms
    used |= {"files:read"} if harness.slack.file_downloads else set()  # a reply's attached file
    scopes = set(manifest()["oauth_config"]["scopes"]["bot"])
    assert scopes == used


def test_manifest_events_and_commands() -> None:
    data = manifest()
    assert data["settings"]["event_subscriptions"]["bot_events"] == ["message.channels", "message.groups", "app_home_opened"]
    assert data["features"]["app_home"]["home_tab_enabled"] is True  # the queue's Home tab
    assert [c["command"] for c in data["features"]["slash_commands"]] == ["/sms"]
    assert data["features"]["slash_commands"][0]["should_escape"] is True  # mentions arrive as <@U…>
    assert data["settings"]["interactivity"]["is_enabled"] is True
    urls = {data["settings"]["event_subscriptions"]["request_url"], data["settings"]["interactivity"]["request_url"]}
    assert urls == {"https://YOUR-HOST/slack/events"}
