"""Phrase rules: how halls read ticket numbers and windows, in Chinese and English."""

from __future__ import annotations

import pytest

from voice.phrases import (
    announcement_for,
    audio_key,
    chinese_digits,
    chinese_number,
    segments_for,
    split_ticket,
    spoken_ticket,
)
from voice.settings import NumberStyle, VoiceSettings, parse_voice


@pytest.mark.parametrize(("n", "said"), [
    (0, "零"), (1, "一"), (5, "五"), (9, "九"), (10, "十"), (11, "十一"), (12, "十二"),
    (19, "十九"), (20, "二十"), (21, "二十一"), (99, "九十九"), (100, "一百"),
    (101, "一百零一"), (105, "一百零五"), (110, "一百一十"), (111, "一百一十一"),
    (999, "九百九十九"), (1000, "一千"), (1001, "一千零一"), (1010, "一千零一十"),
    (1100, "一千一百"), (2345, "二千三百四十五"), (10000, "一万"), (10005, "一万零五"),
    (15000, "一万五千"),
])
def test_chinese_numbers_read_as_said(n: int, said: str) -> None:
    assert chinese_number(n) == said


def test_chinese_number_range() -> None:
    with pytest.raises(ValueError):
        chinese_number(-1)
    with pytest.raises(ValueError):
        chinese_number(100_000)


def test_digits_are_read_one_by_one() -> None:
    assert chinese_digits("001") == "零零一"
    assert chinese_digits("120") == "一二零"


def test_ticket_split_and_spoken_forms() -> None:
    assert split_ticket("A001") == ("A", "001")
    assert split_ticket("AB120") == ("AB", "120")
    assert split_ticket("VIP") == ("VIP", "")
    assert spoken_ticket("A001", NumberStyle.DIGITS, "zh") == "A零零一"
    assert spoken_ticket("A001", NumberStyle.NUMBER, "zh") == "A一"
    assert spoken_ticket("B012", NumberStyle.NUMBER, "zh") == "B十二"
    assert spoken_ticket("C110", NumberStyle.NUMBER, "zh") == "C一百一十"
    assert spoken_ticket("A001", NumberStyle.DIGITS, "en") == "A, zero zero one"
    assert spoken_ticket("A001", NumberStyle.NUMBER, "en") == "A, one"
    assert spoken_ticket("VIP", NumberStyle.DIGITS, "zh") == "VIP"


def test_english_numbers_are_always_read_digit_by_digit() -> None:
    """Never "zero forty-five" or "one hundred and twenty-three": one way, as printed."""
    s = VoiceSettings()
    assert spoken_ticket("E045", NumberStyle.DIGITS, "en", s) == "E, zero four five"
    assert spoken_ticket("B123", NumberStyle.DIGITS, "en", s) == "B, one two three"
    assert spoken_ticket("B120", NumberStyle.NUMBER, "en", s) == "B, one two zero"
    assert spoken_ticket("C007", NumberStyle.NUMBER, "en", s) == "C, seven"


def test_letters_heard_as_digits_in_mandarin_have_their_own_reading() -> None:
    s = VoiceSettings()
    assert spoken_ticket("E001", NumberStyle.DIGITS, "zh", s) == "Edward零零一"
    assert spoken_ticket("G012", NumberStyle.NUMBER, "zh", s) == "Golf十二"
    assert spoken_ticket("A001", NumberStyle.DIGITS, "zh", s) == "A零零一"
    assert spoken_ticket("EG001", NumberStyle.DIGITS, "zh", s) == "Edward Golf零零一"
    assert spoken_ticket("E001", NumberStyle.DIGITS, "en", s) == "E, zero zero one"
    own = parse_voice({"letters": {"zh": {"E": "鹅", "A": "Apple"}, "en": {"E": "Echo"}}})
    assert spoken_ticket("E001", NumberStyle.DIGITS, "zh", own) == "鹅零零一"
    assert spoken_ticket("A001", NumberStyle.DIGITS, "zh", own) == "Apple零零一"
    assert spoken_ticket("G001", NumberStyle.DIGITS, "zh", own) == "Golf零零一"  # default kept
    assert spoken_ticket("E001", NumberStyle.DIGITS, "en", own) == "Echo, zero zero one"


def test_default_call_is_the_hall_sentence() -> None:
    (zh,) = segments_for("call", "A001", 5, VoiceSettings())
    assert zh.language == "zh"
    assert zh.text == "请A001号，到5号窗口办理"  # the comma: a short pause before the window
    assert zh.speech == "请A零零一号，到五号窗口办理"


def test_number_style_and_window_in_chinese() -> None:
    settings = parse_voice({"number_style": "number"})
    (zh,) = segments_for("call", "A001", 12, settings)
    assert zh.speech == "请A一号，到十二号窗口办理"
    assert zh.text == "请A001号，到12号窗口办理"


def test_english_follows_chinese_when_configured() -> None:
    settings = parse_voice({"languages": ["zh", "en"]})
    zh, en = segments_for("call", "A001", 5, settings)
    assert (zh.language, en.language) == ("zh", "en")
    assert en.text == "Number A001, please go to window 5"
    assert en.speech == "Number A, zero zero one, please go to window 5"
    assert en.voice == "gmw/en" and zh.voice == "sit/cmn-latn-pinyin"
    only_en = parse_voice({"languages": ["en"]})
    assert [s.language for s in segments_for("call", "A001", 5, only_en)] == ["en"]


def test_recall_has_its_own_wording() -> None:
    settings = parse_voice({"languages": ["zh", "en"]})
    call = segments_for("call", "A001", 5, settings)
    recall = segments_for("recall", "A001", 5, settings)
    assert recall[0].speech == "请A零零一号，尽快到五号窗口办理"
    assert recall[1].text == "Number A001, once again, please go to window 5"
    assert [s.text for s in call] != [s.text for s in recall]
    with pytest.raises(ValueError):
        segments_for("shout", "A001", 5, settings)


def test_hall_templates_replace_the_defaults() -> None:
    settings = parse_voice({"templates": {"zh_call": "{number}号请到{window}号窗口"}})
    (zh,) = segments_for("call", "K007", 3, settings)
    assert zh.speech == "K零零七号请到三号窗口"


def test_audio_key_changes_with_text_voice_rate_and_volume() -> None:
    base = segments_for("call", "A001", 5, VoiceSettings())
    key = audio_key(base, 150, 1.0)
    assert len(key) == 64 and key == audio_key(base, 150, 1.0)
    assert audio_key(segments_for("call", "A002", 5, VoiceSettings()), 150, 1.0) != key
    assert audio_key(base, 160, 1.0) != key
    assert audio_key(base, 150, 0.5) != key
    other_voice = parse_voice({"voices": {"zh": "sit/cmn"}})
    assert audio_key(segments_for("call", "A001", 5, other_voice), 150, 1.0) != key


def test_announcement_of_a_call_event() -> None:
    settings = parse_voice({"repeat": 3, "max_age_seconds": 30})
    ann = announcement_for("district", "5-0", "call", 1000.0,
                           {"number": "A001", "window": 5}, settings)
    assert ann is not None
    assert ann.repeat == 3 and ann.text == "请A001号，到5号窗口办理"
    assert not ann.is_stale(1030.0) and ann.is_stale(1030.5)
    data = ann.event_data("/audio/x.wav", "/audio/chime.wav")
    assert data["call_at"] == 1000.0 and data["max_age"] == 30 and data["repeat"] == 3
    assert data["texts"] == {"zh": "请A001号，到5号窗口办理"}
    assert ann.from_json(ann.to_json()) == ann


def test_nothing_to_say_without_number_window_or_when_disabled() -> None:
    settings = VoiceSettings()
    assert announcement_for("d", "1-0", "call", 0, {"number": "A001"}, settings) is None
    assert announcement_for("d", "1-0", "call", 0, {"window": 5}, settings) is None
    assert announcement_for("d", "1-0", "call", 0, {"number": "A001", "window": True},
                            settings) is None
    off = parse_voice({"enabled": False})
    assert announcement_for("d", "1-0", "call", 0, {"number": "A001", "window": 5}, off) is None
