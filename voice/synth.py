"""Speech synthesis with pyttsx3 (espeak-ng driver) into WAV bytes, one phrase at a time.

espeak-ng can be initialised once per process and is not thread-safe, so one
``Synthesizer`` per process serialises its work behind a lock. It must be started in
the process that uses it: an engine started before ``fork`` hangs in the child, so the
RQ worker's parent never touches it and each job process starts its own (~30 ms).
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import threading
import wave
from dataclasses import dataclass
from typing import Any

from voice.phrases import Segment

SAMPLE_RATE = 22050  # what pyttsx3's espeak driver writes
GAP_SECONDS = 0.35  # silence between the languages of one announcement
SYNTH_TIMEOUT_SECONDS = 20.0


class SynthesisError(RuntimeError):
    pass


@dataclass(frozen=True)
class Pcm:
    """Mono 16-bit PCM audio."""

    frames: bytes
    rate: int = SAMPLE_RATE

    @property
    def seconds(self) -> float:
        return len(self.frames) / 2 / self.rate

    def wav(self) -> bytes:
        out = io.BytesIO()
        with wave.open(out, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(self.rate)
            w.writeframes(self.frames)
        return out.getvalue()


class Synthesizer:
    """Speaks text through pyttsx3 into PCM; one engine per process."""

    _lock = threading.Lock()
    _engine: Any = None
    _errors: list[Exception] = []  # noqa: RUF012 - filled by the engine's error callback
    _finished = threading.Event()  # set by the engine's thread once the WAV file is written

    @classmethod
    def engine(cls) -> Any:
        if cls._engine is None:
            import pyttsx3

            try:
                engine = pyttsx3.init("espeak")
            except Exception as exc:  # the engine raises bare RuntimeError/OSError
                raise SynthesisError(f"cannot start espeak-ng through pyttsx3: {exc} "
                                     "(install Debian's libespeak-ng1)") from exc
            engine.connect("error", lambda **kw: cls._errors.append(kw.get("exception")))
            engine.connect("finished-utterance", lambda **kw: cls._finished.set())
            cls._engine = engine
        return cls._engine

    @staticmethod
    def driver() -> Any:
        from pyttsx3.drivers.espeak import EspeakDriver

        return EspeakDriver

    @staticmethod
    def espeak() -> Any:
        from pyttsx3.drivers import _espeak

        return _espeak

    def segment(self, text: str, voice: str, rate: int, volume: float) -> Pcm:
        """Speak one text with one voice."""
        with self._lock:
            engine = self.engine()
            self._errors.clear()
            fd, path = tempfile.mkstemp(suffix=".wav", prefix="hall-voice-")
            os.close(fd)
            try:
                # Set straight on the driver: the engine queues property changes and its
                # loop can drop them, so a phrase would come out at the previous rate.
                driver = self.driver()
                # Parameters set while espeak-ng's thread still holds queued work can be
                # applied to the wrong utterance: start from an idle engine.
                self.espeak().Synchronize()
                try:
                    driver.setProperty("voice", voice)
                except ValueError as exc:
                    raise SynthesisError(f"unknown espeak-ng voice {voice!r}") from exc
                driver.setProperty("rate", rate)
                driver.setProperty("volume", volume)
                self._finished.clear()
                # The driver prints a line per saved file; keep the worker's log clean.
                with contextlib.redirect_stdout(io.StringIO()):
                    engine.save_to_file(text, path)
                    engine.runAndWait()
                    # espeak-ng synthesizes on its own thread and runAndWait returns before
                    # it is done: wait until the driver has written the whole file.
                    finished = self._finished.wait(SYNTH_TIMEOUT_SECONDS)
                    self.espeak().Synchronize()  # and until its thread is idle again
                if self._errors:
                    raise SynthesisError(f"speech engine error: {self._errors[0]}")
                if not finished:
                    raise SynthesisError(f"speech engine did not finish {text!r}")
                with wave.open(path, "rb") as w:
                    if w.getsampwidth() != 2 or w.getnchannels() != 1:
                        raise SynthesisError("unexpected audio format from the engine")
                    return Pcm(w.readframes(w.getnframes()), w.getframerate())
            except (OSError, EOFError, wave.Error) as exc:
                raise SynthesisError(f"the engine wrote no audio for {text!r}: {exc}") from exc
            finally:
                with contextlib.suppress(OSError):
                    os.unlink(path)

    def speak(self, segments: tuple[Segment, ...], rate: int, volume: float) -> Pcm:
        """All segments of an announcement, in order, with a short pause between them."""
        parts: list[bytes] = []
        out_rate = SAMPLE_RATE
        for i, seg in enumerate(segments):
            pcm = self.segment(seg.speech, seg.voice, rate, volume)
            out_rate = pcm.rate
            if i:
                parts.append(b"\x00\x00" * int(GAP_SECONDS * out_rate))
            parts.append(pcm.frames)
        pcm = Pcm(b"".join(parts), out_rate)
        if pcm.seconds < 0.2:
            raise SynthesisError("the engine produced no speech")
        return pcm



def warm_up(voices: tuple[str, ...] = ("sit/cmn-latn-pinyin", "gmw/en")) -> None:
    """Start the engine and load the usual voices' dictionaries before the first call."""
    synth = Synthesizer()
    for voice in voices:
        synth.segment("A1", voice, 175, 0.1)
