"""Quiet hours and the Florida limit (automated messages), with real US area codes."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import phonenumbers
import pytest
from phonenumbers import geocoder

from bridge.inbox.db import Database
from bridge.inbox.models import Contact, Conversation, Inbox, Message
from bridge.inbox.quiet_hours import (
    STRICT_STATE_AREA_CODES,
    allowed_at,
    automated_send_times,
    florida_limit_reached,
    florida_next_slot,
    hold_until,
    is_florida,
    next_allowed,
    us_state,
    window_for,
)

NY = ZoneInfo("America/New_York")
CHICAGO = ZoneInfo("America/Chicago")
LA = ZoneInfo("America/Los_Angeles")
STATE_NAMES = {"FL": "Florida", "OK": "Oklahoma", "MD": "Maryland", "MS": "Mississippi", "NJ": "New Jersey", "CT": "Connecticut"}

MIAMI = "+13055550123"  # FL, Eastern
HARTFORD = "+18605550123"  # CT
TULSA = "+19185550123"  # OK, Central
NEWARK = "+19735550123"  # NJ
BALTIMORE = "+14105550123"  # MD
JACKSON = "+16015550123"  # MS
SAN_FRANCISCO = "+14155550123"  # CA: the default window
NEW_YORK = "+12125550123"
ALASKA = "+19075550123"  # Anchorage and Adak


def local(zone: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone)  # type: ignore[misc]


def test_every_listed_area_code_is_in_its_state() -> None:
    for state, codes in STRICT_STATE_AREA_CODES.items():
        for code in codes:
            number = phonenumbers.parse(f"+1{code}2345678")
            place = geocoder.description_for_number(number, "en")
            assert place == STATE_NAMES[state] or place.endswith(f", {state}"), (code, place)
            assert us_state(f"+1{code}2345678") == state


@pytest.mark.parametrize(
    ("number", "state", "zone", "opens", "closes"),
    [
        (MIAMI, "FL", NY, 8, 20),
        (HARTFORD, "CT", NY, 9, 20),
        (TULSA, "OK", CHICAGO, 8, 20),
        (NEWARK, "NJ", NY, 8, 20),
        (BALTIMORE, "MD", NY, 8, 20),
        (JACKSON, "MS", CHICAGO, 8, 20),
        (SAN_FRANCISCO, None, LA, 8, 21),
        (NEW_YORK, None, NY, 8, 21),
    ],
)
def test_state_windows_in_the_recipients_own_time(
    number: str, state: str | None, zone: ZoneInfo, opens: int, closes: int
) -> None:
    assert us_state(number) == state
    day = (2026, 12, 2)  # a Wednesday
    assert not allowed_at(number, local(zone, *day, opens - 1, 59))
    assert allowed_at(number, local(zone, *day, opens, 0))
    assert allowed_at(number, local(zone, *day, closes - 1, 59))
    assert not allowed_at(number, local(zone, *day, closes, 0))
    assert next_allowed(number, local(zone, *day, closes, 0)) == local(zone, 2026, 12, 3, opens, 0)
    assert next_allowed(number, local(zone, *day, 12, 0)) == local(zone, *day, 12, 0)
    assert next_allowed(number, local(zone, *day, 3, 0)).tzinfo is not None


def test_a_teammates_override_zone_moves_the_window_but_keeps_the_states_limits() -> None:
    at = local(NY, 2026, 12, 2, 20, 30)  # 19:30 in Chicago
    assert not allowed_at(MIAMI, at)
    assert allowed_at(MIAMI, at, override_tz="America/Chicago")
    assert not allowed_at(MIAMI, local(CHICAGO, 2026, 12, 2, 20, 0), override_tz="America/Chicago")
    window = window_for(MIAMI, override_tz="America/Chicago")
    assert (window.source, window.state) == ("override", "FL")
    with pytest.raises(ValueError, match="unknown time zone"):
        window_for(MIAMI, override_tz="Mars/Olympus")


def test_a_number_in_several_zones_gets_the_most_restrictive_reading() -> None:
    anchorage, adak = ZoneInfo("America/Anchorage"), ZoneInfo("America/Adak")
    window = window_for(ALASKA)
    assert {z.key for z in window.zones} == {"America/Anchorage", "America/Adak"}
    # 08:30 in Anchorage is 07:30 in Adak: too early there.
    assert not window.allowed_at(local(anchorage, 2026, 12, 2, 8, 30))
    assert window.next_allowed(local(anchorage, 2026, 12, 2, 8, 30)) == local(adak, 2026, 12, 2, 8, 0)
    # 20:30 in Adak is 21:30 in Anchorage: too late there.
    assert not window.allowed_at(local(adak, 2026, 12, 2, 20, 30))
    assert window.allowed_at(local(anchorage, 2026, 12, 2, 20, 59))
    toll_free = window_for("+18005550100")  # every NANP zone, Guam to Newfoundland
    slot = toll_free.next_allowed(datetime(2026, 12, 2, 12, 0, tzinfo=UTC))
    assert all(time(8) <= slot.astimezone(zone).time() < time(21) for zone in toll_free.zones)


def test_numbers_without_a_zone_use_the_fallback_and_say_so() -> None:
    window = window_for("12345", fallback_tz="Europe/Paris")
    assert window.source == "fallback" and [z.key for z in window.zones] == ["Europe/Paris"]
    assert "no time zone is known" in window.note
    assert window_for("+442079460000").zones == (ZoneInfo("Europe/London"),)


def test_quiet_hours_follow_daylight_saving() -> None:
    # Spring forward in New York (2026-03-08): 08:00 EDT is 12:00 UTC, not 13:00.
    assert next_allowed(MIAMI, datetime(2026, 3, 8, 6, 0, tzinfo=UTC)) == datetime(2026, 3, 8, 12, 0, tzinfo=UTC)
    # Fall back (2026-11-01): 08:00 EST is 13:00 UTC.
    assert next_allowed(MIAMI, datetime(2026, 11, 1, 6, 0, tzinfo=UTC)) == datetime(2026, 11, 1, 13, 0, tzinfo=UTC)
    assert not allowed_at(MIAMI, datetime(2026, 11, 1, 12, 30, tzinfo=UTC))  # 07:30 EST


def test_florida_allows_three_automated_messages_in_any_24_hours() -> None:
    now = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
    two = [now - timedelta(hours=5), now - timedelta(hours=1)]
    assert not florida_limit_reached(two, now)
    three = [now - timedelta(hours=23), *two]
    assert florida_limit_reached(three, now)
    assert florida_next_slot(three, now) == now + timedelta(hours=1)  # when the 23 h old one ages out
    old = [now - timedelta(hours=24), now - timedelta(hours=30), *two]  # exactly 24 h ago no longer counts
    assert not florida_limit_reached(old, now)
    assert florida_next_slot([now - timedelta(hours=h) for h in (20, 10, 3, 2)], now) == now + timedelta(hours=14)
    assert is_florida(MIAMI) and not is_florida(NEW_YORK)


def test_hold_until_combines_quiet_hours_and_the_florida_limit() -> None:
    evening = local(NY, 2026, 12, 2, 19, 0)
    sent = [local(NY, 2026, 12, 2, h, 0) for h in (9, 12, 15)]
    # Three already today: the next may leave once 09:00's has aged out, tomorrow 09:00.
    assert hold_until(MIAMI, evening, automated_sent_at=sent) == local(NY, 2026, 12, 3, 9, 0)
    # A slot that frees up after 20:00 waits for the next morning's window.
    late = [local(NY, 2026, 12, 2, h, 30) for h in (20, 21, 22)]  # sent before the cap applied
    assert hold_until(MIAMI, local(NY, 2026, 12, 3, 8, 0), automated_sent_at=late) == local(NY, 2026, 12, 4, 8, 0)
    # The same history does not hold a number outside Florida.
    assert hold_until(NEW_YORK, evening, automated_sent_at=sent) == evening
    assert hold_until(MIAMI, local(NY, 2026, 12, 2, 22, 0)) == local(NY, 2026, 12, 3, 8, 0)


async def test_the_count_reads_automated_messages_to_the_number_in_every_inbox(db: Database) -> None:
    now = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
    async with db.sessions.begin() as session:
        inboxes = [Inbox(name="sales", number="+14155550100"), Inbox(name="support", number="+14155550101")]
        contact = Contact(phone=MIAMI)
        session.add_all([*inboxes, contact])
        await session.flush()
        conversations = [Conversation(inbox_id=inbox.id, contact_id=contact.id) for inbox in inboxes]
        session.add_all(conversations)
        await session.flush()

        def message(conversation: Conversation, kind: str, hours_ago: float, status: str = "sent", to: str = MIAMI) -> Message:
            return Message(
                conversation_id=conversation.id, direction="out", kind=kind, body="", status=status,
                to_number=to, created_at=now - timedelta(hours=hours_ago),
            )  # fmt: skip

        session.add_all([
            message(conversations[0], "scheduled", 2),
            message(conversations[1], "automated", 5),
            message(conversations[0], "reply", 1),  # a teammate's live reply: not automated
            message(conversations[0], "compliance", 1),  # the STOP answer: not automated
            message(conversations[1], "scheduled", 3, status="canceled"),  # never left
            message(conversations[0], "scheduled", 30),  # older than a day
            message(conversations[0], "scheduled", 1, to=NEW_YORK),  # someone else
        ])  # fmt: skip
    async with db.sessions() as session:
        found = await automated_send_times(session, "(305) 555-0123", now - timedelta(hours=24))
    assert sorted(found) == [now - timedelta(hours=5), now - timedelta(hours=2)]
