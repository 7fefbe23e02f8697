"""Every command smsbridge has: importing this module declares them all in COMMANDS.

A new command is one `@command(...)` declaration and its handler in one of the modules
below (or a new module imported here), plus its tests. The import order is the order
of every listing (help, Discord, README): texting the customer comes first.
"""

from __future__ import annotations

from bridge.commands import sending
from bridge.commands import conversation
from bridge.commands import workspace
from bridge.commands.registry import COMMANDS, Registry

__all__ = ["COMMANDS", "Registry", "conversation", "sending", "workspace"]
