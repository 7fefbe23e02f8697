"""What an erasure says: the confirmation question and the result, in chat and on the terminal."""

from __future__ import annotations

from bridge.inbox.erasure import Erasure, ErasureCounts
from bridge.inbox.markup import Rich, rich

TEAMMATES_STAY = (
    "Teammates' own messages in a Slack thread cannot be deleted by a bot: whoever wrote them "
    "(or a workspace admin) deletes them by hand."
)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def removes(counts: ErasureCounts) -> str:
    parts = [
        _plural(counts.conversations, "conversation"),
        _plural(counts.messages, "message"),
        _plural(counts.notes, "note"),
        _plural(counts.media_files, "file"),
    ]
    if counts.timers:
        parts.append(_plural(counts.timers, "scheduled item"))
    if counts.queued_jobs:
        parts.append(_plural(counts.queued_jobs, "queued job"))
    return ", ".join(parts)


def question(shown: str, name: str | None, counts: ErasureCounts) -> Rich:
    who = rich("**{name}** ({number})", name=name, number=shown) if name else rich("**{number}**", number=shown)
    return (
        rich("Erase ")
        + who
        + rich(
            "? This deletes the contact, {what}, their search entries and smsbridge's chat posts about them. "
            "It cannot be undone. Their opt-outs and consent history stay, filed under a hash of the number.",
            what=removes(counts),
        )
    )


def result(shown: str, erasure: Erasure) -> Rich:
    counts = erasure.counts
    text = rich("🗑️ Erased {number}: {what}.", number=shown, what=removes(counts))
    if counts.suppressions or counts.consent_events:
        text = text + rich(
            " Kept under a hash of the number: {s} and {c}, so an opt-out still holds.",
            s=_plural(counts.suppressions, "opt-out"),
            c=_plural(counts.consent_events, "consent record"),
        )
    if counts.provider_messages:
        text = text + rich(" The SMS provider's copies of {n} are being deleted too.", n=_plural(counts.provider_messages, "text"))
    if erasure.chat_platforms:
        names = " and ".join(p.capitalize() if p != "web" else "the web chat" for p in erasure.chat_platforms)
        text = text + rich(" smsbridge is deleting its own posts about them in {names}.", names=names)
        if "slack" in erasure.chat_platforms:
            text = text + rich(" " + TEAMMATES_STAY)
    return text


def unknown(shown: str) -> Rich:
    return rich("smsbridge has nothing on {number}: no contact, no messages, no consent records. Nothing was erased.", number=shown)
