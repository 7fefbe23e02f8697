import pytest

from bridge.adapters.twilio.errors import (
    ERROR_REASONS,
    OPT_OUT_CODE,
    RETRYABLE_CODES,
    describe_error,
    is_retryable,
)


def test_known_codes() -> None:
    assert describe_error(30007) == "Carrier filtered the message as spam (Twilio 30007)"
    assert describe_error("21610") == "The recipient has opted out (replied STOP) (Twilio 21610)"
    assert describe_error(" 63016 ").endswith("(Twilio 63016)")


@pytest.mark.parametrize(
    "code",
    [21211, 21408, 21610, 21612, 21614, 21617, 30001, 30002, 30003, 30004, 30005, 30006, 30007, 30008,
     30032, 30034, 30410, 63016],
)
def test_required_codes_present(code: int) -> None:
    assert code in ERROR_REASONS
    assert describe_error(code) == f"{ERROR_REASONS[code]} (Twilio {code})"


def test_known_code_ignores_fallback() -> None:
    assert describe_error(30007, "Message filtered") == describe_error(30007)


def test_unknown_codes() -> None:
    assert describe_error(12345) == "Provider error 12345"
    assert describe_error("12345", "Something odd") == "Something odd"
    assert describe_error(None) == "Provider error"
    assert describe_error(None, "Timeout") == "Timeout"
    assert describe_error("abc") == "Provider error abc"
    assert describe_error("") == "Provider error"
    assert describe_error(True) == "Provider error True"


def test_retryable() -> None:
    assert {20429, 30001, 30410} <= RETRYABLE_CODES
    assert OPT_OUT_CODE == 21610 and OPT_OUT_CODE not in RETRYABLE_CODES
    assert is_retryable("30001") and is_retryable(20429)
    assert not is_retryable(30007) and not is_retryable(None) and not is_retryable("x")
