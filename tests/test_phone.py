import pytest

from bridge.inbox.phone import PhoneNumber, format_phone, guess_timezone, parse_phone, sender_key, timezones_for


@pytest.mark.parametrize(
    "raw", ["+14155550123", "(415) 555-0123", "415.555.0123", "1 415 555 0123", " +1 415-555-0123 "]
)
def test_parse_us_formats(raw: str) -> None:
    p = parse_phone(raw)
    assert p.valid and p.e164 == "+14155550123" and p.key == "+14155550123"
    assert p.channel == "sms" and p.raw == raw


def test_whatsapp_prefix_kept_out_of_e164() -> None:
    p = parse_phone("whatsapp:+14155550123")
    assert p == PhoneNumber(raw="whatsapp:+14155550123", e164="+14155550123", valid=True, channel="whatsapp")
    assert p.key == "+14155550123"
    assert p.address == "whatsapp:+14155550123"
    assert parse_phone("WhatsApp: +14155550123").channel == "whatsapp"


def test_default_region() -> None:
    assert parse_phone("020 7946 0958", default_region="GB").e164 == "+442079460958"
    assert parse_phone("+442079460958", default_region="DE").e164 == "+442079460958"


@pytest.mark.parametrize(
    "raw",
    ["12345", "ACME", "AMAZON", "", "   ", "not a number", "+15555550123", "+1", "whatsapp:", "1-800-FLOWERS"],
)
def test_unparseable_kept_raw_and_invalid(raw: str) -> None:
    p = parse_phone(raw)
    assert not p.valid and p.e164 is None
    assert p.key == raw.strip()


def test_short_code_key_is_stripped_raw() -> None:
    assert parse_phone(" 22395 ").key == "22395"
    assert parse_phone(" 22395 ").address == "22395"


@pytest.mark.parametrize(
    "raw",
    ["+14155550123", "whatsapp:+14155550123", "+442079460958", "+5582982136275", "(415) 555-0123", "22395", "ACME", ""],
)
def test_sender_key_is_the_parsed_key_for_what_providers_send(raw: str) -> None:
    # The webhook's cheap key names one queue per sender: the same as the parsed key for
    # E.164 numbers (SMS or WhatsApp alike) and anything else.
    assert sender_key(raw) == parse_phone(raw).key


def test_format_phone() -> None:
    assert format_phone("+14155550123") == "(415) 555-0123"
    assert format_phone("+16475550123") == "(647) 555-0123"  # Canada: national too
    assert format_phone("+442079460958") == "+44 20 7946 0958"
    assert format_phone("whatsapp:+14155550123") == "(415) 555-0123"
    for raw in ("12345", "ACME", "", "+15555550123"):
        assert format_phone(raw) == raw


def test_guess_timezone() -> None:
    assert guess_timezone("+14155550123") == "America/Los_Angeles"
    assert guess_timezone("+13125550123") == "America/Chicago"
    assert guess_timezone("+442079460958") == "Europe/London"
    assert guess_timezone("whatsapp:+14155550123") == "America/Los_Angeles"


def test_guess_timezone_unknown() -> None:
    assert guess_timezone("12345") is None
    assert guess_timezone("garbage") is None
    assert guess_timezone("+15555550123") is None
    # Toll-free spans every North American zone: no honest single guess.
    assert guess_timezone("+18005550123") is None
    assert len(timezones_for("+18005550123")) > 5


def test_timezones_for() -> None:
    assert timezones_for("+14155550123") == ("America/Los_Angeles",)
    assert timezones_for("ACME") == ()


def test_frozen() -> None:
    with pytest.raises(AttributeError):
        parse_phone("+14155550123").valid = False  # type: ignore[misc]
