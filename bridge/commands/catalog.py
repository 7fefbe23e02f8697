"""Every command smsbridge has: importing this module declares them all in COMMANDS.

A new command is one `@command(...)` declaration and its handler in one of the modules
below (or a new module imported here), plus its tests.
"""

from __future__ import annotations

from bridge.commands import conversation, sending, workspace
from bridge.commands.registry import COMMANDS, Registry

__all__ = ["COMMANDS", "Registry", "conversation", "sending", "workspace"]
