"""When a message smsbridge starts on its own may reach a recipient (quiet hours).

Automated and scheduled messages go only between 08:00 and 21:00 in the recipient's
local time. Some US states are stricter (FL, OK, MD, MS, NJ: 08:00-20:00; CT:
09:00-20:00); the state comes from the area code. The local time zone comes from the
number (phonenumbers) unless the contact has an override. A number that may be in
several zones gets the most restrictive reading: a time is allowed only when it is
inside the window in every one of them (latest start, earliest end).

Florida also caps automated messages at three per contact in 24 hours.

Answers to the customer's own text and a teammate's live reply are not held here: the
caller decides what is automated, this module only says when it may leave.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import phonenumbers
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.inbox.clock import require_aware
from bridge.inbox.hours import BusinessHours, Range, load_zone
from bridge.inbox.models import Message
from bridge.inbox.phone import WHATSAPP_PREFIX, parse_phone, timezones_for

DEFAULT_WINDOW = (time(8, 0), time(21, 0))
STATE_WINDOWS: dict[str, tuple[time, time]] = {
    "FL": (time(8, 0), time(20, 0)),
    "OK": (time(8, 0), time(20, 0)),
    "MD": (time(8, 0), time(20, 0)),
    "MS": (time(8, 0), time(20, 0)),
    "NJ": (time(8, 0), time(20, 0)),
    "CT": (time(9, 0), time(20, 0)),
}
# Area codes of the states with a stricter window (every other US area code gets the
# default). tests/test_quiet_hours.py checks each against phonenumbers' geocoder.
STRICT_STATE_AREA_CODES: dict[str, tuple[str, ...]] = {
    "FL": ("239", "305", "321", "324", "352", "386", "407", "448", "561", "645", "656", "689",
           "727", "728", "754", "772", "786", "813", "850", "863", "904", "941", "954"),
    "OK": ("405", "539", "572", "580", "918"),
    "MD": ("227", "240", "301", "410", "443", "667"),
    "MS": ("228", "601", "662", "769"),
    "NJ": ("201", "551", "609", "640", "732", "848", "856", "862", "908", "973"),
    "CT": ("203", "475", "860", "959"),
}  # fmt: skip
_STATE_BY_AREA_CODE = {code: state for state, codes in STRICT_STATE_AREA_CODES.items() for code in codes}

FLORIDA_LIMIT = 3
FLORIDA_PERIOD = timedelta(hours=24)
# Message.kind values of messages smsbridge starts on its own: the Florida count reads
# these rows, so whatever sends scheduled or automated texts stores them with one of them.
AUTOMATED_KINDS = ("scheduled", "automated")
_NOT_SENT = ("draft", "held", "blocked", "canceled", "failed", "undelivered")


def us_state(number: str) -> str | None:
    """Two-letter state of a US number when it is one with a stricter window, else None."""
    phone = parse_phone(number)
    if not phone.valid or phone.e164 is None:
        return None
    parsed = phonenumbers.parse(phone.e164)
    if phonenumbers.region_code_for_number(parsed) != "US":
        return None
    return _STATE_BY_AREA_CODE.get(phone.e164[2:5])


def is_florida(number: str) -> bool:
    return us_state(number) == "FL"


@dataclass(frozen=True)
class RecipientWindow:
    """Where and when one recipient may get automated messages."""

    zones: tuple[ZoneInfo, ...]
    start: time
    end: time
    state: str | None
    source: str  # "override" | "number" | "fallback"
    note: str = ""  # why the fallback zone was used, for the thread

    def _hours(self) -> list[BusinessHours]:
        week: dict[int, tuple[Range, ...]] = {day: ((self.start, self.end),) for day in range(7)}
        return [BusinessHours(zone=zone, week=week) for zone in self.zones]

    def allowed_at(self, at: datetime) -> bool:
        return all(hours.is_open(at) for hours in self._hours())

    def next_allowed(self, at: datetime) -> datetime:
        """`at` when allowed then, else the first later instant inside every zone's window."""
        require_aware(at)
        hours = self._hours()
        candidate = at
        for _ in range(4 * len(hours) + 4):
            later = [h.next_open(candidate) for h in hours]
            latest = max(t for t in later if t is not None)
            if latest == candidate:
                return candidate
            candidate = latest
        raise ValueError("the windows of this recipient's time zones never overlap")  # see window_for

    def local_times(self, at: datetime) -> list[datetime]:
        """`at` in each of the recipient's zones (for "it is 22:10 for them")."""
        return [require_aware(at).astimezone(zone) for zone in self.zones]


def _windows_overlap(window: RecipientWindow) -> bool:
    """Whether some instant is allowed in every zone (checked over two days)."""
    probe = datetime(2026, 1, 5, tzinfo=ZoneInfo("UTC"))
    try:
        found = window.next_allowed(probe)
    except ValueError:
        return False
    return found - probe < timedelta(days=2)


def window_for(number: str, override_tz: str | None = None, fallback_tz: str = "UTC") -> RecipientWindow:
    """The quiet-hours window of `number`.

    `override_tz` is the contact's own zone (set by a teammate); it replaces the guess
    from the number but not the state's window. When the number gives no zone, or
    zones so far apart that no hour is allowed in all of them (US toll-free numbers
    span Guam to Hawaii), `fallback_tz` (the inbox's zone) is used and `note` says so.
    """
    state = us_state(number)
    start, end = STATE_WINDOWS.get(state, DEFAULT_WINDOW) if state else DEFAULT_WINDOW
    if override_tz:
        return RecipientWindow((load_zone(override_tz),), start, end, state, "override")
    phone = parse_phone(number)
    names = timezones_for(phone.e164) if phone.valid and phone.e164 else ()
    if names:
        window = RecipientWindow(tuple(ZoneInfo(name) for name in names), start, end, state, "number")
        if len(names) == 1 or _windows_overlap(window):
            return window
        note = f"the number may be in {len(names)} time zones with no common hours; using {fallback_tz}"
    else:
        note = f"no time zone is known for this number; using {fallback_tz}"
    return RecipientWindow((load_zone(fallback_tz),), start, end, state, "fallback", note)


def allowed_at(number: str, at: datetime, override_tz: str | None = None, fallback_tz: str = "UTC") -> bool:
    """Whether an automated message may reach `number` at `at`."""
    return window_for(number, override_tz, fallback_tz).allowed_at(at)


def next_allowed(number: str, at: datetime, override_tz: str | None = None, fallback_tz: str = "UTC") -> datetime:
    """`at` when allowed, else when the recipient's window next opens (UTC)."""
    return window_for(number, override_tz, fallback_tz).next_allowed(at)


# -- the Florida limit ------------------------------------------------------------------


def florida_next_slot(sent_at: Iterable[datetime], at: datetime, limit: int = FLORIDA_LIMIT) -> datetime:
    """`at` when fewer than `limit` automated messages left in the 24 h before it, else the
    first instant when the oldest of them has aged out of the 24 h window."""
    require_aware(at)
    recent = sorted(t for t in sent_at if at - FLORIDA_PERIOD < require_aware(t) <= at)
    if len(recent) < limit:
        return at
    # The message that must age out is the one `limit` places back from the newest.
    return recent[len(recent) - limit] + FLORIDA_PERIOD


def florida_limit_reached(sent_at: Iterable[datetime], at: datetime, limit: int = FLORIDA_LIMIT) -> bool:
    return florida_next_slot(sent_at, at, limit) != at


def hold_until(
    number: str,
    at: datetime,
    *,
    override_tz: str | None = None,
    fallback_tz: str = "UTC",
    automated_sent_at: Sequence[datetime] = (),
) -> datetime:
    """When an automated message to `number` may leave: inside quiet hours and, for a
    Florida number, under three automated messages in the last 24 h. `at` when now."""
    window = window_for(number, override_tz, fallback_tz)
    florida = window.state == "FL"
    candidate = window.next_allowed(at)
    while florida:
        slot = florida_next_slot(automated_sent_at, candidate)
        if slot == candidate:
            break
        candidate = window.next_allowed(slot)
    return candidate


async def automated_send_times(session: AsyncSession, number: str, since: datetime) -> list[datetime]:
    """When automated messages (AUTOMATED_KINDS) to `number` were sent since `since`.

    Every inbox counts (the limit is per person). A message counts from its row's
    creation, so whatever holds a message must create its row when it is released.
    """
    phone = parse_phone(number)
    rows = await session.execute(
        select(Message.created_at).where(
            Message.to_number.in_((phone.key, WHATSAPP_PREFIX + phone.key)),  # per person, on either channel
            Message.direction == "out",
            Message.kind.in_(AUTOMATED_KINDS),
            Message.status.not_in(_NOT_SENT),
            Message.created_at > require_aware(since),
        )
    )
    return [created for created in rows.scalars().all()]
