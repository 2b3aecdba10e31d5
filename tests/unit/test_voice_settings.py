"""The [voice] table of a hall file: defaults, and every mistake named by field."""

from __future__ import annotations

import pytest

from hall.config import ConfigError, bundled_hall_files, load_hall
from voice.settings import NumberStyle, parse_voice


def problems(raw: dict[str, object]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_voice(raw)
    return info.value.problems


def test_defaults() -> None:
    s = parse_voice({})
    assert s.enabled and s.languages == ("zh",) and s.number_style is NumberStyle.DIGITS
    assert s.repeat == 2 and s.max_age_seconds == 60.0
    assert s.template("zh", "call") == "请{number}号，到{window}号窗口办理"
    assert s.letter("zh", "E") == "Edward" and s.letter("zh", "A") == "A"
    assert s.letter("en", "E") == "E"


def test_bundled_halls_have_valid_voice_tables() -> None:
    for path in bundled_hall_files():
        cfg = load_hall(path)
        assert cfg.voice, f"{path.name} has no [voice] table"
        parse_voice(cfg.voice)
    district = parse_voice(load_hall(bundled_hall_files()[0]).voice)
    assert district.languages == ("zh", "en")


@pytest.mark.parametrize(("raw", "field"), [
    ({"languages": []}, "voice.languages"),
    ({"languages": ["fr"]}, "voice.languages"),
    ({"languages": ["zh", "zh"]}, "voice.languages"),
    ({"languages": "zh"}, "voice.languages"),
    ({"number_style": "roman"}, "voice.number_style"),
    ({"repeat": 0}, "voice.repeat"),
    ({"repeat": 9}, "voice.repeat"),
    ({"repeat": 1.5}, "voice.repeat"),
    ({"repeat": True}, "voice.repeat"),
    ({"rate": 10}, "voice.rate"),
    ({"volume": 3}, "voice.volume"),
    ({"volume": "loud"}, "voice.volume"),
    ({"max_age_seconds": 1}, "voice.max_age_seconds"),
    ({"enabled": "yes"}, "voice.enabled"),
    ({"voices": {"zh": "sit/cmn; rm -rf"}}, "voice.voices.zh"),
    ({"voices": {"de": "gmw/de"}}, "voice.voices.de"),
    ({"voices": "gmw/en"}, "voice.voices"),
    ({"templates": {"zh_call": "请到{window}号窗口"}}, "voice.templates.zh_call"),
    ({"templates": {"zh_call": "请{number}号到{room}"}}, "voice.templates.zh_call"),
    ({"templates": {"zh_call": "请{number号"}}, "voice.templates.zh_call"),
    ({"templates": {"zh_call": ""}}, "voice.templates.zh_call"),
    ({"templates": {"fr_call": "{number}"}}, "voice.templates.fr_call"),
    ({"speed": 2}, "voice.speed"),
    ({"letters": "E=Edward"}, "voice.letters"),
    ({"letters": {"fr": {"E": "Edouard"}}}, "voice.letters.fr"),
    ({"letters": {"zh": "Edward"}}, "voice.letters.zh"),
    ({"letters": {"zh": {"e": "Edward"}}}, "voice.letters.zh.e"),
    ({"letters": {"zh": {"EE": "Edward"}}}, "voice.letters.zh.EE"),
    ({"letters": {"zh": {"E": ""}}}, "voice.letters.zh.E"),
    ({"letters": {"zh": {"E": "{number}"}}}, "voice.letters.zh.E"),
    ({"letters": {"en": {"E": "Echo1"}}}, "voice.letters.en.E"),
])
def test_each_mistake_is_named(raw: dict[str, object], field: str) -> None:
    found = problems(raw)
    assert len(found) == 1, found
    assert found[0].startswith(field + ":"), found


def test_all_mistakes_reported_at_once() -> None:
    found = problems({"repeat": 0, "rate": 1, "languages": ["xx"]})
    assert {p.split(":")[0] for p in found} == {"voice.repeat", "voice.rate", "voice.languages"}
