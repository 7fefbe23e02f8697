"""SMS segment counting (GSM 03.38 / 3GPP TS 23.038), so the UI can show what a reply costs.

Counts follow what carriers bill and what Twilio reports: one character outside the GSM-7
alphabet turns the whole message into UCS-2. No "smart encoding" substitutions are assumed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# GSM 03.38 default alphabet, in table order (0x1B is the escape, not a character).
GSM7_BASIC: frozenset[str] = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
) - {"\x1b"}
# Extension table: each is sent as ESC + char, i.e. 2 septets.
GSM7_EXTENSION: frozenset[str] = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE, GSM7_PART = 160, 153  # septets; 7 go to the concatenation header per part
UCS2_SINGLE, UCS2_PART = 70, 67  # UTF-16 code units

Encoding = Literal["GSM-7", "UCS-2"]


@dataclass(frozen=True)
class SegmentInfo:
    encoding: Encoding
    segments: int
    characters: int  # Unicode code points
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def non_gsm_characters(text: str) -> list[str]:
    """Characters that force UCS-2, unique and in order of first appearance."""
    seen: dict[str, None] = {}
    for ch in text:
        if ch not in GSM7_BASIC and ch not in GSM7_EXTENSION:
            seen.setdefault(ch, None)
    return list(seen)


def _pack(widths: list[int], single: int, part: int) -> int:
    """Parts needed for units of the given widths; a 2-wide unit never straddles parts."""
    if sum(widths) <= single:
        return 1  # includes the empty message, which Twilio bills as one segment
    parts, used = 1, 0
    for w in widths:
        if used + w > part:
            parts, used = parts + 1, 0
        used += w
    return parts


def count_segments(text: str) -> SegmentInfo:
    if is_gsm7(text):
        # An escape pair (ESC + char) must stay in one part.
        widths = [2 if ch in GSM7_EXTENSION else 1 for ch in text]
        encoding: Encoding = "GSM-7"
        single, part = GSM7_SINGLE, GSM7_PART
    else:
        # Astral characters (most emoji) are a UTF-16 surrogate pair: kept in one part.
        widths = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
        encoding = "UCS-2"
        single, part = UCS2_SINGLE, UCS2_PART
    return SegmentInfo(
        encoding=encoding,
        segments=_pack(widths, single, part),
        characters=len(text),
        units=sum(widths),
    )
