"""Every command smsbridge has: importing this module declares them all in COMMANDS.

A new command is one `@command(...)` declaration and its handler in one of the modules
below (or a new module listed here), plus its tests. The order of MODULES is the order
of every listing (help, Discord, README): texting the customer comes first.
"""

from __future__ import annotations

import importlib

from bridge.commands.registry import COMMANDS, Registry

MODULES = (
    "bridge.commands.sending",
    "bridge.commands.conversation",
    "bridge.commands.workspace",
    "bridge.commands.queue",
    "bridge.commands.hours",
    "bridge.commands.later",
    "bridge.commands.consent",
    "bridge.commands.exports",
    "bridge.commands.show",
    "bridge.commands.governance",
)
for _module in MODULES:
    importlib.import_module(_module)

__all__ = ["COMMANDS", "MODULES", "Registry"]
