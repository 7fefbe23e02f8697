"""Plain-words reasons for Twilio messaging error codes, shown to teammates in the thread."""

from __future__ import annotations

from typing import Final

OPT_OUT_CODE: Final = 21610  # recipient replied STOP: mark opted out, never retry (rule 7)

# Transient: worth retrying with backoff. 30023 (daily cap) is left out on purpose: a
# retry only helps the next day, which is a scheduling decision, not a backoff.
RETRYABLE_CODES: Final[frozenset[int]] = frozenset({20429, 30001, 30017, 30022, 30410, 63018})

ERROR_REASONS: Final[dict[int, str]] = {
    20003: "Twilio rejected the account credentials",
    20429: "Too many requests to Twilio; slowing down",
    21211: "The 'To' number is not a valid phone number",
    21408: "Sending to this country is not enabled on the Twilio account",
    21602: "The message body is empty",
    21606: "The 'From' number cannot send messages to this destination",
    21608: "A Twilio trial account can only text verified numbers",
    21610: "The recipient has opted out (replied STOP)",
    21611: "Too many messages queued on the sending number",
    21612: "This number cannot be reached by SMS from our number",
    21614: "The 'To' number is not a mobile number",
    21617: "The message is too long (over 1600 characters)",
    21620: "A media URL is invalid or not reachable",
    21660: "The 'From' number does not belong to this Twilio account",
    30001: "The message queue overflowed; try again later",
    30002: "The Twilio account is suspended",
    30003: "The recipient's phone is off or unreachable",
    30004: "The message was blocked by the recipient or their carrier",
    30005: "The recipient's number is unknown or no longer in service",
    30006: "The number is a landline or its carrier cannot receive texts",
    30007: "Carrier filtered the message as spam",
    30008: "Delivery failed for an unknown reason",
    30017: "The carrier network is congested; try again later",
    30019: "The message content is too large for the carrier",
    30022: "Sending too fast for the number's 10DLC registration",
    30023: "The daily message limit for the number's 10DLC registration was reached",
    30032: "The toll-free sending number is not verified",
    30034: "The sending number is not registered for 10DLC (A2P)",
    30036: "The message expired before it could be delivered",
    30410: "The carrier did not answer in time",
    30450: "Twilio blocked the message (fraud protection)",
    63003: "The recipient is not on WhatsApp",
    63016: "WhatsApp only allows a template more than 24h after the customer's last message",
    63018: "Sending too fast for WhatsApp; try again later",
    63024: "Invalid WhatsApp recipient",
}


def _as_code(code: int | str | None) -> int | None:
    if isinstance(code, bool):  # bool is an int subclass; never a real code
        return None
    if isinstance(code, int):
        return code
    if isinstance(code, str) and code.strip().isascii() and code.strip().isdigit():  # not "²"
        return int(code.strip())
    return None


def describe_error(code: int | str | None, fallback: str | None = None) -> str:
    """'Carrier filtered the message as spam (Twilio 30007)'; unknown -> fallback or code."""
    number = _as_code(code)
    reason = ERROR_REASONS.get(number) if number is not None else None
    if reason is not None:
        return f"{reason} (Twilio {number})"
    if fallback:
        return fallback
    if number is not None:
        return f"Provider error {number}"
    text = str(code).strip() if code is not None else ""
    return f"Provider error {text}" if text else "Provider error"


def is_retryable(code: int | str | None) -> bool:
    return _as_code(code) in RETRYABLE_CODES
