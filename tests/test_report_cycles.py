"""Conversation cycles recorded by the running service, as a customer and the team see them."""

from __future__ import annotations

import re

from tests.harness import Harness

CUSTOMER_B = "+14155550103"


async def test_a_reopen_starts_a_cycle_and_a_team_started_one_is_measured_apart(harness: Harness) -> None:
    await harness.text_in("Is my order ready?")
    root = await harness.first_thread()
    await harness.teammate(root, "!r Yes, come by at 5")
    await harness.drain()
    await harness.teammate(root, "!close")
    await harness.drain()
    await harness.text_in("One more question")  # closed: this reopens it
    await harness.drain()
    await harness.teammate(root, "!r Sure, ask away")
    await harness.drain()

    await harness.give_consent(CUSTOMER_B)  # else /sms new asks first
    opened = await harness.sms_command(f"new {CUSTOMER_B} Your parcel arrived")
    assert opened["text"].startswith("Texting:")
    await harness.drain()
    await harness.text_in("Great, thanks", sender=CUSTOMER_B)
    await harness.drain()
    await harness.slack.wait_for(lambda: len(harness.roots()) == 2, message="the team-started card")
    second_root = str(harness.roots()[1]["ts"])
    await harness.slack.wait_for(harness._thread_recorded, message="threads recorded")
    await harness.teammate(second_root, "!r You're welcome")
    await harness.drain()

    cycles = await harness.rows(
        "SELECT conversation_id, seq, origin, customer_at IS NOT NULL, first_response_seconds IS NOT NULL,"
        " resolved_at IS NOT NULL, responder_id FROM conversation_cycles ORDER BY id"
    )
    first_conv, second_conv = cycles[0][0], cycles[2][0]
    assert [tuple(c) for c in cycles] == [
        (first_conv, 1, "customer", True, True, True, "UANA"),  # answered, then closed
        (first_conv, 2, "customer", True, True, False, "UANA"),  # reopened and answered again
        (second_conv, 1, "team", True, True, False, "UANA"),  # answered after the customer wrote back
    ]

    answer = await harness.sms_command("report today")
    text = answer["text"]
    assert "New conversations: 1 · reopened: 1 · started by the team: 1" in text
    assert re.search(r"First response: median \d+ s, p90 \d+ s \(2\)", text)  # both customer-started cycles
    assert "answered a team-started text" in text
    assert "Texts in: 3 · out: 4 (replies 4)" in text
