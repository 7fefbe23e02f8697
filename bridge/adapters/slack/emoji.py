"""Slack emoji shortcodes (`:bow:`) as the Unicode emoji a phone shows.

Slack's `text` carries shortcodes; its rich_text blocks carry each emoji as an element
`{"type": "emoji", "name": "bow", "unicode": "1f647"}` (a custom workspace emoji has no
`unicode`). The blocks are the authority; a message without blocks (an older client, an
edit) falls back on the `emoji` library's aliases, which follow the same names.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import emoji

# `:name:` optionally followed by `:skin-tone-N:`; a name has at least one letter or '+',
# so times such as 10:30:45 are left alone.
_SHORTCODE = re.compile(r":([a-z0-9_+'-]*[a-z+][a-z0-9_+'-]*):(?::skin-tone-([2-6]):)?")
_SKIN_TONES = {str(n): chr(0x1F3FB + n - 2) for n in range(2, 7)}


@dataclass(frozen=True)
class EmojiText:
    text: str  # standard emoji as Unicode; custom ones still as `:name:`
    custom: tuple[str, ...] = ()  # custom workspace emoji names, in order of appearance


def _elements(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if node.get("type") == "emoji" and isinstance(node.get("name"), str):
            yield node
        for key in ("elements", "blocks"):
            yield from _elements(node.get(key))
    elif isinstance(node, list):
        for item in node:
            yield from _elements(item)


def _from_hex(code: str) -> str | None:
    try:
        return "".join(chr(int(part, 16)) for part in code.split("-") if part)
    except (ValueError, OverflowError):
        return None


def block_emoji(blocks: Any) -> dict[str, str | None]:
    """Each emoji named in the message's rich_text blocks: its Unicode, or None for a
    custom workspace emoji. The key includes the skin tone (`+1::skin-tone-4`)."""
    found: dict[str, str | None] = {}
    for element in _elements(blocks):
        name = element["name"]
        tone = element.get("skin_tone")
        key = f"{name}::skin-tone-{tone}" if isinstance(tone, int) and tone > 1 else name
        code = element.get("unicode")
        found[key] = _from_hex(code) if isinstance(code, str) else None
    return found


def _library(name: str, tone: str | None) -> str | None:
    glyph = emoji.emojize(f":{name}:", language="alias")
    if glyph == f":{name}:":
        return None
    return glyph + _SKIN_TONES[tone] if tone else glyph


def unicode_emoji(text: str, blocks: Any = None) -> EmojiText:
    """`text` with every standard emoji shortcode replaced by its Unicode emoji."""
    known = block_emoji(blocks)
    custom: list[str] = []

    def replace(m: re.Match[str]) -> str:
        name, tone = m.group(1), m.group(2)
        key = f"{name}::skin-tone-{tone}" if tone else name
        if key in known or name in known:
            glyph = known.get(key, known.get(name))
            if glyph is None:  # in the blocks without Unicode: the workspace's own
                if name not in custom:
                    custom.append(name)
                return m.group(0)
            return glyph if key in known or not tone else glyph + _SKIN_TONES[tone]
        return _library(name, tone) or m.group(0)

    return EmojiText(_SHORTCODE.sub(replace, text), tuple(custom))

