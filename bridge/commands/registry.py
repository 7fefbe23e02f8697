"""One declaration per command: its name, aliases, typed arguments, the role it needs,
where it works (a conversation thread, the channel, or both), on which chat platforms,
its help line and its handler.

Everything else is generated from the declarations: the `!` and `/sms` parser, `!help`
and `/sms help`, the Discord app commands (and manifests/discord-commands.json) and the
README's command tables.

    @command("claim", help="take this conversation", role="agent", doing="Claiming")
    async def claim(ctx: CommandContext) -> CommandReply: ...

Thread commands start with `!`; anything else in a thread is an internal note. The reply
prefix is matched case-insensitively and must be followed by a space or a line break, so
"!reply" is never read as "!r" + "eply" and "!rush" is an unknown command, not a send.
Channel commands are the words after `/sms`.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import Flag, auto
from typing import Literal, TypeVar

from bridge.commands.arguments import Arg, BadArgument, MissingArgument
from bridge.inbox.markup import Rich, join, rich

Role = Literal["viewer", "agent", "admin"]
# "web" is the sandbox's built-in web chat (bridge/adapters/webchat): every command works there too.
PLATFORMS: tuple[str, ...] = ("slack", "discord", "web")
_LABELS = {"web": "the sandbox's web chat"}
_WORD = re.compile(r"!([A-Za-z][\w-]*)")


class Where(Flag):
    THREAD = auto()
    CHANNEL = auto()
    BOTH = THREAD | CHANNEL


# A handler takes the command's context and its arguments by name; its return type is
# the command layer's reply (checked where the handlers are declared).
Handler = Callable[..., Awaitable[object]]
H = TypeVar("H", bound=Handler)


@dataclass(frozen=True)
class Command:
    name: str  # one or two words: "claim", "snippet add"
    help: str  # one line: what it does
    handler: Handler
    args: tuple[Arg, ...] = ()
    aliases: tuple[str, ...] = ()
    role: Role = "viewer"
    where: Where = Where.THREAD
    platforms: frozenset[str] = frozenset(PLATFORMS)
    doing: str = ""  # "Claiming": the subject of "… needs the agent role"
    by_prefix: bool = False  # typed as the reply prefix (`!r text`), not as `!name`

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(self.name.split())

    def typed(self, where: Where, reply_prefix: str = "!r", name: str | None = None) -> str:
        """How the command is typed: `!claim`, `/sms snippet add`, `!r`."""
        if self.by_prefix:
            return reply_prefix
        return f"!{name or self.name}" if where is Where.THREAD else f"/sms {name or self.name}"

    def usage(self, where: Where, reply_prefix: str = "!r", name: str | None = None) -> str:
        parts = [self.typed(where, reply_prefix, name)]
        for arg in self.args:
            parts.append(f"[{arg.placeholder}]" if arg.optional else arg.placeholder)
        return " ".join(parts)

    def works_on(self, platform: str) -> bool:
        return platform in self.platforms

    def platform_label(self) -> str:
        names = [_LABELS.get(p, p.capitalize()) for p in PLATFORMS if p in self.platforms]
        return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


# -- what a typed line is -------------------------------------------------------


@dataclass(frozen=True)
class Note:
    text: str


@dataclass(frozen=True)
class Invocation:
    command: Command
    values: Mapping[str, object]


@dataclass(frozen=True)
class Unknown:
    word: str


@dataclass(frozen=True)
class EmptyReply:
    prefix: str


@dataclass(frozen=True)
class Usage:
    """A known command used wrongly: say why (when known) and how to use it."""

    message: Rich


@dataclass(frozen=True)
class Misplaced:
    """A known command typed where it does not work (`/sms claim`, `!new`)."""

    command: Command
    where: Where


Parsed = Note | Invocation | Unknown | EmptyReply | Usage | Misplaced


class Registry:
    def __init__(self) -> None:
        self._commands: list[Command] = []

    def __iter__(self) -> Iterator[Command]:
        return iter(self._commands)

    def add(self, command: Command) -> Command:
        names = {command.name, *command.aliases}
        for other in self._commands:
            if other.where & command.where and names & {other.name, *other.aliases}:
                raise ValueError(f"command {command.name!r} clashes with {other.name!r}")
        _check_handler(command)
        self._commands.append(command)
        return command

    def remove(self, command: Command) -> None:
        self._commands.remove(command)

    def command(
        self,
        name: str,
        *,
        help: str,
        args: tuple[Arg, ...] = (),
        aliases: tuple[str, ...] = (),
        role: Role = "viewer",
        where: Where = Where.THREAD,
        platforms: tuple[str, ...] = PLATFORMS,
        doing: str = "",
        by_prefix: bool = False,
    ) -> Callable[[H], H]:
        """Declare a command: decorates its handler."""

        def declare(handler: H) -> H:
            self.add(
                Command(
                    name=name,
                    help=help,
                    handler=handler,
                    args=args,
                    aliases=aliases,
                    role=role,
                    where=where,
                    platforms=frozenset(platforms),
                    doing=doing,
                    by_prefix=by_prefix,
                )
            )
            return handler

        return declare

    def get(self, name: str) -> Command:
        for command in self._commands:
            if command.name == name:
                return command
        raise KeyError(name)

    # -- parsing -------------------------------------------------------------------

    def parse_thread(self, text: str, reply_prefixes: tuple[str, ...]) -> Parsed:
        stripped = text.strip()
        for prefix in sorted(reply_prefixes, key=len, reverse=True):
            # Compare the first len(prefix) characters: lowercasing the whole line could
            # change its length ("İ" becomes two characters) and shift the split.
            head, after = stripped[: len(prefix)], stripped[len(prefix) :]
            if head.lower() != prefix or (after and not after[0].isspace()):
                continue
            body = after.strip()
            return Invocation(self._reply(), {"text": body}) if body else EmptyReply(prefix)
        match = _WORD.match(stripped)
        if match is None:
            return Note(text)
        return self._parse_words(stripped[1:], Where.THREAD, reply_prefixes[-1] if reply_prefixes else "!r")

    def parse_channel(self, text: str) -> Parsed:
        stripped = text.strip()
        if not stripped:
            return Invocation(self.get("help"), {})
        return self._parse_words(stripped, Where.CHANNEL, "!r")

    def _reply(self) -> Command:
        return next(c for c in self._commands if c.by_prefix)

    def _parse_words(self, line: str, where: Where, reply_prefix: str) -> Parsed:
        words = line.split()
        found = self._lookup(words, where)
        if found is None:
            group = self._group(words[0].lower(), where)
            if group:
                return Usage(join([rich("Usage:"), *(_code(c.usage(where, reply_prefix)) for c in group)], " "))
            elsewhere = self._lookup(words, Where.BOTH)
            return Misplaced(elsewhere[0], where) if elsewhere else Unknown(words[0])
        command, used = found
        rest = line
        for _ in range(used):
            rest = _after_first_word(rest)
        return self._bind_text(command, rest, where, reply_prefix)

    def _lookup(self, words: list[str], where: Where) -> tuple[Command, int] | None:
        lowered = [w.lower() for w in words]
        best: tuple[Command, int] | None = None
        for command in self._commands:
            if command.by_prefix or not (command.where & where):
                continue
            for name in (command.name, *command.aliases):
                parts = name.split()
                if lowered[: len(parts)] == parts and (best is None or len(parts) > best[1]):
                    best = (command, len(parts))
        return best

    def _group(self, first: str, where: Where) -> list[Command]:
        return [c for c in self._commands if len(c.words) > 1 and c.words[0] == first and c.where & where]

    def _bind_text(self, command: Command, rest: str, where: Where, reply_prefix: str) -> Invocation | Usage:
        values: dict[str, object] = {}
        for index, arg in enumerate(command.args):
            after = len(command.args) - index - 1
            last = after == 0
            try:
                if arg.spaces and not last and len(rest.split()) > after:
                    # `role @Ana Smith admin`: what follows takes the last words.
                    words = rest.split()
                    values[arg.name], rest = arg.convert(" ".join(words[:-after])), " ".join(words[-after:])
                    continue
                values[arg.name], rest = arg.take(rest, last=last)
            except MissingArgument:
                if not arg.optional:
                    return self.usage(command, where, reply_prefix)
                values[arg.name] = arg.convert(arg.default) if arg.default is not None else None
            except BadArgument as exc:
                return self.usage(command, where, reply_prefix, exc.reason)
        return Invocation(command, values)

    def bind(self, command: Command, raw: Mapping[str, str | None], where: Where) -> Invocation | Usage:
        """Arguments that arrive one by one (Discord options), checked as typed ones are."""
        values: dict[str, object] = {}
        for arg in command.args:
            given = raw.get(arg.name)
            try:
                if given is None or not given.strip():
                    raise MissingArgument
                values[arg.name] = arg.convert(given)
            except MissingArgument:
                if not arg.optional:
                    return self.usage(command, where)
                values[arg.name] = arg.convert(arg.default) if arg.default is not None else None
            except BadArgument as exc:
                return self.usage(command, where, problem=exc.reason)
        return Invocation(command, values)

    def usage(self, command: Command, where: Where, reply_prefix: str = "!r", problem: Rich | None = None) -> Usage:
        line = rich("`{usage}` — {help}.", usage=command.usage(where, reply_prefix), help=command.help)
        if problem is not None:
            return Usage(rich("`{typed}` {problem} ", typed=command.typed(where, reply_prefix), problem=problem) + line)
        return Usage(rich("Usage: ") + line)

    # -- help ----------------------------------------------------------------------

    def visible(self, where: Where, platform: str | None = None, role: Role | None = None) -> list[Command]:
        """The commands that work here, on `platform`, for `role` (None: any)."""
        return [
            c
            for c in self._commands
            if c.where & where
            and (platform is None or c.works_on(platform))
            and (role is None or _rank(role) >= _rank(c.role))
        ]

    def help_line(self, command: Command, where: Where, reply_prefix: str = "!r") -> Rich:
        also = [command.typed(where, reply_prefix, alias) for alias in command.aliases]
        if command.by_prefix and reply_prefix.lower() == "!r":
            also.append("!reply")
        line = rich("• `{usage}` — {help}", usage=command.usage(where, reply_prefix), help=command.help)
        if also:
            line = line + rich(" (also ") + join([_code(a) for a in also], ", ") + ")"
        return line

    def help(self, where: Where, platform: str, role: Role, reply_prefix: str = "!r") -> Rich:
        commands = self.visible(where, platform, role)
        if where is Where.THREAD:
            head = rich(
                "**smsbridge** — anything you write in this thread is an internal note; the customer never sees it."
            )
            tail = rich("In the channel: `/sms help`.")
        else:
            head = rich("**smsbridge** in the channel (`/sms`):")
            tail = rich("In a conversation thread: `!help`.")
        lines = [head, *(self.help_line(c, where, reply_prefix) for c in commands)]
        hidden = len(self.visible(where, platform)) - len(commands)
        if hidden:
            lines.append(rich("{n} more need a higher role than yours ({role}).", n=hidden, role=role))
        lines.append(tail)
        return join(lines)


def _after_first_word(text: str) -> str:
    parts = text.strip().split(None, 1)
    return parts[1] if len(parts) > 1 else ""


def _code(text: str) -> Rich:
    return rich("`{text}`", text=text)


def as_role(value: str) -> Role:
    if value == "admin":
        return "admin"
    if value == "agent":
        return "agent"
    return "viewer"


def _rank(role: str) -> int:
    return ("viewer", "agent", "admin").index(role)


def _check_handler(command: Command) -> None:
    """A handler takes the context, then exactly the declared arguments by name."""
    params = list(inspect.signature(command.handler).parameters)
    wanted = [arg.name for arg in command.args]
    if params[1:] != wanted:
        raise TypeError(f"handler of {command.name!r} takes {params[1:]}, its declaration has {wanted}")
    seen_greedy = False
    for arg in command.args:
        if seen_greedy:
            raise TypeError(f"{command.name!r}: only the last argument may take the rest of the line")
        seen_greedy = arg.greedy


COMMANDS = Registry()
command = COMMANDS.command
