"""Phone number parsing and display for customer addresses.

Senders that are not real numbers (short codes, alphanumeric sender ids, garbage) are
kept raw and flagged invalid rather than rejected: an inbound text from them still
belongs in the inbox, we just must never try to text them back as if they were numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import PhoneNumberFormat
from phonenumbers import timezone as pn_timezone

WHATSAPP_PREFIX = "whatsapp:"
_LETTERS = re.compile(r"[A-Za-z]")
# Regions whose users expect "(415) 555-0123" rather than "+1 415-555-0123".
_NATIONAL_REGIONS = frozenset({"US", "CA"})
_UNKNOWN_TZ = "Etc/Unknown"
# A winter and a summer instant: zones agreeing on both keep the same clock all year.
_PROBE_INSTANTS = (
    datetime(2025, 1, 15, 12, tzinfo=UTC),
    datetime(2025, 7, 15, 12, tzinfo=UTC),
)


@dataclass(frozen=True)
class PhoneNumber:
    raw: str
    e164: str | None  # set only when the number is valid
    valid: bool
    channel: str = "sms"  # "whatsapp" when the address had the "whatsapp:" prefix

    @property
    def key(self) -> str:
        """Stable identity for contacts/consent: E.164 when valid, else the raw text."""
        return self.e164 if self.valid and self.e164 else self.raw.strip()

    @property
    def address(self) -> str:
        """Provider address to send to ("whatsapp:+1..." keeps the channel)."""
        if self.channel == "whatsapp":
            return WHATSAPP_PREFIX + self.key
        return self.key


def _split_channel(raw: str) -> tuple[str, str]:
    text = raw.strip()
    if text[: len(WHATSAPP_PREFIX)].lower() == WHATSAPP_PREFIX:
        return "whatsapp", text[len(WHATSAPP_PREFIX) :].strip()
    return "sms", text


@lru_cache(maxsize=16384)
def _parse(number: str, default_region: str, lenient: bool) -> phonenumbers.PhoneNumber | None:
    """The parsed number, or None. Cached, and called the same way (all arguments
    positional) by every function here: a text's sender is parsed at the webhook, when
    filed, for its time zone and for display, and a burst of new senders would otherwise
    parse each number four times (about a tenth of the CPU of a text in bench/ingest.py).
    Callers never modify the shared result."""
    # Letters mean an alphanumeric sender id; phonenumbers would map them to keypad
    # digits ("1-800-FLOWERS") and could turn a brand name into someone's real number.
    if not number or _LETTERS.search(number):
        return None
    try:
        parsed = phonenumbers.parse(number, default_region)
    except phonenumbers.NumberParseException:
        return None
    if phonenumbers.is_valid_number(parsed):
        return parsed
    # WhatsApp gives a number as its user registered it (Brazil: +55 82 8213-6275,
    # without the mobile 9); Twilio routes it, so a possible number is good enough.
    return parsed if lenient and number.startswith("+") and phonenumbers.is_possible_number(parsed) else None


@lru_cache(maxsize=4096)
def parse_phone(raw: str, default_region: str = "US") -> PhoneNumber:
    """Parse a sender/recipient address; never raises. Cached: the same few numbers
    (the inbox's, a busy customer's) are parsed on every message."""
    channel, number = _split_channel(raw)
    parsed = _parse(number, default_region, channel == "whatsapp")
    if parsed is None:
        return PhoneNumber(raw=raw, e164=None, valid=False, channel=channel)
    e164 = phonenumbers.format_number(parsed, PhoneNumberFormat.E164)
    return PhoneNumber(raw=raw, e164=e164, valid=True, channel=channel)


_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


def sender_key(raw: str) -> str:
    """A stable key for one sender's address, without parsing it when it is already in
    E.164 form (what Twilio and SignalWire send): `parse_phone(raw).key` for every valid
    number in canonical form. The webhook names a customer's queue with it (one queue per
    sender keeps their texts in order) and parsing a new number there cost about 17 µs,
    a tenth of the webhook; the number is parsed when the text is filed."""
    _, number = _split_channel(raw)
    return number if _E164.fullmatch(number) else parse_phone(raw).key


@lru_cache(maxsize=4096)
def format_phone(e164_or_raw: str) -> str:
    """Human display: national for US/CA, international otherwise, raw if unparseable."""
    _, number = _split_channel(e164_or_raw)
    parsed = _parse(number, "US", False)
    if parsed is None:
        return e164_or_raw
    region = phonenumbers.region_code_for_number(parsed)
    fmt = PhoneNumberFormat.NATIONAL if region in _NATIONAL_REGIONS else PhoneNumberFormat.INTERNATIONAL
    return phonenumbers.format_number(parsed, fmt)


def timezones_for(e164: str) -> tuple[str, ...]:
    """Every IANA zone the number may be in (empty when unknown).

    Quiet hours (docs/compliance.md rule 10) should use this when it has several entries and
    take the window that is inside 08:00-21:00 in all of them.
    """
    _, number = _split_channel(e164)
    parsed = _parse(number, "US", False)
    if parsed is None:
        return ()
    zones = pn_timezone.time_zones_for_number(parsed)
    return tuple(z for z in zones if z != _UNKNOWN_TZ)


def _same_clock(zones: tuple[str, ...]) -> bool:
    try:
        infos = [ZoneInfo(z) for z in zones]
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return all(
        len({at.astimezone(info).utcoffset() for info in infos}) == 1 for at in _PROBE_INSTANTS
    )


@lru_cache(maxsize=4096)
def guess_timezone(e164: str) -> str | None:
    """Best single zone for the number (its first zone), or None when unknown.

    Non-geographic numbers (US toll-free) map to every zone of their country, and the
    "first" (America/Adak for +1 800) would be a wrong guess: those give None unless
    all their zones keep the same clock (UK mobiles: London, Jersey, ...).
    """
    zones = timezones_for(e164)
    if not zones:
        return None
    if len(zones) == 1 or _same_clock(zones):
        return zones[0]
    _, number = _split_channel(e164)
    parsed = _parse(number, "US", False)  # known valid: timezones_for parsed it
    return zones[0] if parsed is not None and phonenumbers.is_number_geographical(parsed) else None
