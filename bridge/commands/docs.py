"""README.md's command tables, generated from the command registry.

`python -m bridge.commands.docs` rewrites the marked blocks in README.md (and the
configuration table, bridge/config_docs.py); a test fails when they differ from what
the declarations say.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from bridge.commands.catalog import COMMANDS
from bridge.commands.registry import Command, Registry, Where

README = Path(__file__).resolve().parents[2] / "README.md"
_BLOCK = re.compile(r"(<!-- commands:(thread|channel) .*?-->\n).*?(<!-- /commands:\2 -->)", re.DOTALL)
WHO = {"viewer": "everyone", "agent": "agents, admins", "admin": "admins"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _row(command: Command, where: Where) -> str:
    typed = [f"`{command.usage(where)}`"]
    typed += [f"`{command.usage(where, name=alias)}`" for alias in command.aliases]
    if command.by_prefix:
        typed.append("`!reply …` (any case)")
    what = command.help
    if not {"slack", "discord"} <= command.platforms:
        what += f" ({command.platform_label()} only)"
    return f"| {_cell(' · '.join(typed))} | {_cell(what)} | {WHO[command.role]} |"


def table(where: Where, registry: Registry = COMMANDS) -> str:
    header = "| you write | what happens | who |" if where is Where.THREAD else "| command | what it does | who |"
    rows = [header, "|---|---|---|"]
    if where is Where.THREAD:
        rows.append("| anything | an internal note: stored, searchable, never sent | everyone |")
    rows += [_row(c, where) for c in registry.visible(where)]
    if where is Where.THREAD:
        rows.append("| `!anything-else` | \"not a command, nothing was sent\", shown only to you | everyone |")
    return "\n".join(rows) + "\n"


def render_readme(text: str, registry: Registry = COMMANDS) -> str:
    def block(match: re.Match[str]) -> str:
        where = Where.THREAD if match.group(2) == "thread" else Where.CHANNEL
        return match.group(1) + table(where, registry) + match.group(3)

    rendered, count = _BLOCK.subn(block, text)
    if count != 2:
        raise ValueError("README.md lacks the <!-- commands:thread … --> and <!-- commands:channel … --> blocks")
    return rendered


def main() -> int:
    README.write_text(render_readme(README.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"updated the command tables in {README}")
    from bridge import config_docs  # the configuration table, from the settings class

    return config_docs.main()


if __name__ == "__main__":
    sys.exit(main())
