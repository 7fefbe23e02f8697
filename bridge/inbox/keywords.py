"""Compliance keywords (docs/compliance.md rules 2, 4, 5, 6, 12) and the carrier-style replies.

`classify_keyword` is exact: the whole message must be the keyword (any case, surrounding
whitespace/punctuation/emoji ignored), the way carriers and Twilio Advanced Opt-Out match.
`looks_like_opt_out` is a heuristic for free text; it only flags, a teammate decides.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum


class Keyword(StrEnum):
    OPT_OUT = "opt_out"
    OPT_OUT_ALL = "opt_out_all"  # covers every inbox (rule 12)
    OPT_IN = "opt_in"
    HELP = "help"


KEYWORDS: dict[str, Keyword] = {
    **{w: Keyword.OPT_OUT for w in ("STOP", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT")},
    "STOPALL": Keyword.OPT_OUT_ALL,
    **{w: Keyword.OPT_IN for w in ("START", "YES", "UNSTOP")},
    **{w: Keyword.HELP for w in ("HELP", "INFO")},
}

# Keywords unambiguous enough to count as an opt-out when they form a whole sentence of a
# longer text ("Wrong number. STOP"); CANCEL/END/QUIT are too common in normal sentences.
_SENTENCE_OPT_OUTS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "OPTOUT", "REVOKE"})


def _is_word_char(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "LN"


def _normalize(text: str) -> str:
    """NFKC (fullwidth letters), apostrophes unified, non-alphanumeric ends trimmed."""
    text = unicodedata.normalize("NFKC", text).replace("\u2019", "'").replace("\u2018", "'")
    start, end = 0, len(text)
    while start < end and not _is_word_char(text[start]):
        start += 1
    while end > start and not _is_word_char(text[end - 1]):
        end -= 1
    return text[start:end]


def classify_keyword(body: str) -> Keyword | None:
    """The keyword the whole message is, or None ("stop texting me" is None)."""
    return KEYWORDS.get(_normalize(body).upper())


# Free-text opt-out patterns (rule 6), matched on lower-cased text with ' apostrophes.
# Limits: English only; negation is only handled for "can't/don't/won't/not stop";
# sarcasm, typos ("stpo") and indirect wording ("who is this??") are not caught, and
# "remove me"/"unsubscribe" in an unrelated sense will be flagged. A flag costs one
# click to dismiss, a miss can cost a TCPA claim, so patterns err towards flagging.
_NEGATED = r"(?<!n't )(?<!not )(?<!dont )(?<!cant )(?<!wont )"
_CONTACT = r"(?:text|txt|messag|msg|sms|contact|call|send|email|spam|bother)\w*"
_OPT_OUT_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p)
    for p in (
        _NEGATED + r"\bstop\s+(?:\w+\s+){0,2}?" + _CONTACT,  # "stop texting", "stop sending me msgs"
        _NEGATED + r"\bstop\W*$",  # "wrong number stop", "please stop"
        r"\b(?:do\s*n[o']?t|do not|never)\s+(?:ever\s+)?" + _CONTACT + r"\s+(?:me|this number)\b",
        r"\b(?:no more|quit|enough)\s+(?:\w+\s+)?(?:texts|texting|messages|msgs|sms)\b",
        r"\bremove\s+(?:me|my\s+(?:number|name|info\w*|phone))\b",
        r"\btake\s+(?:me|my\s+(?:number|name))\s+off\b",
        r"\bunsubscribe\b",
        r"\bopt(?:\s|-)?out\b",
        r"\bleave\s+me\s+alone\b",
        r"\blose\s+my\s+number\b",
    )
)
_SENTENCE_SPLIT = re.compile(r"[.!?\n;]+")


def looks_like_opt_out(body: str) -> bool:
    """Heuristic for free-text revocation of consent (rule 6); call classify_keyword first."""
    text = _normalize(body).lower()
    if not text:
        return False
    for sentence in _SENTENCE_SPLIT.split(text):
        # "Wrong number. STOP" / "Stop all" / "opt-out": a sentence that is a keyword.
        squashed = re.sub(r"[\W_]+", "", sentence).upper()
        if squashed in _SENTENCE_OPT_OUTS:
            return True
    return any(p.search(text) for p in _OPT_OUT_PATTERNS)


# Replies: kept in GSM-7 and within one segment for a business name up to ~20 chars.
def opt_out_confirmation(business: str) -> str:
    return f"{business}: You are unsubscribed and will receive no more messages. Reply START to resubscribe."


def opt_in_confirmation(business: str) -> str:
    return f"{business}: You are resubscribed. Msg&data rates may apply. Reply HELP for help, STOP to unsubscribe."


DEFAULT_HELP = "Reply here and a team member will answer."


def help_reply(business: str, help_text: str | None) -> str:
    """HELP/INFO answer (rule 5): business name, how to get help, how to opt out."""
    extra = (help_text or "").strip() or DEFAULT_HELP
    return f"{business}: Reply STOP to unsubscribe. {extra}"
