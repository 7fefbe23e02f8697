"""Errors a teammate can cause: the text says why and what to do instead."""

from __future__ import annotations

from bridge.inbox.markup import Rich, Text, as_rich


class Refused(Exception):
    """A teammate's request that cannot be done; the text says why and what to do."""

    def __init__(self, text: Text) -> None:
        self.text: Rich = as_rich(text)
        super().__init__(self.text.plain())
