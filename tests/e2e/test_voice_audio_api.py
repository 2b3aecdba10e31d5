"""The audio routes: the chime, cached announcements, and a strict refusal of any other name."""

from __future__ import annotations

import hashlib

import pytest

from hall.services import services
from tests.voice_support import wav_info
from voice.audio import AUDIO, AudioCache


def test_chime_is_served(client) -> None:
    r = client.get("/audio/chime.wav")
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
    info = wav_info(r.content)
    assert 0.8 < info.seconds < 2.0 and info.rms > 1000


def test_cached_announcement_is_served_immutable(client) -> None:
    cache: AudioCache = services(client.app).get(AUDIO)
    key = hashlib.sha256(b"test_cached_announcement_is_served_immutable").hexdigest()
    data = client.get("/audio/chime.wav").content
    cache.put(key, data)
    try:
        r = client.get(f"/audio/{key}.wav")
        assert r.status_code == 200 and r.content == data
        assert r.headers["content-type"] == "audio/wav"
        assert "immutable" in r.headers["cache-control"]
        part = client.get(f"/audio/{key}.wav", headers={"Range": "bytes=0-43"})
        assert part.status_code == 206 and part.content == data[:44]  # browsers seek
    finally:
        cache.path(key).unlink()


@pytest.mark.parametrize("name", [
    "0" * 64 + ".wav",  # well-formed but never synthesized
    "chime.mp3", "x.wav", "A" * 64 + ".wav", "0" * 63 + ".wav", "0" * 65 + ".wav",
    "0" * 64 + ".wav.tmp", "0" * 64 + ".WAV", ".tmp-abc.wav", "%2e%2e%2fpasswd",
    "..%2f..%2fetc%2fpasswd", "0" * 64 + "%00.wav",
])
def test_any_other_name_is_a_json_404(client, name: str) -> None:
    r = client.get(f"/audio/{name}")
    assert r.status_code == 404, r.text
    assert r.json()["error"]["code"] in ("audio_not_found", "not_found")


def test_only_get(client) -> None:
    r = client.post("/audio/chime.wav")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
