import pytest

from bridge.inbox.keywords import (
    Keyword,
    classify_keyword,
    help_reply,
    looks_like_opt_out,
    opt_in_confirmation,
    opt_out_confirmation,
)
from bridge.inbox.segments import count_segments


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("STOP", Keyword.OPT_OUT),
        ("stop", Keyword.OPT_OUT),
        ("Stop.", Keyword.OPT_OUT),
        (" STOP!! ", Keyword.OPT_OUT),
        ("\nStop\n", Keyword.OPT_OUT),
        ("“Stop”", Keyword.OPT_OUT),
        ("STOP 🛑", Keyword.OPT_OUT),
        ("ＳＴＯＰ", Keyword.OPT_OUT),  # fullwidth
        ("STOPALL", Keyword.OPT_OUT_ALL),
        ("stopall!", Keyword.OPT_OUT_ALL),
        ("UNSUBSCRIBE", Keyword.OPT_OUT),
        ("Cancel", Keyword.OPT_OUT),
        ("end", Keyword.OPT_OUT),
        ("QUIT", Keyword.OPT_OUT),
        ("revoke", Keyword.OPT_OUT),
        ("OptOut", Keyword.OPT_OUT),
        ("START", Keyword.OPT_IN),
        ("Yes!", Keyword.OPT_IN),
        ("unstop", Keyword.OPT_IN),
        ("HELP", Keyword.HELP),
        ("info?", Keyword.HELP),
        ("stop texting me", None),
        ("Don't stop", None),
        ("S T O P", None),
        ("stops", None),
        ("yes please", None),
        ("", None),
        ("!!!", None),
    ],
)
def test_classify_keyword(body: str, expected: Keyword | None) -> None:
    assert classify_keyword(body) is expected


@pytest.mark.parametrize(
    "body",
    [
        "please stop texting me",
        "remove me from your list",
        "Remove me",
        "unsubscribe me",
        "don't text me anymore",
        "Don’t text me anymore",  # curly apostrophe
        "do not contact me",
        "take me off",
        "take me off your list please",
        "leave me alone",
        "wrong number stop",
        "Wrong number. STOP",
        "Stop. I never signed up for this",
        "stop all",
        "opt out",
        "Please opt-out this number",
        "Stop sending me these messages",
        "No more texts please",
        "please stop",
        "STOP",
    ],
)
def test_looks_like_opt_out(body: str) -> None:
    assert looks_like_opt_out(body)


@pytest.mark.parametrize(
    "body",
    [
        "I can't stop smiling",
        "stop by tomorrow?",
        "Can you stop by at 5?",
        "Don't stop",
        "I can't stop",
        "I will stop at the store first",
        "Please remove the charge",
        "Can you take me to the clinic?",
        "We need to cancel. See you next week",
        "Thanks! See you then.",
        "",
    ],
)
def test_not_opt_out(body: str) -> None:
    assert not looks_like_opt_out(body)


def test_replies_name_business_and_fit_one_segment() -> None:
    business = "Acme Dental Clinic"
    for text in (opt_out_confirmation(business), opt_in_confirmation(business), help_reply(business, None)):
        assert text.startswith(f"{business}: ")
        info = count_segments(text)
        assert info.encoding == "GSM-7" and info.segments == 1, text


def test_opt_out_confirmation() -> None:
    text = opt_out_confirmation("Acme")
    assert "unsubscribed" in text and "START" in text


def test_opt_in_confirmation() -> None:
    text = opt_in_confirmation("Acme")
    assert "STOP" in text and "HELP" in text


def test_help_reply() -> None:
    assert help_reply("Acme", None) == "Acme: Reply STOP to unsubscribe. Reply here and a team member will answer."
    assert help_reply("Acme", "  ") == help_reply("Acme", None)
    custom = help_reply("Acme", "Call 415-555-0123.")
    assert custom == "Acme: Reply STOP to unsubscribe. Call 415-555-0123."
