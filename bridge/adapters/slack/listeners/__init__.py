"""Bolt listeners, one module per job; each module's `register(app, ctx)` adds its own.

A new kind of Slack event is a new module here with a `register` function, listed in
LISTENERS.
"""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bridge.adapters.slack.listeners import (
    actions,
    home,
    messages,
    slash_command,
    views,
)
from bridge.adapters.slack.listeners.context import ListenerContext

LISTENERS = (messages, slash_command, actions, views, home)


def register_listeners(app: AsyncApp, ctx: ListenerContext) -> None:
    for module in LISTENERS:
        module.register(app, ctx)
