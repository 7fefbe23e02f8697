"""Typed command arguments: how each is read from typed text, shown in a usage line,
and offered as a Discord app-command option.

An argument takes what it needs from the front of the rest of the line and returns the
remainder; a bad value raises `BadArgument` with a one-line reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Literal

from bridge.inbox.markup import Rich, rich

OptionKind = Literal["string", "user"]


class BadArgument(Exception):
    def __init__(self, reason: Rich) -> None:
        super().__init__(reason.plain())
        self.reason = reason


class MissingArgument(Exception):
    pass


@dataclass(frozen=True)
class Arg:
    """An argument of a command: its name (also the Discord option's), what it means,
    and how it is typed."""

    name: str
    description: str
    optional: bool = False
    default: str | None = None
    shown: str | None = None  # how a usage line shows it, when not the default

    @property
    def placeholder(self) -> str:
        """How the argument looks in a usage line: `NAME`, `open|pending`, `@name`."""
        return self.shown or self._placeholder()

    def _placeholder(self) -> str:
        return self.name.upper()

    @property
    def greedy(self) -> bool:
        """True when it takes the rest of the line (so it must come last)."""
        return False

    @property
    def option_kind(self) -> OptionKind:
        return "string"

    @property
    def spaces(self) -> bool:
        """True when one value may hold spaces (a name): the arguments after it then take
        their words from the end of the line."""
        return False

    def choices(self) -> tuple[tuple[str, str], ...]:
        """(label, value) pairs a picker offers; empty when the value is free."""
        return ()

    @property
    def autocomplete(self) -> str | None:
        """The name of a list to autocomplete from (e.g. "snippets")."""
        return None

    def take(self, rest: str, *, last: bool = False) -> tuple[object, str]:
        """The value at the front of `rest`, and what follows it."""
        word, _, after = rest.strip().partition(" ")
        if not word:
            raise MissingArgument
        return self.convert(word), after.strip()

    def convert(self, text: str) -> object:
        return text


@dataclass(frozen=True)
class Text(Arg):
    """Free text up to the end of the line."""

    max_length: int | None = None

    @property
    def greedy(self) -> bool:
        return True

    def _placeholder(self) -> str:
        return self.name

    def take(self, rest: str, *, last: bool = False) -> tuple[object, str]:
        value = rest.strip()
        if not value:
            raise MissingArgument
        return self.convert(value), ""

    def convert(self, text: str) -> object:
        value = text.strip()
        if not value:
            raise MissingArgument
        return value[: self.max_length] if self.max_length else value


@dataclass(frozen=True)
class Word(Arg):
    """One word matching `pattern` (lowercased when `lower`)."""

    pattern: str = r"[\w-]{1,60}"
    lower: bool = True
    what: str = "name"

    def convert(self, text: str) -> object:
        value = text.strip().lower() if self.lower else text.strip()
        if not re.fullmatch(self.pattern, value):
            raise BadArgument(rich("`{value}` is not a valid {what}.", value=text, what=self.what))
        return value


@dataclass(frozen=True)
class SnippetName(Word):
    """A snippet's name; Discord autocompletes it from the saved snippets."""

    @property
    def autocomplete(self) -> str | None:
        return "snippets"


@dataclass(frozen=True)
class Choice(Arg):
    """One of an enum's values (case-insensitive), offered as a picker on Discord."""

    values: tuple[Enum, ...] = field(default_factory=tuple)

    def _placeholder(self) -> str:
        return "|".join(self._key(v) for v in self.values)

    def _key(self, value: Enum) -> str:
        return value.name.lower()

    def choices(self) -> tuple[tuple[str, str], ...]:
        return tuple((getattr(v, "label", self._key(v)), self._key(v)) for v in self.values)

    def take(self, rest: str, *, last: bool = False) -> tuple[object, str]:
        # The whole rest: `!status pending now` is a mistake, not "pending".
        value = rest.strip()
        if not value:
            raise MissingArgument
        return self.convert(value), ""

    def convert(self, text: str) -> object:
        wanted = text.strip().lower()
        for value in self.values:
            if self._key(value) == wanted:
                return value
        raise BadArgument(
            rich("takes one of: {choices}.", choices=", ".join(self._key(v) for v in self.values))
        )


@dataclass(frozen=True)
class Teammate(Arg):
    """A teammate: an @mention (resolved by the adapter) or a name. A user picker on Discord."""

    def _placeholder(self) -> str:
        return "@name"

    @property
    def option_kind(self) -> OptionKind:
        return "user"

    @property
    def spaces(self) -> bool:
        return True  # "@Ana Smith", as a Slack mention reads once made plain

    def take(self, rest: str, *, last: bool = False) -> tuple[object, str]:
        value = rest.strip()
        if not value:
            raise MissingArgument
        if last:
            return value, ""  # `!assign Ana Smith`
        # A quoted name may hold spaces ("@Ana Smith" admin); otherwise one word.
        if value.startswith('"'):
            end = value.find('"', 1)
            if end > 0:
                return value[1:end], value[end + 1 :].strip()
        word, _, after = value.partition(" ")
        return word, after.strip()

    def convert(self, text: str) -> object:
        value = text.strip()
        if not value:
            raise MissingArgument
        return value


_NUMBER_PREFIX = re.compile(r"^\s*(\+?[\d\s().\-]{7,20}\d)(?:\s+|$)(.*)$", re.DOTALL)


@dataclass(frozen=True)
class PhoneNumber(Arg):
    """A phone number in any common format, spaces allowed (`+1 415-555-0103`)."""

    def _placeholder(self) -> str:
        return "+14155550123"

    def take(self, rest: str, *, last: bool = False) -> tuple[object, str]:
        match = _NUMBER_PREFIX.match(rest)
        if not match:
            if not rest.strip():
                raise MissingArgument
            raise BadArgument(rich("`{value}` does not start with a phone number.", value=rest.strip().split(" ")[0]))
        return match.group(1).strip(), match.group(2).strip()

    def convert(self, text: str) -> object:
        value = text.strip()
        if not value:
            raise MissingArgument
        return value


@dataclass(frozen=True)
class GreedyArg(Arg):
    """An argument that parses the whole rest of the line itself (so it comes last)."""

    @property
    def greedy(self) -> bool:
        return True

    def take(self, rest: str, *, last: bool = False) -> tuple[object, str]:
        return self.convert(rest), ""


_TAG = re.compile(r"[\w-]{1,40}")


@dataclass(frozen=True)
class TagChanges(GreedyArg):
    """`+vip -lead`: tags to add and to remove, as (add, remove)."""

    def _placeholder(self) -> str:
        return "+vip -lead"

    def convert(self, text: str) -> object:
        add: list[str] = []
        remove: list[str] = []
        for token in text.split():
            name = (token[1:] if token[0] in "+-" else token).strip().lower()
            if not _TAG.fullmatch(name):
                raise BadArgument(rich("`{token}` is not a tag: use letters, digits, - and _.", token=token))
            (remove if token.startswith("-") else add).append(name)
        if not add and not remove:
            raise MissingArgument
        return tuple(add), tuple(remove)


_KEY = re.compile(r"[A-Za-z_][\w-]{0,40}")


@dataclass(frozen=True)
class Assignment(GreedyArg):
    """`key=value` (an empty value removes the key), as (key, value)."""

    def _placeholder(self) -> str:
        return "key=value"

    def convert(self, text: str) -> object:
        key, sep, value = text.partition("=")
        key = key.strip()
        if not key and not sep:
            raise MissingArgument
        if not sep or not _KEY.fullmatch(key):
            raise BadArgument(rich("`{text}` is not `key=value`.", text=text.strip()))
        return key.lower(), value.strip()
