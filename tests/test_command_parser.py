"""Properties of the `!` parser over random text (hypothesis): it never raises, an
unknown `!word` is never a send, and only the reply prefix followed by whitespace is a
reply. Derandomized under CI (the `CI` variable), many more examples locally."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.commands.catalog import COMMANDS
from bridge.commands.registry import (
    EmptyReply,
    Invocation,
    Misplaced,
    Note,
    Unknown,
    Usage,
)

if os.environ.get("CI"):
    PROFILE = settings(derandomize=True, max_examples=300, deadline=None)
else:
    PROFILE = settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KNOWN_WORDS = {word for command in COMMANDS for name in (command.name, *command.aliases) for word in name.split()}
prefixes = st.sampled_from([("!reply", "!r"), ("!sms",), ("!r",), ("!k",), ("!i",)])
lines = st.text(st.characters(codec="utf-8"), max_size=80)
bang_lines = st.builds(lambda head, tail: "!" + head + tail, st.text(max_size=12), lines)
texts = st.one_of(lines, bang_lines, st.builds(lambda p, t: p + t, st.sampled_from(["!r", "!R", "!reply", "!İ", "!K"]), lines))


def _is_reply_text(text: str, reply_prefixes: tuple[str, ...]) -> bool:
    stripped = text.strip()
    for prefix in reply_prefixes:
        after = stripped[len(prefix) :]
        if stripped[: len(prefix)].lower() == prefix and after[:1].isspace() and after.strip():
            return True
    return False


@PROFILE
@given(text=texts, reply_prefixes=prefixes)
def test_parsing_never_raises_and_only_the_prefix_and_whitespace_is_a_reply(text: str, reply_prefixes: tuple[str, ...]) -> None:
    parsed = COMMANDS.parse_thread(text, reply_prefixes)
    assert isinstance(parsed, (Note, Invocation, Unknown, EmptyReply, Usage, Misplaced))
    is_reply = isinstance(parsed, Invocation) and parsed.command.by_prefix
    assert is_reply == _is_reply_text(text, reply_prefixes)
    if is_reply:
        assert isinstance(parsed, Invocation) and parsed.values["text"] == text.strip()[len(_prefix_of(text, reply_prefixes)) :].strip()
    if not text.strip().startswith("!"):
        assert isinstance(parsed, Note)
    COMMANDS.parse_channel(text)  # nor does the channel parser raise


def _prefix_of(text: str, reply_prefixes: tuple[str, ...]) -> str:
    stripped = text.strip()
    return next(p for p in sorted(reply_prefixes, key=len, reverse=True) if stripped[: len(p)].lower() == p)


words = st.from_regex(r"[A-Za-z][\w-]{0,15}", fullmatch=True).filter(lambda w: w.lower() not in KNOWN_WORDS)


@PROFILE
@given(word=words, rest=lines, reply_prefixes=prefixes)
def test_an_unknown_word_is_never_a_send(word: str, rest: str, reply_prefixes: tuple[str, ...]) -> None:
    text = f"!{word} {rest}"
    parsed = COMMANDS.parse_thread(text, reply_prefixes)
    if f"!{word}".lower() in reply_prefixes:  # "!R …" is the reply prefix itself
        assert isinstance(parsed, EmptyReply) or _is_reply_text(text, reply_prefixes)
        return
    assert isinstance(parsed, Unknown) and parsed.word == word


@PROFILE
@given(body=lines.filter(lambda t: bool(t.strip())), glue=st.sampled_from(["", "x", "eply", "ush", "!", "_"]))
def test_the_prefix_glued_to_a_word_is_not_a_reply(body: str, glue: str) -> None:
    parsed = COMMANDS.parse_thread(f"!r{glue}{body}", ("!reply", "!r"))
    if glue == "" and body[0].isspace():
        assert isinstance(parsed, Invocation) and parsed.command.by_prefix
    elif glue == "eply" and body[0].isspace():
        assert isinstance(parsed, Invocation) and parsed.command.by_prefix  # "!reply text"
    else:
        assert not (isinstance(parsed, Invocation) and parsed.command.by_prefix)
