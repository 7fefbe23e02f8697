import pytest

from bridge.inbox.segments import GSM7_BASIC, GSM7_EXTENSION, SegmentInfo, count_segments, non_gsm_characters


@pytest.mark.parametrize(
    ("text", "segments", "units"),
    [
        ("", 1, 0),
        ("a", 1, 1),
        ("a" * 160, 1, 160),
        ("a" * 161, 2, 161),
        ("a" * 306, 2, 306),
        ("a" * 307, 3, 307),
        ("a" * 459, 3, 459),
        ("a" * 460, 4, 460),
        ("é" * 70, 1, 70),  # é is in the GSM basic set
        ("é" * 161, 2, 161),
        ("€" * 80, 1, 160),  # extension: 2 septets each
        ("€" * 81, 2, 162),
        ("{}" * 40, 1, 160),
        ("a" * 159 + "^", 2, 161),
    ],
)
def test_gsm7(text: str, segments: int, units: int) -> None:
    info = count_segments(text)
    assert info == SegmentInfo("GSM-7", segments, len(text), units)


def test_gsm7_escape_pair_never_straddles() -> None:
    # 152 + [ESC €] would be septets 153-154: the pair moves to part 2, which then
    # holds 2 + 152 = 154 > 153, so a third part is needed (naive ceil(306/153) = 2).
    info = count_segments("a" * 152 + "€" + "a" * 152)
    assert info.units == 306 and info.segments == 3
    assert count_segments("a" * 153 + "€" + "a" * 151).segments == 2


@pytest.mark.parametrize(
    ("text", "segments", "units"),
    [
        ("ç" * 70, 1, 70),  # lowercase ç is not GSM (only Ç is)
        ("ç" * 71, 2, 71),
        ("ç" * 134, 2, 134),
        ("ç" * 135, 3, 135),
        ("😀", 1, 2),
        ("😀" * 35, 1, 70),
        ("😀" * 36, 2, 72),
        ("😀" * 70, 3, 140),  # 33 emoji (66 units) per part
        ("a" * 159 + "😀", 3, 161),  # one emoji turns the whole text into UCS-2
    ],
)
def test_ucs2(text: str, segments: int, units: int) -> None:
    info = count_segments(text)
    assert info == SegmentInfo("UCS-2", segments, len(text), units)


def test_ucs2_surrogate_pair_never_straddles() -> None:
    info = count_segments("ç" * 66 + "😀" + "ç" * 66)
    assert info.units == 134 and info.segments == 3  # naive ceil(134/67) = 2


def test_alphabet_tables() -> None:
    assert len(GSM7_BASIC) == 127  # 128 codes minus ESC
    assert len(GSM7_EXTENSION) == 10
    assert not GSM7_BASIC & GSM7_EXTENSION
    for ch in "@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà\n\r":
        assert ch in GSM7_BASIC
    for ch in "`çáíóúÁ\t€^":
        assert ch not in GSM7_BASIC


def test_non_gsm_characters() -> None:
    assert non_gsm_characters("Hello €{}") == []
    assert non_gsm_characters("Hi 😀 “quoted” 😀 ok") == ["😀", "“", "”"]
    assert non_gsm_characters("") == []
