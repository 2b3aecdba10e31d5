"""Real speech: pyttsx3 through espeak-ng makes audible WAVs of plausible length, cached once."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from tests.voice_support import wav_info
from voice.audio import AudioCache, chime_wav
from voice.jobs import ensure_audio
from voice.phrases import Segment, announcement_for, segments_for
from voice.settings import parse_voice
from voice.synth import SynthesisError, Synthesizer


def speak(segments: tuple[Segment, ...], rate: int = 150) -> bytes:
    return Synthesizer().speak(segments, rate, 1.0).wav()


def test_chinese_call_is_audible_speech_of_plausible_length() -> None:
    settings = parse_voice({})
    info = wav_info(speak(segments_for("call", "A001", 5, settings)))
    # 请A零零一号到五号窗口办理: 12 syllables at 150 words/min is a few seconds.
    assert 1.5 < info.seconds < 9.0, info
    assert info.rms > 1000, info  # not silence
    assert info.voiced > 0.4, info  # mostly speech, not a click in a silent file


def test_english_call_is_audible_speech() -> None:
    settings = parse_voice({"languages": ["en"]})
    info = wav_info(speak(segments_for("call", "A001", 5, settings)))
    assert 1.0 < info.seconds < 7.0, info
    assert info.rms > 1000 and info.voiced > 0.4, info


def test_length_follows_the_words() -> None:
    digits = parse_voice({"number_style": "digits"})
    number = parse_voice({"number_style": "number"})
    both = parse_voice({"languages": ["zh", "en"]})
    long_zh = wav_info(speak(segments_for("call", "A001", 5, digits))).seconds
    short_zh = wav_info(speak(segments_for("call", "A001", 5, number))).seconds
    zh_en = wav_info(speak(segments_for("call", "A001", 5, both))).seconds
    assert short_zh < long_zh  # "A一号" is shorter than "A零零一号"
    assert zh_en > long_zh + 1.0  # the English sentence follows the Chinese one
    slow = wav_info(speak(segments_for("call", "A001", 5, digits), rate=100)).seconds
    assert slow > long_zh * 1.2


def test_unknown_voice_is_an_error_not_silence() -> None:
    with pytest.raises(SynthesisError):
        Synthesizer().segment("hello", "no-such-voice", 150, 1.0)


def test_a_phrase_is_synthesized_once(tmp_path: Path) -> None:
    cache = AudioCache(tmp_path)
    settings = parse_voice({})
    ann = announcement_for("district", "1-0", "call", time.time(), {"number": "A007",
                                                                    "window": 3}, settings)
    assert ann is not None
    assert ensure_audio(cache, ann) is True
    path = cache.path(ann.audio_key)
    first = path.stat().st_mtime_ns
    again = announcement_for("district", "2-0", "call", time.time(), {"number": "A007",
                                                                      "window": 3}, settings)
    assert again is not None and again.audio_key == ann.audio_key
    assert ensure_audio(cache, again) is False
    assert path.stat().st_mtime_ns == first
    assert wav_info(path.read_bytes()).rms > 1000
    slower = announcement_for("district", "3-0", "call", time.time(), {"number": "A007",
                              "window": 3}, parse_voice({"rate": 120}))
    assert slower is not None and ensure_audio(cache, slower) is True
    assert sorted(p.name for p in cache.dir.iterdir()) == sorted(
        [f"{ann.audio_key}.wav", f"{slower.audio_key}.wav"])  # no temporary files left


def test_chime_is_a_short_audible_wav() -> None:
    info = wav_info(chime_wav())
    assert 0.8 < info.seconds < 2.0 and info.rms > 1000


def test_unused_audio_is_pruned_and_used_audio_kept(tmp_path: Path) -> None:
    cache = AudioCache(tmp_path)
    old, used, fresh = (hashlib.sha256(n.encode()).hexdigest() for n in ("old", "used", "new"))
    for key in (old, used, fresh):
        cache.put(key, chime_wav())
    month = 31 * 86400
    for key in (old, used):  # both last written a month ago …
        os.utime(cache.path(key), (time.time() - month, time.time() - month))
    assert cache.use(used)  # … but this one was just announced again
    assert not cache.use(hashlib.sha256(b"never made").hexdigest())
    assert cache.prune(30 * 86400, time.time()) == 1
    assert not cache.has(old) and cache.has(used) and cache.has(fresh)


def test_audio_beyond_the_size_bound_is_pruned_least_recently_used_first(
        tmp_path: Path) -> None:
    cache = AudioCache(tmp_path)
    keys = [hashlib.sha256(f"call {n}".encode()).hexdigest() for n in range(5)]
    wav = chime_wav()
    for age, key in zip((5, 1, 4, 2, 3), keys, strict=True):  # hours since its last use
        cache.put(key, wav)
        os.utime(cache.path(key), (time.time() - age * 3600, time.time() - age * 3600))
    # within the age limit, but room for three files only: the two used longest ago go
    assert cache.prune(30 * 86400, time.time(), max_bytes=3 * len(wav)) == 2
    assert [cache.has(k) for k in keys] == [False, True, False, True, True]
    assert cache.prune(30 * 86400, time.time(), max_bytes=3 * len(wav)) == 0


def test_segments_alternating_between_settings_each_keep_their_own() -> None:
    """In one process, as in the worker: every segment at its own rate and volume,
    confirmed before synthesis and checked against the espeak-ng command's reference."""
    from tests.voice_support import audio_problem

    synth = Synthesizer()
    zh_en = parse_voice({"languages": ["zh", "en"]})
    settings = [(140, 0.7), (150, 1.0), (175, 0.85), (200, 0.55)]
    for i in range(24):
        rate, volume = settings[i % len(settings)]
        segments = segments_for("call", f"E{i:03d}", i % 12 + 1, zh_en)
        pcm = synth.speak(segments, rate, volume)
        assert synth.current().rate == rate and synth.current().volume == round(volume * 100)
        assert audio_problem(pcm.wav(), segments, rate, volume) is None, (i, rate, volume)
